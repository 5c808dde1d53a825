package ladder

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Options control how a ladder is drawn.
type Options struct {
	// Names maps addresses to host names; unnamed hosts show the name the
	// capture gave them (Ladder.Names) or their address.
	Names map[netip.Addr]string
	// Order lists host names (or addresses) in column order; hosts not
	// listed follow in order of first appearance.
	Order []string
	// ColumnWidth is the width of a host column; 0 picks one from the names.
	ColumnWidth int
	// Width is the terminal's width in columns: columns narrow and labels
	// are cut (ending in …) to fit it; 0 is no limit.
	Width int
	// Brief hides the session chatter around a transfer: greetings, USER,
	// PASS, TYPE, QUIT and the like, with their replies.
	Brief bool
}

// chatter are the commands Brief hides.
var chatter = map[string]bool{"USER": true, "PASS": true, "ACCT": true, "TYPE": true, "QUIT": true,
	"FEAT": true, "SYST": true, "PWD": true, "OPTS": true, "NOOP": true, "MODE": true, "STRU": true}

// Column is one host's column of the ladder.
type Column struct {
	// Addr is the host's address; Name what the column is headed with.
	Addr netip.Addr
	Name string
}

// Line is one arrow of the drawn ladder.
type Line struct {
	// Event is the index in Ladder.Events of the event drawn.
	Event int
	// From and To are the columns (indices in Columns) the arrow joins.
	From, To int
	// Label is the arrow's text, e.g. "A→B  SOCK 10,0,0,3,0,20" or
	// "C⇒B  data 262144 bytes, FIN".
	Label string
	// Chatter marks a line Brief leaves out: a greeting, login, TYPE,
	// QUIT and the like, or its reply.
	Chatter bool
}

// chatterEvents marks the events Brief hides.
func (l *Ladder) chatterEvents() []bool {
	hide := make([]bool, len(l.Events))
	pending := map[[2]netip.AddrPort]bool{} // control connection -> hide its next final reply
	for i, e := range l.Events {
		switch e.Kind {
		case Command:
			verb, _, _ := strings.Cut(e.Text, " ")
			if chatter[strings.ToUpper(verb)] {
				pending[[2]netip.AddrPort{e.From, e.To}] = true
				hide[i] = true
			}
		case Reply:
			k := [2]netip.AddrPort{e.To, e.From}
			if e.Code == 220 || e.Code == 221 || (pending[k] && e.Code >= 200) || (pending[k] && e.Code == 0) {
				delete(pending, k)
				hide[i] = true
			}
		}
	}
	return hide
}

// Lines returns the arrows to draw, in time order: every event, or with
// Brief all but the chatter. The terminal ladder (Render) and the HTML
// report draw exactly these.
func (l *Ladder) Lines(opts Options) []Line {
	cols := l.Columns(opts)
	index := map[netip.Addr]int{}
	for i, c := range cols {
		index[c.Addr] = i
	}
	ambiguous := l.concurrentSessions()
	name := func(e Event, ap netip.AddrPort, client bool) string {
		n := cols[index[ap.Addr()]].Name
		if client && ambiguous[e.Conn] {
			n = fmt.Sprintf("%s:%d", n, ap.Port())
		}
		return n
	}
	hide := l.chatterEvents()
	var out []Line
	for i, e := range l.Events {
		if opts.Brief && hide[i] {
			continue
		}
		sep := "→"
		if e.Kind == DataClose {
			sep = "⇒"
		}
		from := name(e, e.From, e.Kind == Command)
		to := name(e, e.To, e.Kind == Reply)
		label := Describe(e)
		if e.Kind == TLS {
			label = l.describeTLS(e, from)
		}
		if e.Note != "" {
			// What a middlebox did, as its frame comment says (up to the
			// first "; ", the rest is detail for Wireshark).
			note, _, _ := strings.Cut(e.Note, "; ")
			label += "  ✎ " + note
		}
		out = append(out, Line{Event: i, From: index[e.From.Addr()], To: index[e.To.Addr()], Chatter: hide[i],
			Label: fmt.Sprintf("%s%s%s  %s", from, sep, to, label)})
	}
	return out
}

// concurrentSessions marks the control connections that overlap in time
// with another one between the same two hosts: their lines name the
// client's port so that the sessions can be told apart.
func (l *Ladder) concurrentSessions() map[int]bool {
	out := map[int]bool{}
	end := func(c Conn) time.Time {
		if c.Close.IsZero() {
			return time.Unix(1<<40, 0)
		}
		return c.Close
	}
	for i, a := range l.Conns {
		for j, b := range l.Conns {
			if i != j && a.Control && b.Control && a.Client.Addr() == b.Client.Addr() && a.Server.Addr() == b.Server.Addr() &&
				!a.Open.After(end(b)) && !b.Open.After(end(a)) {
				out[i] = true
			}
		}
	}
	return out
}

// Render writes the ladder: a header of host names, then one line per
// event with an arrow between the two hosts' columns and a label such as
// "A→B  SOCK 10,0,0,3,0,20" or "C⇒B  data 262144 bytes", then notes on
// what the capture did not tell.
func (l *Ladder) Render(w io.Writer, opts Options) error {
	bw := bufio.NewWriter(w)
	cols := l.Columns(opts)
	width := opts.ColumnWidth
	if width == 0 {
		width = 8
		for _, c := range cols {
			width = max(width, utf8.RuneCountInString(c.Name)+3)
		}
	}
	const prefix, minLabel = 10 + 2, 24 // "   0.000s " and the gap before the label
	if opts.Width > 0 && len(cols) > 0 && prefix+len(cols)*width+minLabel > opts.Width {
		width = max(4, (opts.Width-prefix-minLabel)/len(cols))
	}
	// Header: names centred on their columns.
	head := []rune(strings.Repeat(" ", len(cols)*width))
	rule := []rune(strings.Repeat(" ", len(cols)*width))
	for i, c := range cols {
		r := []rune(c.Name)
		if len(r) > width-1 {
			r = append(r[:max(1, width-2)], '…')
		}
		start := max(0, i*width+width/2-len(r)/2)
		copy(head[start:], r)
		rule[i*width+width/2] = '|'
	}
	fmt.Fprintf(bw, "%9s %s\n%9s %s\n", "", strings.TrimRight(string(head), " "), "", strings.TrimRight(string(rule), " "))

	t0 := l.startTime()
	lines := l.Lines(opts)
	for _, ln := range lines {
		e := l.Events[ln.Event]
		label := ln.Label
		if opts.Width > 0 {
			label = fit(label, opts.Width-prefix-len(cols)*width)
		}
		fmt.Fprintf(bw, "%8.3fs %s  %s\n", e.Time.Sub(t0).Seconds(), arrow(len(cols), width, ln.From, ln.To, e.Kind == DataClose), label)
	}
	if hidden := len(l.Events) - len(lines); hidden > 0 {
		fmt.Fprintf(bw, "(%d login, TYPE and QUIT lines hidden)\n", hidden)
	}
	if l.Skipped > 0 {
		fmt.Fprintf(bw, "(%d of %d packets did not decode and were skipped)\n", l.Skipped, l.Packets)
	}
	if len(l.Events) == 0 {
		fmt.Fprintf(bw, "(no FTP control connection found in %d packets)\n", l.Packets)
	}
	for _, n := range l.Notes {
		fmt.Fprintf(bw, "(note: %s)\n", n)
	}
	return bw.Flush()
}

// fit cuts s to n columns, ending in … when cut (the lock takes two).
func fit(s string, n int) string {
	n = max(n, 8)
	if columns(s) <= n {
		return s
	}
	w := 0
	for i, r := range s {
		w += columns(string(r))
		if w > n-1 {
			return s[:i] + "…"
		}
	}
	return s
}

// columns is the width of s on a terminal: a column a rune, two for the
// lock.
func columns(s string) int {
	return utf8.RuneCountInString(s) + strings.Count(s, Lock)
}

func (l *Ladder) startTime() (t0 time.Time) {
	if len(l.Events) > 0 {
		t0 = l.Events[0].Time
	}
	return t0
}

// Columns orders the hosts: Order first, then by first appearance. A host
// is named by opts.Names, else by the capture (Ladder.Names), else by its
// address.
func (l *Ladder) Columns(opts Options) []Column {
	cols := make([]Column, 0, len(l.Hosts))
	for _, a := range l.Hosts {
		n, ok := opts.Names[a]
		if !ok {
			n, ok = l.Names[a]
		}
		if !ok {
			n = a.String()
		}
		cols = append(cols, Column{a, n})
	}
	rank := func(c Column) int {
		if i := slices.Index(opts.Order, c.Name); i >= 0 {
			return i
		}
		return len(opts.Order)
	}
	slices.SortStableFunc(cols, func(x, y Column) int { return rank(x) - rank(y) })
	return cols
}

// arrow draws the columns with an arrow from column f to column t; data
// arrows use '='.
func arrow(n, width, f, t int, data bool) string {
	line := []rune(strings.Repeat(" ", n*width))
	for i := range n {
		line[i*width+width/2] = '|'
	}
	fill := '-'
	if data {
		fill = '='
	}
	a, b := f*width+width/2, t*width+width/2
	switch {
	case a < b:
		for i := a + 1; i < b; i++ {
			line[i] = fill
		}
		line[b-1] = '>'
	case a > b:
		for i := b + 1; i < a; i++ {
			line[i] = fill
		}
		line[b+1] = '<'
	default:
		line[a] = '@' // both ends on one host
	}
	return string(line)
}

// Lock marks the commands and replies read inside TLS (decrypted with
// the capture's secrets) in the ladder's labels.
const Lock = "🔒"

// Describe is an event's label after the host names: the command or reply
// (ending in … where the capture cut it, after a lock where it was read
// inside TLS), or what a data connection did.
func Describe(e Event) string {
	lock := ""
	if e.InTLS {
		lock = Lock + " "
	}
	switch e.Kind {
	case Command:
		if e.Cut > 0 {
			return lock + e.Text + "…"
		}
		return lock + e.Text
	case Reply:
		text := lock + e.Text
		if e.Cut > 0 {
			text += "…"
		}
		if e.Lines > 1 {
			return fmt.Sprintf("%s  (+%d lines)", text, e.Lines-1)
		}
		return text
	case DataOpen:
		return fmt.Sprintf("SYN data connection :%d → :%d", e.From.Port(), e.To.Port())
	case DataClose:
		if e.StillOpen {
			return fmt.Sprintf("data %d bytes, still open where the capture ends", e.Bytes)
		}
		how := "FIN"
		if e.Reset {
			how = "RST"
		}
		if e.InTLS {
			return fmt.Sprintf("data %d bytes, %s (%s %d bytes of plaintext)", e.Bytes, how, Lock, e.Plaintext)
		}
		return fmt.Sprintf("data %d bytes, %s", e.Bytes, how)
	case Refused:
		return fmt.Sprintf("SYN to :%d refused (RST) ×%d", e.To.Port(), e.Count)
	case TLS:
		return "TLS handshake (the sender is the TLS client): encrypted from here on"
	}
	return e.Text
}

// describeTLS labels a TLS event naming its TLS client and, where the
// capture's secrets decrypted the connection, how it was protected.
func (l *Ladder) describeTLS(e Event, client string) string {
	c := l.Conns[e.Conn]
	what := "control connection"
	if !c.Control {
		what = "data connection"
	}
	if c.TLSDecrypted {
		return fmt.Sprintf("TLS handshake (%s is the TLS client): %s decrypted with the capture's secrets (%s)", client, what, TLSName(c))
	}
	return fmt.Sprintf("TLS handshake (%s is the TLS client): %s encrypted from here on", client, what)
}

// TLSName names a decrypted connection's TLS version and cipher suite,
// e.g. "TLS 1.3, TLS_AES_128_GCM_SHA256".
func TLSName(c Conn) string {
	return tls.VersionName(c.TLSVersion) + ", " + tls.CipherSuiteName(c.TLSCipherSuite)
}
