package stack_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/stack"
)

// TestCaptureTimestampsNeverGoBack: a frame stamped before another but
// recorded after it gets the other's time, so the file reads forwards.
func TestCaptureTimestampsNeverGoBack(t *testing.T) {
	var buf bytes.Buffer
	n, err := stack.New(t.Context(), lanConfig(stack.LinkParams{}, "A"), stack.Options{Capture: &buf})
	require.NoError(t, err)
	rec, err := n.CaptureInterface("x", layers.LinkTypeRaw)
	require.NoError(t, err)
	t0 := time.Now()
	rec(t0.Add(2*time.Millisecond), []byte{0x45})
	rec(t0, []byte{0x45}) // stamped earlier, queued later
	require.NoError(t, n.Close())
	r, err := pcapgo.NewNgReader(bytes.NewReader(buf.Bytes()), pcapgo.NgReaderOptions{WantMixedLinkType: true})
	require.NoError(t, err)
	var last time.Time
	for {
		_, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		assert.False(t, ci.Timestamp.Before(last), "frame at %v after one at %v", ci.Timestamp, last)
		last = ci.Timestamp
	}
}

// TestCaptureEndsClean: closing a network with a connection still open
// and one in TIME-WAIT records no reset: what the teardown sends is no
// part of the lab.
func TestCaptureEndsClean(t *testing.T) {
	var buf bytes.Buffer
	n, err := stack.New(t.Context(), lanConfig(stack.LinkParams{}, "A", "B"), stack.Options{Capture: &buf})
	require.NoError(t, err)
	ctx := testCtx(t, 10*time.Second)
	a, b := n.Host("A"), n.Host("B")
	ln, err := b.Listen(ctx, "tcp", "10.0.0.2:21")
	require.NoError(t, err)
	served := make(chan struct{})
	go func() {
		defer close(served)
		for range 2 {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("221 bye\r\n"))
			_ = c.Close() // B closes first: TIME-WAIT on B
		}
	}()
	open, err := a.Dial(ctx, "tcp", "10.0.0.2:21")
	require.NoError(t, err)
	_, err = io.ReadFull(open, make([]byte, 9)) // left open on A's side
	require.NoError(t, err)
	closed, err := a.Dial(ctx, "tcp", "10.0.0.2:21")
	require.NoError(t, err)
	_, err = io.ReadAll(closed)
	require.NoError(t, err)
	require.NoError(t, closed.Close())
	<-served
	time.Sleep(50 * time.Millisecond) // the last ACKs
	require.NoError(t, n.Close())
	open.Close()
	ln.Close()
	frames, _ := readCapture(t, buf.Bytes())
	require.NotEmpty(t, frames)
	for _, f := range frames {
		if tcp, ok := f.pkt.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
			assert.False(t, tcp.RST, "reset in the capture: %v", f.pkt)
		}
	}
}

// TestCaptureForwardedOnce: a segment a router forwards is in the capture
// once by default (where it was first sent), twice with CaptureEveryHop.
func TestCaptureForwardedOnce(t *testing.T) {
	for _, everyHop := range []bool{false, true} {
		t.Run(fmt.Sprintf("every-hop=%v", everyHop), func(t *testing.T) {
			var buf bytes.Buffer
			n, err := stack.New(t.Context(), routedConfig(true), stack.Options{Capture: &buf, CaptureEveryHop: everyHop})
			require.NoError(t, err)
			ctx := testCtx(t, 20*time.Second)
			data := payload(100 << 10)
			got, _ := transfer(t, ctx, n.Host("A"), n.Host("C"), addr("10.2.0.2"), data)
			require.Equal(t, sum(data), sum(got))
			got, _ = transfer(t, ctx, n.Host("C"), n.Host("A"), addr("fd01::2"), data)
			require.Equal(t, sum(data), sum(got))
			require.NoError(t, n.Close())
			frames, _ := readCapture(t, buf.Bytes())
			seen := map[string][]string{} // segment -> interfaces
			segments := 0
			for _, f := range frames {
				tcp, ok := f.pkt.Layer(layers.LayerTypeTCP).(*layers.TCP)
				if !ok || len(tcp.Payload) == 0 {
					continue
				}
				segments++
				net := f.pkt.NetworkLayer().NetworkFlow()
				k := fmt.Sprintf("%v %v %d %d", net, tcp.TransportFlow(), tcp.Seq, len(tcp.Payload))
				seen[k] = append(seen[k], f.iface)
			}
			require.NotZero(t, segments)
			want := 1
			if everyHop {
				want = 2 // on the sender's NIC and on the router's other one
			}
			for k, ifaces := range seen {
				assert.Len(t, ifaces, want, "segment %s recorded on %v", k, ifaces)
			}
			if everyHop {
				assert.Zero(t, n.CaptureStats().Copies)
			} else {
				assert.Positive(t, n.CaptureStats().Copies, "forwarded copies are counted")
			}
		})
	}
}
