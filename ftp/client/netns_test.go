package client

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// netnsEnv marks a test binary re-executed inside a network namespace of
// its own (unshare -n), where it may start kernel-side servers such as
// vsftpd on 127.0.0.x without touching the host's network.
const netnsEnv = "FTPLAB_CLIENT_NETNS"

func TestMain(m *testing.M) {
	if os.Getenv(netnsEnv) == "1" {
		if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "inside the test namespace: ip link set lo up: %v: %s\n", err, out)
			os.Exit(2)
		}
	}
	goleak.VerifyTestMain(m)
}

// inNetns reports whether tb runs inside its own network namespace. If not,
// it re-runs tb alone in a new one (unshare -n, as root; -rn otherwise),
// passes its verdict on (skip, failure, benchmark metrics) and returns
// false: the caller then returns at once.
func inNetns(tb testing.TB, need ...string) bool {
	tb.Helper()
	if os.Getenv(netnsEnv) == "1" {
		return true
	}
	for _, tool := range append([]string{"unshare", "ip"}, need...) {
		if _, err := exec.LookPath(tool); err != nil {
			tb.Skipf("%s not installed: cannot run this test inside a network namespace of its own", tool)
		}
	}
	args := []string{"-n"}
	if os.Geteuid() != 0 {
		args = []string{"-rn"}
	}
	args = append(args, os.Args[0], "-test.count=1", "-test.v", "-test.timeout=5m")
	name := "^" + regexp.QuoteMeta(tb.Name()) + "$"
	b, isBench := tb.(*testing.B)
	if isBench {
		benchtime := "1x"
		if f := flag.Lookup("test.benchtime"); f != nil && strings.HasSuffix(f.Value.String(), "x") {
			benchtime = f.Value.String() // the same count of copies inside
		}
		args = append(args, "-test.run=^$", "-test.bench="+name, "-test.benchtime="+benchtime)
	} else {
		args = append(args, "-test.run="+name)
	}
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil && bytes.Contains(out, []byte("unshare failed")) {
		tb.Skipf("cannot create a network namespace (unshare %s): %s", strings.Join(args[:1], " "), out)
	}
	if err != nil {
		tb.Fatalf("in a new network namespace: %v\n%s", err, out)
	}
	if m := regexp.MustCompile(`\s\S+\.go:\d+: ([^\n]*)\n--- SKIP`).FindSubmatch(out); m != nil && !isBench {
		tb.Skipf("in a new network namespace: %s", m[1])
	}
	tb.Logf("in a new network namespace:\n%s", out)
	if isBench {
		reportInnerMetrics(b, out)
	}
	return false
}

// reportInnerMetrics copies the custom metrics of the inner benchmark run
// ("<value> <unit>" pairs after ns/op) to b.
func reportInnerMetrics(b *testing.B, out []byte) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err == nil && f[i+1] != "ns/op" {
				b.ReportMetric(v, f[i+1])
			}
		}
	}
}

// vsftpd is a vsftpd server started for a test inside its namespace.
type vsftpd struct {
	addr netip.AddrPort
	root string // its anonymous root, writable
}

// startVsftpd runs vsftpd on addr with anonymous read-write access and
// FXP allowed (pasv_promiscuous, port_promiscuous); it is killed at
// cleanup. root, when empty, is a new temporary directory.
func startVsftpd(tb testing.TB, addr netip.AddrPort, root string) vsftpd {
	tb.Helper()
	if os.Getenv(netnsEnv) != "1" {
		tb.Fatal("startVsftpd outside a test network namespace")
	}
	dir := tb.TempDir()
	if root == "" {
		root = filepath.Join(dir, "root")
		require.NoError(tb, os.Mkdir(root, 0o777))
	}
	require.NoError(tb, os.Chmod(root, 0o777))
	conf := fmt.Sprintf(`listen=YES
listen_ipv6=NO
listen_address=%s
listen_port=%d
background=NO
anonymous_enable=YES
local_enable=NO
anon_root=%s
write_enable=YES
anon_upload_enable=YES
anon_mkdir_write_enable=YES
anon_other_write_enable=YES
anon_umask=022
no_anon_password=YES
pasv_promiscuous=YES
port_promiscuous=YES
seccomp_sandbox=NO
allow_writeable_chroot=YES
secure_chroot_dir=/var/run/vsftpd/empty
run_as_launching_user=YES
connect_from_port_20=NO
xferlog_enable=NO
vsftpd_log_file=%s
`, addr.Addr(), addr.Port(), root, filepath.Join(dir, "vsftpd.log"))
	path := filepath.Join(dir, "vsftpd.conf")
	require.NoError(tb, os.WriteFile(path, []byte(conf), 0o600))
	require.NoError(tb, os.MkdirAll("/var/run/vsftpd/empty", 0o755))
	cmd := exec.Command("vsftpd", path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	require.NoError(tb, cmd.Start(), "start vsftpd")
	tb.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr.String(), time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("vsftpd on %s did not start: %v; its output: %s", addr, err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return vsftpd{addr: addr, root: root}
}

// dialAnon connects to addr as anonymous and closes the client at cleanup.
func dialAnon(tb testing.TB, ctx context.Context, addr netip.AddrPort, opts Options) *Client {
	tb.Helper()
	c, err := Dial(ctx, osNet, addr.String(), opts)
	require.NoError(tb, err)
	tb.Cleanup(func() { c.Close() })
	require.NoError(tb, c.Login(ctx, "anonymous", "test@"))
	return c
}
