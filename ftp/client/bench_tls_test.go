package client

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/ftp/server"
)

// benchPair times clear and protected runs of the same transfer within one
// benchmark and reports the protected rate (MB/s) and its ratio to the
// clear one (x-clear). TLS 1.3 picks AES-128-GCM on CPUs with AES
// instructions.
func benchPair(b *testing.B, run func(protected bool)) {
	b.SetBytes(benchSize)
	var clear, protected time.Duration
	for b.Loop() {
		start := time.Now()
		run(false)
		clear += time.Since(start)
		start = time.Now()
		run(true)
		protected += time.Since(start)
	}
	mb := float64(benchSize) * float64(b.N) / 1e6
	b.ReportMetric(mb/protected.Seconds(), "MB/s")
	b.ReportMetric(mb/clear.Seconds(), "clear-MB/s")
	b.ReportMetric(clear.Seconds()/protected.Seconds(), "x-clear")
}

// BenchmarkFTPSDownload is a 256 MiB RETR from our server (in-memory
// store, loopback) with PROT P against the same in the clear.
func BenchmarkFTPSDownload(b *testing.B) {
	srv := startServer(b, "127.0.0.1:0", server.Config{TLS: serverTLS(b)})
	require.NoError(b, srv.mem.AddGenerated("/f.bin", benchSize, 42))
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
		require.EqualValues(b, benchSize, n)
	})
}

// BenchmarkSecureFXP is a 256 MiB third-party copy between two of our
// servers, SSCN on the passive side, against the same in the clear.
func BenchmarkSecureFXP(b *testing.B) {
	a, c := serverPairWith(b, false, true, server.Config{TLS: serverTLS(b)})
	require.NoError(b, a.mem.AddGenerated("/f.bin", benchSize, 42))
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
		require.EqualValues(b, benchSize, res.Bytes)
	})
}
