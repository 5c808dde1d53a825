package labs

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// barDelay is how long a transfer runs before a progress bar appears.
const barDelay = time.Second

// bar draws a transfer's progress on the run's output: nothing for the
// first second, then (on a terminal) a bar redrawn in place, cleared when
// the transfer ends.
type bar struct {
	r     *runner
	name  string
	total int64
	start time.Time
	mu    sync.Mutex
	shown bool
}

// progress starts a bar for a transfer of total bytes (-1: unknown).
func (r *runner) progress(name string, total int64) *bar {
	return &bar{r: r, name: name, total: total, start: time.Now()}
}

// update reports n bytes moved so far.
func (b *bar) update(n int64) {
	if !b.r.opts.Progress || time.Since(b.start) < barDelay {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.shown = true
	b.r.outMu.Lock()
	defer b.r.outMu.Unlock()
	fmt.Fprintf(b.r.opts.Out, "\r\033[K%-20s %s", b.name, DrawProgress(n, b.total, time.Since(b.start)))
}

// done clears the bar.
func (b *bar) done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.shown {
		b.r.outMu.Lock()
		fmt.Fprint(b.r.opts.Out, "\r\033[K")
		b.r.outMu.Unlock()
	}
}

// DrawProgress renders a transfer's progress in one line,
// "[#####.....]  42%  1.2 Mbit/s" (total <= 0: unknown, no bar). It is the
// one progress bar of ftplab: lab runs and `ftplab fxp` draw it.
func DrawProgress(n, total int64, elapsed time.Duration) string {
	speed := FormatRate(float64(n) * 8 / max(elapsed.Seconds(), 1e-9))
	if total <= 0 {
		return fmt.Sprintf("%d bytes  %s", n, speed)
	}
	const width = 30
	fill := int(min(n, total) * width / total)
	return fmt.Sprintf("[%s%s] %3d%%  %s", strings.Repeat("#", fill), strings.Repeat(".", width-fill), min(n, total)*100/total, speed)
}
