package stack

import (
	"slices"

	"github.com/gopacket/gopacket/layers"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// CaptureData says how much of each frame the capture keeps.
type CaptureData int

const (
	// CaptureFull keeps every frame whole.
	CaptureFull CaptureData = iota
	// CaptureHeaders keeps frames of control connections (a TCP port in
	// Options.ControlPorts) and frames that are not TCP whole, and every
	// other TCP frame up to the end of its TCP header; the record keeps the
	// frame's original length, as `tcpdump -s` does.
	CaptureHeaders
	// CaptureControl is CaptureHeaders that keeps, of the other TCP frames,
	// only those with SYN, FIN or RST and one in every 256 MiB of sequence
	// space: enough to draw the ladder (a data connection's ends and, from
	// the sequence numbers, its bytes, however many times they wrap) in a
	// few kilobytes however long the transfer.
	CaptureControl
)

// String is "full", "headers" or "control".
func (d CaptureData) String() string {
	switch d {
	case CaptureHeaders:
		return "headers"
	case CaptureControl:
		return "control"
	}
	return "full"
}

// seqMark is the sequence space between the data frames CaptureControl
// keeps: 256 MiB.
const seqMark = 1 << 28

// DefaultControlPorts are the control ports a capture keeps whole when
// Options.ControlPorts is empty: FTP's.
var DefaultControlPorts = []uint16{21}

// capturePolicy applies CaptureData.
type capturePolicy struct {
	data  CaptureData
	ports []uint16 // control ports
}

// keep says how many bytes of a frame of orig bytes, whose headers start
// hdr, the capture records, and whether it records the frame at all.
func (p capturePolicy) keep(lt layers.LinkType, hdr []byte, orig int) (int, bool) {
	if p.data == CaptureFull {
		return orig, true
	}
	ip := hdr
	off := 0
	if lt == layers.LinkTypeEthernet {
		if len(hdr) < header.EthernetMinimumSize {
			return orig, true
		}
		off = header.EthernetMinimumSize
		ip = hdr[off:]
	}
	var ipLen int
	switch {
	case len(ip) >= header.IPv4MinimumSize && header.IPVersion(ip) == header.IPv4Version:
		v4 := header.IPv4(ip)
		if v4.TransportProtocol() != header.TCPProtocolNumber || v4.FragmentOffset() != 0 {
			return orig, true
		}
		ipLen = int(v4.HeaderLength())
	case len(ip) >= header.IPv6MinimumSize && header.IPVersion(ip) == header.IPv6Version:
		if header.IPv6(ip).TransportProtocol() != header.TCPProtocolNumber {
			return orig, true
		}
		ipLen = header.IPv6MinimumSize
	default:
		return orig, true
	}
	if len(ip) < ipLen+header.TCPMinimumSize {
		return orig, true
	}
	tcp := header.TCP(ip[ipLen:])
	if slices.Contains(p.ports, tcp.SourcePort()) || slices.Contains(p.ports, tcp.DestinationPort()) {
		return orig, true
	}
	if p.data == CaptureControl && tcp.Flags()&(header.TCPFlagSyn|header.TCPFlagFin|header.TCPFlagRst) == 0 {
		payload := orig - off - ipLen - int(tcp.DataOffset())
		if seq := tcp.SequenceNumber() % seqMark; seq != 0 && int(seq)+payload <= seqMark {
			return 0, false // holds no byte at a multiple of seqMark
		}
	}
	return min(orig, off+ipLen+int(tcp.DataOffset())), true
}
