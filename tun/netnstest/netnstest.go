// Package netnstest runs a test or benchmark inside a network namespace of
// its own, so the TUN devices, addresses, routes and kernel-side servers it
// creates never touch the host's network: the parent re-executes the test
// binary for that one test under `unshare -n` (root) or `unshare -rn`
// (anyone, via a user namespace) and reports the child's result.
//
//	func TestX(t *testing.T) {
//		if !netnstest.Run(t) {
//			return // the parent: the child ran it
//		}
//		// inside the namespace
//	}
//
// Where namespaces or /dev/net/tun are unavailable the test is skipped with
// the reason.
package netnstest

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
)

// Env marks a test binary re-executed inside its namespace.
const Env = "FTPLAB_TUN_TEST_NETNS"

const tunPath = "/dev/net/tun"

// Inside reports whether this process runs in a namespace a parent test
// made for it.
func Inside() bool { return os.Getenv(Env) == "1" }

// unshare returns the command prefix that makes a new network namespace, or
// why it cannot.
func unshare() ([]string, string) {
	if _, err := os.Stat(tunPath); err != nil {
		return nil, "no " + tunPath + " on this machine: " + err.Error()
	}
	path, err := exec.LookPath("unshare")
	if err != nil {
		return nil, "unshare (util-linux) not installed"
	}
	args := []string{path, "-rn"}
	if os.Geteuid() == 0 {
		args = []string{path, "-n"}
	}
	if out, err := exec.Command(args[0], append(args[1:], "true")...).CombinedOutput(); err != nil {
		return nil, "cannot create a network namespace (" + strings.Join(args, " ") + "): " + strings.TrimSpace(string(out)) + " " + err.Error()
	}
	return args, ""
}

// runPattern is the -test.run/-test.bench pattern matching exactly name.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// Run runs the calling test inside a new network namespace. In the parent
// it re-executes the test binary for this one test under unshare (wrap, a
// command prefix such as setpriv, runs inside the namespace before it) and
// returns false, so the caller returns; in the child it returns true.
func Run(t *testing.T, wrap ...string) bool {
	t.Helper()
	if Inside() {
		f, err := os.OpenFile(tunPath, os.O_RDWR, 0)
		if errors.Is(err, fs.ErrPermission) {
			t.Skip("this user may not open " + tunPath + " even inside its namespace: " + err.Error())
		}
		require.NoError(t, err, "open %s", tunPath)
		require.NoError(t, f.Close())
		return true
	}
	out, err := reexec(t, wrap, "-test.v", "-test.run", runPattern(t.Name()))
	t.Log("namespace run:\n" + out)
	if err == nil && strings.Contains(out, "--- SKIP: "+t.Name()) {
		t.Skip("skipped inside the namespace (reason in the log above)")
	}
	require.NoError(t, err, "test inside the network namespace failed")
	require.Contains(t, out, "--- PASS: "+t.Name(), "the test did not run inside the namespace")
	return false
}

// reexec runs this test binary with args inside a new namespace.
func reexec(tb testing.TB, wrap []string, args ...string) (string, error) {
	tb.Helper()
	cmdArgs, why := unshare()
	if why != "" {
		tb.Skip("needs a network namespace with a TUN device: " + why)
	}
	cmdArgs = append(append(cmdArgs, wrap...), os.Args[0], "-test.count=1")
	cmdArgs = append(cmdArgs, args...)
	cmd := exec.Command(cmdArgs[0], cmdArgs[1:]...)
	cmd.Env = append(os.Environ(), Env+"=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return strings.Join(cmdArgs, " ") + "\n" + out.String(), err
}

var metricRE = regexp.MustCompile(`([0-9.e+-]+) ([A-Za-z/-]+)`)

// Bench runs the calling benchmark inside a new network namespace and
// reports the child's custom metrics here; it returns false in the parent
// and true in the child.
func Bench(b *testing.B) bool {
	b.Helper()
	if Inside() {
		return true
	}
	out, err := reexec(b, nil, "-test.run", "^$", "-test.bench", runPattern(b.Name()), "-test.benchtime", benchtime())
	require.NoError(b, err, "benchmark inside the namespace failed:\n%s", out)
	line := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, b.Name()+"-") || strings.HasPrefix(l, b.Name()+" ") || strings.HasPrefix(l, b.Name()+"\t") {
			line = l
		}
	}
	if line == "" {
		if strings.Contains(out, "--- SKIP") {
			b.Skipf("skipped inside the namespace:\n%s", out)
		}
		b.Fatalf("no result from the namespace run:\n%s", out)
	}
	for _, m := range metricRE.FindAllStringSubmatch(line, -1) {
		if m[2] == "ns/op" || m[2] == "MB/s" || m[2] == "B/op" || m[2] == "allocs/op" {
			continue
		}
		v, err := strconv.ParseFloat(m[1], 64)
		require.NoError(b, err)
		b.ReportMetric(v, m[2])
	}
	return false
}

// benchtime is this run's -test.benchtime (default 1x).
func benchtime() string {
	for i, a := range os.Args {
		if v, ok := strings.CutPrefix(a, "-test.benchtime="); ok {
			return v
		}
		if a == "-test.benchtime" && i+1 < len(os.Args) {
			return os.Args[i+1]
		}
	}
	return "1x"
}

// LoUp brings up the namespace's loopback device.
func LoUp(tb testing.TB) {
	tb.Helper()
	lo, err := netlink.LinkByName("lo")
	require.NoError(tb, err)
	require.NoError(tb, netlink.LinkSetUp(lo))
}
