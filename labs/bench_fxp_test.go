package labs

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/ftp/ftptest"
	"github.com/ftplab/ftplab/ftp/store"
)

// benchFXPSize is the file BenchmarkLabFXP copies: 1 GiB, or
// FTPLAB_BENCH_SIZE (e.g. 256MiB).
func benchFXPSize(b *testing.B) int64 {
	if s := os.Getenv("FTPLAB_BENCH_SIZE"); s != "" {
		n, err := ParseSize(s)
		require.NoError(b, err)
		return n
	}
	return 1 << 30
}

// fxpLabYAML is three hosts on one switch (MTU 1500): C holds a generated
// file of size bytes, A drives a third-party copy of it from C to B.
func fxpLabYAML(size int64, data CaptureData) string {
	return benchLabYAML(size, data, "", `  - name: copy
    timeout: 15m
    fxp: {client: A, from: "C:/big.bin", to: "B:/big.bin"}
  - expect: {same: ["C:/big.bin", "B:/big.bin"]}
`)
}

// benchLabYAML is the benchmarks' lab: three hosts on one switch (MTU
// 1500), servers on B and C (with tls, when given, as their tls:
// section), C holding a generated file /big.bin of size bytes; steps run
// from A.
func benchLabYAML(size int64, data CaptureData, tls, steps string) string {
	if tls != "" {
		tls = "\n    tls: " + tls
	}
	return fmt.Sprintf(`name: bench
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
  - host: B
    users: [{name: u, password: p}]
    trust: [10.0.0.3/32]%[3]s
  - host: C
    users: [{name: u, password: p}]
    trust: [10.0.0.2/32]
    files: [{path: /big.bin, size: %[1]d, seed: 8}]%[3]s
capture: {data: %[2]s}
steps:
%[4]s`, size, data, tls, steps)
}

// BenchmarkLabFXP copies a generated file (1 GiB) between two virtual
// servers through labs.Run, as `ftplab run` does, with each capture choice
// (the full capture goes to tmpfs), and, right before each, the kernel's
// reference: vsftpd ⇒ vsftpd driven by lftp across network namespaces
// joined by veth and a bridge (the median of three copies). It reports MB/s over the transfer (command
// to final reply), the ratio to the kernel (x-kernel), and the peak heap.
func BenchmarkLabFXP(b *testing.B) {
	size := benchFXPSize(b)
	for _, data := range []CaptureData{CaptureNone, CaptureHeaders, CaptureFull} {
		name := "capture=" + string(data)
		if data == CaptureNone {
			name = "capture=off"
		}
		b.Run(name, func(b *testing.B) {
			lab, err := Load("bench-fxp.yaml", []byte(fxpLabYAML(size, data)))
			require.NoError(b, err)
			dir := ftptest.TmpfsDir(b)
			kernel := kernelFXP(b, size) // right before: the machine's load changes
			var moved, took float64
			var peak uint64
			for b.Loop() {
				runtime.GC()
				stop := ftptest.PeakHeap()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
				rep, err := Run(ctx, lab, Options{CaptureFile: filepath.Join(dir, "c.pcapng")})
				cancel()
				peak = max(peak, stop())
				require.NoError(b, err)
				require.True(b, rep.OK(), "%v", rep.Failures())
				moved, took = moved+float64(size), took+rep.Steps[0].TransferTime.Seconds()
				_ = os.Remove(filepath.Join(dir, "c.pcapng"))
			}
			mbs := moved / took / 1e6
			b.ReportMetric(mbs, "MB/s")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			if kernel > 0 {
				b.ReportMetric(mbs/kernel, "x-kernel")
				b.ReportMetric(kernel, "kernel-MB/s")
			}
		})
	}
}

// kernelFXP measures the kernel's third-party copy of size bytes (MB/s), or
// 0 with a message where it cannot: two vsftpd servers in network
// namespaces of their own, joined by veth pairs and a bridge to the
// namespace lftp runs in, all made (and removed) for this benchmark.
func kernelFXP(b *testing.B, size int64) float64 {
	exe, err := os.Executable()
	require.NoError(b, err)
	cmd := exec.Command(exe, "-test.run", "^TestKernelFXPReference$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "FTPLAB_KERNEL_FXP_SIZE="+strconv.FormatInt(size, 10))
	out, err := cmd.CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "BenchmarkLabFXP: kernel reference failed, reported without x-kernel: %v\n%s", err, out)
		return 0
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "kernel-fxp-MB/s "); ok {
			mbs, err := strconv.ParseFloat(v, 64)
			require.NoError(b, err)
			return mbs
		}
	}
	fmt.Fprintf(os.Stderr, "BenchmarkLabFXP: kernel reference skipped, reported without x-kernel:\n%s", out)
	return 0
}

// TestKernelFXPReference is BenchmarkLabFXP's kernel reference, run by it
// in a subprocess (FTPLAB_KERNEL_FXP_SIZE set); alone it does nothing.
func TestKernelFXPReference(t *testing.T) {
	sizeEnv := os.Getenv("FTPLAB_KERNEL_FXP_SIZE")
	if sizeEnv == "" {
		t.Skip("the kernel reference of BenchmarkLabFXP (run it with -bench LabFXP)")
	}
	if !ftptest.Run(t, ftptest.Need("vsftpd", "lftp", "ip")) {
		return
	}
	size, err := strconv.ParseInt(sizeEnv, 10, 64)
	require.NoError(t, err)
	ns := ftptest.Bridged(t, 2)
	dir := ftptest.TmpfsDir(t)
	rb, rc := filepath.Join(dir, "b"), filepath.Join(dir, "c")
	require.NoError(t, os.Mkdir(rb, 0o777))
	require.NoError(t, os.Mkdir(rc, 0o777))
	f, err := os.Create(filepath.Join(rc, "big.bin"))
	require.NoError(t, err)
	_, err = f.ReadFrom(store.GeneratedReader(8, size))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	b := ftptest.StartVsftpdIn(t, &ns[0], netip.AddrPortFrom(ns[0].Addr.Addr(), 21), rb, true)
	c := ftptest.StartVsftpdIn(t, &ns[1], netip.AddrPortFrom(ns[1].Addr.Addr(), 21), rc, true)
	// No STAT polling during the copy: vsftpd answers a STAT in the middle
	// of a transfer with 500, and lftp gives up.
	script := fmt.Sprintf("set ftp:use-fxp yes; set ftp:fxp-force yes; set cmd:fail-exit yes; set net:timeout 30; set ftp:stat-interval 3600; "+
		"get ftp://%s/big.bin -o ftp://%s/big.bin; quit", c.Addr, b.Addr)
	// The median of three copies: the machine is shared and noisy.
	var rates []float64
	for range 3 {
		require.NoError(t, os.RemoveAll(filepath.Join(rb, "big.bin")))
		t0 := time.Now()
		out, err := exec.Command("lftp", "-c", script).CombinedOutput()
		d := time.Since(t0)
		require.NoError(t, err, "lftp: %s", out)
		fi, err := os.Stat(filepath.Join(rb, "big.bin"))
		require.NoError(t, err)
		require.Equal(t, size, fi.Size(), "the kernel's copy is complete")
		rates = append(rates, float64(size)/d.Seconds()/1e6)
	}
	slices.Sort(rates)
	fmt.Printf("kernel-fxp-MB/s %.1f\n", rates[1])
}
