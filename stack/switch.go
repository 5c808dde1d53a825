package stack

import (
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// Switch is a learning L2 switch: it learns which port each source MAC lives
// behind, floods broadcast, multicast and unknown unicast to every other port,
// and delivers known unicast only to the port that owns the destination MAC.
// Entries never age; a MAC seen on a new port moves there.
type Switch struct {
	name  string
	mu    sync.RWMutex
	table map[tcpip.LinkAddress]*swPort
	ports []*swPort

	flooded, forwarded, filtered atomic.Uint64
}

// SwitchStats counts the frames a switch handled.
type SwitchStats struct {
	Forwarded uint64 // unicast frames sent to exactly one port
	Flooded   uint64 // frames sent to all other ports
	Filtered  uint64 // frames dropped because the destination is behind the ingress port
}

// swPort is a switch's end of a link.
type swPort struct {
	sw  *Switch
	out *pipe // switch -> link's other end
}

func newSwitch(name string) *Switch {
	return &Switch{name: name, table: map[tcpip.LinkAddress]*swPort{}}
}

// Name returns the switch's name.
func (s *Switch) Name() string { return s.name }

// Stats returns the switch's counters.
func (s *Switch) Stats() SwitchStats {
	return SwitchStats{Forwarded: s.forwarded.Load(), Flooded: s.flooded.Load(), Filtered: s.filtered.Load()}
}

func (s *Switch) addPort() *swPort {
	p := &swPort{sw: s}
	s.mu.Lock()
	s.ports = append(s.ports, p)
	s.mu.Unlock()
	return p
}

// receive implements receiver for frames arriving at port p.
func (p *swPort) receive(frames []frame) {
	p.sw.forward(p, frames)
}

func (s *Switch) forward(in *swPort, frames []frame) {
	now := time.Now()
	for i, f := range frames {
		v := f.v
		b := v.AsSlice()
		if len(b) < header.EthernetMinimumSize {
			v.Release()
			continue
		}
		segs, _ := f.segments() // what the counters count: frames as on a real wire
		dst, src := tcpip.LinkAddress(b[0:6]), tcpip.LinkAddress(b[6:12])
		s.learn(src, in)
		if !header.IsMulticastEthernetAddress(dst) {
			s.mu.RLock()
			out, known := s.table[dst]
			s.mu.RUnlock()
			if known {
				if out == in {
					s.filtered.Add(uint64(segs))
					v.Release()
				} else {
					s.forwarded.Add(uint64(segs))
					out.out.send(frames[i:i+1], now, true)
				}
				continue
			}
		}
		s.flooded.Add(uint64(segs))
		s.mu.RLock()
		ports := s.ports
		s.mu.RUnlock()
		for _, p := range ports {
			if p != in && p.out != nil {
				p.out.send([]frame{{v: buffer.NewViewWithData(b), mss: f.mss}}, now, true)
			}
		}
		v.Release()
	}
}

func (s *Switch) learn(src tcpip.LinkAddress, in *swPort) {
	if header.IsMulticastEthernetAddress(src) {
		return
	}
	s.mu.RLock()
	cur := s.table[src]
	s.mu.RUnlock()
	if cur == in {
		return
	}
	s.mu.Lock()
	s.table[src] = in
	s.mu.Unlock()
}
