package client

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ftplab/ftplab/ftp/ftptest"
	"github.com/stretchr/testify/require"
)

// benchSize is the file size of the third-party copy benchmarks.
const benchSize = 256 << 20

// vsftpdPair starts two vsftpd servers on tmpfs roots, the first holding
// f.bin of benchSize bytes.
func vsftpdPair(b *testing.B) (a, c ftptest.Vsftpd) {
	dir := ftptest.TmpfsDir(b)
	ra, rc := filepath.Join(dir, "a"), filepath.Join(dir, "c")
	require.NoError(b, os.Mkdir(ra, 0o777))
	require.NoError(b, os.Mkdir(rc, 0o777))
	require.NoError(b, os.WriteFile(filepath.Join(ra, "f.bin"), payload(benchSize), 0o644))
	a = ftptest.StartVsftpd(b, netip.MustParseAddrPort("127.0.0.2:2121"), ra, true)
	c = ftptest.StartVsftpd(b, netip.MustParseAddrPort("127.0.0.3:2121"), rc, true)
	return a, c
}

// BenchmarkFXPVsftpdLftp measures lftp driving a third-party copy of a
// 256 MiB file between two vsftpd servers (tmpfs, loopback, inside a
// network namespace of its own): the yardstick for BenchmarkFXP.
func BenchmarkFXPVsftpdLftp(b *testing.B) {
	if !ftptest.Bench(b, ftptest.Need("vsftpd", "lftp")) {
		return
	}
	a, c := vsftpdPair(b)
	script := fmt.Sprintf("set ftp:use-fxp yes; set ftp:fxp-force yes; set cmd:fail-exit yes; "+
		"get ftp://%s/f.bin -o ftp://%s/copy.bin; quit", a.Addr, c.Addr)
	b.SetBytes(benchSize)
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		out, err := exec.Command("lftp", "-c", script).CombinedOutput()
		require.NoError(b, err, "lftp: %s", out)
	}
	b.ReportMetric(float64(benchSize)*float64(b.N)/time.Since(start).Seconds()/1e6, "MB/s")
	b.StopTimer()
	fi, err := os.Stat(filepath.Join(c.Root, "copy.bin"))
	require.NoError(b, err)
	require.Equal(b, int64(benchSize), fi.Size())
}

// BenchmarkFXPVsftpdOurClient is our client driving the same copy as
// BenchmarkFXPVsftpdLftp.
func BenchmarkFXPVsftpdOurClient(b *testing.B) {
	if !ftptest.Bench(b, ftptest.Need("vsftpd")) {
		return
	}
	a, c := vsftpdPair(b)
	ctx := context.Background()
	b.SetBytes(benchSize)
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		src := dialAnon(b, ctx, a.Addr, Options{})
		dst := dialAnon(b, ctx, c.Addr, Options{})
		res, err := Transfer(ctx, src, "f.bin", dst, "copy.bin", TransferOptions{})
		require.NoError(b, err)
		require.Equal(b, int64(benchSize), res.Bytes)
		src.Close()
		dst.Close()
	}
	b.ReportMetric(float64(benchSize)*float64(b.N)/time.Since(start).Seconds()/1e6, "MB/s")
}
