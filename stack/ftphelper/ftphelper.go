// Package ftphelper is the FTP-reading half of a connection-tracking
// helper, with the semantics of Linux's nf_conntrack_ftp and nf_nat_ftp:
// where in a control connection an address is announced (PORT and EPRT
// from the client, 227 and 229 replies from the server), what it says, and
// what the line reads once NAT has rewritten it. It knows nothing of
// packets; package stack feeds it segments and applies what it finds.
//
// As in Linux, only a segment that starts a line is read, and only its
// first line: a control connection carries one command or reply per
// segment in practice, and a helper that reassembled streams could be made
// to hold unbounded state. A line that starts like an announcement but
// cannot be read (a PORT whose numbers are broken, say) is Malformed:
// Linux drops such a segment ("partial matching"), so a sender cannot slip
// an announcement past the helper by splitting or garbling it.
package ftphelper

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/ftplab/ftplab/ftp/proto"
)

// Dir is the direction of a segment on a control connection.
type Dir int

const (
	// Original is client to server: PORT and EPRT.
	Original Dir = iota
	// Reply is server to client: 227 and 229.
	Reply
)

// Kind is what announced the data connection.
type Kind int

// The announcements a helper reads.
const (
	PORT Kind = iota // PORT h1,h2,h3,h4,p1,p2 (RFC 959)
	EPRT             // EPRT |1|addr|port| (RFC 2428)
	PASV             // 227 ... (h1,h2,h3,h4,p1,p2) (RFC 959, RFC 1123)
	EPSV             // 229 ... (|||port|) (RFC 2428)
)

func (k Kind) String() string {
	return [...]string{"PORT", "EPRT", "227", "229"}[k]
}

// Match is an announcement found at the start of a segment.
type Match struct {
	Kind Kind
	// Off and Len locate the address text within the segment: the numbers
	// of PORT and 227, the |..| argument of EPRT and 229. Rewriting
	// replaces exactly this span.
	Off, Len int
	// Addr is the announced address; it is invalid for 229, which
	// announces only a port (the address is the server's own).
	Addr netip.Addr
	// Port is the announced port.
	Port uint16
}

// Result of Find.
type Result int

const (
	// None: the segment announces nothing.
	None Result = iota
	// Found: the segment announces a data connection (see Match).
	Found
	// Malformed: the segment starts like an announcement that cannot be
	// read; Linux drops such a segment.
	Malformed
)

// Find reads the start of a segment sent in direction dir. ipv6 says
// which family the control connection is: EPRT for the other family is
// Malformed, as in Linux.
func Find(seg []byte, dir Dir, ipv6 bool) (Match, Result) {
	type search struct {
		kind    Kind
		pattern string
		skip    byte // skip to just after this byte first (0: none)
	}
	var searches []search
	if dir == Original {
		searches = []search{{PORT, "PORT", ' '}, {EPRT, "EPRT", ' '}}
	} else {
		searches = []search{{PASV, "227 ", 0}, {EPSV, "229 ", '('}}
	}
	for _, s := range searches {
		n := len(s.pattern)
		if len(seg) <= n {
			if len(seg) > 0 && bytes.EqualFold(seg, []byte(s.pattern[:len(seg)])) {
				return Match{}, Malformed // an announcement cut short
			}
			continue
		}
		if !bytes.EqualFold(seg[:n], []byte(s.pattern)) {
			continue
		}
		i := n
		if s.skip != 0 {
			j := bytes.IndexByte(seg[n:], s.skip)
			if j < 0 {
				return Match{}, Malformed
			}
			i = n + j + 1
		}
		m, ok := parse(s.kind, seg, i, ipv6)
		if !ok {
			return Match{}, Malformed
		}
		return m, Found
	}
	return Match{}, None
}

// parse reads the address text of kind starting at seg[i].
func parse(kind Kind, seg []byte, i int, ipv6 bool) (Match, bool) {
	m := Match{Kind: kind}
	switch kind {
	case PORT, PASV:
		if kind == PASV { // RFC 1123: the numbers start at the first digit
			for i < len(seg) && !isDigit(seg[i]) {
				i++
			}
		}
		j := i
		for j < len(seg) && (isDigit(seg[j]) || seg[j] == ',') {
			j++
		}
		if kind == PORT && (j == len(seg) || seg[j] != '\r') {
			return m, false // PORT's numbers end the line
		}
		ap, err := proto.ParsePORT(string(seg[i:j]))
		if err != nil || ipv6 {
			return m, false
		}
		m.Off, m.Len, m.Addr, m.Port = i, j-i, ap.Addr(), ap.Port()
		return m, true
	case EPRT, EPSV:
		if i >= len(seg) {
			return m, false
		}
		d := seg[i]
		if d < 33 || d > 126 {
			return m, false
		}
		// The argument is four delimiters long: |proto|addr|port|.
		j, seen := i, 0
		for j < len(seg) && seen < 4 && seg[j] != '\r' && seg[j] != '\n' {
			if seg[j] == d {
				seen++
			}
			j++
		}
		if seen < 4 {
			return m, false
		}
		arg := string(seg[i:j])
		m.Off, m.Len = i, j-i
		if kind == EPSV {
			if len(arg) < 5 || arg[1] != d || arg[2] != d {
				return m, false
			}
			p, err := strconv.ParseUint(arg[3:len(arg)-1], 10, 16)
			if err != nil || p == 0 {
				return m, false
			}
			m.Port = uint16(p)
			return m, true
		}
		ap, err := proto.ParseEPRT(arg)
		if err != nil || ap.Addr().Is6() != ipv6 {
			return m, false
		}
		m.Addr, m.Port = ap.Addr(), ap.Port()
		return m, true
	}
	return m, false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// Format is the address text of kind announcing ap, as NAT writes it into
// the span of a Match (229 writes only the port).
func Format(kind Kind, ap netip.AddrPort) ([]byte, error) {
	switch kind {
	case PORT, PASV:
		s, err := proto.FormatPORT(ap)
		return []byte(s), err
	case EPRT:
		return []byte(proto.FormatEPRT(ap)), nil
	case EPSV:
		return []byte(fmt.Sprintf("|||%d|", ap.Port())), nil
	}
	return nil, fmt.Errorf("unknown kind %d", kind)
}

// Lines remembers where lines start in each direction of one control
// connection, by TCP sequence number, as nf_conntrack_ftp does: the two
// most recent positions just after a line feed, so that a retransmission
// of the last line is read again. Nothing is known about a direction's
// first segment (the banner or USER), so it is not read.
type Lines struct {
	seq [2][2]uint32
	n   [2]int
}

// AtLineStart reports whether a segment of dir starting at seq starts a
// line.
func (l *Lines) AtLineStart(dir Dir, seq uint32) bool {
	for i := range l.n[dir] {
		if l.seq[dir][i] == seq {
			return true
		}
	}
	return false
}

// Segment records a segment of dir that starts at seq and, after any
// rewriting, has length n and ends in a line feed if nl is set.
func (l *Lines) Segment(dir Dir, seq uint32, n int, nl bool) {
	if !nl {
		return
	}
	next := seq + uint32(n)
	if l.AtLineStart(dir, next) {
		return
	}
	if l.n[dir] < 2 {
		l.seq[dir][l.n[dir]] = next
		l.n[dir]++
		return
	}
	oldest := 0
	if int32(l.seq[dir][1]-l.seq[dir][0]) < 0 {
		oldest = 1
	}
	if int32(next-l.seq[dir][oldest]) > 0 {
		l.seq[dir][oldest] = next
	}
}
