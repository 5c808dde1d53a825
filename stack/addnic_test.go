package stack_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	gvstack "gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/ftplab/ftplab/stack"
)

// echoRequest builds a raw IPv4 ICMP echo request.
func echoRequest(src, dst netip.Addr, seq uint16) []byte {
	b := make([]byte, header.IPv4MinimumSize+header.ICMPv4MinimumSize)
	ip := header.IPv4(b)
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(len(b)), TTL: 64, Protocol: uint8(header.ICMPv4ProtocolNumber),
		SrcAddr: tcpip.AddrFrom4(src.As4()), DstAddr: tcpip.AddrFrom4(dst.As4()),
	})
	ip.SetChecksum(^ip.CalculateChecksum())
	icmp := header.ICMPv4(b[header.IPv4MinimumSize:])
	icmp.SetType(header.ICMPv4Echo)
	icmp.SetIdent(7)
	icmp.SetSequence(seq)
	icmp.SetChecksum(^checksum.Checksum(icmp, 0))
	return b
}

// A raw-IP endpoint added with AddNIC (what the TUN adapter does) reaches the
// lab through a router host.
func TestAddNICRoutesIntoLab(t *testing.T) {
	cfg := stack.Config{
		Hosts: []stack.HostConfig{
			{Name: "gw", Router: true, NICs: []stack.NICConfig{{Addrs: []netip.Prefix{pfx("10.0.0.1/24")}}}},
			{Name: "B", NICs: []stack.NICConfig{{Addrs: []netip.Prefix{pfx("10.0.0.2/24")}}}},
		},
		Links: []stack.LinkConfig{{A: "gw", B: "B"}},
	}
	n := newNet(t, cfg, stack.Options{})
	ep := channel.New(16, 1500, "")
	defer ep.Close()
	gw := n.Host("gw")
	require.NoError(t, gw.AddNIC("tun0", ep, []netip.Prefix{pfx("192.168.99.1/24")}))
	assert.ErrorContains(t, gw.AddNIC("tun0", channel.New(1, 1500, ""), nil), `NIC "tun0" already exists`)
	assert.Contains(t, gw.Addrs(), pfx("192.168.99.1/24"))
	// B learns the way back at run time.
	b := n.Host("B")
	assert.ErrorContains(t, b.AddRoute(stack.RouteConfig{Dst: pfx("192.168.99.0/24"), Via: addr("172.16.0.1")}),
		"gateway 172.16.0.1 is not in the subnet of any NIC")
	require.NoError(t, b.AddRoute(stack.RouteConfig{Dst: pfx("192.168.99.0/24"), Via: addr("10.0.0.1")}))

	for seq, dst := range []string{"192.168.99.1", "10.0.0.2"} {
		pkt := gvstack.NewPacketBuffer(gvstack.PacketBufferOptions{
			Payload: buffer.MakeWithData(echoRequest(addr("192.168.99.2"), addr(dst), uint16(seq))),
		})
		ep.InjectInbound(header.IPv4ProtocolNumber, pkt)
		pkt.DecRef()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		reply := ep.ReadContext(ctx)
		cancel()
		require.NotNil(t, reply, "echo reply from %s out of the TUN NIC", dst)
		v := reply.ToView()
		ip := header.IPv4(v.AsSlice())
		assert.Equal(t, dst, ip.SourceAddress().String())
		assert.Equal(t, "192.168.99.2", ip.DestinationAddress().String())
		assert.Equal(t, header.ICMPv4EchoReply, header.ICMPv4(ip.Payload()).Type())
		v.Release()
		reply.DecRef()
	}
}
