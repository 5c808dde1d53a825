package ladder

import (
	"net/netip"
	"slices"
	"time"

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
	// Text is the command line (PASS masked) or the reply's first line.
	Text string
	// Code is a reply's code.
	Code int
	// Lines is the number of lines of a multi-line reply.
	Lines int
	// Bytes is a DataClose's payload bytes From → To.
	Bytes int64
	// Reset is set on a DataClose that ended with a RST.
	Reset bool
	// Count is a Refused event's number of attempts.
	Count int
}

// Ladder is the FTP exchange found in a capture.
type Ladder struct {
	// Events in time order.
	Events []Event
	// Hosts in order of first appearance in Events (a client before the
	// server it talks to).
	Hosts []netip.Addr
	// Packets is the number of packets read; Skipped those that did not
	// decode.
	Packets, Skipped int
}

type connKey struct{ client, server netip.AddrPort }

// conn is one TCP connection started by a SYN.
type conn struct {
	connKey
	isn      [2]uint32 // 0: client->server, 1: server->client
	haveISN  [2]bool
	maxEnd   [2]uint32
	bytes    [2]int64
	fin      [2]bool // a FIN was seen in that direction
	synTime  time.Time
	endTime  time.Time
	lastTime time.Time
	est      bool
	ended    bool
	reset    bool
	control  bool
}

type analyzer struct {
	asm       *reassembly.Assembler
	conns     map[connKey]*conn
	order     []*conn
	events    []Event
	announced map[netip.AddrPort]bool
	servers   map[netip.AddrPort]bool // control endpoints of FTP servers
	packets   int
	skipped   int
}

func newAnalyzer() *analyzer {
	a := &analyzer{conns: map[connKey]*conn{}, announced: map[netip.AddrPort]bool{}, servers: map[netip.AddrPort]bool{}}
	a.asm = reassembly.NewAssembler(reassembly.NewStreamPool(&factory{a: a}))
	// Bound what waits behind a gap (a frame the capture missed): beyond
	// this the assembler skips ahead instead of buffering a whole transfer.
	a.asm.MaxBufferedPagesPerConnection = 4096
	a.asm.MaxBufferedPagesTotal = 1 << 16
	return a
}

// captureContext hands a packet's capture info to the reassembler.
type captureContext gopacket.CaptureInfo

// GetCaptureInfo implements reassembly.AssemblerContext.
func (c *captureContext) GetCaptureInfo() gopacket.CaptureInfo { return gopacket.CaptureInfo(*c) }

// packet feeds one captured packet.
func (a *analyzer) packet(data []byte, ci gopacket.CaptureInfo, lt layers.LinkType) {
	a.packets++
	p := gopacket.NewPacket(data, lt, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
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
	if full := ipPayload - int(tcp.DataOffset)*4; ci.CaptureLength < ci.Length && full > n {
		n = full
	}
	a.track(ci.Timestamp, from, to, tcp, n)
	ctx := captureContext(ci)
	a.asm.AssembleWithContext(p.NetworkLayer().NetworkFlow(), tcp, &ctx)
}

// track follows handshakes, payload and teardown of every connection.
func (a *analyzer) track(ts time.Time, from, to netip.AddrPort, tcp *layers.TCP, n int) {
	if tcp.SYN && !tcp.ACK {
		k := connKey{from, to}
		if c := a.conns[k]; c != nil && c.isn[0] == tcp.Seq {
			return // the same SYN captured again (another interface, or a retransmission)
		}
		c := &conn{connKey: k, synTime: ts, lastTime: ts}
		c.isn[0], c.haveISN[0], c.maxEnd[0] = tcp.Seq, true, tcp.Seq+1
		a.conns[k] = c
		a.order = append(a.order, c)
		return
	}
	c, dir := a.conns[connKey{from, to}], 0
	if c == nil {
		c, dir = a.conns[connKey{to, from}], 1
	}
	if c == nil {
		return // started before the capture: only reassembly sees it
	}
	c.lastTime = ts
	if tcp.SYN && tcp.ACK && dir == 1 && !c.haveISN[1] {
		c.isn[1], c.haveISN[1], c.maxEnd[1], c.est = tcp.Seq, true, tcp.Seq+1, true
	}
	// The bytes moved are where the sequence numbers got to: a FIN or RST
	// carries them too, so a capture that kept only a data connection's
	// SYN and FIN (ftplab's capture data: none) counts them right.
	// A jump of a quarter of the sequence space is no such frame (a reset's
	// sequence number can be anything); captures keep a data frame at least
	// every 256 MiB.
	// Past a FIN nothing is data (a reset after it is one further on).
	if c.haveISN[dir] && !c.fin[dir] && (n > 0 || tcp.FIN || tcp.RST) {
		end := tcp.Seq + uint32(n)
		if d := int32(end - c.maxEnd[dir]); d > 0 && (n > 0 || d < 1<<30) {
			c.bytes[dir] += int64(d)
			c.maxEnd[dir] = end
		}
	}
	c.fin[dir] = c.fin[dir] || tcp.FIN
	if (tcp.FIN || tcp.RST) && !c.ended {
		c.ended, c.endTime, c.reset = true, ts, tcp.RST
	}
}

// finish flushes reassembly and turns connections into events.
func (a *analyzer) finish() *Ladder {
	a.asm.FlushAll()
	refused := map[connKey]*Event{}
	for _, c := range a.order {
		if c.control || !a.isData(c.server) {
			continue
		}
		if !c.est {
			k := connKey{netip.AddrPortFrom(c.client.Addr(), 0), c.server}
			if e := refused[k]; e != nil {
				e.Count++
				continue
			}
			refused[k] = &Event{Time: c.synTime, Kind: Refused, From: c.client, To: c.server, Count: 1}
			continue
		}
		a.events = append(a.events, Event{Time: c.synTime, Kind: DataOpen, From: c.client, To: c.server})
		end := c.endTime
		if !c.ended {
			end = c.lastTime
		}
		closeEv := Event{Time: end, Kind: DataClose, From: c.client, To: c.server, Bytes: c.bytes[0], Reset: c.reset}
		if c.bytes[1] > c.bytes[0] {
			closeEv.From, closeEv.To, closeEv.Bytes = c.server, c.client, c.bytes[1]
		}
		a.events = append(a.events, closeEv)
	}
	for _, e := range refused {
		a.events = append(a.events, *e)
	}
	slices.SortStableFunc(a.events, func(x, y Event) int { return x.Time.Compare(y.Time) })
	l := &Ladder{Events: a.events, Packets: a.packets, Skipped: a.skipped}
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
	return l
}

// isData reports whether a connection to server endpoint ep is an FTP data
// connection: announced by PORT/EPRT/SOCK or a 227/229 reply, or to a
// server's default data port (control port - 1, RFC 959 §3.2).
func (a *analyzer) isData(ep netip.AddrPort) bool {
	if a.announced[ep] {
		return true
	}
	return a.servers[netip.AddrPortFrom(ep.Addr(), ep.Port()+1)]
}
