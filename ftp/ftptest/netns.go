// Package ftptest is test support shared by ftplab's packages: it runs a
// test or benchmark inside a network namespace of its own (so kernel-side
// servers, TUN devices, addresses and routes never touch the host's
// network), starts vsftpd and ProFTPD there, and lists curl's FTP
// data-connection modes.
//
//	func TestX(t *testing.T) {
//		if !ftptest.Run(t) {
//			return // the parent: the child ran it
//		}
//		// inside the namespace, loopback up
//	}
//
// Where namespaces (or, with NeedTUN, /dev/net/tun, or a program named in
// Need) are unavailable the test is skipped with the reason; under CI
// (CI=true) it fails with it (see Skip).
package ftptest

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
const Env = "FTPLAB_TEST_NETNS"

const tunPath = "/dev/net/tun"

// Inside reports whether this process runs in a namespace a parent test
// made for it.
func Inside() bool { return os.Getenv(Env) == "1" }

// Option changes how Run and Bench set up the namespace.
type Option func(*options)

type options struct {
	tun   bool
	wrap  []string
	tools []string
}

// Need skips the test (see Skip) where one of the named programs is not
// installed.
func Need(tools ...string) Option { return func(o *options) { o.tools = append(o.tools, tools...) } }

// NeedTUN skips the test (see Skip) where /dev/net/tun is missing or cannot
// be opened inside the namespace.
func NeedTUN() Option { return func(o *options) { o.tun = true } }

// Wrap runs the child through a command prefix (such as setpriv) inside the
// namespace. The child then leaves loopback as it is, since the wrapper may
// have dropped the capability to bring it up.
func Wrap(cmd ...string) Option { return func(o *options) { o.wrap = cmd } }

func collect(opts []Option) options {
	var o options
	for _, f := range opts {
		f(&o)
	}
	return o
}

// Run runs the calling test inside a new network namespace. In the parent
// it re-executes the test binary for this one test under unshare and
// returns false, so the caller returns; in the child it brings loopback up
// and returns true.
func Run(t *testing.T, opts ...Option) bool {
	t.Helper()
	o := collect(opts)
	if Inside() {
		o.enter(t)
		return true
	}
	out, err := reexec(t, o, "-test.v", "-test.run", runPattern(t.Name()))
	t.Log("namespace run:\n" + out)
	if err == nil && strings.Contains(out, "--- SKIP: "+t.Name()) {
		Skip(t, "skipped inside the namespace (reason in the log above)")
	}
	require.NoError(t, err, "test inside the network namespace failed")
	require.Contains(t, out, "--- PASS: "+t.Name(), "the test did not run inside the namespace")
	return false
}

// Bench runs the calling benchmark inside a new network namespace with the
// same -test.benchtime and reports the child's custom metrics here; it
// returns false in the parent and true in the child.
func Bench(b *testing.B, opts ...Option) bool {
	b.Helper()
	o := collect(opts)
	if Inside() {
		o.enter(b)
		return true
	}
	out, err := reexec(b, o, "-test.run", "^$", "-test.bench", runPattern(b.Name()), "-test.benchtime", benchtime())
	require.NoError(b, err, "benchmark inside the namespace failed:\n%s", out)
	line := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, b.Name()+"-") || strings.HasPrefix(l, b.Name()+" ") || strings.HasPrefix(l, b.Name()+"\t") {
			line = l
		}
	}
	if line == "" {
		if strings.Contains(out, "--- SKIP") {
			Skip(b, "skipped inside the namespace:\n"+out)
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

var metricRE = regexp.MustCompile(`([0-9.e+-]+) ([A-Za-z/-]+)`)

// enter prepares the child: loopback up and, if asked, a usable TUN device.
func (o options) enter(tb testing.TB) {
	tb.Helper()
	if o.tun {
		f, err := os.OpenFile(tunPath, os.O_RDWR, 0)
		if errors.Is(err, fs.ErrPermission) {
			Skip(tb, "this user may not open "+tunPath+" even inside its namespace: "+err.Error())
		}
		require.NoError(tb, err, "open %s", tunPath)
		require.NoError(tb, f.Close())
	}
	if o.wrap == nil {
		LoUp(tb)
	}
}

// LoUp brings up the namespace's loopback device.
func LoUp(tb testing.TB) {
	tb.Helper()
	lo, err := netlink.LinkByName("lo")
	require.NoError(tb, err)
	require.NoError(tb, netlink.LinkSetUp(lo))
}

// unshare returns the command prefix that makes a new network namespace, or
// why it cannot.
func unshare(o options) ([]string, string) {
	for _, tool := range o.tools {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, tool + " not installed"
		}
	}
	if o.tun {
		if _, err := os.Stat(tunPath); err != nil {
			return nil, "no " + tunPath + " on this machine: " + err.Error()
		}
	}
	path, err := exec.LookPath("unshare")
	if err != nil {
		return nil, "unshare (util-linux) not installed"
	}
	// A PID namespace too (--pid --fork --kill-child): when the test ends,
	// the kernel kills every process it started there, daemons included.
	args := []string{path, "-rn", "--pid", "--fork", "--kill-child"}
	if os.Geteuid() == 0 {
		args = []string{path, "-n", "--pid", "--fork", "--kill-child"}
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

// reexec runs this test binary with args inside a new namespace.
func reexec(tb testing.TB, o options, args ...string) (string, error) {
	tb.Helper()
	cmdArgs, why := unshare(o)
	if why != "" {
		Skip(tb, "needs a network namespace of its own and its tools: "+why)
	}
	cmdArgs = append(append(cmdArgs, o.wrap...), os.Args[0], "-test.count=1", "-test.timeout=5m")
	cmdArgs = append(cmdArgs, args...)
	cmd := exec.Command(cmdArgs[0], cmdArgs[1:]...)
	cmd.Env = append(os.Environ(), Env+"=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return strings.Join(cmdArgs, " ") + "\n" + out.String(), err
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
