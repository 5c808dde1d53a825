package stack

import (
	"encoding/binary"
	"hash/maphash"
	"sync/atomic"
)

// copyWindow is how many recent packets forwarded copies are looked up
// among.
const copyWindow = 1 << 16

// forwardedCopies finds the copies of IP packets that routers forward: the
// same packet but for its Ethernet header, TTL (hop limit) and IPv4 header
// checksum, recorded first on one interface, then on a router's. It is off
// (and costs nothing) until an interface is marked.
type forwardedCopies struct {
	on     atomic.Bool
	seed   maphash.Seed
	router []bool             // by interface: a router's
	first  map[uint64]int     // packet key -> interface it was first recorded on
	ring   [copyWindow]uint64 // keys in first in the order they came
	next   int
}

func (f *forwardedCopies) mark(iface int) {
	if !f.on.Load() {
		f.seed = maphash.MakeSeed()
		f.first = map[uint64]int{}
	}
	for len(f.router) <= iface {
		f.router = append(f.router, false)
	}
	f.router[iface] = true
	f.on.Store(true)
}

// isCopy reports whether the packet of key, sent on iface, is a forwarded
// copy; if not, it is remembered. Called with the capture's lock held.
func (f *forwardedCopies) isCopy(iface int, key uint64) bool {
	if key == 0 {
		return false
	}
	if first, seen := f.first[key]; seen {
		return first != iface && iface < len(f.router) && f.router[iface]
	}
	if old := f.ring[f.next]; old != 0 {
		delete(f.first, old)
	}
	f.ring[f.next] = key
	f.next = (f.next + 1) % copyWindow
	f.first[key] = iface
	return false
}

// packetKey hashes an Ethernet frame's IP packet, given as its headers
// and its payload, without what a router changes as it forwards (TTL or
// hop limit, IPv4 header checksum); 0 means not IP.
func packetKey(seed maphash.Seed, hdr, payload []byte) uint64 {
	if len(hdr) < 14 {
		return 0
	}
	var h maphash.Hash
	h.SetSeed(seed)
	p := hdr[14:]
	switch binary.BigEndian.Uint16(hdr[12:14]) {
	case 0x0800: // IPv4: TTL at 8, checksum at 10-11
		if len(p) < 20 {
			return 0
		}
		h.WriteByte(4)
		h.Write(p[:8])
		h.WriteByte(p[9])
		h.Write(p[12:])
	case 0x86dd: // IPv6: hop limit at 7
		if len(p) < 40 {
			return 0
		}
		h.WriteByte(6)
		h.Write(p[:7])
		h.Write(p[8:])
	default:
		return 0
	}
	h.Write(payload)
	return h.Sum64() | 1
}
