package ladder

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/ftplab/ftplab/labs/ladder/tlsdec"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/reassembly"
)

// Kind says what an Event is.
type Kind int

// Event kinds.
const (
	// Command is a line a client sent on a control connection.
	Command Kind = iota
	// Reply is a server's reply (the first line of a multi-line one).
	Reply
	// DataOpen is a data connection's handshake (its SYN).
	DataOpen
	// DataClose is a data connection's end (first FIN or RST), with the
	// bytes that crossed it.
	DataClose
	// Refused counts connection attempts to an announced data port that
	// were answered with a reset.
	Refused
	// TLS is a TLS handshake's start (its ClientHello) on a connection:
	// From is the TLS client, To the TLS server. On a control connection
	// it follows a 234 reply to AUTH (or begins a connection to port 990,
	// implicit FTPS); what follows is encrypted: read (InTLS) where the
	// capture's secrets decrypt it (Conn.TLSDecrypted), not read
	// otherwise. On a data connection (after PROT P) it follows the SYN;
	// with SSCN or CPSV a server is the TLS client.
	TLS
)

// Event is one arrow of the ladder.
type Event struct {
	// Time is the capture timestamp of the packet that completed the event.
	Time time.Time
	// Kind is what happened.
	Kind Kind
	// From and To are the sender and receiver; for DataClose, From is the
	// side that sent the data.
	From, To netip.AddrPort
	// Text is the command line (PASS masked) or the reply's first line, as
	// far as the capture kept it (see Cut).
	Text string
	// Code is a reply's code.
	Code int
	// Lines is the number of lines of a multi-line reply.
	Lines int
	// Bytes is a DataClose's payload bytes From → To.
	Bytes int64
	// Reset is set on a DataClose that ended with a RST.
	Reset bool
	// StillOpen marks a DataClose of a connection the capture saw no end
	// of: its Time and Bytes are those of its last frame.
	StillOpen bool
	// Count is a Refused event's number of attempts.
	Count int
	// Note is the comment the capture has on the event's frame: what a
	// middlebox did to it, such as a router's FTP helper rewriting a PORT
	// line under NAT or letting a data connection through as expected.
	Note string

	// Frame is the number (1-based, as Wireshark's frame.number) of the
	// capture's frame that completed the event: the segment that ended a
	// line, a data connection's SYN, its first FIN or RST. LastFrame is the
	// frame of a multi-line reply's last line, a Refused event's last
	// attempt (equal to Frame otherwise).
	Frame, LastFrame int
	// Flags are the TCP flags of Frame, e.g. "PSH ACK" or "SYN".
	Flags string
	// Size is the bytes a command or reply took on the wire (CR LF
	// included), as far as the capture says; inside TLS, its plaintext.
	Size int
	// Cut is the number of bytes of this line the capture did not keep
	// (frames cut short by a snap length): the line's end is unknown.
	Cut int
	// InTLS marks a command or reply read inside TLS, decrypted with the
	// capture's secrets, and a DataClose of a TLS data connection they
	// decrypted: Plaintext is then the application data From sent To
	// (Bytes counts the TLS records too).
	InTLS     bool
	Plaintext int64
	// Conn is the index in Ladder.Conns of the connection the event is on.
	Conn int
	// Announced lists, for a data connection's events, the indices in
	// Ladder.Events of the commands and replies that announced its
	// endpoint (PORT, EPRT, SOCK, 227, 229), the first one first.
	Announced []int

	id  int   // creation order, until finish turns ids into indices
	ann []int // Announced as ids
	rec *conn
}

// Conn is one TCP connection the ladder draws: an FTP control connection
// or a data connection.
type Conn struct {
	// Client and Server are the connection's ends: the SYN's sender and
	// receiver (for a connection begun before the capture: the side not on
	// the control port).
	Client, Server netip.AddrPort
	// Control marks a control connection.
	Control bool
	// Established is set when the handshake completed; Reset when it
	// ended with a RST.
	Established, Reset bool
	// Sender and Receiver are a data connection's direction: the side that
	// sent more bytes, or for an empty one the side the transfer command
	// says would send.
	Sender, Receiver netip.AddrPort
	// Bytes is the payload a data connection carried from Sender to
	// Receiver; Retransmits counts retransmitted segments (seen where the
	// sender's frames were first captured).
	Bytes       int64
	Retransmits int
	// Open is the SYN's time, Close the first FIN or RST (or the last
	// frame); OpenFrame and CloseFrame their frame numbers.
	Open, Close           time.Time
	OpenFrame, CloseFrame int
	// Command is the index in Ladder.Events of the transfer command (RETR,
	// STOR, LIST, ...) the data connection served, or -1.
	Command int
	// Progress is the data sent from Sender over time.
	Progress Series
	// TLS marks a connection that carried TLS (from its TLS event on);
	// TLSClient is the end that was the TLS client.
	TLS       bool
	TLSClient netip.AddrPort
	// TLSDecrypted marks a TLS connection the capture's secrets decrypted
	// (TLSVersion and TLSCipherSuite, crypto/tls's numbers, say how it
	// was protected): a control connection's commands and replies inside
	// TLS are events, a data connection's Plaintext is counted (-1 where
	// the capture did not hold all of it).
	TLSDecrypted   bool
	TLSVersion     uint16
	TLSCipherSuite uint16
	Plaintext      int64
}

// Ladder is the FTP exchange found in a capture.
type Ladder struct {
	// Events in time order.
	Events []Event
	// Conns are the control and data connections Events refer to.
	Conns []Conn
	// Hosts in order of first appearance in Events (a client before the
	// server it talks to).
	Hosts []netip.Addr
	// Names maps addresses to host names, as the capture's interface
	// descriptions tell them (pcapng interfaces named "HOST:NIC").
	Names map[netip.Addr]string
	// Packets is the number of packets read; Skipped those that did not
	// decode.
	Packets, Skipped int
	// Notes say what the capture did not let the ladder know: frames cut
	// short, a file that stops in the middle of a frame.
	Notes []string
}

type connKey struct{ client, server netip.AddrPort }

// capPoint is where a frame was captured: its interface and, for Linux
// cooked captures, its packet type (a loopback frame shows as sent and as
// received).
type capPoint struct {
	iface int
	kind  uint16
}

// conn is one TCP connection.
type conn struct {
	connKey
	isn      [2]uint32 // 0: client->server, 1: server->client
	haveISN  [2]bool
	maxEnd   [2]uint32
	bytes    [2]int64
	fin      [2]bool // a FIN was seen in that direction
	point    [2]capPoint
	havePt   [2]bool
	ptEnd    [2]uint32 // maxEnd as seen at point
	retrans  [2]int
	progress [2]*seriesBuilder
	synTime  time.Time
	endTime  time.Time
	lastTime time.Time
	synFrame int
	endFrame int
	lastFrm  int
	est      bool
	ended    bool
	reset    bool
	control  bool
	data     bool // known to be a data connection when it started
	index    int  // in Ladder.Conns, once finished
	drawn    bool // in Ladder.Conns
	tls      bool // a TLS handshake began on it
	tlsFrom  netip.AddrPort
	// decrypted: the ladder decrypted its TLS (version and suite); plain
	// counts a data connection's plaintext bytes by direction (plainLost:
	// not all of it); tlsErr is why decryption stopped.
	decrypted  bool
	tlsVersion uint16
	tlsSuite   uint16
	plain      [2]int64
	plainLost  bool
	tlsErr     error
}

// announce is a data endpoint a command or reply announced.
type announce struct {
	id   int   // the announcing event
	ctrl *conn // its control connection
	time time.Time
	verb string // the transfer command that followed on ctrl
	cmd  int    // its event id
	used bool
}

type analyzer struct {
	asm       *reassembly.Assembler
	conns     map[connKey]*conn
	order     []*conn
	events    []Event
	notes     map[int]string // frame number -> the capture's comment on it
	segFrame  map[segKey]int // first frame of control segments and SYNs
	lastSeg   segKey         // the last packet's, if it is one of those
	announced map[netip.AddrPort][]*announce
	servers   map[netip.AddrPort]bool // control endpoints of FTP servers
	packets   int
	skipped   int
	truncated int                 // frames the capture cut short
	snap      int                 // the longest captured length of a cut frame
	cutLines  int                 // control lines with bytes missing
	cutBytes  int                 // control bytes the capture did not keep
	cutHosts  map[netip.Addr]bool // hosts with control lines cut short
	names     map[netip.Addr]string
	gens      map[tuple]incarnation // connections begun on each 4-tuple
	keys      *tlsdec.KeyLog        // the capture's TLS secrets
	secrets   *secretsReader        // reads them (nil: not pcapng, no secrets)
}

func newAnalyzer() *analyzer {
	a := &analyzer{conns: map[connKey]*conn{}, announced: map[netip.AddrPort][]*announce{}, servers: map[netip.AddrPort]bool{}, cutHosts: map[netip.Addr]bool{}, names: map[netip.Addr]string{},
		gens: map[tuple]incarnation{}, keys: tlsdec.NewKeyLog(), notes: map[int]string{}, segFrame: map[segKey]int{}}
	a.asm = reassembly.NewAssembler(reassembly.NewStreamPool(&factory{a: a}))
	// Bound what waits behind a gap (a frame the capture missed): beyond
	// this the assembler skips ahead instead of buffering a whole transfer.
	a.asm.MaxBufferedPagesPerConnection = 4096
	a.asm.MaxBufferedPagesTotal = 1 << 16
	return a
}

// captureContext hands a packet's capture info, frame number and TCP
// flags to the reassembler.
type captureContext struct {
	ci    gopacket.CaptureInfo
	frame int
	flags string
}

// GetCaptureInfo implements reassembly.AssemblerContext.
func (c *captureContext) GetCaptureInfo() gopacket.CaptureInfo { return c.ci }

// addEvent appends an event and returns its id.
func (a *analyzer) addEvent(e Event) int {
	e.id = len(a.events)
	a.events = append(a.events, e)
	return e.id
}

// flags names a segment's TCP flags.
func flags(tcp *layers.TCP) string {
	var f []string
	for _, x := range []struct {
		on   bool
		name string
	}{{tcp.SYN, "SYN"}, {tcp.FIN, "FIN"}, {tcp.RST, "RST"}, {tcp.PSH, "PSH"}, {tcp.ACK, "ACK"}, {tcp.URG, "URG"}} {
		if x.on {
			f = append(f, x.name)
		}
	}
	return strings.Join(f, " ")
}

// packet feeds one captured packet, frame number frame, seen at pt.
func (a *analyzer) packet(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType, frame int, pt capPoint) {
	a.packets++
	p := gopacket.NewPacket(data, lt, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	if sll, ok := p.LinkLayer().(*layers.LinuxSLL); ok {
		pt.kind = uint16(sll.AddrType)
	} else if sll2, ok := p.Layer(layers.LayerTypeLinuxSLL2).(*layers.LinuxSLL2); ok {
		pt.kind = uint16(sll2.PacketType) + 1
	}
	var src, dst netip.Addr
	ipPayload := -1 // bytes after the IP header, as the header says
	switch ip := p.NetworkLayer().(type) {
	case *layers.IPv4:
		src, _ = netip.AddrFromSlice(ip.SrcIP)
		dst, _ = netip.AddrFromSlice(ip.DstIP)
		ipPayload = int(ip.Length) - int(ip.IHL)*4
	case *layers.IPv6:
		src, _ = netip.AddrFromSlice(ip.SrcIP)
		dst, _ = netip.AddrFromSlice(ip.DstIP)
		if ip.Length > 0 {
			ipPayload = int(ip.Length) // no extension headers on TCP here
		}
	default:
		if p.ErrorLayer() != nil {
			a.skipped++
		}
		return
	}
	tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if !ok {
		if p.ErrorLayer() != nil {
			a.skipped++
		}
		return
	}
	from := netip.AddrPortFrom(src.Unmap(), uint16(tcp.SrcPort))
	to := netip.AddrPortFrom(dst.Unmap(), uint16(tcp.DstPort))
	// A frame cut short by the capture (tcpdump -s, ftplab's headers mode)
	// still says in its IP header how much payload it carried.
	n := len(tcp.Payload)
	full := ipPayload - int(tcp.DataOffset)*4
	cut := ci.CaptureLength < ci.Length && full > n
	if cut {
		a.truncated++
		a.snap = max(a.snap, ci.CaptureLength)
	}
	c := a.track(ci.Timestamp, from, to, tcp, max(n, full*boolInt(cut)), frame, pt)
	a.lastSeg = segKey{}
	if tcp.SYN || (n > 0 && (c == nil || !c.data)) {
		// A segment an event may be made of: remember where it was first
		// seen, so that a comment on a later copy (a router's) finds it.
		k := segKey{connKey{from, to}, tcp.Seq, tcp.SYN}
		if _, seen := a.segFrame[k]; !seen && len(a.segFrame) < maxSegFrames {
			a.segFrame[k] = frame
		}
		a.lastSeg = k
	}
	if cut && (c == nil || !c.data) {
		// A control connection's line is cut: the stream is told which
		// bytes are missing by a run of NULs (which FTP lines never carry)
		// in their place, so it knows where its knowledge stops and
		// starts again.
		padded := make([]byte, full)
		copy(padded, tcp.Payload)
		tcp.Payload = padded
	}
	ctx := captureContext{ci: ci, frame: frame, flags: flags(tcp)}
	flow := p.NetworkLayer().NetworkFlow()
	if g := a.generation(from, to, tcp); g > 0 {
		// Reassembly keys its streams by the flows: the generation in the
		// flow's endpoint type makes each connection on a 4-tuple a stream
		// of its own.
		flow = gopacket.NewFlow(generationType+gopacket.EndpointType(g), flow.Src().Raw(), flow.Dst().Raw())
	}
	a.asm.AssembleWithContext(flow, tcp, &ctx)
}

// downloadVerbs are the transfer commands whose data the control
// connection's server sends; STOR, STOU and APPE receive.
var downloadVerbs = map[string]bool{"RETR": true, "RTRV": true, "LIST": true, "NLST": true, "MLSD": true}

// transferVerbs are the commands that use a data connection.
var transferVerbs = map[string]bool{"RETR": true, "RTRV": true, "LIST": true, "NLST": true, "MLSD": true, "STOR": true, "STOU": true, "APPE": true}

// finish flushes reassembly and turns connections into events.
func (a *analyzer) finish() *Ladder {
	a.asm.FlushAll()
	l := &Ladder{Packets: a.packets, Skipped: a.skipped, Names: a.names}
	defer a.attachNotes(l)
	refused := map[connKey]*Event{}
	var unknown []string
	for _, c := range a.order {
		if c.control {
			c.index = len(l.Conns)
			l.Conns = append(l.Conns, Conn{Client: c.client, Server: c.server, Control: true, Established: c.est, Reset: c.reset,
				Open: c.synTime, Close: c.endTime, OpenFrame: c.synFrame, CloseFrame: c.endFrame, Command: -1})
			c.draw(l)
			continue
		}
		anns := a.claim(c)
		if anns == nil && !a.isDefaultData(c.server) && !a.protectedData(c) {
			if c.est && c.bytes[0]+c.bytes[1] > 0 && a.cutBytes > 0 && a.knownHost(c.client.Addr()) && a.knownHost(c.server.Addr()) {
				unknown = append(unknown, fmt.Sprintf("%s → %s (%d bytes)", c.client, c.server, max(c.bytes[0], c.bytes[1])))
			}
			continue
		}
		var annIDs []int
		for _, an := range anns {
			annIDs = append(annIDs, an.id)
		}
		if !c.est {
			k := connKey{netip.AddrPortFrom(c.client.Addr(), 0), c.server}
			if e := refused[k]; e != nil {
				e.Count++
				e.LastFrame = c.synFrame
				continue
			}
			c.index = len(l.Conns)
			l.Conns = append(l.Conns, Conn{Client: c.client, Server: c.server, Open: c.synTime, OpenFrame: c.synFrame, Command: -1})
			c.draw(l)
			refused[k] = &Event{Time: c.synTime, Kind: Refused, From: c.client, To: c.server, Count: 1,
				Frame: c.synFrame, LastFrame: c.synFrame, Flags: "SYN", ann: annIDs, rec: c}
			continue
		}
		sender, receiver, dir := c.client, c.server, 0
		cmd := -1
		for _, an := range anns {
			// The transfer command of the control connection whose server
			// is an end of this one says which way the data goes.
			s := an.ctrl.server.Addr()
			if an.verb == "" || (s != c.client.Addr() && s != c.server.Addr()) {
				continue
			}
			cmd = an.cmd
			if (s == c.server.Addr()) == downloadVerbs[an.verb] {
				sender, receiver, dir = c.server, c.client, 1
			}
			break
		}
		if c.bytes[0] != c.bytes[1] { // what moved says who sent
			sender, receiver, dir = c.client, c.server, 0
			if c.bytes[1] > c.bytes[0] {
				sender, receiver, dir = c.server, c.client, 1
			}
		}
		end, endFrame, how := c.endTime, c.endFrame, "FIN"
		if c.reset {
			how = "RST"
		}
		if !c.ended {
			end, endFrame, how = c.lastTime, c.lastFrm, ""
		}
		c.index = len(l.Conns)
		l.Conns = append(l.Conns, Conn{Client: c.client, Server: c.server, Established: true, Reset: c.reset,
			Sender: sender, Receiver: receiver, Bytes: c.bytes[dir], Retransmits: c.retrans[dir],
			Open: c.synTime, Close: end, OpenFrame: c.synFrame, CloseFrame: endFrame, Command: cmd,
			Progress: c.progress[dir].series()})
		c.draw(l)
		plain := l.Conns[c.index].Plaintext
		if plain >= 0 {
			plain = c.plain[dir]
			l.Conns[c.index].Plaintext = plain
		}
		a.addEvent(Event{Time: c.synTime, Kind: DataOpen, From: c.client, To: c.server, Frame: c.synFrame, LastFrame: c.synFrame, Flags: "SYN", ann: annIDs, rec: c})
		a.addEvent(Event{Time: end, Kind: DataClose, From: sender, To: receiver, Bytes: c.bytes[dir], Reset: c.reset, StillOpen: !c.ended,
			Frame: endFrame, LastFrame: endFrame, Flags: how, ann: annIDs, InTLS: c.decrypted, Plaintext: max(plain, 0), rec: c})
	}
	for _, e := range refused {
		a.addEvent(*e)
	}
	// A TLS handshake on a connection the ladder does not draw is not
	// drawn either (nothing refers to it).
	ids := len(a.events)
	a.events = slices.DeleteFunc(a.events, func(e Event) bool { return e.Kind == TLS && !e.rec.drawn })
	slices.SortStableFunc(a.events, func(x, y Event) int { return x.Time.Compare(y.Time) })
	index := make([]int, ids)
	for i, e := range a.events {
		index[e.id] = i
	}
	for i := range a.events {
		e := &a.events[i]
		for _, id := range e.ann {
			e.Announced = append(e.Announced, index[id])
		}
		if e.rec != nil {
			e.Conn = e.rec.index
		}
		e.id, e.ann, e.rec = 0, nil, nil
	}
	for i := range l.Conns {
		if c := &l.Conns[i]; c.Command >= 0 {
			c.Command = index[c.Command]
		}
	}
	l.Events = a.events
	seen := map[netip.Addr]bool{}
	for _, e := range a.events {
		first, second := e.From, e.To
		if e.Kind == Reply {
			first, second = e.To, e.From // the client first: it drives the exchange
		}
		for _, ap := range []netip.AddrPort{first, second} {
			if !seen[ap.Addr()] {
				seen[ap.Addr()] = true
				l.Hosts = append(l.Hosts, ap.Addr())
			}
		}
	}
	if a.truncated > 0 {
		l.Notes = append(l.Notes, fmt.Sprintf("%d of %d frames were cut short by the capture (snap length %d bytes); data bytes are counted from the IP headers", a.truncated, a.packets, a.snap))
	}
	if a.cutBytes > 0 {
		l.Notes = append(l.Notes, fmt.Sprintf("%d bytes of control connections were not captured; %d lines lost their end (shown ending in …): what they said there, and any data connection they announced, is unknown", a.cutBytes, a.cutLines))
	}
	if len(unknown) > 0 {
		l.Notes = append(l.Notes, fmt.Sprintf("connections that carried data but that no complete announcement names (not drawn): %s", strings.Join(unknown, ", ")))
	}
	l.Notes = append(l.Notes, a.tlsNotes()...)
	return l
}

// draw marks c as the connection last added to l.Conns, with its TLS.
func (c *conn) draw(l *Ladder) {
	c.drawn = true
	lc := &l.Conns[c.index]
	lc.TLS, lc.TLSClient = c.tls, c.tlsFrom
	lc.TLSDecrypted, lc.TLSVersion, lc.TLSCipherSuite = c.decrypted, c.tlsVersion, c.tlsSuite
	if !c.decrypted || c.plainLost || c.control {
		lc.Plaintext = -1
	}
}

// tlsNotes says, where the capture holds TLS secrets, which drawn TLS
// connections they did not decrypt (or not to their end), and why; and
// whether its secrets were malformed.
func (a *analyzer) tlsNotes() []string {
	var notes []string
	if a.secrets != nil && a.secrets.err != nil {
		notes = append(notes, fmt.Sprintf("the capture's TLS secrets are partly malformed (%v)", a.secrets.err))
	}
	if a.keys.Len() == 0 {
		return notes // an eavesdropper's capture: no secrets to tell of
	}
	var not []string
	for _, c := range a.order {
		if c.drawn && c.tls && c.tlsErr != nil {
			what := "not decrypted"
			if c.decrypted {
				what = "decrypted only in part"
			}
			not = append(not, fmt.Sprintf("%s → %s %s: %v", c.client, c.server, what, c.tlsErr))
		}
	}
	if len(not) > 0 {
		notes = append(notes, "TLS connections the capture's secrets did not decrypt: "+strings.Join(not, "; "))
	}
	return notes
}

// protectedData reports whether c is a TLS connection between hosts of
// the FTP exchange, one of them with an encrypted control connection: a
// data connection after PROT P, announced inside TLS where the ladder
// cannot read it.
func (a *analyzer) protectedData(c *conn) bool {
	if !c.tls || !c.est || !a.knownHost(c.client.Addr()) || !a.knownHost(c.server.Addr()) {
		return false
	}
	for _, k := range a.order {
		if k.control && k.tls && (k.client.Addr() == c.client.Addr() || k.server.Addr() == c.client.Addr() ||
			k.client.Addr() == c.server.Addr() || k.server.Addr() == c.server.Addr()) {
			return true
		}
	}
	return false
}

// knownHost reports whether addr has an FTP control connection.
func (a *analyzer) knownHost(addr netip.Addr) bool {
	for _, c := range a.order {
		if c.control && (c.client.Addr() == addr || c.server.Addr() == addr) {
			return true
		}
	}
	return false
}

// claim returns the announcements of c's server endpoint made before c's
// SYN and not claimed by an earlier connection, and marks them claimed.
// Attempts that were refused or reset (a port thief's) claim nothing:
// they share the announcements of the connection that follows.
func (a *analyzer) claim(c *conn) []*announce {
	var out []*announce
	for _, an := range a.announced[c.server] {
		if !an.used && !an.time.After(c.synTime) {
			out = append(out, an)
		}
	}
	if len(out) == 0 { // all claimed: a second connection to one endpoint
		for _, an := range a.announced[c.server] {
			if !an.time.After(c.synTime) {
				out = []*announce{an}
			}
		}
	}
	if c.est && !c.reset {
		for _, an := range out {
			an.used = true
		}
	}
	return out
}

// isData reports whether a connection to server endpoint ep is an FTP data
// connection: announced by PORT/EPRT/SOCK or a 227/229 reply, or to a
// server's default data port (control port - 1, RFC 959 §3.2).
func (a *analyzer) isData(ep netip.AddrPort) bool {
	return len(a.announced[ep]) > 0 || a.isDefaultData(ep)
}

// isDefaultData reports whether ep is a known FTP server's default data
// port.
func (a *analyzer) isDefaultData(ep netip.AddrPort) bool {
	return a.servers[netip.AddrPortFrom(ep.Addr(), ep.Port()+1)]
}
