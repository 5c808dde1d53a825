package labs

import (
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/ftp/ftptest"
)

// bigLab generates a lab of n hosts on one switch (a server on every
// hundredth, a get step per server); with broken set, every host's link is
// left out, so every host is an error to report with its position.
func bigLab(n int, broken bool) []byte {
	var b strings.Builder
	b.WriteString("name: big\nhosts:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: h%d\n    addresses: [%d.%d.%d.1/32]\n", i, 10+i>>16, i>>8&255, i&255)
	}
	b.WriteString("switches: [{name: lan}]\n")
	if !broken {
		b.WriteString("links:\n")
		for i := range n {
			fmt.Fprintf(&b, "  - ends: [h%d, lan]\n", i)
		}
	}
	b.WriteString("servers:\n")
	for i := 1; i < n; i += 100 {
		fmt.Fprintf(&b, "  - host: h%d\n    anonymous: true\n    files: [{path: /f, content: x}]\n", i)
	}
	b.WriteString("steps:\n")
	for i := 1; i < n; i += 100 {
		fmt.Fprintf(&b, "  - get: {client: h0, from: h%d:/f}\n", i)
	}
	return []byte(b.String())
}

// BenchmarkLoadHosts measures Load on generated labs of growing size: the
// time per host should stay flat (validation is linear). It reports the
// time per host, the time of one Load in seconds, the CPU time of the
// process per Load (less sensitive than the time to other work on the
// machine; it includes the garbage collector's) and the heap Load needs
// at its peak beyond what was in use before (sampled, see peakHeap).
func BenchmarkLoadHosts(b *testing.B) {
	for _, n := range []int{10_000, 30_000, 100_000} {
		for _, broken := range []bool{false, true} {
			src := bigLab(n, broken)
			b.Run(fmt.Sprintf("hosts=%d/broken=%v", n, broken), func(b *testing.B) {
				runtime.GC()
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				stop := ftptest.PeakHeap()
				cpu := cpuTime()
				for b.Loop() {
					_, err := Load("big.yaml", src)
					if broken {
						require.Error(b, err)
					} else {
						require.NoError(b, err)
					}
				}
				cpu = cpuTime() - cpu
				peak := stop()
				perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
				b.ReportMetric(perOp/float64(n), "ns/host")
				b.ReportMetric(perOp/1e9, "s/load")
				b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/load")
				b.ReportMetric(float64(peak-min(peak, before.HeapAlloc))/(1<<20), "peak-heap-MiB")
			})
		}
	}
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestLoadLinear: what Load allocates per host does not grow with the
// lab, valid or broken: a step that copies a list per item or rebuilds a
// string per host shows here as a count, not as a time. (Work that only
// computes, without allocating, is watched by BenchmarkLoadHosts, whose
// ns/host should stay flat.) Maps and slices grow in steps, so the bound
// is loose; a quadratic step would be ten times over it.
func TestLoadLinear(t *testing.T) {
	perHost := func(n int, broken bool) (allocs, bytes float64) {
		src := bigLab(n, broken)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Load("big.yaml", src)
		runtime.ReadMemStats(&after)
		require.Equal(t, broken, err != nil, "%v", err)
		return float64(after.Mallocs-before.Mallocs) / float64(n), float64(after.TotalAlloc-before.TotalAlloc) / float64(n)
	}
	for _, broken := range []bool{false, true} {
		smallAllocs, smallBytes := perHost(2_000, broken)
		bigAllocs, bigBytes := perHost(20_000, broken)
		t.Logf("broken=%v: %.1f → %.1f allocations, %.0f → %.0f bytes per host", broken, smallAllocs, bigAllocs, smallBytes, bigBytes)
		assert.Less(t, bigAllocs, 1.5*smallAllocs, "allocations per host, broken=%v", broken)
		assert.Less(t, bigBytes, 2*smallBytes, "bytes per host, broken=%v", broken)
	}
}
