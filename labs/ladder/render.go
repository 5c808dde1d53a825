package ladder

import (
	"bufio"
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
	// Names maps addresses to host names; unnamed hosts show their address.
	Names map[netip.Addr]string
	// Order lists host names (or addresses) in column order; hosts not
	// listed follow in order of first appearance.
	Order []string
	// ColumnWidth is the width of a host column; 0 picks one from the names.
	ColumnWidth int
	// Brief hides the session chatter around a transfer: greetings, USER,
	// PASS, TYPE, QUIT and the like, with their replies.
	Brief bool
}

// chatter are the commands Brief hides.
var chatter = map[string]bool{"USER": true, "PASS": true, "ACCT": true, "TYPE": true, "QUIT": true,
	"FEAT": true, "SYST": true, "PWD": true, "OPTS": true, "NOOP": true, "MODE": true, "STRU": true}

// visible returns the events to draw: all of them, or without chatter.
func (l *Ladder) visible(brief bool) (events []Event, hidden int) {
	if !brief {
		return l.Events, 0
	}
	pending := map[[2]netip.AddrPort]bool{} // control connection -> hide its next final reply
	for _, e := range l.Events {
		switch e.Kind {
		case Command:
			verb, _, _ := strings.Cut(e.Text, " ")
			if chatter[strings.ToUpper(verb)] {
				pending[[2]netip.AddrPort{e.From, e.To}] = true
				hidden++
				continue
			}
		case Reply:
			k := [2]netip.AddrPort{e.To, e.From}
			if e.Code == 220 || e.Code == 221 || (pending[k] && e.Code >= 200) || (pending[k] && e.Code == 0) {
				delete(pending, k)
				hidden++
				continue
			}
		}
		events = append(events, e)
	}
	return events, hidden
}

// Render writes the ladder: a header of host names, then one line per
// event with an arrow between the two hosts' columns and a label such as
// "A→B  SOCK 10,0,0,3,0,20" or "C⇒B  data 262144 bytes".
func (l *Ladder) Render(w io.Writer, opts Options) error {
	bw := bufio.NewWriter(w)
	cols := l.columns(opts)
	width := opts.ColumnWidth
	if width == 0 {
		width = 8
		for _, c := range cols {
			width = max(width, utf8.RuneCountInString(c.name)+3)
		}
	}
	index := map[netip.Addr]int{}
	for i, c := range cols {
		index[c.addr] = i
	}
	name := func(a netip.Addr) string { return cols[index[a]].name }

	// Header: names centred on their columns.
	head := []rune(strings.Repeat(" ", len(cols)*width))
	rule := []rune(strings.Repeat(" ", len(cols)*width))
	for i, c := range cols {
		r := []rune(c.name)
		start := max(0, i*width+width/2-len(r)/2)
		copy(head[start:], r)
		rule[i*width+width/2] = '|'
	}
	fmt.Fprintf(bw, "%9s %s\n%9s %s\n", "", strings.TrimRight(string(head), " "), "", strings.TrimRight(string(rule), " "))

	var t0 = l.startTime()
	events, hidden := l.visible(opts.Brief)
	for _, e := range events {
		from, to := index[e.From.Addr()], index[e.To.Addr()]
		line := arrow(len(cols), width, from, to, e.Kind == DataClose)
		label := fmt.Sprintf("%s→%s  %s", name(e.From.Addr()), name(e.To.Addr()), describe(e))
		if e.Kind == DataClose {
			label = fmt.Sprintf("%s⇒%s  %s", name(e.From.Addr()), name(e.To.Addr()), describe(e))
		}
		fmt.Fprintf(bw, "%8.3fs %s  %s\n", e.Time.Sub(t0).Seconds(), line, label)
	}
	if hidden > 0 {
		fmt.Fprintf(bw, "(%d login, TYPE and QUIT lines hidden)\n", hidden)
	}
	if l.Skipped > 0 {
		fmt.Fprintf(bw, "(%d of %d packets did not decode and were skipped)\n", l.Skipped, l.Packets)
	}
	if len(l.Events) == 0 {
		fmt.Fprintf(bw, "(no FTP control connection found in %d packets)\n", l.Packets)
	}
	return bw.Flush()
}

func (l *Ladder) startTime() (t0 time.Time) {
	if len(l.Events) > 0 {
		t0 = l.Events[0].Time
	}
	return t0
}

type column struct {
	addr netip.Addr
	name string
}

// columns orders the hosts: Order first, then by first appearance.
func (l *Ladder) columns(opts Options) []column {
	cols := make([]column, 0, len(l.Hosts))
	for _, a := range l.Hosts {
		n, ok := opts.Names[a]
		if !ok {
			n = a.String()
		}
		cols = append(cols, column{a, n})
	}
	rank := func(c column) int {
		if i := slices.Index(opts.Order, c.name); i >= 0 {
			return i
		}
		return len(opts.Order)
	}
	slices.SortStableFunc(cols, func(x, y column) int { return rank(x) - rank(y) })
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

// describe is an event's label after the host names.
func describe(e Event) string {
	switch e.Kind {
	case Reply:
		if e.Lines > 1 {
			return fmt.Sprintf("%s  (+%d lines)", e.Text, e.Lines-1)
		}
		return e.Text
	case DataOpen:
		return fmt.Sprintf("SYN data connection :%d → :%d", e.From.Port(), e.To.Port())
	case DataClose:
		how := "FIN"
		if e.Reset {
			how = "RST"
		}
		return fmt.Sprintf("data %d bytes, %s", e.Bytes, how)
	case Refused:
		return fmt.Sprintf("SYN to :%d refused (RST) ×%d", e.To.Port(), e.Count)
	}
	return e.Text
}
