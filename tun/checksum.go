package tun

import (
	"encoding/binary"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// fixChecksums makes the IPv4 header checksum and the TCP, UDP, ICMP or
// ICMPv6 checksum of the raw IP packet b valid, in place. gVisor leaves
// transport checksums to "hardware" on NICs that advertise offload, and a
// forwarded packet keeps whatever its sender's NIC left; the kernel drops
// such packets and Wireshark flags them. It reports whether it changed b.
// Fragments and packets it cannot parse are left alone.
func fixChecksums(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	switch header.IPVersion(b) {
	case header.IPv4Version:
		return fixIPv4(b)
	case header.IPv6Version:
		return fixIPv6(b)
	}
	return false
}

func fixIPv4(b []byte) bool {
	if len(b) < header.IPv4MinimumSize {
		return false
	}
	ip := header.IPv4(b)
	hl := int(ip.HeaderLength())
	total := int(ip.TotalLength())
	if hl < header.IPv4MinimumSize || total < hl || total > len(b) {
		return false
	}
	changed := false
	if !ip.IsChecksumValid() {
		ip.SetChecksum(0)
		ip.SetChecksum(^ip.CalculateChecksum())
		changed = true
	}
	if ip.More() || ip.FragmentOffset() != 0 {
		return changed
	}
	payload := b[hl:total]
	proto := tcpip.TransportProtocolNumber(ip.Protocol())
	if proto == header.ICMPv4ProtocolNumber {
		return fixSum(payload, 2, 0, false) || changed
	}
	pseudo := header.PseudoHeaderChecksum(proto, ip.SourceAddress(), ip.DestinationAddress(), uint16(len(payload)))
	return fixTransport(proto, payload, pseudo) || changed
}

func fixIPv6(b []byte) bool {
	if len(b) < header.IPv6MinimumSize {
		return false
	}
	ip := header.IPv6(b)
	end := header.IPv6MinimumSize + int(ip.PayloadLength())
	if end > len(b) {
		return false
	}
	payload := b[header.IPv6MinimumSize:end]
	proto := tcpip.TransportProtocolNumber(ip.NextHeader())
	pseudo := header.PseudoHeaderChecksum(proto, ip.SourceAddress(), ip.DestinationAddress(), uint16(len(payload)))
	if proto == header.ICMPv6ProtocolNumber {
		return fixSum(payload, 2, pseudo, false)
	}
	return fixTransport(proto, payload, pseudo)
}

// fixTransport fixes a TCP or UDP checksum; other protocols are left alone.
func fixTransport(proto tcpip.TransportProtocolNumber, payload []byte, pseudo uint16) bool {
	switch proto {
	case header.TCPProtocolNumber:
		return fixSum(payload, 16, pseudo, false)
	case header.UDPProtocolNumber:
		return fixSum(payload, 6, pseudo, true)
	}
	return false
}

// fixSum checks the Internet checksum stored at off in seg (seeded with
// pseudo) and rewrites it if wrong. For UDP a computed 0 is sent as 0xffff.
func fixSum(seg []byte, off int, pseudo uint16, udp bool) bool {
	if len(seg) < off+2 {
		return false
	}
	if checksum.Checksum(seg, pseudo) == 0xffff {
		return false
	}
	binary.BigEndian.PutUint16(seg[off:], 0)
	sum := ^checksum.Checksum(seg, pseudo)
	if udp && sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(seg[off:], sum)
	return true
}
