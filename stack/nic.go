package stack

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	gvstack "gvisor.dev/gvisor/pkg/tcpip/stack"
)

// receiver is what sits at the far end of a link direction: a host NIC or a
// switch port. It takes ownership of the frames.
type receiver interface {
	receive(frames []frame)
}

// nic is the wire side of a host's Ethernet interface: the link endpoint
// below gVisor's ethernet.Endpoint (which adds and parses Ethernet headers
// and ARP). Frames it transmits go to out; frames addressed to another MAC
// are filtered as Ethernet hardware would, and counted.
//
// It advertises no TX checksum offload, so gVisor fills in every checksum
// (but TCP's, see WritePackets) and the capture shows valid ones; it
// advertises RX offload because frames only ever come from another gVisor
// stack that computed them. It advertises host GSO (see gso.go).
type nic struct {
	host  *Host
	name  string // "eth0"
	label string // "A:eth0"
	mac   tcpip.LinkAddress
	mtu   atomic.Uint32 // IP MTU (what the ethernet endpoint reports)

	mu   sync.RWMutex
	disp gvstack.NetworkDispatcher

	out   atomic.Pointer[pipe] // nil while unplugged
	cap   *capture
	capIf int

	rxFrames, rxForeign, txFrames, txUnplugged atomic.Uint64
}

// NICStats counts frames at a host NIC.
type NICStats struct {
	RxFrames  uint64 // frames delivered to the host's stack
	RxForeign uint64 // unicast frames for another MAC that reached the NIC (a switch bug if non-zero)
	TxFrames  uint64 // frames transmitted
	TxDropped uint64 // frames transmitted while unplugged
}

func newNIC(h *Host, name string, mac net.HardwareAddr, mtu int) *nic {
	n := &nic{host: h, name: name, label: h.name + ":" + name, mac: tcpip.LinkAddress(mac)}
	n.mtu.Store(uint32(mtu))
	return n
}

// MTU implements gvstack.LinkEndpoint; it includes the Ethernet header
// because ethernet.Endpoint subtracts it.
func (n *nic) MTU() uint32 { return n.mtu.Load() + ethHeaderLen }

// SetMTU implements gvstack.LinkEndpoint.
func (n *nic) SetMTU(mtu uint32) {
	if mtu > ethHeaderLen {
		n.mtu.Store(mtu - ethHeaderLen)
	}
}

// MaxHeaderLength implements gvstack.LinkEndpoint.
func (*nic) MaxHeaderLength() uint16 { return 0 }

// LinkAddress implements gvstack.LinkEndpoint.
func (n *nic) LinkAddress() tcpip.LinkAddress { return n.mac }

// SetLinkAddress implements gvstack.LinkEndpoint; the MAC is fixed by config.
func (*nic) SetLinkAddress(tcpip.LinkAddress) {}

// Capabilities implements gvstack.LinkEndpoint.
func (*nic) Capabilities() gvstack.LinkEndpointCapabilities {
	return gvstack.CapabilityRXChecksumOffload
}

// Attach implements gvstack.LinkEndpoint.
func (n *nic) Attach(d gvstack.NetworkDispatcher) {
	n.mu.Lock()
	n.disp = d
	n.mu.Unlock()
}

// IsAttached implements gvstack.LinkEndpoint.
func (n *nic) IsAttached() bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.disp != nil
}

// GSOMaxSize implements gvstack.GSOEndpoint.
func (*nic) GSOMaxSize() uint32 { return gsoMaxSize }

// SupportedGSO implements gvstack.GSOEndpoint: TCP hands the NIC
// super-segments, which the wires carry whole where they can (gso.go).
func (*nic) SupportedGSO() gvstack.SupportedGSO { return gvstack.HostGSOSupported }

// Wait implements gvstack.LinkEndpoint; a nic owns no goroutines.
func (*nic) Wait() {}

// ARPHardwareType implements gvstack.LinkEndpoint.
func (*nic) ARPHardwareType() header.ARPHardwareType { return header.ARPHardwareEther }

// AddHeader implements gvstack.LinkEndpoint; ethernet.Endpoint adds it.
func (*nic) AddHeader(*gvstack.PacketBuffer) {}

// ParseHeader implements gvstack.LinkEndpoint; ethernet.Endpoint parses it.
func (*nic) ParseHeader(*gvstack.PacketBuffer) bool { return true }

// Close implements gvstack.LinkEndpoint.
func (n *nic) Close() {
	n.Attach(nil)
	n.out.Store(nil)
}

// SetOnCloseAction implements gvstack.LinkEndpoint.
func (*nic) SetOnCloseAction(func()) {}

// WritePackets implements gvstack.LinkEndpoint: each packet (with its
// Ethernet header) is copied once into a fresh view that travels the wires.
// A TCP packet comes with its checksum left for offload: a super-segment
// keeps it so (its segments get theirs when it is cut), any other has it
// completed here.
func (n *nic) WritePackets(pkts gvstack.PacketBufferList) (int, tcpip.Error) {
	list := pkts.AsSlice()
	out := n.out.Load()
	if out == nil {
		n.txUnplugged.Add(uint64(len(list)))
		return len(list), nil
	}
	var frameArr [8]frame
	frames := frameArr[:0]
	var notes []string // a router's comments on frames, if it has any pending
	if n.host.notes.pending() {
		notes = make([]string, len(list))
		for i, pkt := range list {
			notes[i] = n.host.notes.take(pkt)
		}
	}
	for _, pkt := range list {
		v := buffer.NewViewSize(pkt.Size())
		b := v.AsSlice()
		off := 0
		for _, s := range pkt.AsSlices() {
			off += copy(b[off:], s)
		}
		f := frame{v: v}
		if g := pkt.GSOOptions; (g.Type == gvstack.GSOTCPv4 || g.Type == gvstack.GSOTCPv6) && g.NeedsCsum {
			if pkt.Data().Size() > int(g.MSS) {
				f.mss = g.MSS
			} else {
				finishChecksum(b[len(pkt.LinkHeader().Slice())+len(pkt.NetworkHeader().Slice()):])
			}
		}
		frames = append(frames, f)
	}
	now := time.Now()
	if n.cap != nil {
		n.cap.record(n.capIf, now, func(add func(hdr, payload []byte)) {
			for i, f := range frames {
				if notes != nil {
					n.cap.note = notes[i]
				}
				if f.mss == 0 {
					add(f.v.AsSlice(), nil)
					continue
				}
				eachSegment(f.v.AsSlice(), int(f.mss), add)
			}
		})
	}
	for _, f := range frames {
		k, _ := f.segments()
		n.txFrames.Add(uint64(k))
	}
	out.send(frames, now, false)
	return len(list), nil
}

// receive delivers frames from the wire into the host's stack; a router
// gets super-segments cut (gso.go).
func (n *nic) receive(frames []frame) {
	n.mu.RLock()
	d := n.disp
	n.mu.RUnlock()
	if n.host.forward.Load() {
		frames = cutAll(frames)
	}
	for _, f := range frames {
		v := f.v
		if d == nil || v.Size() < ethHeaderLen {
			v.Release()
			continue
		}
		dst := tcpip.LinkAddress(v.AsSlice()[:6])
		if dst != n.mac && !header.IsMulticastEthernetAddress(dst) && dst != header.EthernetBroadcastAddress {
			k, _ := f.segments()
			n.rxForeign.Add(uint64(k))
			v.Release()
			continue
		}
		k, _ := f.segments() // a super-segment counts as the frames it stands for
		n.rxFrames.Add(uint64(k))
		pkt := gvstack.NewPacketBuffer(gvstack.PacketBufferOptions{Payload: buffer.MakeWithView(v)})
		d.DeliverNetworkPacket(0, pkt)
		pkt.DecRef()
	}
}

func (n *nic) stats() NICStats {
	return NICStats{
		RxFrames:  n.rxFrames.Load(),
		RxForeign: n.rxForeign.Load(),
		TxFrames:  n.txFrames.Load(),
		TxDropped: n.txUnplugged.Load(),
	}
}
