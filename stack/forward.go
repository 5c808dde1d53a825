package stack

import (
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/nested"
	gvstack "gvisor.dev/gvisor/pkg/tcpip/stack"
)

// forwardGuard contains a use-after-free in gVisor's IPv4 forwarding (the
// gVisor in go.mod, also the newest on the module proxy).
//
// The bug: ipv4's forwardPacketWithRoute takes h :=
// pkt.NetworkHeader().Slice(), calls pkt.DeepCopyForForwarding, and only
// then reads h.TTL(). Slice() ends in buffer.PullUp, which gives a view a
// private copy of its chunk whenever the chunk is shared (copy on write)
// and drops the view's reference to the old one. DeepCopyForForwarding
// clones pkt's buffer (BufferSince: now h's chunk is shared), calls
// NetworkHeader().Slice() again, so pkt's view moves to a fresh copy, and
// releases the clone: that was the last reference to h's chunk, which goes
// back to its sync.Pool while h still points into it. A goroutine that
// takes the chunk from the pool (newChunk clears it) races with h.TTL(),
// and the packet may leave with a TTL made of that goroutine's bytes (255
// after a clear). Every forwarded IPv4 packet takes this path; IPv6 reads
// its hop limit before the copy.
//
// The workaround: a reference held by whoever delivers the packet (an
// IncRef of the packet or of its chunk) cannot help, because h's chunk is
// itself a copy made by that first Slice() (forwardUnicastPacket holds a
// clone of the header view, so the chunk was shared); the original chunks
// survive, h's does not. The only code that runs between that Slice() and
// the copy is the netfilter Forward hook, so forwardGuard is each host's
// nftables hook (on while the host forwards; every hook accepts every
// packet). On Forward it pins the IPv4 header's chunk with a view clone
// (the chunk is not shared then, so no copy is made and h keeps pointing
// into it); guardedEndpoint, which wraps every NIC of the host, drops a
// packet's pins when the stack's DeliverNetworkPacket of it returns, since
// forwarding runs inside that call. Without the pin
// TestRouterForwardsManyPacketsIntact fails under -race. Remove both once
// gVisor reads the TTL before the copy (as ipv6 does) or from the copy.
type forwardGuard struct {
	n    atomic.Int32 // len(pins), read without mu: a goroutine always sees its own pins
	mu   sync.Mutex
	pins []pin
}

// pin is one reference forwardGuard holds for a packet being forwarded.
type pin struct {
	pkt *gvstack.PacketBuffer
	v   *buffer.View
}

var _ gvstack.NFTablesInterface = (*forwardGuard)(nil)

// CheckForward implements gvstack.NFTablesInterface: it pins the IPv4
// header's chunk of pkt and accepts the packet.
func (g *forwardGuard) CheckForward(pkt *gvstack.PacketBuffer, _ *gvstack.Route, af gvstack.AddressFamily) bool {
	if af != gvstack.IP {
		return true
	}
	if v := pkt.NetworkHeader().View(); v != nil {
		g.mu.Lock()
		g.pins = append(g.pins, pin{pkt: pkt, v: v})
		g.n.Store(int32(len(g.pins)))
		g.mu.Unlock()
	}
	return true
}

// CheckPrerouting implements gvstack.NFTablesInterface; it accepts.
func (*forwardGuard) CheckPrerouting(*gvstack.PacketBuffer, *gvstack.Route, gvstack.AddressFamily) bool {
	return true
}

// CheckInput implements gvstack.NFTablesInterface; it accepts.
func (*forwardGuard) CheckInput(*gvstack.PacketBuffer, *gvstack.Route, gvstack.AddressFamily) bool {
	return true
}

// CheckOutput implements gvstack.NFTablesInterface; it accepts.
func (*forwardGuard) CheckOutput(*gvstack.PacketBuffer, *gvstack.Route, gvstack.AddressFamily) bool {
	return true
}

// CheckPostrouting implements gvstack.NFTablesInterface; it accepts.
func (*forwardGuard) CheckPostrouting(*gvstack.PacketBuffer, *gvstack.Route, gvstack.AddressFamily) bool {
	return true
}

// CheckIngress implements gvstack.NFTablesInterface; it accepts.
func (*forwardGuard) CheckIngress(*gvstack.PacketBuffer, *gvstack.Route, gvstack.AddressFamily) bool {
	return true
}

// CheckEgress implements gvstack.NFTablesInterface; it accepts.
func (*forwardGuard) CheckEgress(*gvstack.PacketBuffer, *gvstack.Route, gvstack.AddressFamily) bool {
	return true
}

// release drops the pins taken for pkt (all of them if pkt is nil).
func (g *forwardGuard) release(pkt *gvstack.PacketBuffer) {
	if g.n.Load() == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	kept := g.pins[:0]
	for _, p := range g.pins {
		if pkt == nil || p.pkt == pkt {
			p.v.Release()
		} else {
			kept = append(kept, p)
		}
	}
	clear(g.pins[len(kept):])
	g.pins = kept
	g.n.Store(int32(len(kept)))
}

// guardedEndpoint is how every NIC of a host delivers packets to its
// stack: once the stack has handled a packet, the packet's pins go.
type guardedEndpoint struct {
	nested.Endpoint
	g *forwardGuard
}

func newGuardedEndpoint(child gvstack.LinkEndpoint, g *forwardGuard) *guardedEndpoint {
	e := &guardedEndpoint{g: g}
	e.Endpoint.Init(child, e)
	return e
}

// DeliverNetworkPacket implements gvstack.NetworkDispatcher.
func (e *guardedEndpoint) DeliverNetworkPacket(proto tcpip.NetworkProtocolNumber, pkt *gvstack.PacketBuffer) {
	e.Endpoint.DeliverNetworkPacket(proto, pkt)
	e.g.release(pkt)
}
