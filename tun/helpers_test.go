package tun

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// ping sends up to three ICMP echo requests from the kernel's stack to dst,
// one a second, and succeeds on the first matching reply (the test's own
// `ping -c 3 -W 1` that stops at the first answer: iputils is not
// installed everywhere the suite runs).
func ping(dst netip.Addr) error {
	network, laddr, typ := "ip4:icmp", "0.0.0.0", icmp.Type(ipv4.ICMPTypeEcho)
	proto := 1
	if dst.Is6() {
		network, laddr, typ, proto = "ip6:ipv6-icmp", "::", ipv6.ICMPTypeEchoRequest, 58
	}
	c, err := icmp.ListenPacket(network, laddr)
	if err != nil {
		return fmt.Errorf("ping %v: %w", dst, err)
	}
	defer c.Close()
	id := os.Getpid() & 0xffff
	rb := make([]byte, 1500)
	for seq := 1; seq <= 3; seq++ {
		msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("ftplab tun ping")}}
		wb, err := msg.Marshal(nil)
		if err != nil {
			return err
		}
		if _, err := c.WriteTo(wb, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			return fmt.Errorf("ping %v: send: %w", dst, err)
		}
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		for {
			n, from, err := c.ReadFrom(rb)
			if err != nil {
				break // timeout: send the next request
			}
			rm, err := icmp.ParseMessage(proto, rb[:n])
			if err != nil {
				continue
			}
			echo, ok := rm.Body.(*icmp.Echo)
			if ok && (rm.Type == ipv4.ICMPTypeEchoReply || rm.Type == ipv6.ICMPTypeEchoReply) &&
				echo.ID == id && from.String() == dst.String() {
				return nil
			}
		}
	}
	return fmt.Errorf("ping %v: no reply to 3 echo requests", dst)
}

// echoServe accepts one connection on l and echoes it back until EOF.
func echoServe(t *testing.T, l net.Listener) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_, err = io.Copy(c, c)
		done <- err
	}()
	return done
}

// roundTrip writes a payload on c, half-closes, and checks the echo.
func roundTrip(t *testing.T, c net.Conn, size int) {
	t.Helper()
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(i * 7)
	}
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(want)
		if cw, ok := c.(interface{ CloseWrite() error }); ok && err == nil {
			err = cw.CloseWrite()
		}
		errc <- err
	}()
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	require.NoError(t, <-errc)
	require.Equal(t, want, got, "echo differs")
}

// packetLog collects captured packets.
type packetLog struct {
	mu   sync.Mutex
	pkts [][]byte
}

func (p *packetLog) capture(_ time.Time, frame []byte) {
	p.mu.Lock()
	p.pkts = append(p.pkts, append([]byte(nil), frame...))
	p.mu.Unlock()
}

func (p *packetLog) all() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]byte(nil), p.pkts...)
}

// checksumsValid checks an IP packet's IPv4 header checksum and its TCP,
// UDP, ICMP or ICMPv6 checksum with gVisor's header package, naming what is
// wrong.
func checksumsValid(b []byte) error {
	var src, dst tcpip.Address
	var proto tcpip.TransportProtocolNumber
	var payload []byte
	switch header.IPVersion(b) {
	case header.IPv4Version:
		ip := header.IPv4(b)
		if !ip.IsChecksumValid() {
			return fmt.Errorf("bad IPv4 header checksum: %x", b[:20])
		}
		if ip.More() || ip.FragmentOffset() != 0 {
			return nil
		}
		src, dst, proto, payload = ip.SourceAddress(), ip.DestinationAddress(), ip.TransportProtocol(), ip.Payload()
	case header.IPv6Version:
		ip := header.IPv6(b)
		src, dst, proto, payload = ip.SourceAddress(), ip.DestinationAddress(), ip.TransportProtocol(), ip.Payload()
	default:
		return fmt.Errorf("not an IP packet: %x", b[:min(len(b), 20)])
	}
	var ok bool
	switch proto {
	case header.TCPProtocolNumber:
		tcp := header.TCP(payload)
		ok = tcp.IsChecksumValid(src, dst, checksum.Checksum(tcp.Payload(), 0), uint16(len(tcp.Payload())))
	case header.UDPProtocolNumber:
		udp := header.UDP(payload)
		ok = udp.IsChecksumValid(src, dst, checksum.Checksum(udp.Payload(), 0))
	case header.ICMPv4ProtocolNumber:
		ok = checksum.Checksum(payload, 0) == 0xffff
	case header.ICMPv6ProtocolNumber:
		ok = header.ICMPv6(payload).Checksum() == header.ICMPv6Checksum(header.ICMPv6ChecksumParams{Header: header.ICMPv6(payload), Src: src, Dst: dst})
	default:
		return nil
	}
	if !ok {
		return fmt.Errorf("bad %d checksum %v -> %v", proto, src, dst)
	}
	return nil
}

// withTimeout is a context for one test step.
func withTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
