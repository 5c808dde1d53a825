package ladder

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/ftplab/ftplab/ftp/proto"
	"github.com/ftplab/ftplab/labs/ladder/tlsdec"
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
// A segment that carries no payload and no SYN starts no stream (nil):
// it is the end of a connection whose stream is gone (its last ACK, a
// RST), or of one whose start the capture missed, which its first data
// starts.
func (f *factory) New(netFlow, tcpFlow gopacket.Flow, tcp *layers.TCP, _ reassembly.AssemblerContext) reassembly.Stream {
	if !tcp.SYN && len(tcp.Payload) == 0 {
		return nil
	}
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
	rec            *conn
	lines          [2]proto.LineDecoder // 0: client->server, 1: server->client
	cut            [2]int               // bytes of the current line the capture did not keep
	start          [2]int               // frame where the current line began
	multi          int                  // code of a multi-line reply in progress
	multiIdx       int                  // its event index
	pending        []*announce          // endpoints announced here, waiting for a transfer command
	authSent       bool                 // AUTH sent, its reply not yet read
	tls            bool                 // TLS starts with the next bytes
	// dec decrypts the connection's TLS (tlsConn its record, tlsDir the
	// direction of its TLS client): a control connection's lines are read
	// from its plaintext (inTLS), a data connection's bytes counted.
	dec     *tlsdec.Conn
	tlsConn *conn
	tlsDir  int
	inTLS   bool
}

// markControl makes the stream a control connection; one that began before
// the capture gets a connection record of its own.
func (s *stream) markControl() {
	s.control = true
	s.a.servers[s.server] = true
	c := s.a.conns[connKey{s.client, s.server}]
	if c == nil {
		if c = s.a.conns[connKey{s.server, s.client}]; c != nil {
			c.connKey = connKey{s.client, s.server}
		}
	}
	if c == nil {
		c = &conn{connKey: connKey{s.client, s.server}}
		s.a.conns[c.connKey] = c
		s.a.order = append(s.a.order, c)
	}
	c.control = true
	s.rec = c
}

// Accept takes every segment, including those of connections whose SYN
// the capture missed.
func (s *stream) Accept(_ *layers.TCP, _ gopacket.CaptureInfo, _ reassembly.TCPFlowDirection, _ reassembly.Sequence, start *bool, _ reassembly.AssemblerContext) bool {
	*start = true
	return true
}

// ReassembledSG receives in-order bytes of one direction.
func (s *stream) ReassembledSG(sg reassembly.ScatterGather, ac reassembly.AssemblerContext) {
	if s.notControl && s.dec == nil {
		return
	}
	avail, _ := sg.Lengths()
	if avail == 0 {
		return
	}
	dir, _, _, skip := sg.Info()
	d := 1
	if (dir == reassembly.TCPDirClientToServer) == s.firstIsClient {
		d = 0
	}
	data := sg.Fetch(avail)
	ctx := ac.(*captureContext)
	if s.dec != nil {
		s.decrypt(d, data, skip, ctx)
		return
	}
	if s.tls {
		// The first bytes after a 234 reply to AUTH: TLS.
		s.tls = false
		s.startTLS(s.rec, d, data, ctx)
		return
	}
	if !s.control {
		// A data connection is known by the announcement that created it,
		// whatever it carries; otherwise the server speaks first on a
		// control connection: a 220 greeting.
		hello := isClientHello(data)
		switch {
		case s.a.isData(s.server) || s.a.isData(s.client):
			s.notControl = true
		case s.a.cutHosts[s.server.Addr()] && s.a.cutHosts[s.client.Addr()]:
			// Lines between these hosts were cut: this may be the data
			// connection one of them announced. Not known, so not drawn.
			s.notControl = true
		case d == 1 && bytes.HasPrefix(data, []byte("220")):
			s.markControl()
		case d == 0 && !s.sawSYN && bytes.HasPrefix(data, []byte("220")):
			s.client, s.server, s.firstIsClient = s.server, s.client, !s.firstIsClient
			d = 1
			s.markControl()
		case d == 0 && s.server.Port() == implicitPort && hello:
			s.markControl() // implicit FTPS: TLS from the first byte
			s.startTLS(s.rec, d, data, ctx)
			return
		default:
			s.notControl = true
		}
		if s.notControl {
			// A data connection after PROT P starts with TLS too; finish
			// draws it if it belongs to the FTP exchange.
			if c := s.a.conns[connKey{s.client, s.server}]; c != nil && hello {
				s.startTLS(c, d, data, ctx)
			}
			return
		}
	}
	s.readLines(d, data, ctx)
}

// readLines reads bytes of direction d as FTP control lines (cleartext, or
// the plaintext of TLS records).
func (s *stream) readLines(d int, data []byte, ctx *captureContext) {
	for _, b := range data {
		if b == 0 { // a byte the capture did not keep (see analyzer.packet)
			s.cut[d]++
			continue
		}
		if s.cut[d] > 0 {
			s.a.cutBytes += s.cut[d]
			if s.lines[d].Pending() > 0 {
				s.endLine(d, ctx) // the cut line's end is unknown: the next segment starts afresh
			}
		}
		s.cut[d] = 0
		if s.lines[d].Pending() == 0 && s.start[d] == 0 {
			s.start[d] = ctx.frame
		}
		if s.lines[d].Feed(b) {
			s.endLine(d, ctx)
			if s.tls { // a 234 reply to AUTH: TLS follows
				return
			}
		}
	}
	if s.cut[d] > 0 && s.lines[d].Pending() > 0 {
		s.a.cutBytes += s.cut[d]
		s.endLine(d, ctx)
		s.cut[d] = 0
	}
}

// endLine records the line of direction d that the current segment ended
// (or that the capture cut).
func (s *stream) endLine(d int, ctx *captureContext) {
	cut := s.cut[d]
	start := s.start[d]
	s.start[d] = 0
	line, err := s.lines[d].Line()
	if err != nil { // a line too long is no FTP
		return
	}
	if cut > 0 {
		s.a.cutLines++
		s.a.cutHosts[s.client.Addr()], s.a.cutHosts[s.server.Addr()] = true, true
	}
	e := Event{Time: ctx.ci.Timestamp, From: s.client, To: s.server, Frame: ctx.frame, LastFrame: ctx.frame, Flags: ctx.flags,
		Size: len(line) + 2, Cut: cut, InTLS: s.inTLS, rec: s.rec}
	if start > 0 {
		e.Frame = start
	}
	if cut > 0 {
		e.Size = len(line) + cut
	}
	if d == 0 {
		s.command(line, e)
		return
	}
	e.From, e.To = s.server, s.client
	s.reply(line, e)
}

// implicitPort is the port of implicit FTPS (RFC 4217 §2 leaves it to
// convention): a connection to it that starts with a TLS ClientHello is a
// control connection.
const implicitPort = 990

// isClientHello reports whether data starts with a TLS record holding a
// ClientHello: content type handshake (22), version 3.x, handshake type 1.
func isClientHello(data []byte) bool {
	return len(data) >= 6 && data[0] == 22 && data[1] == 3 && data[2] <= 4 && data[5] == 1
}

// startTLS records the start of TLS on connection c, whose first bytes
// (direction d of the stream: the side that speaks first is the TLS
// client) are data, and, in a pcapng capture (which may hold secrets),
// decrypts it from there; otherwise nothing more of it is read.
func (s *stream) startTLS(c *conn, d int, data []byte, ctx *captureContext) {
	from, to := s.client, s.server
	if d == 1 {
		from, to = to, from
	}
	c.tls, c.tlsFrom = true, from
	s.a.addEvent(Event{Time: ctx.ci.Timestamp, Kind: TLS, From: from, To: to, Text: "TLS handshake",
		Frame: ctx.frame, LastFrame: ctx.frame, Flags: ctx.flags, rec: c})
	s.notControl = true
	if s.a.secrets == nil {
		return
	}
	s.dec, s.tlsConn, s.tlsDir = tlsdec.NewConn(s.a.keys), c, d
	s.inTLS = s.control
	s.decrypt(d, data, 0, ctx)
}

// decrypt feeds bytes of direction d (after skip bytes the capture
// missed) to the connection's TLS: a control connection's plaintext is
// read as lines, a data connection's counted and dropped.
func (s *stream) decrypt(d int, data []byte, skip int, ctx *captureContext) {
	c := s.tlsConn
	if skip != 0 {
		s.stopTLS(fmt.Errorf("the capture misses bytes of it before frame %d", ctx.frame))
		return
	}
	side := tlsdec.Client
	if d != s.tlsDir {
		side = tlsdec.Server
	}
	err := s.dec.Feed(side, data, func(plain []byte) {
		if s.control {
			s.readLines(d, plain, ctx)
		} else {
			c.plain[d] += int64(len(plain))
		}
	})
	if s.dec.Decrypted() && !c.decrypted {
		c.decrypted, c.tlsVersion, c.tlsSuite = true, s.dec.Version(), s.dec.CipherSuite()
	}
	if err != nil {
		s.stopTLS(err)
	}
}

// stopTLS stops decrypting, for reason err: nothing more of the
// connection is read.
func (s *stream) stopTLS(err error) {
	c := s.tlsConn
	if c.tlsErr == nil {
		c.tlsErr = err
	}
	if !s.control {
		c.plainLost = true
	}
	s.dec, s.notControl = nil, true
}

// ReassemblyComplete ends the stream.
func (s *stream) ReassemblyComplete(_ reassembly.AssemblerContext) bool {
	s.dec = nil
	return true
}

// announce records a data endpoint announced by event id.
func (s *stream) announce(ep netip.AddrPort, id int) {
	an := &announce{id: id, ctrl: s.rec, time: s.a.events[id].Time}
	s.a.announced[ep] = append(s.a.announced[ep], an)
	s.pending = append(s.pending, an)
}

// command records a client line and the data endpoint a PORT, SOCK or EPRT
// announces; a transfer command claims what was announced before it.
func (s *stream) command(text string, e Event) {
	verb, arg, _ := strings.Cut(text, " ")
	verb = strings.ToUpper(verb)
	e.Kind, e.Text = Command, text
	if verb == "PASS" {
		e.Text = "PASS ****"
	}
	id := s.a.addEvent(e)
	if e.Cut > 0 {
		return
	}
	s.authSent = s.authSent || verb == "AUTH"
	switch verb {
	case "PORT", "SOCK":
		if ap, err := proto.ParsePORT(arg); err == nil {
			s.announce(ap, id)
		}
	case "EPRT":
		if ap, err := proto.ParseEPRT(arg); err == nil {
			s.announce(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), id)
		}
	}
	if transferVerbs[verb] {
		for _, an := range s.pending {
			an.verb, an.cmd = verb, id
		}
		s.pending = nil
	}
}

// reply records a server reply (a multi-line reply as one event) and the
// endpoint a 227 or 229 reply announces.
func (s *stream) reply(text string, e Event) {
	if s.multi != 0 {
		m := &s.a.events[s.multiIdx]
		m.Lines++
		m.Size += e.Size
		m.Cut += e.Cut
		m.LastFrame = e.LastFrame
		if len(text) >= 4 && text[3] == ' ' && text[:3] == strconv.Itoa(s.multi) {
			s.multi = 0
		}
		return
	}
	e.Kind, e.Text, e.Lines = Reply, text, 1
	if len(text) >= 3 {
		if code, err := strconv.Atoi(text[:3]); err == nil && code >= 100 && code <= 599 {
			e.Code = code
		}
	}
	rest := ""
	if len(text) > 4 {
		rest = text[4:]
	}
	id := s.a.addEvent(e)
	if e.Code != 0 && len(text) >= 4 && text[3] == '-' {
		s.multi, s.multiIdx = e.Code, id
	}
	if s.authSent && e.Code >= 200 {
		// 234: the security data exchange is done (RFC 2228), for AUTH
		// TLS the TLS handshake begins (RFC 4217 §4).
		s.authSent, s.tls = false, e.Code == 234 && !s.inTLS
	}
	if e.Cut > 0 {
		return
	}
	switch e.Code {
	case 227:
		if ap, err := proto.ParsePASVReply(rest); err == nil {
			s.announce(ap, id)
		}
	case 229:
		if port, err := proto.ParseEPSVReply(rest); err == nil {
			s.announce(netip.AddrPortFrom(s.server.Addr(), port), id)
		}
	}
}
