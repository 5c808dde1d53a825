package ladder

import (
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Connection tracking: which TCP connection a packet belongs to, and what
// it moved.

// generationType is the endpoint type of the flows of connections on a
// 4-tuple, plus their generation (far from gopacket's own types).
const generationType gopacket.EndpointType = 1 << 40

// tuple is a TCP connection's 4-tuple, the same in both directions.
type tuple struct{ lo, hi netip.AddrPort }

func tupleOf(x, y netip.AddrPort) tuple {
	if x.Compare(y) > 0 {
		x, y = y, x
	}
	return tuple{x, y}
}

// incarnation counts the connections begun on a 4-tuple.
type incarnation struct {
	n   uint32 // connections begun (0: none seen begin)
	isn uint32 // the client's initial sequence number of the last one
}

// generation returns which connection on its 4-tuple a packet belongs to:
// a SYN with a new initial sequence number (or the SYN-ACK of a SYN not
// seen) begins the next one, and every packet after it is of that one.
// Reassembly keeps a stream until both its halves are closed: a
// connection that ended with a reset (which closes one half), or a stray
// segment after its end (the last ACK, a RST), would leave one there, and
// a new connection on the same 4-tuple (FTP's port 20 to a passive port
// used before) would be read as that stale stream, its SYN dropped and
// one direction ignored: a data connection's ClientHello was lost so.
func (a *analyzer) generation(from, to netip.AddrPort, tcp *layers.TCP) uint32 {
	k := tupleOf(from, to)
	g := a.gens[k]
	if tcp.SYN {
		isn := tcp.Seq
		if tcp.ACK {
			isn = tcp.Ack - 1
		}
		if g.n == 0 || g.isn != isn {
			g.n++
			g.isn = isn
			a.gens[k] = g
		}
	}
	return g.n
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// track follows handshakes, payload and teardown of every connection and
// returns the packet's connection (nil if it began before the capture and
// is no FTP control connection).
func (a *analyzer) track(ts time.Time, from, to netip.AddrPort, tcp *layers.TCP, n, frame int, pt capPoint) *conn {
	if tcp.SYN && !tcp.ACK {
		k := connKey{from, to}
		if c := a.conns[k]; c != nil && c.isn[0] == tcp.Seq {
			return c // the same SYN captured again (another interface, or a retransmission)
		}
		c := &conn{connKey: k, synTime: ts, lastTime: ts, synFrame: frame, lastFrm: frame, data: a.isData(to)}
		c.isn[0], c.haveISN[0], c.maxEnd[0] = tcp.Seq, true, tcp.Seq+1
		a.conns[k] = c
		a.order = append(a.order, c)
		return c
	}
	c, dir := a.conns[connKey{from, to}], 0
	if c == nil {
		c, dir = a.conns[connKey{to, from}], 1
	}
	if c == nil {
		return nil // started before the capture: only reassembly sees it
	}
	c.lastTime, c.lastFrm = ts, frame
	if tcp.SYN && tcp.ACK && dir == 1 && !c.haveISN[1] {
		c.isn[1], c.haveISN[1], c.maxEnd[1], c.est = tcp.Seq, true, tcp.Seq+1, true
	}
	if !c.havePt[dir] {
		c.point[dir], c.havePt[dir], c.ptEnd[dir] = pt, true, c.maxEnd[dir]
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
			if !c.control {
				if c.progress[dir] == nil {
					c.progress[dir] = newSeriesBuilder(c.synTime)
				}
				c.progress[dir].add(ts, int64(d), 0)
			}
		}
		// A segment the first capture point saw before is a retransmission.
		if pt == c.point[dir] && n > 0 {
			if int32(end-c.ptEnd[dir]) <= 0 {
				c.retrans[dir]++
				if c.progress[dir] != nil {
					c.progress[dir].add(ts, 0, 1)
				}
			} else {
				c.ptEnd[dir] = end
			}
		}
	}
	c.fin[dir] = c.fin[dir] || tcp.FIN
	if (tcp.FIN || tcp.RST) && !c.ended {
		c.ended, c.endTime, c.reset, c.endFrame = true, ts, tcp.RST, frame
	}
	return c
}
