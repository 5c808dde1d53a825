package stack

import (
	"encoding/binary"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// Segmentation offload on virtual wires.
//
// A host NIC advertises host GSO to gVisor, so a TCP sender hands it one
// large segment (up to 64 KiB) where a real NIC would send many MTU-sized
// ones. Such a super-segment crosses the wires whole only where nothing
// could tell the difference: a link without impairments and a switch. It is
// cut into the segments a real NIC would have sent, each within the link
// MTU with valid lengths and checksums, wherever frames are seen one by one:
// before an impaired link (delay, jitter, loss, rate, down: each applies per
// frame), before a host that forwards (a router sees MTU-sized frames, as
// it would on a real network), and in the capture, which records the
// segments, never the super-segment. A host that receives a super-segment
// takes it as a real receiver with GRO would.

// gsoMaxSize is the largest super-segment a NIC accepts from gVisor.
const gsoMaxSize = 1 << 16

// frame is what travels a virtual wire: an Ethernet frame, or (mss > 0) a
// TCP super-segment to be cut into segments of at most mss payload bytes.
type frame struct {
	v   *buffer.View
	mss uint16
}

// frames releases the frames' views.
func releaseFrames(fs []frame) {
	for _, f := range fs {
		f.v.Release()
	}
}

// segHeaders is where a super-segment's headers are, within its frame.
type segHeaders struct {
	ipLen, tcpLen int // lengths of the IP and TCP headers
	v4            bool
}

// parseSuper locates the headers of an Ethernet frame carrying IPv4 or
// IPv6 and TCP; ok is false for anything else.
func parseSuper(b []byte) (h segHeaders, ok bool) {
	if len(b) < header.EthernetMinimumSize {
		return h, false
	}
	ip := b[header.EthernetMinimumSize:]
	switch header.Ethernet(b).Type() {
	case header.IPv4ProtocolNumber:
		if len(ip) < header.IPv4MinimumSize {
			return h, false
		}
		v4 := header.IPv4(ip)
		h.ipLen, h.v4 = int(v4.HeaderLength()), true
		if v4.TransportProtocol() != header.TCPProtocolNumber {
			return h, false
		}
	case header.IPv6ProtocolNumber:
		if len(ip) < header.IPv6MinimumSize || header.IPv6(ip).TransportProtocol() != header.TCPProtocolNumber {
			return h, false
		}
		h.ipLen = header.IPv6MinimumSize
	default:
		return h, false
	}
	if len(ip) < h.ipLen+header.TCPMinimumSize {
		return h, false
	}
	h.tcpLen = int(header.TCP(ip[h.ipLen:]).DataOffset())
	return h, len(ip) >= h.ipLen+h.tcpLen
}

// segments reports how many segments a frame is on the wire, and their
// bytes in all.
func (f frame) segments() (n int, bytes int) {
	size := f.v.Size()
	if f.mss == 0 {
		return 1, size
	}
	h, ok := parseSuper(f.v.AsSlice())
	if !ok {
		return 1, size
	}
	hdr := header.EthernetMinimumSize + h.ipLen + h.tcpLen
	n = max(1, (size-hdr+int(f.mss)-1)/int(f.mss))
	return n, size + (n-1)*hdr
}

// wireSize is the size of the largest frame f is on the wire: its
// segments' for a super-segment.
func (f frame) wireSize() int {
	if f.mss == 0 {
		return f.v.Size()
	}
	h, ok := parseSuper(f.v.AsSlice())
	if !ok {
		return f.v.Size()
	}
	return min(f.v.Size(), header.EthernetMinimumSize+h.ipLen+h.tcpLen+int(f.mss))
}

// eachSegment calls fn with the headers (Ethernet, IP and TCP, lengths and
// checksums valid) and the payload of each segment of the TCP super-segment
// b, cut at mss payload bytes as a NIC doing TSO would: sequence numbers
// advance, the IPv4 ID counts up, PSH and FIN go on the last segment only,
// CWR on the first. hdr is reused from call to call; payload is part of b.
func eachSegment(b []byte, mss int, fn func(hdr, payload []byte)) {
	h, ok := parseSuper(b)
	hl := header.EthernetMinimumSize + h.ipLen + h.tcpLen
	if !ok || mss <= 0 {
		fn(b, nil)
		return
	}
	var scratch [header.EthernetMinimumSize + header.IPv6MinimumSize + header.TCPHeaderMaximumSize]byte
	hdr := scratch[:hl]
	ip := hdr[header.EthernetMinimumSize:]
	tcp := header.TCP(ip[h.ipLen:])
	payload := b[hl:]
	orig := header.TCP(b[header.EthernetMinimumSize+h.ipLen : hl])
	seq, flags := orig.SequenceNumber(), orig.Flags()
	var id uint16
	if h.v4 {
		id = header.IPv4(b[header.EthernetMinimumSize:]).ID()
	}
	for off, i := 0, 0; off < len(payload) || i == 0; i++ {
		n := min(mss, len(payload)-off)
		seg := payload[off : off+n]
		copy(hdr, b[:hl])
		f := flags &^ (header.TCPFlagPsh | header.TCPFlagFin | header.TCPFlagCwr)
		if off+n == len(payload) {
			f |= flags & (header.TCPFlagPsh | header.TCPFlagFin)
		}
		if i == 0 {
			f |= flags & header.TCPFlagCwr
		}
		tcp.SetSequenceNumber(seq + uint32(off))
		tcp.SetFlags(uint8(f))
		tcpLen := uint16(h.tcpLen + n)
		var src, dst tcpip.Address
		if h.v4 {
			v4 := header.IPv4(ip)
			v4.SetTotalLength(uint16(h.ipLen) + tcpLen)
			v4.SetID(id + uint16(i))
			v4.SetChecksum(0)
			v4.SetChecksum(^v4.CalculateChecksum())
			src, dst = v4.SourceAddress(), v4.DestinationAddress()
		} else {
			v6 := header.IPv6(ip)
			v6.SetPayloadLength(tcpLen)
			src, dst = v6.SourceAddress(), v6.DestinationAddress()
		}
		tcp.SetChecksum(0)
		xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, tcpLen)
		xsum = checksum.Checksum(tcp[:h.tcpLen], xsum)
		xsum = checksum.Checksum(seg, xsum)
		tcp.SetChecksum(^xsum)
		fn(hdr, seg)
		off += n
		if n == 0 {
			break
		}
	}
}

// cut turns a super-segment into its segments (a plain frame stays as it
// is); the super-segment's view is released.
func cut(f frame) []frame {
	if f.mss == 0 {
		return []frame{f}
	}
	var out []frame
	eachSegment(f.v.AsSlice(), int(f.mss), func(hdr, payload []byte) {
		v := buffer.NewViewSize(len(hdr) + len(payload))
		b := v.AsSlice()
		copy(b[copy(b, hdr):], payload)
		out = append(out, frame{v: v})
	})
	f.v.Release()
	return out
}

// cutAll cuts every super-segment of fs.
func cutAll(fs []frame) []frame {
	for i, f := range fs {
		if f.mss != 0 {
			out := append([]frame{}, fs[:i]...)
			for _, g := range fs[i:] {
				out = append(out, cut(g)...)
			}
			return out
		}
	}
	return fs
}

// finishChecksum completes the TCP checksum of a packet gVisor left for
// offload (the pseudo-header's sum is in the field): tcp is the TCP header
// and payload.
func finishChecksum(tcp []byte) {
	sum := checksum.Checksum(tcp, 0)
	binary.BigEndian.PutUint16(tcp[header.TCPChecksumOffset:], ^sum)
}
