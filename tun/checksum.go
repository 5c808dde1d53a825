package tun

import (
	"encoding/binary"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// sums says where an IP packet's checksums are: the IPv4 header checksum
// (v4) and the transport checksum of the segment b[seg:end] at offset off
// within it, seeded with pseudo (off < 0: none to check).
type sums struct {
	v4       bool
	seg, end int
	off      int
	pseudo   uint16
	udp      bool
}

// maxHeadLen is the most of a packet parseSums needs to see: a full IPv4
// header with options (the IPv6 fixed header is shorter).
const maxHeadLen = 60

// parseSums locates the checksums of the IP packet whose first bytes are
// head (at least its IP header, when it has one) and whose length is size.
// Fragments, unknown protocols and packets it cannot parse have only the
// IPv4 header checksum or none (ok false).
func parseSums(head []byte, size int) (s sums, ok bool) {
	s.off = -1
	if len(head) == 0 {
		return s, false
	}
	var proto tcpip.TransportProtocolNumber
	var src, dst tcpip.Address
	switch header.IPVersion(head) {
	case header.IPv4Version:
		if len(head) < header.IPv4MinimumSize {
			return s, false
		}
		ip := header.IPv4(head)
		s.seg, s.end = int(ip.HeaderLength()), int(ip.TotalLength())
		if s.seg < header.IPv4MinimumSize || s.seg > len(head) || s.end < s.seg || s.end > size {
			return s, false
		}
		s.v4 = true
		if ip.More() || ip.FragmentOffset() != 0 {
			return s, true
		}
		proto, src, dst = tcpip.TransportProtocolNumber(ip.Protocol()), ip.SourceAddress(), ip.DestinationAddress()
		if proto == header.ICMPv4ProtocolNumber {
			s.off = 2 // no pseudo-header
		}
	case header.IPv6Version:
		if len(head) < header.IPv6MinimumSize {
			return s, false
		}
		ip := header.IPv6(head)
		s.seg, s.end = header.IPv6MinimumSize, header.IPv6MinimumSize+int(ip.PayloadLength())
		if s.end > size {
			return s, false
		}
		proto, src, dst = tcpip.TransportProtocolNumber(ip.NextHeader()), ip.SourceAddress(), ip.DestinationAddress()
		if proto == header.ICMPv6ProtocolNumber {
			s.off = 2
		}
	default:
		return s, false
	}
	switch proto {
	case header.TCPProtocolNumber:
		s.off = 16
	case header.UDPProtocolNumber:
		s.off, s.udp = 6, true
	}
	if s.off >= 0 {
		if s.end-s.seg < s.off+2 {
			s.off = -1
		} else if proto != header.ICMPv4ProtocolNumber {
			s.pseudo = header.PseudoHeaderChecksum(proto, src, dst, uint16(s.end-s.seg))
		}
	}
	return s, true
}

// fixChecksums makes the IPv4 header checksum and the TCP, UDP, ICMP or
// ICMPv6 checksum of the raw IP packet b valid, in place. gVisor leaves
// transport checksums to "hardware" on NICs that advertise offload, and a
// forwarded packet keeps whatever its sender's NIC left; the kernel drops
// such packets and Wireshark flags them. It reports whether it changed b.
// Fragments and packets it cannot parse are left alone.
func fixChecksums(b []byte) bool {
	s, ok := parseSums(b[:min(len(b), maxHeadLen)], len(b))
	if !ok {
		return false
	}
	changed := false
	if ip := header.IPv4(b); s.v4 && !ip.IsChecksumValid() {
		ip.SetChecksum(0)
		ip.SetChecksum(^ip.CalculateChecksum())
		changed = true
	}
	if s.off < 0 {
		return changed
	}
	seg := b[s.seg:s.end]
	if checksum.Checksum(seg, s.pseudo) == 0xffff {
		return changed
	}
	binary.BigEndian.PutUint16(seg[s.off:], 0)
	sum := ^checksum.Checksum(seg, s.pseudo)
	if s.udp && sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(seg[s.off:], sum)
	return true
}

// checksumsOK reports whether fixChecksums would leave the packet made of
// the slices parts unchanged, without flattening it: the checksums are
// summed across the parts where they lie.
func checksumsOK(parts [][]byte) bool {
	var headArr [maxHeadLen]byte
	head, size := headArr[:0], 0
	for _, p := range parts {
		size += len(p)
		if n := min(len(p), maxHeadLen-len(head)); n > 0 {
			head = append(head, p[:n]...)
		}
	}
	s, ok := parseSums(head, size)
	if !ok {
		return true
	}
	if s.v4 && !header.IPv4(head).IsChecksumValid() {
		return false
	}
	if s.off < 0 {
		return true
	}
	var c checksum.Checksumer
	off := 0
	for _, p := range parts {
		lo, hi := max(s.seg-off, 0), min(s.end-off, len(p))
		if lo < hi {
			c.Add(p[lo:hi])
		}
		off += len(p)
	}
	return checksum.Combine(c.Checksum(), s.pseudo) == 0xffff
}
