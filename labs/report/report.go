// Package report draws what ftplab knows of a run or a capture as one
// self-contained HTML file: the lab's topology, the ladder of the FTP
// exchange as SVG (from the same ladder model, and the same lines, as the
// terminal ladder), each data connection's progress over time, the steps
// and expectations with their outcome, and the lab's YAML source. The
// page has its CSS, SVG and a little JavaScript inline and fetches
// nothing, so it opens offline from disk, prints on A4 and projects.
//
// It also writes a lab's topology alone as SVG, Graphviz DOT or a Mermaid
// flowchart (Topology).
package report

import (
	_ "embed"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/ftplab/ftplab/labs"
	"github.com/ftplab/ftplab/labs/ladder"
)

//go:embed style.css
var styleCSS string

//go:embed script.js
var scriptJS string

// Input is what a report is drawn from; only Ladder is required.
type Input struct {
	// Ladder is the exchange read from the capture.
	Ladder *ladder.Ladder
	// Lab is the lab the capture comes from (topology, description,
	// source); nil for a capture of a real network.
	Lab *labs.Lab
	// Run is the lab run's outcome (steps, SHA-256 verdicts); nil when
	// only a capture was read.
	Run *labs.Report
	// Capture is the capture file's name, as shown.
	Capture string
	// Names names hosts by address (a lab's names come from Lab/Run).
	Names map[netip.Addr]string
}

// options are the ladder options both drawings use.
func (in Input) options() ladder.Options {
	opts := ladder.Options{Names: map[netip.Addr]string{}}
	for a, n := range in.Names {
		opts.Names[a] = n
	}
	if in.Run != nil {
		for a, n := range in.Run.Names {
			opts.Names[a] = n
		}
		opts.Order = in.Run.Order
	} else if in.Lab != nil {
		for _, h := range in.Lab.Hosts {
			opts.Order = append(opts.Order, h.Name)
			for _, p := range hostPrefixes(h) {
				opts.Names[p.Addr()] = h.Name
			}
		}
	}
	return opts
}

// Write writes the HTML report.
func Write(w io.Writer, in Input) error {
	if in.Ladder == nil {
		return fmt.Errorf("report: no ladder to draw")
	}
	opts := in.options()
	b := &strings.Builder{}
	title := "FTP capture " + in.Capture
	if in.Lab != nil {
		title = "Lab " + in.Lab.Name
	}
	fmt.Fprintf(b, `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="ftplab">
<title>%s — ftplab report</title>
<style>%s</style></head><body>
`, esc(title), styleCSS)
	fmt.Fprintf(b, "<header><h1>%s</h1>\n", esc(title))
	if in.Lab != nil && in.Lab.Description != "" {
		fmt.Fprintf(b, "<p class=\"desc\">%s</p>\n", esc(in.Lab.Description))
	}
	b.WriteString(`<p class="meta">`)
	if in.Capture != "" {
		fmt.Fprintf(b, "Capture <code>%s</code>, ", esc(in.Capture))
	}
	fmt.Fprintf(b, "%d packets", in.Ladder.Packets)
	if in.Run != nil {
		verdict := `<span class="ok">all steps ok</span>`
		if f := in.Run.Failures(); len(f) > 0 {
			verdict = fmt.Sprintf(`<span class="fail">%d of %d steps FAILED</span>`, len(f), len(in.Run.Steps))
		}
		fmt.Fprintf(b, "; run in %s: %s", in.Run.Duration.Round(time.Millisecond), verdict)
	}
	b.WriteString(".</p>\n<nav><a href=\"#topology\">Topology</a> <a href=\"#ladder-sec\">Ladder</a> <a href=\"#transfers\">Transfers</a> <a href=\"#steps\">Steps</a>")
	if in.Lab != nil && len(in.Lab.SourceText()) > 0 {
		b.WriteString(` <a href="#source">Source</a>`)
	}
	b.WriteString("</nav></header>\n")
	if len(in.Ladder.Notes) > 0 || in.Ladder.Skipped > 0 {
		b.WriteString(`<section class="notes"><h2>What the capture did not tell</h2><ul>`)
		for _, n := range in.Ladder.Notes {
			fmt.Fprintf(b, "<li>%s</li>", esc(n))
		}
		if in.Ladder.Skipped > 0 {
			fmt.Fprintf(b, "<li>%d of %d packets did not decode and were skipped</li>", in.Ladder.Skipped, in.Ladder.Packets)
		}
		b.WriteString("</ul></section>\n")
	}

	topo := FromLadder(in.Ladder, opts)
	if in.Lab != nil {
		topo = FromLab(in.Lab, in.Ladder)
	}
	fmt.Fprintf(b, `<section id="topology"><h2>Topology</h2><div class="scroll"><svg xmlns="http://www.w3.org/2000/svg" class="topology" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f">`+"\n",
		topo.Width, topo.Height, topo.Width, topo.Height)
	topo.svgBody(b)
	b.WriteString("</svg></div></section>\n")

	b.WriteString(`<section id="ladder-sec"><h2>Ladder</h2>`)
	if len(in.Ladder.Events) == 0 {
		fmt.Fprintf(b, "<p>No FTP control connection found in %d packets.</p>", in.Ladder.Packets)
	} else {
		b.WriteString(`<p class="hint screen">Hover or click an arrow for its time, frames (Wireshark: <code>frame.number == N</code>), bytes, TCP flags and RFC; click a data connection to see what announced it. <button type="button" id="fold">Show logins, TYPE and QUIT</button></p>` + "\n")
		b.WriteString(`<pre id="details" class="screen" aria-live="polite">Click an arrow.</pre>`)
		b.WriteString(`<div class="scroll">`)
		ladderSVG(b, in.Ladder, opts)
		b.WriteString("</div>\n")
	}
	b.WriteString("</section>\n")

	transfers(b, in, opts)
	steps(b, in)
	if in.Lab != nil && len(in.Lab.SourceText()) > 0 {
		b.WriteString(`<section id="source"><h2>Lab source</h2><pre class="yaml">`)
		for _, line := range strings.Split(strings.TrimRight(string(in.Lab.SourceText()), "\n"), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				fmt.Fprintf(b, "<span class=\"comment\">%s</span>\n", esc(line))
				continue
			}
			code, comment, found := strings.Cut(line, " #")
			if found {
				fmt.Fprintf(b, "%s<span class=\"comment\"> #%s</span>\n", esc(code), esc(comment))
				continue
			}
			b.WriteString(esc(line) + "\n")
		}
		b.WriteString("</pre></section>\n")
	}
	fmt.Fprintf(b, "<footer>Made by ftplab from %s.</footer>\n<script>%s</script>\n</body></html>\n", esc(in.Capture), scriptJS)
	_, err := io.WriteString(w, b.String())
	return err
}

// steps lists the run's steps and expectations with their outcome, or the
// lab's steps when it did not run here.
func steps(b *strings.Builder, in Input) {
	b.WriteString(`<section id="steps"><h2>Steps and expectations</h2>`)
	switch {
	case in.Run != nil:
		b.WriteString("<table><thead><tr><th>step</th><th>action</th><th>what</th><th>outcome</th></tr></thead><tbody>\n")
		for _, s := range in.Run.Steps {
			mark, class := "ok", "ok"
			switch {
			case !s.OK && s.MayFail:
				mark, class = "failed, as expected", "ok"
			case !s.OK:
				mark, class = "FAIL", "fail"
			}
			detail := s.Summary
			if s.Transfer && s.OK {
				detail = fmt.Sprintf("%d bytes in %s (%s), sha256 %s", s.Bytes, s.TransferTime.Round(100*time.Microsecond), labs.FormatRate(s.Throughput()), verdict(s))
			}
			if s.Err != nil {
				detail = strings.TrimPrefix(detail+": "+s.Err.Error(), ": ")
			}
			fmt.Fprintf(b, "<tr class=\"%s\"><td>%s</td><td>%s</td><td>%s</td><td><b>%s</b> %s</td></tr>\n", class, esc(s.Name), esc(s.Action), esc(s.Detail), mark, esc(detail))
		}
		b.WriteString("</tbody></table>")
		if len(in.Run.Routers) > 0 {
			b.WriteString("<p>What the routers did:</p><ul>")
			for _, r := range in.Run.Routers {
				fmt.Fprintf(b, "<li>%s</li>", esc(r.String()))
			}
			b.WriteString("</ul>")
		}
	case in.Lab != nil:
		b.WriteString("<p>The lab did not run here: its steps as written.</p><table><thead><tr><th>step</th><th>action</th><th>what</th></tr></thead><tbody>\n")
		for i := range in.Lab.Steps {
			s := &in.Lab.Steps[i]
			fmt.Fprintf(b, "<tr><td>%s</td><td>%s</td><td>%s</td></tr>\n", esc(s.Name), esc(s.Key()), esc(s.Describe()))
		}
		b.WriteString("</tbody></table>")
	default:
		b.WriteString("<p>A capture without a lab: no steps.</p>")
	}
	b.WriteString("</section>\n")
}

// verdict is a transfer step's SHA-256 outcome.
func verdict(s labs.StepResult) string {
	switch {
	case s.Match:
		return "match " + shortSum(s.SHA256)
	case s.SHA256 != "":
		return "MISMATCH " + shortSum(s.SHA256)
	}
	return "not verified"
}

func shortSum(sum string) string {
	if len(sum) > 16 {
		return sum[:16] + "…"
	}
	return sum
}
