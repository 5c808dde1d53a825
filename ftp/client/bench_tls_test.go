package client

import (
	"context"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/ftp/ftptest"
	"github.com/ftplab/ftplab/ftp/server"
)

// tlsBenchSize is what the FTPS benchmarks move per transfer: 1 GiB.
const tlsBenchSize = 1 << 30

// benchPair times clear and protected runs of the same transfer within one
// benchmark and reports the protected rate (MB/s), the clear one
// (clear-MB/s), their ratio (x-clear) and the peak heap of the protected
// runs. TLS 1.3 picks AES-128-GCM on CPUs with AES instructions.
func benchPair(b *testing.B, run func(protected bool)) {
	b.SetBytes(tlsBenchSize)
	var clear, protected time.Duration
	var peak uint64
	for b.Loop() {
		start := time.Now()
		run(false)
		clear += time.Since(start)
		runtime.GC()
		stop := ftptest.PeakHeap()
		start = time.Now()
		run(true)
		protected += time.Since(start)
		peak = max(peak, stop())
	}
	mb := float64(tlsBenchSize) * float64(b.N) / 1e6
	b.ReportMetric(mb/protected.Seconds(), "MB/s")
	b.ReportMetric(mb/clear.Seconds(), "clear-MB/s")
	b.ReportMetric(clear.Seconds()/protected.Seconds(), "x-clear")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// BenchmarkFTPSDownload is a 1 GiB RETR from our server (in-memory
// store, a generated file, loopback) with PROT P against the same in the
// clear.
func BenchmarkFTPSDownload(b *testing.B) {
	srv := startServer(b, "127.0.0.1:0", server.Config{TLS: serverTLS(b)})
	require.NoError(b, srv.mem.AddGenerated("/f.bin", tlsBenchSize, 42))
	ctx := context.Background()
	clear := dialUser(b, ctx, srv.addr, Options{})
	secure := dialUser(b, ctx, srv.addr, Options{TLS: TLSExplicit, Insecure: true})
	benchPair(b, func(protected bool) {
		c := clear
		if protected {
			c = secure
		}
		n, err := c.Retr(ctx, "/f.bin", io.Discard)
		require.NoError(b, err)
		require.EqualValues(b, tlsBenchSize, n)
	})
}

// BenchmarkSecureFXP is a 1 GiB third-party copy between two of our
// servers (loopback), SSCN on the passive side, against the same in the
// clear.
func BenchmarkSecureFXP(b *testing.B) {
	a, c := serverPairWith(b, false, true, server.Config{TLS: serverTLS(b)})
	require.NoError(b, a.mem.AddGenerated("/f.bin", tlsBenchSize, 42))
	ctx := context.Background()
	opts := map[bool]Options{false: {}, true: {TLS: TLSExplicit, Insecure: true}}
	clients := map[bool][2]*Client{}
	for _, p := range []bool{false, true} {
		clients[p] = [2]*Client{dialUser(b, ctx, a.addr, opts[p]), dialUser(b, ctx, c.addr, opts[p])}
	}
	benchPair(b, func(protected bool) {
		cl := clients[protected]
		res, err := Transfer(ctx, cl[0], "f.bin", cl[1], "copy.bin", TransferOptions{})
		require.NoError(b, err)
		require.EqualValues(b, tlsBenchSize, res.Bytes)
	})
}
