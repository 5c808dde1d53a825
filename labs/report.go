package labs

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ftplab/ftplab/labs/ladder"
	"github.com/ftplab/ftplab/stack"
)

// timeRound is the precision durations are shown with.
const timeRound = 100 * time.Microsecond

// StepResult is the outcome of one step.
type StepResult struct {
	// Name and Action identify the step; Detail says what it did.
	Name, Action, Detail string
	// OK is set when the step did what it was asked (for an expectation:
	// when it held).
	OK bool
	// Err says why the step failed.
	Err error
	// Expectation marks an expect step.
	Expectation bool
	// MayFail marks a step an expectation requires to fail (ok: false):
	// its failure does not fail the run, the expectation decides.
	MayFail bool
	// Transfer marks a step that moves a file (fxp, get, put, relay).
	Transfer bool
	// Code is the last reply code (of a failed transfer: the failing one).
	Code int
	// Replies are a cmd step's replies, "code text" each.
	Replies []string
	// Summary is what the action says of its outcome beyond ok or FAIL
	// (a cmd step's replies, a thief's attempts), or "".
	Summary string
	// Bytes is the number of bytes a transfer copied.
	Bytes int64
	// Start is when the step began (wall clock, as the capture's
	// timestamps); Duration is how long the step took, all of it
	// (connecting, logging in, the transfer, verification).
	Start    time.Time
	Duration time.Duration
	// TransferTime is a transfer's own time: from the transfer command to
	// the last final reply, what Throughput divides by.
	TransferTime time.Duration
	// VerifyTime is how long comparing the SHA-256 of source and
	// destination took (it is not part of TransferTime).
	VerifyTime time.Duration
	// SHA256 is the destination's digest; Match says it equals the source's.
	SHA256 string
	Match  bool
	// Attempts, Connected and Received count a steal step's connection
	// attempts, established connections and the bytes it received (for a
	// listen step: connections accepted and bytes received).
	Attempts, Connected int
	Received            int64

	done chan struct{}
	// ready is closed once a service step serves (a listener listens), so
	// the steps after it find it up; exec closes it at the latest when the
	// step ends.
	ready chan struct{}
	// markReady closes ready (once).
	markReady func()
}

// Throughput is a transfer's rate in bit/s over its TransferTime (0 if
// unknown).
func (s StepResult) Throughput() float64 {
	if s.TransferTime <= 0 || s.Bytes <= 0 {
		return 0
	}
	return float64(s.Bytes) * 8 / s.TransferTime.Seconds()
}

// Report is the outcome of a lab run.
type Report struct {
	// Lab is the lab's name.
	Lab string
	// Steps are the step outcomes in lab order.
	Steps []StepResult
	// Ladder is the exchange read back from the capture (nil if the run
	// did not get that far).
	Ladder *ladder.Ladder
	// Names maps every lab address to its host; Order lists the hosts.
	Names map[netip.Addr]string
	Order []string
	// CaptureFile is the pcapng path ("" when none was written); Stats its
	// counters; CaptureData how much of each frame it kept.
	CaptureFile string
	Stats       stack.CaptureStats
	CaptureData CaptureData
	// Duration is the wall time of the whole run.
	Duration time.Duration
	// Routers are what the lab's NAT, firewalls and FTP helpers did.
	Routers []RouterReport
}

// RouterReport is what one router's roles did in a run.
type RouterReport struct {
	// Host is the router; Firewall and Helper say which roles it has.
	Host             string
	Firewall, Helper bool
	stack.RouterStats
}

// routerReports collects the counters of the lab's routers with roles.
func routerReports(lab *Lab, n *stack.Network) []RouterReport {
	var out []RouterReport
	for _, h := range lab.Hosts {
		if h.NAT == nil && h.Firewall == nil && h.FTPHelper == nil {
			continue
		}
		if host := n.Host(h.Name); host != nil {
			out = append(out, RouterReport{Host: h.Name, Firewall: h.Firewall != nil, Helper: h.FTPHelper != nil, RouterStats: host.RouterStats()})
		}
	}
	return out
}

// String says what the router did in a line.
func (r RouterReport) String() string {
	parts := []string{}
	if r.Firewall {
		parts = append(parts, fmt.Sprintf("firewall refused %d packets", r.FirewallDropped))
	}
	if r.Helper {
		parts = append(parts, fmt.Sprintf("FTP helper: %d expectations (%d came), %d lines rewritten, %d announcements refused, %d unreadable dropped",
			r.Expectations, r.Related, r.Rewritten, r.Refused, r.Malformed))
	}
	if len(parts) == 0 {
		parts = append(parts, "NAT only")
	}
	return r.Host + ": " + strings.Join(parts, "; ")
}

// OK reports whether every expectation held and every other step succeeded
// (a step an expectation requires to fail, with ok: false, may fail).
func (r *Report) OK() bool { return len(r.Failures()) == 0 }

// Failures lists the steps that make the run fail.
func (r *Report) Failures() []StepResult {
	var out []StepResult
	for _, s := range r.Steps {
		if !s.OK && !s.MayFail {
			out = append(out, s)
		}
	}
	return out
}

// outcome is a step's result in a few words.
func (s StepResult) outcome() string {
	var b strings.Builder
	switch {
	case s.Summary != "":
		b.WriteString(s.Summary)
	case s.Transfer && s.OK:
		fmt.Fprintf(&b, "%d bytes in %s (%s), sha256 match (verified in %s)", s.Bytes, s.TransferTime.Round(timeRound), FormatRate(s.Throughput()), s.VerifyTime.Round(timeRound))
	}
	if s.Err != nil {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(s.Err.Error())
	}
	return b.String()
}

// FormatRate renders bit/s with a unit ("8.41 Gbit/s"), as run's output
// and the HTML report show rates.
func FormatRate(bps float64) string {
	switch {
	case bps >= 1e9:
		return fmt.Sprintf("%.2f Gbit/s", bps/1e9)
	case bps >= 1e6:
		return fmt.Sprintf("%.2f Mbit/s", bps/1e6)
	case bps >= 1e3:
		return fmt.Sprintf("%.1f kbit/s", bps/1e3)
	}
	return fmt.Sprintf("%.0f bit/s", bps)
}

// printStep writes the line for a finished step.
func (r *runner) printStep(res *StepResult) {
	mark := "ok  "
	if !res.OK {
		mark = "FAIL"
	}
	line := fmt.Sprintf("%s %-20s %s", mark, res.Name, res.Detail)
	if o := res.outcome(); o != "" {
		line += ": " + o
	}
	r.outMu.Lock()
	defer r.outMu.Unlock()
	fmt.Fprintln(r.opts.Out, line)
}

// PrintOptions tune Report.Print.
type PrintOptions struct {
	// Full draws every line of the ladder; otherwise greetings, logins,
	// TYPE and QUIT are left out so the transfer reads like RFC 478's table.
	Full bool
	// Width is the terminal's width the ladder fits (0: no limit).
	Width int
}

// Print writes the ladder, the transfer summary and where the capture is.
func (r *Report) Print(w io.Writer, opts PrintOptions) error {
	if r.Ladder != nil {
		from := r.CaptureFile
		if from == "" {
			from = "the control connections kept in memory"
		}
		fmt.Fprintf(w, "\nLadder of lab %s (from %s):\n\n", r.Lab, from)
		if err := r.Ladder.Render(w, ladder.Options{Names: r.Names, Order: r.Order, Brief: !opts.Full, Width: opts.Width}); err != nil {
			return err
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := false
	for _, s := range r.Steps {
		if !s.Transfer {
			continue
		}
		if !header {
			fmt.Fprintf(w, "\nTransfers:\n")
			fmt.Fprintln(tw, "step\tbytes\ttime\tthroughput\tsha256\tverified in\t")
			header = true
		}
		check := "match " + short(s.SHA256)
		if !s.Match {
			check = "-"
			if s.SHA256 != "" {
				check = "MISMATCH " + short(s.SHA256)
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t\n", s.Name, s.Bytes, s.TransferTime.Round(timeRound), FormatRate(s.Throughput()), check, s.VerifyTime.Round(timeRound))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Routers) > 0 {
		fmt.Fprintln(w, "\nRouters:")
		for _, rr := range r.Routers {
			fmt.Fprintf(w, "  %s\n", rr)
		}
	}
	fails := r.Failures()
	switch {
	case r.CaptureFile == "":
		fmt.Fprintf(w, "\nCapture: none written (%d control frames kept in memory for the ladder)\n", r.Stats.Frames)
	default:
		fmt.Fprintf(w, "\nCapture: %s (%d frames", r.CaptureFile, r.Stats.Frames)
		if r.CaptureData == CaptureHeaders {
			fmt.Fprint(w, ", data connections' frames cut after the TCP header")
		}
		if r.Stats.Dropped > 0 {
			fmt.Fprintf(w, ", %d dropped", r.Stats.Dropped)
		}
		fmt.Fprintf(w, "); open it with: wireshark %s\n", r.CaptureFile)
	}
	if len(fails) == 0 {
		fmt.Fprintf(w, "Lab %s: all %d steps ok in %s.\n", r.Lab, len(r.Steps), r.Duration.Round(time.Millisecond))
		return nil
	}
	fmt.Fprintf(w, "Lab %s: %d of %d steps FAILED:\n", r.Lab, len(fails), len(r.Steps))
	for _, f := range fails {
		fmt.Fprintf(w, "  %s: %v\n", f.Name, f.Err)
	}
	return nil
}

// SourceText returns the lab file's YAML text, comments included (nil for
// a lab built in code).
func (l *Lab) SourceText() []byte { return l.src }

// Describe says in a few words what the step does, e.g. "A: C:/f → B:/f".
func (s *Step) Describe() string { return s.Action.describe() }

func short(sum string) string {
	if len(sum) > 12 {
		return sum[:12] + "…"
	}
	return sum
}
