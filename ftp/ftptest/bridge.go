package ftptest

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Netns is a network namespace made for a test inside its own (see Run,
// Bench), named (ip netns) and removed at the test's cleanup.
type Netns struct {
	// Name is the namespace's name (ip netns exec NAME ...).
	Name string
	// Addr is the namespace's address on the bridge (Bridged only).
	Addr netip.Prefix
}

// Command returns a command that runs inside the namespace.
func (ns Netns) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Exec runs a program inside the namespace and returns its output; a
// failure fails the test with the output.
func (ns Netns) Exec(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	return run(tb, ns.Command(name, args...))
}

// IP runs ip (iproute2) on the namespace's network (ip -n NAME args...).
func (ns Netns) IP(tb testing.TB, args ...string) {
	tb.Helper()
	IP(tb, append([]string{"-n", ns.Name}, args...)...)
}

// Sysctl sets a network sysctl of the namespace, such as
// "net.ipv4.ip_forward" (writing its /proc/sys file from a thread inside:
// the files under /proc/sys/net are the opening thread's namespace's).
func (ns Netns) Sysctl(tb testing.TB, name, value string) {
	tb.Helper()
	if !strings.HasPrefix(name, "net.") {
		tb.Fatalf("sysctl %s: only net.* belong to a network namespace", name)
	}
	n, err := OpenNetwork(ns.Name)
	require.NoError(tb, err)
	defer n.Close()
	path := "/proc/sys/" + strings.ReplaceAll(name, ".", "/")
	require.NoError(tb, n.Do(func() error { return os.WriteFile(path, []byte(value), 0) }), "sysctl %s=%s in %s", name, value, ns.Name)
}

// IP runs ip (iproute2) with args in the test's namespace; a failure fails
// the test with its output.
func IP(tb testing.TB, args ...string) {
	tb.Helper()
	run(tb, exec.Command("ip", args...))
}

func run(tb testing.TB, cmd *exec.Cmd) string {
	tb.Helper()
	out, err := cmd.CombinedOutput()
	require.NoError(tb, err, "%s: %s", strings.Join(cmd.Args, " "), out)
	return string(out)
}

// AddNetns makes a new named network namespace, its loopback up, and
// removes it at the test's cleanup. The name is this process's id and
// suffix, so tests running at once do not meet. It must run inside a
// namespace of Run or Bench (whose tools it needs: ip); naming namespaces
// needs root (it skips otherwise).
func AddNetns(tb testing.TB, suffix string) Netns {
	tb.Helper()
	if !Inside() {
		tb.Fatal("AddNetns outside a test network namespace")
	}
	Tool(tb, "ip", "network namespaces are made with iproute2")
	if os.Geteuid() != 0 {
		tb.Skip("naming network namespaces (ip netns add) needs root")
	}
	ns := Netns{Name: fmt.Sprintf("ftplab-test-%d-%s", os.Getpid(), suffix)}
	IP(tb, "netns", "add", ns.Name)
	tb.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns.Name).Run() })
	ns.IP(tb, "link", "set", "lo", "up")
	return ns
}

// Veth joins two namespaces by a veth pair: interface aName in a, bName
// in b, both up.
func Veth(tb testing.TB, a Netns, aName string, b Netns, bName string) {
	tb.Helper()
	IP(tb, "link", "add", aName, "netns", a.Name, "type", "veth", "peer", "name", bName, "netns", b.Name)
	a.IP(tb, "link", "set", "dev", aName, "up")
	b.IP(tb, "link", "set", "dev", bName, "up")
}

// BridgeAddr is the address of the test's own namespace on the bridge
// Bridged makes.
var BridgeAddr = netip.MustParsePrefix("10.77.0.1/24")

// Bridged makes n network namespaces, each joined by a veth pair to a
// bridge in the test's namespace (which has BridgeAddr on it), as hosts on
// one switch: namespace i has 10.77.0.(i+2)/24. It must run inside a
// namespace of Run or Bench, whose network holds every address and device
// it makes; naming namespaces needs root (it skips otherwise).
func Bridged(tb testing.TB, n int) []Netns {
	tb.Helper()
	if !Inside() {
		tb.Fatal("Bridged outside a test network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		tb.Skip("ip (iproute2) not installed")
	}
	if os.Geteuid() != 0 {
		tb.Skip("naming network namespaces (ip netns add) needs root")
	}
	IP(tb, "link", "add", "br0", "type", "bridge")
	IP(tb, "addr", "add", BridgeAddr.String(), "dev", "br0")
	IP(tb, "link", "set", "br0", "up")
	var out []Netns
	for i := range n {
		ns := AddNetns(tb, fmt.Sprint(i))
		ns.Addr = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 77, 0, byte(i + 2)}), 24)
		host, peer := fmt.Sprintf("veth%d", i), fmt.Sprintf("vpeer%d", i)
		IP(tb, "link", "add", host, "type", "veth", "peer", "name", peer)
		IP(tb, "link", "set", peer, "netns", ns.Name)
		IP(tb, "link", "set", host, "master", "br0")
		IP(tb, "link", "set", host, "up")
		ns.IP(tb, "addr", "add", ns.Addr.String(), "dev", peer)
		ns.IP(tb, "link", "set", peer, "up")
		out = append(out, ns)
	}
	return out
}
