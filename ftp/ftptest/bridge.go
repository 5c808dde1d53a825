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
	// Addr is the namespace's address on the bridge.
	Addr netip.Prefix
}

// Command returns a command that runs inside the namespace.
func (ns Netns) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
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
	run := func(cmd *exec.Cmd) {
		tb.Helper()
		out, err := cmd.CombinedOutput()
		require.NoError(tb, err, "%s: %s", strings.Join(cmd.Args, " "), out)
	}
	ip := func(args ...string) { run(exec.Command("ip", args...)) }
	ip("link", "add", "br0", "type", "bridge")
	ip("addr", "add", BridgeAddr.String(), "dev", "br0")
	ip("link", "set", "br0", "up")
	var out []Netns
	for i := range n {
		ns := Netns{
			Name: fmt.Sprintf("ftplab-test-%d-%d", os.Getpid(), i),
			Addr: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 77, 0, byte(i + 2)}), 24),
		}
		ip("netns", "add", ns.Name)
		tb.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns.Name).Run() })
		host, peer := fmt.Sprintf("veth%d", i), fmt.Sprintf("vpeer%d", i)
		ip("link", "add", host, "type", "veth", "peer", "name", peer)
		ip("link", "set", peer, "netns", ns.Name)
		ip("link", "set", host, "master", "br0")
		ip("link", "set", host, "up")
		run(ns.Command("ip", "link", "set", "lo", "up"))
		run(ns.Command("ip", "addr", "add", ns.Addr.String(), "dev", peer))
		run(ns.Command("ip", "link", "set", peer, "up"))
		out = append(out, ns)
	}
	return out
}
