package tun

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"go.uber.org/goleak"
)

// netnsEnv marks a test binary re-executed inside a fresh network namespace.
const netnsEnv = "FTPLAB_TUN_TEST_NETNS"

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// insideNetns reports whether this process runs in the namespace a parent
// test made for it.
func insideNetns() bool { return os.Getenv(netnsEnv) == "1" }

// unshareArgs returns the unshare invocation that makes a new network
// namespace (plus a user namespace when not root), or a reason it cannot.
func unshareArgs() ([]string, string) {
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

// inNetns runs the calling test inside a new network namespace: in the
// parent it re-executes the test binary for this one test under unshare
// (with wrap, a command prefix run inside the namespace, if any) and
// returns false, so the caller returns; in the child it returns true. Every device, address and route the test makes lives in
// that namespace only and vanishes with it.
func inNetns(t testing.TB, extraArgs []string, wrap ...string) bool {
	t.Helper()
	if insideNetns() {
		f, err := os.OpenFile(tunPath, os.O_RDWR, 0)
		if errors.Is(err, fs.ErrPermission) {
			t.Skip("this user may not open " + tunPath + " even inside its namespace: " + err.Error())
		}
		require.NoError(t, err, "open %s", tunPath)
		require.NoError(t, f.Close())
		return true
	}
	args, why := unshareArgs()
	if why != "" {
		t.Skip("needs a network namespace with a TUN device: " + why)
	}
	args = append(args, wrap...)
	args = append(args, os.Args[0], "-test.v", "-test.count=1")
	args = append(args, extraArgs...)
	if _, ok := t.(*testing.T); ok {
		args = append(args, "-test.run", "^"+strings.ReplaceAll(t.Name(), "/", "$/^")+"$")
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Log("namespace run: " + strings.Join(args, " ") + "\n" + out.String())
	if err == nil && strings.Contains(out.String(), "--- SKIP: "+t.Name()) {
		t.Skip("skipped inside the namespace (reason in the log above)")
	}
	require.NoError(t, err, "test inside the network namespace failed")
	if _, ok := t.(*testing.T); ok {
		require.Contains(t, out.String(), "--- PASS: "+t.Name(), "the test did not run inside the namespace")
	}
	return false
}

// loUp brings up the namespace's loopback device.
func loUp(t testing.TB) {
	t.Helper()
	lo, err := netlink.LinkByName("lo")
	require.NoError(t, err)
	require.NoError(t, netlink.LinkSetUp(lo))
}
