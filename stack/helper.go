package stack

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	gvstack "gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/ftplab/ftplab/stack/ftphelper"
)

// The FTP helper, as Linux's nf_conntrack_ftp + nf_nat_ftp (gVisor has no
// connection-tracking helpers), on gVisor's connection tracking:
//
//   - helperTarget (mangle postrouting) sees every segment of a watched
//     control connection. At the start of a line (package ftphelper) a
//     PORT, EPRT, 227 or 229 announces a data connection: the helper
//     expects it, from the control connection's other end to the announced
//     port. An address other than the sender's own is expected only with
//     Loose. If the control connection is translated, the line is rewritten
//     to the address and port the other end must use, and the sequence and
//     acknowledgement numbers (and SACK blocks) of every later segment are
//     shifted by the change in length, as nf_nat_seq_adjust does.
//   - expectTarget (nat prerouting, first packet of a connection) matches a
//     new connection against the expectations: it is then related (the
//     firewall lets it pass) and, under NAT, gets the destination the
//     announcing side listens on (DNAT); expectSourceTarget (nat
//     postrouting) gives it the source the announcing side expects (SNAT),
//     as nf_nat_follow_master.
//
// Every segment it rewrites, and the first segment of every related
// connection, carries a comment in the capture saying what the helper did.

// ftpTuple is a TCP connection's addresses as a router first saw them.
type ftpTuple struct{ src, dst netip.AddrPort }

func (t ftpTuple) String() string { return t.src.String() + "→" + t.dst.String() }

// tupleOf is the tuple of conntrack info (its original or reply direction).
func tupleOf(info *gvstack.ConnTrackInfo) ftpTuple {
	src, _ := netip.AddrFromSlice(info.SrcAddr.AsSlice())
	dst, _ := netip.AddrFromSlice(info.DstAddr.AsSlice())
	return ftpTuple{netip.AddrPortFrom(src, info.SrcPort), netip.AddrPortFrom(dst, info.DstPort)}
}

// Limits: a router keeps state for at most this many control connections,
// expectations and related connections (the oldest goes first).
const (
	helperMaxConns    = 4096
	helperMaxExpected = 4096
	expectTimeout     = 5 * time.Minute // nf_conntrack_ftp's policy
)

type helper struct {
	h     *Host
	cfg   FTPHelperConfig
	ports []uint16

	mu      sync.Mutex
	conns   map[ftpTuple]*ctlConn // by original tuple
	order   []ftpTuple            // conns, oldest first
	exps    []*expectation
	related map[ftpTuple]*expectation // by original tuple of the data connection
	relOrd  []ftpTuple

	expectations, relatedN, rewritten, refused, malformed atomic.Uint64
}

// ctlConn is the helper's state of one control connection.
type ctlConn struct {
	lines ftphelper.Lines
	adj   [2]seqAdj // by direction of the segments whose numbers shift
	fins  int       // directions that sent FIN
}

// seqAdj is one direction's sequence number shift: segments that start
// after pos move by after, earlier ones (retransmissions) by before.
type seqAdj struct {
	pos           uint32
	before, after int32
}

func (a *seqAdj) add(seq uint32, delta int32) {
	if a.before == a.after || int32(seq-a.pos) > 0 {
		a.pos = seq
		a.before = a.after
		a.after += delta
	}
}

// offset is the shift of a segment starting at seq.
func (a *seqAdj) offset(seq uint32) int32 {
	if int32(seq-a.pos) > 0 {
		return a.after
	}
	return a.before
}

// ackOffset is the shift to take off an acknowledgement number of the
// other direction (which counts in shifted numbers).
func (a *seqAdj) ackOffset(ack uint32) int32 {
	if int32(ack-uint32(a.before)-a.pos) > 0 {
		return a.after
	}
	return a.before
}

// expectation is a data connection the helper will let through.
type expectation struct {
	master ftpTuple
	src    netip.Addr     // who connects
	dst    netip.AddrPort // to where, as it reaches the router
	dnat   netip.AddrPort // destination it gets (invalid: unchanged)
	snat   netip.Addr     // source it gets (invalid: unchanged)
	proto  tcpip.NetworkProtocolNumber
	what   string // "PORT 10,0,0,2,4,1", for notes
	until  time.Time
	// arrived is the note for the data connection's first packet, set when
	// it came and put on the packet the router sends (mu guards it).
	arrived string
}

func newHelper(h *Host, cfg *FTPHelperConfig) *helper {
	return &helper{h: h, cfg: *cfg, ports: cfg.Ports, conns: map[ftpTuple]*ctlConn{}, related: map[ftpTuple]*expectation{}}
}

func (hl *helper) watches(port uint16) bool { return slices.Contains(hl.ports, port) }

// isRelated reports whether a new connection (by its original tuple) is
// one the helper expected.
func (hl *helper) isRelated(t ftpTuple) bool {
	hl.mu.Lock()
	defer hl.mu.Unlock()
	_, ok := hl.related[t]
	return ok
}

// controlMatcher matches TCP segments of connections to a watched port.
type controlMatcher struct{ hl *helper }

// Match implements gvstack.Matcher.
func (m controlMatcher) Match(_ gvstack.Hook, pkt *gvstack.PacketBuffer, _, _ string) (bool, bool) {
	if pkt.TransportProtocolNumber != header.TCPProtocolNumber {
		return false, false
	}
	var info gvstack.ConnTrackInfo
	if !pkt.FillConnTrackInfo(gvstack.ConnTrackInfoOpts{}, &info) {
		return false, false
	}
	return m.hl.watches(info.DstPort), false
}

// helperTarget reads and, under NAT, rewrites control connection segments.
type helperTarget struct{ hl *helper }

// Action implements gvstack.Target.
func (t *helperTarget) Action(pkt *gvstack.PacketBuffer, _ gvstack.Hook, _ *gvstack.Route, _ gvstack.AddressableEndpoint) (gvstack.RuleVerdict, int) {
	if t.hl.segment(pkt) {
		return gvstack.RuleAccept, 0
	}
	return gvstack.RuleDrop, 0
}

// segment handles one control connection segment; false drops it.
func (hl *helper) segment(pkt *gvstack.PacketBuffer) bool {
	var orig, reply gvstack.ConnTrackInfo
	if !pkt.FillConnTrackInfo(gvstack.ConnTrackInfoOpts{FillState: true}, &orig) ||
		!pkt.FillConnTrackInfo(gvstack.ConnTrackInfoOpts{UseReplyDir: true}, &reply) {
		return true
	}
	tcp := header.TCP(pkt.TransportHeader().Slice())
	if len(tcp) < header.TCPMinimumSize {
		return true
	}
	dir := ftphelper.Original
	if pkt.IsReplyPacket() {
		dir = ftphelper.Reply
	}
	key := tupleOf(&orig)
	tuples := [2]ftpTuple{key, tupleOf(&reply)}
	hl.mu.Lock()
	defer hl.mu.Unlock()
	c := hl.conns[key]
	if c == nil {
		if tcp.Flags()&(header.TCPFlagRst|header.TCPFlagFin) != 0 {
			return true
		}
		c = &ctlConn{}
		hl.conns[key] = c
		hl.order = append(hl.order, key)
		if len(hl.order) > helperMaxConns {
			delete(hl.conns, hl.order[0])
			hl.order = hl.order[1:]
		}
	}
	seq := tcp.SequenceNumber()
	changed := false
	if n := pkt.Data().Size(); n > 0 {
		// Until traffic went both ways, Linux does not look in segments.
		established := dir == ftphelper.Reply || orig.State == gvstack.ConnTrackStateEstablished
		payload := pkt.Data().AsRange().ToSlice()
		nl := payload[n-1] == '\n'
		if established && c.lines.AtLineStart(dir, seq) {
			m, res := ftphelper.Find(payload, dir, orig.NetProto == header.IPv6ProtocolNumber)
			switch res {
			case ftphelper.Malformed:
				hl.malformed.Add(1)
				hl.h.net.log.Info("ftp helper dropped a segment whose announcement cannot be read", "router", hl.h.name, "conn", key.String(), "line", firstLine(payload))
				return false
			case ftphelper.Found:
				if repl, ok := hl.announce(pkt, c, dir, tuples, m, payload); ok {
					changed = true
					c.adj[dir].add(seq, int32(len(repl)-n))
				}
			}
		}
		c.lines.Segment(dir, seq, n, nl)
	}
	if tcp.Flags()&header.TCPFlagFin != 0 {
		c.fins |= 1 << dir
	}
	if hl.shift(tcp, c, dir) {
		changed = true
	}
	if changed {
		fixChecksums(pkt)
	}
	if tcp.Flags()&header.TCPFlagRst != 0 || c.fins == 3 {
		delete(hl.conns, key)
		if i := slices.Index(hl.order, key); i >= 0 {
			hl.order = slices.Delete(hl.order, i, i+1)
		}
	}
	return true
}

// announce handles announcement m in a segment of dir (tuples are the
// control connection's original and reply tuples). It returns the new
// payload if the line was rewritten.
func (hl *helper) announce(pkt *gvstack.PacketBuffer, c *ctlConn, dir ftphelper.Dir, tuples [2]ftpTuple, m ftphelper.Match, payload []byte) ([]byte, bool) {
	this, other := tuples[dir], tuples[1-dir]
	what := fmt.Sprintf("%s %s", m.Kind, payload[m.Off:m.Off+m.Len])
	addr := m.Addr
	if !addr.IsValid() { // 229 names no address: it is the sender's
		addr = this.src.Addr()
	}
	// The data connection comes from the other end, to where the other
	// end sends (the sender's address as the other side sees it).
	daddr := other.dst.Addr()
	if addr != this.src.Addr() {
		if !hl.cfg.Loose {
			hl.refused.Add(1)
			hl.h.notes.put(pkt, fmt.Sprintf("ftp-helper %s: %s announces %s, not the sender's own address %s: no expectation (loose off)", hl.h.name, what, addr, this.src.Addr()))
			return nil, false
		}
		daddr = addr
	}
	natted := tuples[0].src != tuples[1].dst || tuples[0].dst != tuples[1].src
	e := &expectation{
		master: tuples[0], src: other.src.Addr(), dst: netip.AddrPortFrom(daddr, m.Port),
		proto: pkt.NetworkProtocolNumber, what: what, until: time.Now().Add(expectTimeout),
	}
	var repl []byte
	if natted {
		// nf_nat_ftp: the line names where the other end sends (whatever it
		// said), and the data connection is translated as the control one.
		port := hl.freePort(e)
		e.dst = netip.AddrPortFrom(e.dst.Addr(), port)
		e.dnat = netip.AddrPortFrom(this.src.Addr(), m.Port)
		e.snat = this.dst.Addr()
		text, err := ftphelper.Format(m.Kind, netip.AddrPortFrom(other.dst.Addr(), port))
		if err == nil && string(text) != string(payload[m.Off:m.Off+m.Len]) {
			repl = slices.Concat(payload[:m.Off], text, payload[m.Off+m.Len:])
			replacePayload(pkt, repl)
			hl.rewritten.Add(1)
			hl.h.notes.put(pkt, fmt.Sprintf("ftp-helper %s: rewrote %s to %s; expects %s→%s, translated to %s", hl.h.name, what, text, e.src, e.dst, e.dnat))
		}
	}
	if repl == nil {
		hl.h.notes.put(pkt, fmt.Sprintf("ftp-helper %s: %s: expects %s→%s", hl.h.name, what, e.src, e.dst))
	}
	// One expectation per control connection (Linux's max_expected 1).
	hl.exps = slices.DeleteFunc(hl.exps, func(o *expectation) bool { return o.master == e.master || time.Now().After(o.until) })
	hl.exps = append(hl.exps, e)
	if len(hl.exps) > helperMaxExpected {
		hl.exps = hl.exps[1:]
	}
	hl.expectations.Add(1)
	return repl, repl != nil
}

// freePort is the port an expectation gets on the translated side: the
// announced one unless another expectation holds it (nf_nat_exp_find_port).
func (hl *helper) freePort(e *expectation) uint16 {
	for p := e.dst.Port(); p != 0; p++ {
		if !slices.ContainsFunc(hl.exps, func(o *expectation) bool {
			return o.master != e.master && o.dst == netip.AddrPortFrom(e.dst.Addr(), p)
		}) {
			return p
		}
	}
	return e.dst.Port()
}

// shift moves a segment's sequence and acknowledgement numbers (and SACK
// blocks) by the rewrites so far; it reports whether anything changed.
func (hl *helper) shift(tcp header.TCP, c *ctlConn, dir ftphelper.Dir) bool {
	changed := false
	if off := c.adj[dir].offset(tcp.SequenceNumber()); off != 0 {
		tcp.SetSequenceNumber(tcp.SequenceNumber() + uint32(off))
		changed = true
	}
	back := &c.adj[1-dir]
	if tcp.Flags()&header.TCPFlagAck == 0 || back.after == 0 && back.before == 0 {
		return changed
	}
	ack := tcp.AckNumber()
	tcp.SetAckNumber(ack - uint32(back.ackOffset(ack)))
	// SACK blocks acknowledge in the other direction's numbers too.
	opts := tcp[header.TCPMinimumSize:tcp.DataOffset()]
	for i := 0; i < len(opts); {
		switch kind := opts[i]; {
		case kind == header.TCPOptionEOL:
			i = len(opts)
		case kind == header.TCPOptionNOP:
			i++
		case i+1 >= len(opts) || opts[i+1] < 2:
			i = len(opts)
		default:
			l := int(opts[i+1])
			if kind == header.TCPOptionSACK && i+l <= len(opts) {
				for b := i + 2; b+4 <= i+l; b += 4 {
					v := uint32(opts[b])<<24 | uint32(opts[b+1])<<16 | uint32(opts[b+2])<<8 | uint32(opts[b+3])
					v -= uint32(back.ackOffset(v))
					opts[b], opts[b+1], opts[b+2], opts[b+3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
				}
			}
			i += l
		}
	}
	return true
}

// match finds and takes the expectation a new connection fulfils.
func (hl *helper) match(pkt *gvstack.PacketBuffer) *expectation {
	if pkt.TransportProtocolNumber != header.TCPProtocolNumber {
		return nil
	}
	var info gvstack.ConnTrackInfo
	if !pkt.FillConnTrackInfo(gvstack.ConnTrackInfoOpts{}, &info) {
		return nil
	}
	t := tupleOf(&info)
	hl.mu.Lock()
	defer hl.mu.Unlock()
	if e, ok := hl.related[t]; ok { // a retransmitted first segment
		return e
	}
	now := time.Now()
	for i, e := range hl.exps {
		if e.src == t.src.Addr() && e.dst == t.dst && now.Before(e.until) {
			hl.exps = slices.Delete(hl.exps, i, i+1)
			hl.related[t] = e
			hl.relOrd = append(hl.relOrd, t)
			if len(hl.relOrd) > helperMaxExpected {
				delete(hl.related, hl.relOrd[0])
				hl.relOrd = hl.relOrd[1:]
			}
			hl.relatedN.Add(1)
			// The note goes on the copy the router sends (expectTarget).
			e.arrived = fmt.Sprintf("ftp-helper %s: related data connection, expected from %s on %s", hl.h.name, e.what, e.master)
			return e
		}
	}
	return nil
}

// relatedTo returns the expectation a connection (by original tuple) fulfilled.
func (hl *helper) relatedTo(pkt *gvstack.PacketBuffer) *expectation {
	var info gvstack.ConnTrackInfo
	if !pkt.FillConnTrackInfo(gvstack.ConnTrackInfoOpts{}, &info) {
		return nil
	}
	hl.mu.Lock()
	defer hl.mu.Unlock()
	return hl.related[tupleOf(&info)]
}

// expectMatcher matches the first packet of a connection the helper
// expects (nat prerouting sees only first packets), and takes the
// expectation: the connection is related from now on.
type expectMatcher struct{ hl *helper }

// Match implements gvstack.Matcher.
func (m expectMatcher) Match(_ gvstack.Hook, pkt *gvstack.PacketBuffer, _, _ string) (bool, bool) {
	return m.hl.match(pkt) != nil, false
}

// sourceMatcher matches the first packet of a related connection that
// gets a new source (nat postrouting, which sees the copy the router sends:
// the connection's note goes on it).
type sourceMatcher struct{ hl *helper }

// Match implements gvstack.Matcher.
func (m sourceMatcher) Match(_ gvstack.Hook, pkt *gvstack.PacketBuffer, _, _ string) (bool, bool) {
	e := m.hl.relatedTo(pkt)
	if e == nil {
		return false, false
	}
	m.hl.mu.Lock()
	note := e.arrived
	e.arrived = ""
	m.hl.mu.Unlock()
	if note != "" {
		m.hl.h.notes.put(pkt, note)
	}
	return e.snat.IsValid() && addrOf(pkt.Network().SourceAddress()) != e.snat, false
}

// expectTarget gives a related connection the destination and source the
// announcing side expects (nf_nat_follow_master), in nat prerouting
// (destination) and postrouting (source).
type expectTarget struct {
	hl    *helper
	proto tcpip.NetworkProtocolNumber
}

// Action implements gvstack.Target.
func (t *expectTarget) Action(pkt *gvstack.PacketBuffer, hook gvstack.Hook, r *gvstack.Route, ep gvstack.AddressableEndpoint) (gvstack.RuleVerdict, int) {
	e := t.hl.relatedTo(pkt)
	switch {
	case e == nil:
		return gvstack.RuleAccept, 0
	case hook == gvstack.Postrouting:
		snat := gvstack.SNATTarget{Addr: tcpip.AddrFromSlice(e.snat.AsSlice()), NetworkProtocol: t.proto, ChangeAddress: true}
		return snat.Action(pkt, hook, r, ep)
	case !e.dnat.IsValid():
		return gvstack.RuleAccept, 0
	}
	dnat := gvstack.DNATTarget{
		Addr: tcpip.AddrFromSlice(e.dnat.Addr().AsSlice()), Port: e.dnat.Port(),
		NetworkProtocol: t.proto, ChangeAddress: true, ChangePort: true,
	}
	return dnat.Action(pkt, hook, r, ep)
}

// replacePayload makes b the packet's TCP payload and fixes the IP length.
func replacePayload(pkt *gvstack.PacketBuffer, b []byte) {
	d := pkt.Data()
	d.CapLength(0)
	d.AppendView(buffer.NewViewWithData(slices.Clone(b)))
	tl := len(pkt.NetworkHeader().Slice()) + len(pkt.TransportHeader().Slice()) + len(b)
	switch pkt.NetworkProtocolNumber {
	case header.IPv4ProtocolNumber:
		ip := header.IPv4(pkt.NetworkHeader().Slice())
		ip.SetTotalLength(uint16(tl))
		ip.SetChecksum(0)
		ip.SetChecksum(^ip.CalculateChecksum())
	case header.IPv6ProtocolNumber:
		header.IPv6(pkt.NetworkHeader().Slice()).SetPayloadLength(uint16(tl - header.IPv6MinimumSize))
	}
}

// fixChecksums recomputes the TCP checksum of a changed segment (NAT after
// it updates it as it changes addresses).
func fixChecksums(pkt *gvstack.PacketBuffer) {
	net := pkt.Network()
	tcp := header.TCP(pkt.TransportHeader().Slice())
	length := uint16(len(tcp) + pkt.Data().Size())
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, net.SourceAddress(), net.DestinationAddress(), length)
	xsum = checksum.Combine(xsum, pkt.Data().Checksum())
	tcp.SetChecksum(0)
	tcp.SetChecksum(^tcp.CalculateChecksum(xsum))
}

func firstLine(b []byte) string {
	for i, c := range b {
		if c == '\r' || c == '\n' || i == 80 {
			return string(b[:i])
		}
	}
	return string(b)
}

// notes carries a router's comments from netfilter, where it changes a
// packet, to the NIC that sends it (and the capture that records it). A
// note is keyed by the packet and checked against the packet's TCP
// numbers when taken, so a note whose packet was dropped on the way can
// never land on another packet that reuses its buffer.
type notes struct {
	n  atomic.Int32
	mu sync.Mutex
	m  map[*gvstack.PacketBuffer]note
}

type note struct {
	text string
	fp   [3]uint32 // seq, ack, payload length
}

// notesMax bounds notes whose packet never reached a NIC.
const notesMax = 256

func fingerprint(pkt *gvstack.PacketBuffer) [3]uint32 {
	tcp := header.TCP(pkt.TransportHeader().Slice())
	if pkt.TransportProtocolNumber != header.TCPProtocolNumber || len(tcp) < header.TCPMinimumSize {
		return [3]uint32{}
	}
	return [3]uint32{tcp.SequenceNumber(), tcp.AckNumber(), uint32(pkt.Data().Size())}
}

func (ns *notes) put(pkt *gvstack.PacketBuffer, s string) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if ns.m == nil || len(ns.m) >= notesMax {
		ns.m = map[*gvstack.PacketBuffer]note{}
	}
	if old, ok := ns.m[pkt]; ok && old.fp == fingerprint(pkt) {
		s = old.text + "; " + s
	}
	ns.m[pkt] = note{text: s, fp: fingerprint(pkt)}
	ns.n.Store(int32(len(ns.m)))
}

func (ns *notes) pending() bool { return ns.n.Load() > 0 }

func (ns *notes) take(pkt *gvstack.PacketBuffer) string {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	nt, ok := ns.m[pkt]
	if !ok {
		return ""
	}
	delete(ns.m, pkt)
	ns.n.Store(int32(len(ns.m)))
	if nt.fp != fingerprint(pkt) {
		return ""
	}
	return nt.text
}
