package labs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// benchFXPSize is the file BenchmarkLabFXP copies: 1 GiB, or
// FTPLAB_BENCH_SIZE bytes.
func benchFXPSize(b *testing.B) int64 {
	if s := os.Getenv("FTPLAB_BENCH_SIZE"); s != "" {
		n, err := ParseSize(s)
		require.NoError(b, err)
		return n
	}
	return 1 << 30
}

// fxpLab is three hosts on one switch (MTU 1500): C holds a generated file
// of size bytes, A drives a third-party copy of it from C to B.
func fxpLab(b *testing.B, size int64, capture string) *Lab {
	src := fmt.Sprintf(`name: bench-fxp
hosts:
  - {name: A, addresses: [10.0.0.1/24]}
  - {name: B, addresses: [10.0.0.2/24]}
  - {name: C, addresses: [10.0.0.3/24]}
switches: [{name: lan}]
links:
  - ends: [A, lan]
  - ends: [B, lan]
  - ends: [C, lan]
servers:
  - {host: B, users: [{name: u, password: p}], trust: [10.0.0.3/32]}
  - host: C
    users: [{name: u, password: p}]
    trust: [10.0.0.2/32]
    files: [{path: /big.bin, size: %d, seed: 8}]
%s
steps:
  - name: copy
    timeout: 10m
    fxp: {client: A, from: "C:/big.bin", to: "B:/big.bin"}
`, size, capture)
	lab, err := Load("bench-fxp.yaml", []byte(src))
	require.NoError(b, err)
	return lab
}

// BenchmarkLabFXP copies a generated file (1 GiB) between two virtual
// servers through labs.Run, as `ftplab run` does.
func BenchmarkLabFXP(b *testing.B) {
	size := benchFXPSize(b)
	for _, mode := range []string{"off"} {
		b.Run("capture="+mode, func(b *testing.B) {
			lab := fxpLab(b, size, "")
			var mbs float64
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
				rep, err := Run(ctx, lab, Options{CaptureFile: filepath.Join(b.TempDir(), "c.pcapng")})
				cancel()
				require.NoError(b, err)
				require.True(b, rep.OK(), "%v", rep.Failures())
				mbs = float64(size) / rep.Steps[0].Duration.Seconds() / 1e6
			}
			b.ReportMetric(mbs, "MB/s")
			_ = strconv.Itoa
		})
	}
}
