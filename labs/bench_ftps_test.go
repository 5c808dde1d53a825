package labs

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/ftp/ftptest"
)

// BenchmarkLabFTPS moves a generated file (1 GiB, or FTPLAB_BENCH_SIZE)
// between virtual hosts through labs.Run, capture off, over FTPS (TLS 1.3,
// AES-128-GCM) and, in the same iteration, in the clear: a download to
// the client host (download) and a third-party copy between two servers,
// SSCN on the passive one (secure-fxp). It reports the protected MB/s over
// the transfer's own time, the clear one (clear-MB/s), their ratio
// (x-clear) and the peak heap of the protected runs.
func BenchmarkLabFTPS(b *testing.B) {
	size := benchFXPSize(b)
	for _, tc := range []struct {
		name, step string
	}{
		{"download", `get: {client: A, from: "C:/big.bin", tls: %s}`},
		{"secure-fxp", `fxp: {client: A, from: "C:/big.bin", to: "B:/big.bin", tls: %s}`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			labs := map[bool]*Lab{}
			for _, protected := range []bool{false, true} {
				tls, mode := "", "off"
				if protected {
					tls, mode = "{}", "explicit"
				}
				step := fmt.Sprintf("  - name: move\n    timeout: 15m\n    "+tc.step+"\n", mode)
				lab, err := Load("bench-ftps.yaml", []byte(benchLabYAML(size, CaptureNone, tls, step)))
				require.NoError(b, err)
				labs[protected] = lab
			}
			dir := b.TempDir()
			var took [2]float64
			var peak uint64
			for b.Loop() {
				for i, protected := range []bool{false, true} {
					runtime.GC()
					stop := ftptest.PeakHeap()
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
					rep, err := Run(ctx, labs[protected], Options{CaptureFile: filepath.Join(dir, "c.pcapng")})
					cancel()
					if protected {
						peak = max(peak, stop())
					} else {
						stop()
					}
					require.NoError(b, err)
					require.True(b, rep.OK(), "%v", rep.Failures())
					took[i] += rep.Steps[0].TransferTime.Seconds()
				}
			}
			mb := float64(size) * float64(b.N) / 1e6
			b.ReportMetric(mb/took[1], "MB/s")
			b.ReportMetric(mb/took[0], "clear-MB/s")
			b.ReportMetric(took[0]/took[1], "x-clear")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}
