package report

import (
	"fmt"
	"html"
	"strings"
	"time"

	"github.com/ftplab/ftplab/labs/ladder"
)

// Ladder drawing sizes, in SVG user units.
const (
	rowH    = 28.0
	headH   = 44.0
	leftW   = 96.0 // time labels and the announcement links' gutter
	overrun = 320.0
)

// esc escapes text for HTML and SVG.
func esc(s string) string { return html.EscapeString(s) }

// kindClass is an event kind's CSS class.
func kindClass(k ladder.Kind) string {
	return [...]string{"cmd", "reply", "data-open", "data-close", "refused", "tls"}[k]
}

// ladderSVG draws the ladder's lines (every one, chatter marked for the
// script to fold) as an SVG: one column per host, one arrow group per
// line, links from each data connection to its announcements.
func ladderSVG(b *strings.Builder, l *ladder.Ladder, opts ladder.Options) {
	cols := l.Columns(opts)
	lines := l.Lines(opts)
	colW := 180.0
	if len(cols) > 4 {
		colW = 150
	}
	x := func(c int) float64 { return leftW + colW*float64(c) + colW/2 }
	width := leftW + colW*float64(len(cols)) + overrun
	height := headH + rowH*float64(len(lines)+1)
	rowOf := map[int]int{} // event -> row
	for r, ln := range lines {
		rowOf[ln.Event] = r
	}
	y := func(r int) float64 { return headH + rowH*float64(r+1) }
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" id="ladder" class="ladder" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" data-row="%.0f" data-head="%.0f">`+"\n",
		width, height, width, height, rowH, headH)
	b.WriteString(`<defs><marker id="arr" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="context-stroke"/></marker>` +
		`<marker id="arrl" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0L10,5L0,10z" fill="#2e7d32"/></marker></defs>` + "\n")
	for i, c := range cols {
		fmt.Fprintf(b, `<g class="host" data-host="%s"><text x="%.1f" y="18" text-anchor="middle" class="hostname">%s</text><text x="%.1f" y="34" text-anchor="middle" class="hostaddr">%s</text><line class="life" x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f"/></g>`+"\n",
			esc(c.Name), x(i), esc(c.Name), x(i), esc(c.Addr.String()), x(i), headH, x(i), height)
	}
	t0 := l.Events[0].Time
	// Links from announcements to the data connections they announced.
	k := 0
	for _, ln := range lines {
		e := l.Events[ln.Event]
		if e.Kind != ladder.DataOpen {
			continue
		}
		for _, a := range e.Announced {
			ra, ok := rowOf[a]
			if !ok {
				continue
			}
			gx := leftW - 12 - float64(k%6)*6
			fmt.Fprintf(b, `<path class="announce" data-from="%d" data-to="%d" data-gx="%.0f" d="M%.1f,%.1f H%.1f V%.1f H%.1f" marker-end="url(#arrl)"/>`+"\n",
				a, ln.Event, gx, x(0)-4, y(ra), gx, y(rowOf[ln.Event]), x(0)-4)
		}
		k++
	}
	for r, ln := range lines {
		e := l.Events[ln.Event]
		if ln.Chatter && (r == 0 || !lines[r-1].Chatter) {
			// Where a run of chatter starts, its fold marker (shown by the
			// script when the run is folded).
			n, verbs := 0, []string{}
			for _, m := range lines[r:] {
				if !m.Chatter {
					break
				}
				n++
				if ev := l.Events[m.Event]; ev.Kind == ladder.Command && len(verbs) < 4 {
					verb, _, _ := strings.Cut(ev.Text, " ")
					verbs = append(verbs, verb)
				}
			}
			fmt.Fprintf(b, `<g class="fold" data-at="%d" transform="translate(0,%.1f)" style="display:none"><rect x="%.1f" y="-13" width="%.1f" height="18" rx="4"/><text x="%.1f" y="0">⋯ %d lines folded: %s (click to expand)</text></g>`+"\n",
				r, y(r), x(0)-30, colW*float64(len(cols))-colW+60, x(0)-20, n, esc(strings.Join(verbs, ", ")))
		}
		ann := make([]string, len(e.Announced))
		for i, a := range e.Announced {
			ann[i] = fmt.Sprint(a)
		}
		class := "arrow " + kindClass(e.Kind)
		if e.InTLS {
			class += " in-tls"
		}
		if ln.Chatter {
			class += " chatter"
		}
		info := details(l, e, t0)
		fmt.Fprintf(b, `<g class="%s" id="ev-%d" data-ev="%d" data-row="%d" data-conn="%d" data-ann="%s" data-frame="%d" data-info="%s" transform="translate(0,%.1f)" tabindex="0">`,
			class, ln.Event, ln.Event, r, e.Conn, strings.Join(ann, " "), e.Frame, esc(info), y(r))
		fmt.Fprintf(b, `<text class="time" x="4" y="4">%.3f s</text>`, e.Time.Sub(t0).Seconds())
		x1, x2 := x(ln.From), x(ln.To)
		if x1 == x2 {
			fmt.Fprintf(b, `<path class="line" d="M%.1f,-6 h30 v12 h-30" marker-end="url(#arr)"/>`, x1)
		} else {
			fmt.Fprintf(b, `<line class="line" x1="%.1f" y1="0" x2="%.1f" y2="0" marker-end="url(#arr)"/>`, x1, x2)
		}
		lx := min(x1, x2) + 8
		fmt.Fprintf(b, `<text class="label" x="%.1f" y="-5">%s`, lx, esc(ln.Label))
		if r := rfcOf(e); r != "" && e.Kind == ladder.Command {
			fmt.Fprintf(b, `<tspan class="rfc" dx="8">%s</tspan>`, esc(r))
		}
		b.WriteString("</text>")
		fmt.Fprintf(b, "<title>%s</title></g>\n", esc(info))
	}
	b.WriteString("</svg>\n")
}

// details is what hovering or clicking an arrow shows: time, frames (to
// find them in Wireshark), bytes, TCP flags, the RFC.
func details(l *ladder.Ladder, e ladder.Event, t0 time.Time) string {
	var d []string
	d = append(d, fmt.Sprintf("%s → %s", e.From, e.To))
	d = append(d, fmt.Sprintf("time %.6f s (%s)", e.Time.Sub(t0).Seconds(), e.Time.UTC().Format("2006-01-02 15:04:05.000000 UTC")))
	if e.LastFrame > e.Frame {
		d = append(d, fmt.Sprintf("frames %d–%d (Wireshark: frame.number >= %d && frame.number <= %d)", e.Frame, e.LastFrame, e.Frame, e.LastFrame))
	} else {
		d = append(d, fmt.Sprintf("frame %d (Wireshark: frame.number == %d)", e.Frame, e.Frame))
	}
	switch e.Kind {
	case ladder.Command, ladder.Reply:
		if e.InTLS {
			d = append(d, fmt.Sprintf("%s inside TLS (%s), decrypted with the capture's secrets: %d bytes of plaintext, the record's last segment's TCP flags %s",
				ladder.Lock, ladder.TLSName(l.Conns[e.Conn]), e.Size, e.Flags))
			break
		}
		d = append(d, fmt.Sprintf("%d bytes on the wire, TCP flags %s", e.Size, e.Flags))
		if e.Cut > 0 {
			d = append(d, fmt.Sprintf("%d bytes of this line were not captured", e.Cut))
		}
		if e.Lines > 1 {
			d = append(d, fmt.Sprintf("%d lines", e.Lines))
		}
	case ladder.DataOpen, ladder.DataClose:
		c := l.Conns[e.Conn]
		d = append(d, fmt.Sprintf("TCP flags %s; data %s → %s, %d bytes, %d retransmitted segments", e.Flags, c.Sender, c.Receiver, c.Bytes, c.Retransmits))
		if c.TLSDecrypted && c.Plaintext >= 0 {
			d = append(d, fmt.Sprintf("%s TLS (%s): %d bytes of plaintext, counted with the capture's secrets", ladder.Lock, ladder.TLSName(c), c.Plaintext))
		}
		d = append(d, fmt.Sprintf("connection frames %d–%d (Wireshark: tcp.port == %d && tcp.port == %d)", c.OpenFrame, c.CloseFrame, c.Client.Port(), c.Server.Port()))
	case ladder.Refused:
		d = append(d, fmt.Sprintf("%d attempts, answered with RST", e.Count))
	case ladder.TLS:
		if c := l.Conns[e.Conn]; c.TLSDecrypted {
			d = append(d, fmt.Sprintf("ClientHello from %s: what follows is encrypted (%s); the ladder decrypted it with the capture's TLS secrets, as Wireshark does", e.From, ladder.TLSName(c)))
			break
		}
		d = append(d, fmt.Sprintf("ClientHello from %s: what follows is encrypted; Wireshark decrypts it with the capture's TLS secrets", e.From))
	}
	for _, a := range e.Announced {
		d = append(d, "announced by: "+l.Events[a].Text)
	}
	if r := rfcOf(e); r != "" {
		d = append(d, "defined in "+r)
	}
	return strings.Join(d, "\n")
}
