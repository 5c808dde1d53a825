package stack_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/stack"
)

// datagram returns the payload of UDP datagram seq: the sequence number and
// bytes that depend on it, 1000..1400 in all (the frames share one of
// gVisor's buffer size classes, so a freed chunk is soon reused).
func datagram(seq uint32) []byte {
	r := rand.New(rand.NewPCG(uint64(seq), 7))
	b := make([]byte, 1000+r.IntN(401))
	binary.BigEndian.PutUint32(b, seq)
	for i := 4; i < len(b); i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// checkDatagram returns the sequence number of b, or an error if b is not
// exactly what datagram made for it.
func checkDatagram(b []byte) (uint32, error) {
	if len(b) < 4 {
		return 0, fmt.Errorf("datagram of %d bytes", len(b))
	}
	seq := binary.BigEndian.Uint32(b)
	if want := datagram(seq); !bytes.Equal(b, want) {
		return seq, fmt.Errorf("datagram %d: %d bytes differ from the %d sent", seq, len(b), len(want))
	}
	return seq, nil
}

// TestRouterForwardsManyPacketsIntact sends thousands of UDP datagrams from
// A through router R to C, which echoes each one back through R, while
// earlier and later ones are in flight in both directions. Every datagram
// must arrive intact at both ends, and every packet R forwards must carry
// the sender's TTL minus exactly one. Under -race this also guards the
// containment of gVisor's IPv4 forwarding use-after-free (forward.go): the
// race detector reports the freed chunk's reuse if the pin is missing.
func TestRouterForwardsManyPacketsIntact(t *testing.T) {
	const (
		count  = 8000
		window = 32 // datagrams in flight: well inside every queue, so none is lost
		port   = 7
	)
	var capBuf bytes.Buffer
	n := newNet(t, routedConfig(true), stack.Options{Capture: &capBuf, CaptureEveryHop: true}) // both sides of R, to see its TTLs
	ctx := testCtx(t, 2*time.Minute)
	a, c := n.Host("A"), n.Host("C")

	pc, err := c.ListenPacket(ctx, "udp4", fmt.Sprintf("10.2.0.2:%d", port))
	require.NoError(t, err)
	echoed := make(chan error, 1)
	go func() {
		buf := make([]byte, 2048)
		for range count {
			k, from, err := pc.ReadFrom(buf)
			if err == nil {
				_, err = checkDatagram(buf[:k])
			}
			if err == nil {
				_, err = pc.WriteTo(buf[:k], from)
			}
			if err != nil {
				echoed <- fmt.Errorf("C: %w", err)
				return
			}
		}
		echoed <- nil
	}()

	u, err := a.DialUDP(netip.AddrPort{}, netip.AddrPortFrom(addr("10.2.0.2"), port))
	require.NoError(t, err)
	defer u.Close()
	credits := make(chan struct{}, window)
	for range window {
		credits <- struct{}{}
	}
	sent := make(chan error, 1)
	go func() {
		for seq := range uint32(count) {
			select {
			case <-credits:
			case <-ctx.Done():
				sent <- ctx.Err()
				return
			}
			if _, err := u.Write(datagram(seq)); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	seen := make([]bool, count)
	buf := make([]byte, 2048)
	require.NoError(t, u.SetReadDeadline(time.Now().Add(time.Minute)))
	for range count {
		k, err := u.Read(buf)
		require.NoError(t, err, "A: waiting for echoes (one was lost?)")
		seq, err := checkDatagram(buf[:k])
		require.NoError(t, err, "A: echo")
		require.Less(t, seq, uint32(count))
		require.False(t, seen[seq], "echo %d twice", seq)
		seen[seq] = true
		credits <- struct{}{}
	}
	require.NoError(t, <-sent)
	require.NoError(t, <-echoed)
	pc.Close()
	assert.Zero(t, stack.PinsHeld(n.Host("R")), "pins left after every delivery returned")
	require.NoError(t, n.Close())
	require.Zero(t, n.CaptureStats().Dropped, "capture dropped frames")

	// What each NIC transmitted: A and C send with the same TTL; R forwards
	// each datagram once per direction with that TTL minus one.
	type key struct {
		iface string
		ttl   uint8
	}
	frames, _ := readCapture(t, capBuf.Bytes())
	got := map[key]int{}
	for i, f := range frames {
		ip, ok := f.pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if !ok {
			continue
		}
		udp, ok := f.pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if !ok || (udp.DstPort != port && udp.SrcPort != port) {
			continue
		}
		_, err := checkDatagram(udp.Payload)
		require.NoError(t, err, "frame %d on %s", i, f.iface)
		got[key{f.iface, ip.TTL}]++
	}
	const ttl = 64 // gVisor's default
	assert.Equal(t, map[key]int{
		{"A:eth0", ttl}: count, {"R:eth1", ttl - 1}: count, // A -> C
		{"C:eth0", ttl}: count, {"R:eth0", ttl - 1}: count, // C -> A
	}, got, "UDP frames per NIC and TTL")
}
