package tun

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftplab/ftplab/ftp/ftptest"
	"github.com/stretchr/testify/require"
)

// benchSize is what each download moves.
const benchSize = 256 << 20

// BenchmarkTUNDownload: curl (kernel TCP) downloads 256 MiB from a virtual
// FTP server behind the lab's gateway host through the TUN device, and in
// the same run 256 MiB from vsftpd over the namespace's loopback (tmpfs
// file); it reports both rates in MB/s and their ratio. Sub-benchmarks vary
// the MTU of the TUN link and the lab links, the capture, and where the
// server is: behind the gateway (B: lab link, switch, forwarding, TUN) or on
// the gateway host itself (A: the TUN bridge alone).
func BenchmarkTUNDownload(b *testing.B) {
	for _, tc := range []struct {
		name      string
		mtu       uint32
		capture   bool
		onGateway bool
	}{
		{"mtu=1500", 1500, false, false},
		{"mtu=65520", 65520, false, false},
		{"mtu=65520/capture", 65520, true, false},
		{"mtu=1500/server-on-gateway", 1500, false, true},
		{"mtu=65520/server-on-gateway", 65520, false, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			if !ftptest.Bench(b, ftptest.NeedTUN(), ftptest.Need("curl", "vsftpd")) {
				return
			}
			// As ftplab up runs a lab with a TUN device.
			defer runtime.GOMAXPROCS(RaiseProcs())
			var capture io.Writer
			if tc.capture {
				f, err := os.Create(filepath.Join(b.TempDir(), "bench.pcapng"))
				require.NoError(b, err)
				b.Cleanup(func() { f.Close() })
				capture = f
			}
			lab := startKernelLab(b, "ftplabb0", tc.mtu, benchSize, capture)
			url := "ftp://user:user@10.0.0.2/file.bin" // B, behind the gateway
			if tc.onGateway {
				lab.serve(b, "A", benchSize)
				url = "ftp://user:user@10.0.0.1/file.bin"
			}
			vs := startLoopbackVsftpd(b)
			b.ResetTimer()
			// Each iteration takes the median of three downloads on each
			// path: single loopback runs vary by a factor of three on a
			// shared machine.
			var tunRate, loRate float64
			var cpu time.Duration
			for range b.N {
				c0 := processCPU()
				tunRate += median3(func() float64 { return curlRate(b, url) })
				cpu += processCPU() - c0
				loRate += median3(func() float64 { return curlRate(b, vs) })
			}
			b.StopTimer()
			tunRate, loRate = tunRate/float64(b.N), loRate/float64(b.N)
			b.ReportMetric(tunRate, "tun-MB/s")
			b.ReportMetric(loRate, "loopback-MB/s")
			b.ReportMetric(tunRate/loRate, "ratio")
			b.ReportMetric(cpu.Seconds()*1e3/float64(3*b.N*benchSize>>20), "lab-cpu-ms/MiB")
			st := lab.dev.Stats()
			b.ReportMetric(float64(st.WriteDrops), "write-drops")
			b.ReportMetric(float64(st.KernelDrops), "kernel-drops")
			b.SetBytes(6 * benchSize)
		})
	}
}

// processCPU is the CPU time (user and system) this process has used: the
// lab's share of a TUN download, the kernel's receive path included (it runs
// inside the bridge's writes).
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// median3 runs f three times and returns the middle result.
func median3(f func() float64) float64 {
	r := []float64{f(), f(), f()}
	slices.Sort(r)
	return r[1]
}

// curlRate downloads url to /dev/null and returns curl's average rate in MB/s.
func curlRate(b *testing.B, url string) float64 {
	b.Helper()
	out, err := exec.Command("curl", "-sS", "--max-time", "120", "-o", os.DevNull, "-w", "%{speed_download} %{size_download}", url).CombinedOutput()
	require.NoError(b, err, "curl %s: %s", url, out)
	var speed float64
	var size int64
	_, err = fmt.Sscanf(string(out), "%f %d", &speed, &size)
	require.NoError(b, err, "curl output %q", out)
	require.EqualValues(b, benchSize, size, "curl %s downloaded a short file", url)
	return speed / 1e6
}

// startLoopbackVsftpd runs vsftpd on 127.0.0.1 in the namespace, anonymous
// and read-only, serving a 256 MiB file from tmpfs, and returns its URL.
func startLoopbackVsftpd(b *testing.B) string {
	b.Helper()
	base := "/dev/shm"
	if _, err := os.Stat(base); err != nil {
		base = ""
	}
	dir, err := os.MkdirTemp(base, "ftplab-bench")
	require.NoError(b, err)
	b.Cleanup(func() { os.RemoveAll(dir) })
	root := filepath.Join(dir, "root")
	require.NoError(b, os.Mkdir(root, 0o755))
	f, err := os.Create(filepath.Join(root, "file.bin"))
	require.NoError(b, err)
	require.NoError(b, f.Truncate(benchSize))
	require.NoError(b, f.Close())
	conf := filepath.Join(dir, "vsftpd.conf")
	require.NoError(b, os.WriteFile(conf, []byte(strings.Join([]string{
		"listen=YES", "listen_ipv6=NO", "listen_address=127.0.0.1", "listen_port=2121", "background=NO",
		"anonymous_enable=YES", "local_enable=NO", "no_anon_password=YES", "anon_root=" + root,
		"write_enable=NO", "seccomp_sandbox=NO", "secure_chroot_dir=/var/run/vsftpd/empty",
		"run_as_launching_user=YES", "xferlog_enable=NO", "",
	}, "\n")), 0o600))
	require.NoError(b, os.MkdirAll("/var/run/vsftpd/empty", 0o755))
	cmd := exec.Command("vsftpd", conf)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(b, cmd.Start())
	b.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	url := "ftp://127.0.0.1:2121/file.bin"
	require.Eventually(b, func() bool {
		return exec.Command("curl", "-sS", "--max-time", "2", "-I", url).Run() == nil
	}, 5*time.Second, 50*time.Millisecond, "vsftpd did not start")
	return url
}
