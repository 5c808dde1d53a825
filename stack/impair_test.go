package stack_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/stack"
)

// pairConfig is two hosts on one direct link.
func pairConfig(p stack.LinkParams) stack.Config {
	return stack.Config{
		Hosts: []stack.HostConfig{
			{Name: "A", NICs: []stack.NICConfig{{Addrs: []netip.Prefix{pfx("10.0.0.1/24"), pfx("fd00::1/64")}}}},
			{Name: "B", NICs: []stack.NICConfig{{Addrs: []netip.Prefix{pfx("10.0.0.2/24"), pfx("fd00::2/64")}}}},
		},
		Links: []stack.LinkConfig{{Name: "ab", A: "A", B: "B", Params: p}},
	}
}

func TestDelayRTT(t *testing.T) {
	n := newNet(t, pairConfig(stack.LinkParams{Delay: 50 * time.Millisecond}), stack.Options{})
	ctx := testCtx(t, 10*time.Second)
	for _, dst := range []string{"10.0.0.2", "fd00::2"} {
		for range 3 {
			rtt, err := n.Host("A").Ping(ctx, addr(dst))
			require.NoError(t, err)
			assert.GreaterOrEqual(t, rtt, 100*time.Millisecond, "RTT to %s over a 50 ms link", dst)
			assert.Less(t, rtt, 400*time.Millisecond, "RTT to %s over a 50 ms link", dst)
		}
	}
	// Changing the delay live takes effect.
	l := n.Link("ab")
	p := l.Params()
	p.Delay = 5 * time.Millisecond
	require.NoError(t, l.Set(p))
	rtt, err := n.Host("A").Ping(ctx, addr("10.0.0.2"))
	require.NoError(t, err)
	assert.Less(t, rtt, 90*time.Millisecond)
	assert.GreaterOrEqual(t, rtt, 10*time.Millisecond)
}

func TestLossTCPCompletes(t *testing.T) {
	n := newNet(t, pairConfig(stack.LinkParams{Loss: 0.10, Seed: 42, Delay: time.Millisecond}), stack.Options{})
	ctx := testCtx(t, 90*time.Second)
	data := payload(256 << 10)
	got, _ := transfer(t, ctx, n.Host("A"), n.Host("B"), addr("10.0.0.2"), data)
	require.Equal(t, sum(data), sum(got), "bytes survive 10%% loss")
	st := n.Link("ab").Stats().Total()
	assert.Positive(t, st.DropLoss, "frames were really lost")
	ratio := float64(st.DropLoss) / float64(st.DropLoss+st.Frames)
	assert.InDelta(t, 0.10, ratio, 0.04, "loss ratio")
}

// lossPattern sends count numbered UDP datagrams A->B over a link whose loss
// is switched on after neighbour resolution, and returns which arrived.
func lossPattern(t *testing.T, seed int64, count int) []bool {
	n := newNet(t, pairConfig(stack.LinkParams{}), stack.Options{})
	ctx := testCtx(t, 20*time.Second)
	a, b := n.Host("A"), n.Host("B")
	_, err := a.Ping(ctx, addr("10.0.0.2"))
	require.NoError(t, err)
	require.NoError(t, n.Link("ab").Set(stack.LinkParams{Loss: 0.1, Seed: seed}))

	pc, err := b.ListenPacket(ctx, "udp", "10.0.0.2:9000")
	require.NoError(t, err)
	defer pc.Close()
	c, err := a.DialUDP(netip.AddrPort{}, netip.MustParseAddrPort("10.0.0.2:9000"))
	require.NoError(t, err)
	defer c.Close()
	got := make([]bool, count)
	for i := range count {
		var msg [4]byte
		binary.BigEndian.PutUint32(msg[:], uint32(i))
		_, err := c.Write(msg[:])
		require.NoError(t, err)
	}
	// Stop when the link has carried or dropped every datagram.
	require.Eventually(t, func() bool {
		s := n.Link("ab").Stats().AB
		return s.Frames+s.DropLoss >= uint64(count)
	}, 5*time.Second, 5*time.Millisecond)
	buf := make([]byte, 16)
	for {
		require.NoError(t, pc.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
		k, _, err := pc.ReadFrom(buf)
		if err != nil {
			break
		}
		got[binary.BigEndian.Uint32(buf[:k])] = true
	}
	return got
}

func TestLossReproducible(t *testing.T) {
	const count = 500
	first := lossPattern(t, 7, count)
	again := lossPattern(t, 7, count)
	other := lossPattern(t, 8, count)
	assert.Equal(t, first, again, "same seed, same frames lost")
	assert.NotEqual(t, first, other, "another seed loses other frames")
	lost := 0
	for _, ok := range first {
		if !ok {
			lost++
		}
	}
	assert.InDelta(t, 0.1*count, lost, 0.05*count, "about 10%% lost")
}

func TestRateLimit(t *testing.T) {
	const rate = 10_000_000
	for _, tc := range []struct {
		name      string
		queue     int
		wantDrops bool
	}{
		// A queue deeper than TCP's window: the limiter alone shapes the flow.
		{"deep queue", 4 << 20, false},
		// A shallow queue overflows in slow start: tail drops, yet the link
		// never exceeds its rate and the data arrives intact.
		{"shallow queue", 16 << 10, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNet(t, pairConfig(stack.LinkParams{Rate: rate, Queue: tc.queue, Delay: 2 * time.Millisecond}), stack.Options{})
			ctx := testCtx(t, 60*time.Second)
			data := payload(2 << 20)
			_, err := n.Host("A").Ping(ctx, addr("10.0.0.2"))
			require.NoError(t, err)
			before := n.Link("ab").Stats().AB
			got, d := transfer(t, ctx, n.Host("A"), n.Host("B"), addr("10.0.0.2"), data)
			require.Equal(t, sum(data), sum(got))
			after := n.Link("ab").Stats().AB
			wire := float64(after.Bytes-before.Bytes) * 8 / d.Seconds()
			good := float64(len(data)) * 8 / d.Seconds()
			t.Logf("wire %.2f Mbit/s, goodput %.2f Mbit/s over %v, %d tail drops, stats %+v", wire/1e6, good/1e6, d, after.DropQueue, after)
			assert.LessOrEqual(t, wire, 1.02*rate, "the link exceeded its rate")
			if !tc.wantDrops {
				// Under the race detector the sender itself falls behind
				// the limiter now and then (on two busy cores goodput
				// was 12% short), so the lower bound gets more slack.
				slack := 0.10
				if raceDetector {
					slack = 0.25
				}
				assert.Zero(t, after.DropQueue)
				assert.InDelta(t, rate, wire, slack*rate, "wire rate within %.0f%% of the limit", slack*100)
				assert.InDelta(t, rate, good, slack*rate, "goodput within %.0f%% of the limit", slack*100)
			} else {
				assert.Positive(t, after.DropQueue, "a full queue tail-drops")
			}
		})
	}
}

func TestLinkDownUpResumes(t *testing.T) {
	n := newNet(t, pairConfig(stack.LinkParams{Rate: 20_000_000}), stack.Options{})
	ctx := testCtx(t, 60*time.Second)
	a, b := n.Host("A"), n.Host("B")
	l := n.Link("ab")
	ln, err := b.Listen(ctx, "tcp", "10.0.0.2:5000")
	require.NoError(t, err)
	defer ln.Close()

	data := payload(1 << 20)
	var received bytes.Buffer
	progress := make(chan int, 1024)
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		buf := make([]byte, 32<<10)
		for {
			k, err := c.Read(buf)
			received.Write(buf[:k])
			select {
			case progress <- received.Len():
			default:
			}
			if err == io.EOF {
				done <- nil
				return
			}
			if err != nil {
				done <- err
				return
			}
		}
	}()
	c, err := a.Dial(ctx, "tcp", "10.0.0.2:5000")
	require.NoError(t, err)
	sendErr := make(chan error, 1)
	go func() {
		_, err := io.Copy(c, bytes.NewReader(data))
		if err == nil {
			err = c.Close()
		}
		sendErr <- err
	}()
	// Cut the link once a quarter has arrived.
	for got := 0; got < len(data)/4; got = <-progress {
	}
	l.SetDown(true)
	time.Sleep(50 * time.Millisecond) // let frames in flight drain
	drain(progress)
	time.Sleep(time.Second)
	assert.Empty(t, progress, "no data crosses a down link")
	assert.Positive(t, l.Stats().Total().DropDown, "frames dropped while down")
	l.SetDown(false)
	require.NoError(t, <-sendErr)
	require.NoError(t, <-done)
	assert.Equal(t, sum(data), sum(received.Bytes()), "transfer resumed and completed intact")
}

func drain(ch chan int) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func TestSwitchIsolation(t *testing.T) {
	n := newNet(t, lanConfig(stack.LinkParams{}, "A", "B", "C"), stack.Options{})
	ctx := testCtx(t, 20*time.Second)
	data := payload(1 << 20)
	got, _ := transfer(t, ctx, n.Host("A"), n.Host("B"), addr("10.0.0.2"), data)
	require.Equal(t, sum(data), sum(got))
	got, _ = transfer(t, ctx, n.Host("B"), n.Host("A"), addr("fd00::1"), data)
	require.Equal(t, sum(data), sum(got))

	st, ok := n.Host("C").NICStats("eth0")
	require.True(t, ok)
	assert.Zero(t, st.RxForeign, "C's NIC got unicast frames for another MAC")
	// C only ever sees the flooded broadcast/multicast neighbour requests.
	assert.LessOrEqual(t, st.RxFrames, uint64(4), "frames delivered to C")
	ab, _ := n.Host("B").NICStats("eth0")
	assert.Greater(t, ab.RxFrames, uint64(700), "B received the transfer")
	sw := n.Switch("sw").Stats()
	assert.LessOrEqual(t, sw.Flooded, uint64(4))
	assert.Greater(t, sw.Forwarded, uint64(1000))
}

func TestDialFromReusesPort(t *testing.T) {
	n := newNet(t, lanConfig(stack.LinkParams{}, "A", "B"), stack.Options{})
	ctx := testCtx(t, 30*time.Second)
	// B plays the FTP client listening on its data port; A the server that
	// connects from port 20. "dialer closes first" leaves TIME-WAIT on A,
	// "listener closes first" on B. Both must allow the same four-tuple again
	// at once (FTP's default data port).
	for _, tc := range []struct {
		name              string
		dialerClosesFirst bool
	}{{"dialer closes first", true}, {"listener closes first", false}} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := n.Host("B").Listen(ctx, "tcp", ":2000")
			require.NoError(t, err)
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					if tc.dialerClosesFirst {
						_, _ = io.Copy(io.Discard, c)
					} else {
						_, _ = c.Write([]byte("x"))
					}
					c.Close()
				}
			}()
			local := netip.MustParseAddrPort("10.0.0.1:20")
			for i := range 4 {
				c, err := n.Host("A").DialFrom(ctx, "tcp", local, netip.MustParseAddrPort("10.0.0.2:2000"))
				require.NoError(t, err, "connection %d from port 20", i)
				assert.Equal(t, local.String(), c.LocalAddr().String())
				if tc.dialerClosesFirst {
					_, err = c.Write([]byte("x"))
					require.NoError(t, err)
				} else {
					b, err := io.ReadAll(c)
					require.NoError(t, err)
					require.Equal(t, "x", string(b))
				}
				require.NoError(t, c.Close())
			}
		})
	}
}

func TestContextCancelCloses(t *testing.T) {
	var capBuf bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	n, err := stack.New(ctx, lanConfig(stack.LinkParams{}, "A", "B"), stack.Options{Capture: &capBuf})
	require.NoError(t, err)
	ln, err := n.Host("B").Listen(ctx, "tcp", ":80")
	require.NoError(t, err)
	_, err = n.Host("A").Ping(testCtx(t, 5*time.Second), addr("10.0.0.2"))
	require.NoError(t, err)
	cancel()
	_, err = ln.Accept()
	require.ErrorIs(t, err, net.ErrClosed, "accept after network shutdown")
	require.NoError(t, n.Close())
	require.NoError(t, n.Close(), "Close is idempotent")
	assert.Greater(t, capBuf.Len(), 200, "capture flushed on cancel")
	_, err = n.Host("A").Dial(testCtx(t, time.Second), "tcp", "10.0.0.2:80")
	require.ErrorIs(t, err, net.ErrClosed)
}
