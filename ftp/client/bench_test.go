package client

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkFXP is a 256 MiB third-party copy between two of our servers
// (in-memory stores, loopback), driven by our client in the default
// RFC 959 sequence. Like the lftp yardstick, each copy includes connecting
// and logging in.
func BenchmarkFXP(b *testing.B) {
	a, c := serverPair(b, false, true)
	require.NoError(b, a.mem.AddGenerated("/f.bin", benchSize, 42))
	ctx := context.Background()
	b.SetBytes(benchSize)
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		src := dialUser(b, ctx, a.addr, Options{})
		dst := dialUser(b, ctx, c.addr, Options{})
		res, err := Transfer(ctx, src, "f.bin", dst, "copy.bin", TransferOptions{})
		require.NoError(b, err)
		require.Equal(b, int64(benchSize), res.Bytes)
		require.NoError(b, src.Quit(ctx))
		require.NoError(b, dst.Quit(ctx))
	}
	b.ReportMetric(float64(benchSize)*float64(b.N)/time.Since(start).Seconds()/1e6, "MB/s")
}
