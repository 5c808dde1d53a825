package report

import (
	"fmt"
	"strings"
	"time"

	"github.com/ftplab/ftplab/labs"
	"github.com/ftplab/ftplab/labs/ladder"
)

// Chart sizes, in SVG user units.
const (
	chartW, chartH = 660.0, 180.0
	plotL, plotR   = 70.0, 640.0
	plotT, plotB   = 16.0, 140.0
)

// transfers draws one chart per data connection that was established:
// bytes over time from the capture, retransmissions and link changes
// marked, throughput, and the SHA-256 verdict of the step it belongs to.
func transfers(b *strings.Builder, in Input, opts ladder.Options) {
	l := in.Ladder
	b.WriteString(`<section id="transfers"><h2>Transfers</h2>`)
	cols := l.Columns(opts)
	name := func(ap fmt.Stringer, addr string) string {
		for _, c := range cols {
			if c.Addr.String() == addr {
				return c.Name
			}
		}
		return ap.String()
	}
	var results []labs.StepResult
	var linkSteps []labs.StepResult
	if in.Run != nil {
		for _, s := range in.Run.Steps {
			switch {
			case s.Transfer:
				results = append(results, s)
			case s.Action == "link":
				linkSteps = append(linkSteps, s)
			}
		}
	}
	used := make([]bool, len(results))
	n := 0
	for i, c := range l.Conns {
		if c.Control || !c.Established {
			continue
		}
		n++
		dur := c.Close.Sub(c.Open)
		cmd := ""
		if c.Command >= 0 {
			cmd = l.Events[c.Command].Text
		}
		fmt.Fprintf(b, `<div class="transfer" data-conn="%d"><h3>%s ⇒ %s: %d bytes`, i,
			esc(name(c.Sender, c.Sender.Addr().String())), esc(name(c.Receiver, c.Receiver.Addr().String())), c.Bytes)
		if cmd != "" {
			fmt.Fprintf(b, " <small>for <code>%s</code></small>", esc(cmd))
		}
		b.WriteString("</h3><p>")
		fmt.Fprintf(b, "%s → %s, frames %d–%d, %.3f s", esc(c.Sender.String()), esc(c.Receiver.String()), c.OpenFrame, c.CloseFrame, dur.Seconds())
		if dur > 0 && c.Bytes > 0 {
			fmt.Fprintf(b, ", %s", labs.FormatRate(float64(c.Bytes)*8/dur.Seconds()))
		}
		fmt.Fprintf(b, ", %d retransmitted segments", c.Retransmits)
		if c.Reset {
			b.WriteString(", ended by RST")
		}
		for j, s := range results {
			if used[j] || s.Bytes != c.Bytes || (!s.Start.IsZero() && (c.Open.Before(s.Start) || c.Open.After(s.Start.Add(s.Duration)))) {
				continue
			}
			used[j] = true
			class := "ok"
			if !s.Match {
				class = "fail"
			}
			fmt.Fprintf(b, `; step <b>%s</b>: <span class="%s">sha256 %s</span>`, esc(s.Name), class, esc(verdict(s)))
			break
		}
		b.WriteString("</p>")
		chart(b, c, linkSteps)
		b.WriteString("</div>\n")
	}
	if n == 0 {
		b.WriteString("<p>No data connection was established.</p>")
	}
	b.WriteString("</section>\n")
}

// chart draws a data connection's bytes over time.
func chart(b *strings.Builder, c ladder.Conn, linkSteps []labs.StepResult) {
	dur := max(c.Close.Sub(c.Open), time.Millisecond)
	total := max(c.Bytes, 1)
	px := func(d time.Duration) float64 { return plotL + (plotR-plotL)*min(1, max(0, d.Seconds()/dur.Seconds())) }
	py := func(n int64) float64 { return plotB - (plotB-plotT)*float64(n)/float64(total) }
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f">`, chartW, chartH, chartW, chartH)
	fmt.Fprintf(b, `<line class="axis" x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f"/><line class="axis" x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f"/>`,
		plotL, plotB, plotR, plotB, plotL, plotT, plotL, plotB)
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f" text-anchor="end">%s</text><text x="%.0f" y="%.0f" text-anchor="end">0</text>`, plotL-4, plotT+4, esc(bytesText(c.Bytes)), plotL-4, plotB)
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f">0 s</text><text x="%.0f" y="%.0f" text-anchor="end">%.3f s</text><text x="%.0f" y="%.0f" text-anchor="middle">time since SYN</text>`,
		plotL, plotB+16, plotR, plotB+16, dur.Seconds(), (plotL+plotR)/2, plotB+32)
	s := c.Progress
	pts := []string{fmt.Sprintf("%.1f,%.1f", plotL, plotB)}
	var sum int64
	for i, n := range s.Bytes {
		at := s.Start.Add(time.Duration(i+1) * s.Step).Sub(c.Open)
		sum += n
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(min(at, dur)), py(sum)))
	}
	fmt.Fprintf(b, `<polyline class="progress" points="%s"/>`, strings.Join(pts, " "))
	for i, n := range s.Retransmits {
		if n == 0 {
			continue
		}
		at := s.Start.Add(time.Duration(i)*s.Step + s.Step/2).Sub(c.Open)
		fmt.Fprintf(b, `<line class="retrans" x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f"><title>%d retransmitted segments at %.3f s</title></line>`,
			px(at), plotB, px(at), plotB-10, n, at.Seconds())
	}
	for _, ls := range linkSteps {
		if ls.Start.IsZero() || ls.Start.Before(c.Open) || ls.Start.After(c.Close) {
			continue
		}
		at := ls.Start.Sub(c.Open)
		fmt.Fprintf(b, `<g class="linkevent"><line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f"/><text x="%.1f" y="%.0f">%s</text><title>step %s at %.3f s: %s</title></g>`,
			px(at), plotT, px(at), plotB, px(at)+3, plotT+10, esc(ls.Detail), esc(ls.Name), at.Seconds(), esc(ls.Detail))
	}
	b.WriteString("</svg>")
}

// bytesText is a byte count with a binary unit.
func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
