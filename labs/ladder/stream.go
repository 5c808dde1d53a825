package ladder

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/ftplab/ftplab/ftp/proto"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/reassembly"
)

// maxLine bounds a buffered control line; a stream that exceeds it without
// a newline is not FTP control traffic.
const maxLine = 4096

type factory struct{ a *analyzer }

// New starts a stream; the client is the SYN's sender, or (for a stream
// that began before the capture) the side not on port 21 / the higher port.
func (f *factory) New(netFlow, tcpFlow gopacket.Flow, tcp *layers.TCP, _ reassembly.AssemblerContext) reassembly.Stream {
	src, _ := netip.AddrFromSlice(netFlow.Src().Raw())
	dst, _ := netip.AddrFromSlice(netFlow.Dst().Raw())
	from := netip.AddrPortFrom(src.Unmap(), uint16(tcp.SrcPort))
	to := netip.AddrPortFrom(dst.Unmap(), uint16(tcp.DstPort))
	s := &stream{a: f.a, sawSYN: tcp.SYN}
	s.lines[0].Max, s.lines[1].Max = maxLine, maxLine
	switch {
	case tcp.SYN && !tcp.ACK:
		s.client, s.server = from, to
	case tcp.SYN && tcp.ACK:
		s.client, s.server = to, from
	case to.Port() == 21 || (from.Port() != 21 && to.Port() < from.Port()):
		s.client, s.server = from, to
	default:
		s.client, s.server = to, from
	}
	// reassembly's "client to server" is the first packet's direction.
	s.firstIsClient = s.client == from
	if s.server.Port() == 21 {
		s.markControl()
	}
	return s
}

// stream is one reassembled TCP connection, parsed as FTP control if it is
// one.
type stream struct {
	a              *analyzer
	client, server netip.AddrPort
	firstIsClient  bool
	sawSYN         bool
	control        bool
	notControl     bool
	lines          [2]proto.LineDecoder // 0: client->server, 1: server->client
	multi          int                  // code of a multi-line reply in progress
	multiIdx       int                  // its event index
}

func (s *stream) markControl() {
	s.control = true
	s.a.servers[s.server] = true
	if c := s.a.conns[connKey{s.client, s.server}]; c != nil {
		c.control = true
	}
}

// Accept takes every segment, including those of connections whose SYN
// the capture missed.
func (s *stream) Accept(_ *layers.TCP, _ gopacket.CaptureInfo, _ reassembly.TCPFlowDirection, _ reassembly.Sequence, start *bool, _ reassembly.AssemblerContext) bool {
	*start = true
	return true
}

// ReassembledSG receives in-order bytes of one direction.
func (s *stream) ReassembledSG(sg reassembly.ScatterGather, ac reassembly.AssemblerContext) {
	if s.notControl {
		return
	}
	avail, _ := sg.Lengths()
	if avail == 0 {
		return
	}
	dir, _, _, _ := sg.Info()
	d := 1
	if (dir == reassembly.TCPDirClientToServer) == s.firstIsClient {
		d = 0
	}
	data := sg.Fetch(avail)
	if !s.control {
		// The server speaks first on a control connection: a 220 greeting.
		if d == 1 && bytes.HasPrefix(data, []byte("220")) {
			s.markControl()
		} else if d == 0 && !s.sawSYN && bytes.HasPrefix(data, []byte("220")) {
			s.client, s.server, s.firstIsClient = s.server, s.client, !s.firstIsClient
			d = 1
			s.markControl()
		} else {
			s.notControl = true
			return
		}
	}
	ts := ac.GetCaptureInfo().Timestamp
	for _, b := range data {
		if !s.lines[d].Feed(b) {
			continue
		}
		if line, err := s.lines[d].Line(); err == nil { // a line too long is no FTP
			s.line(d, line, ts)
		}
	}
}

// ReassemblyComplete ends the stream.
func (s *stream) ReassemblyComplete(_ reassembly.AssemblerContext) bool { return true }

func (s *stream) line(d int, text string, ts time.Time) {
	if d == 0 {
		s.command(text, ts)
		return
	}
	s.reply(text, ts)
}

// command records a client line and the data endpoint a PORT, SOCK or EPRT
// announces.
func (s *stream) command(text string, ts time.Time) {
	verb, arg, _ := strings.Cut(text, " ")
	shown := text
	switch strings.ToUpper(verb) {
	case "PASS":
		shown = verb + " ****"
	case "PORT", "SOCK":
		if ap, err := proto.ParsePORT(arg); err == nil {
			s.a.announced[ap] = true
		}
	case "EPRT":
		if ap, err := proto.ParseEPRT(arg); err == nil {
			s.a.announced[netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())] = true
		}
	}
	s.a.events = append(s.a.events, Event{Time: ts, Kind: Command, From: s.client, To: s.server, Text: shown})
}

// reply records a server reply (a multi-line reply as one event) and the
// endpoint a 227 or 229 reply announces.
func (s *stream) reply(text string, ts time.Time) {
	if s.multi != 0 {
		s.a.events[s.multiIdx].Lines++
		if len(text) >= 4 && text[3] == ' ' && text[:3] == strconv.Itoa(s.multi) {
			s.multi = 0
		}
		return
	}
	ev := Event{Time: ts, Kind: Reply, From: s.server, To: s.client, Text: text, Lines: 1}
	if len(text) >= 3 {
		if code, err := strconv.Atoi(text[:3]); err == nil && code >= 100 && code <= 599 {
			ev.Code = code
		}
	}
	rest := ""
	if len(text) > 4 {
		rest = text[4:]
	}
	switch ev.Code {
	case 227:
		if ap, err := proto.ParsePASVReply(rest); err == nil {
			s.a.announced[ap] = true
		}
	case 229:
		if port, err := proto.ParseEPSVReply(rest); err == nil {
			s.a.announced[netip.AddrPortFrom(s.server.Addr(), port)] = true
		}
	}
	if ev.Code != 0 && len(text) >= 4 && text[3] == '-' {
		s.multi, s.multiIdx = ev.Code, len(s.a.events)
	}
	s.a.events = append(s.a.events, ev)
}
