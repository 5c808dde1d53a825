package stack_test

import (
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/stack"
)

func TestCaptureStreamsLive(t *testing.T) {
	pr, pw := io.Pipe()
	n, err := stack.New(t.Context(), lanConfig(stack.LinkParams{}, "A", "B"),
		stack.Options{Capture: pw, CaptureFlush: 20 * time.Millisecond})
	require.NoError(t, err)
	frames := make(chan string, 100)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(frames)
		r, err := pcapgo.NewNgReader(pr, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return
		}
		for {
			_, ci, err := r.ReadPacketData()
			if err != nil {
				return
			}
			intf, _ := r.Interface(ci.InterfaceIndex)
			select {
			case frames <- intf.Name:
			default:
			}
		}
	}()
	_, err = n.Host("A").Ping(testCtx(t, 5*time.Second), addr("10.0.0.2"))
	require.NoError(t, err)
	// The frames reach the reader while the network still runs.
	select {
	case name := <-frames:
		assert.Contains(t, []string{"A:eth0", "B:eth0"}, name)
	case <-time.After(5 * time.Second):
		t.Fatal("no frame streamed before Close")
	}
	require.NoError(t, n.Close())
	require.NoError(t, pw.Close())
	<-readerDone
}

func TestJitterKeepsOrder(t *testing.T) {
	n := newNet(t, pairConfig(stack.LinkParams{Delay: 30 * time.Millisecond, Jitter: 20 * time.Millisecond, Seed: 3}), stack.Options{})
	ctx := testCtx(t, 20*time.Second)
	var lo, hi time.Duration = time.Hour, 0
	for range 12 {
		rtt, err := n.Host("A").Ping(ctx, addr("10.0.0.2"))
		require.NoError(t, err)
		lo, hi = min(lo, rtt), max(hi, rtt)
	}
	assert.GreaterOrEqual(t, lo, 20*time.Millisecond, "2 x (delay - jitter)")
	assert.Less(t, hi, 250*time.Millisecond)
	assert.Greater(t, hi-lo, 5*time.Millisecond, "jitter varies the RTT")
	// A TCP stream over the jittery link arrives intact (frames never reorder).
	data := payload(256 << 10)
	got, _ := transfer(t, ctx, n.Host("A"), n.Host("B"), addr("10.0.0.2"), data)
	assert.Equal(t, sum(data), sum(got))
}

func TestLinkMTU(t *testing.T) {
	cfg := stack.Config{
		Hosts: []stack.HostConfig{
			{Name: "A", NICs: []stack.NICConfig{{Addrs: []netip.Prefix{pfx("10.0.0.1/24")}}}},
			{Name: "B", NICs: []stack.NICConfig{{Addrs: []netip.Prefix{pfx("10.0.0.2/24")}}}},
		},
		Links: []stack.LinkConfig{{Name: "ab", A: "A", B: "B", Params: stack.LinkParams{MTU: 9000}}},
	}
	n := newNet(t, cfg, stack.Options{})
	ctx := testCtx(t, 20*time.Second)
	l := n.Link("ab")
	data := payload(512 << 10)
	for _, mtu := range []int{9000, 576} {
		p := l.Params()
		p.MTU = mtu
		require.NoError(t, l.Set(p))
		before := l.Stats().AB
		got, _ := transfer(t, ctx, n.Host("A"), n.Host("B"), addr("10.0.0.2"), data)
		require.Equal(t, sum(data), sum(got), "mtu %d", mtu)
		after := l.Stats().AB
		assert.Zero(t, after.DropTooBig, "new connections respect mtu %d", mtu)
		perFrame := float64(after.Bytes-before.Bytes) / float64(after.Frames-before.Frames)
		assert.LessOrEqual(t, perFrame, float64(mtu+14), "average frame size at mtu %d", mtu)
		assert.Greater(t, perFrame, 0.8*float64(mtu), "frames fill mtu %d", mtu)
	}
	// IPv6 needs 1280: refused on a dual-stack pair.
	n6 := newNet(t, pairConfig(stack.LinkParams{}), stack.Options{})
	err := n6.Link("ab").Set(stack.LinkParams{MTU: 1000})
	assert.ErrorContains(t, err, "too small for IPv6")
	assert.Equal(t, 1500, n6.Link("ab").Params().MTU, "rejected change leaves the link as it was")
}
