package labs

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/stack"
)

// TestNetworkErrors walks every error stack's Config.Validate can raise
// from a lab file through Load: each must come back as FILE:LINE:COL at the
// item the user wrote, and stack.New (what run does) must refuse the same
// network with the same words, so validate and run never disagree. Each
// case names the text its error must point at (its first occurrence).
func TestNetworkErrors(t *testing.T) {
	two := func(hosts, links string) string {
		return "hosts:\n" + hosts + "switches:\n  - name: lan\nlinks:\n" + links
	}
	plain := "  - name: A\n    addresses: [10.0.0.1/24]\n  - name: B\n    addresses: [10.0.0.2/24]\n"
	plainLinks := "  - ends: [A, lan]\n  - ends: [B, lan]\n"
	router := "  - name: R\n    router: true\n    nics:\n      - {name: eth0, addresses: [10.0.0.1/24]}\n      - {name: eth1, addresses: [10.1.0.1/24]}\n"
	routerLinks := "  - ends: [R:eth0, lan]\n  - ends: [R:eth1, B]\n"
	hostB := "  - name: B\n    addresses: [10.1.0.2/24]\n"
	tests := []struct {
		name, yaml, at, msg string
	}{
		{"host name with colon", two("  - name: \"A:1\"\n    addresses: [10.0.0.1/24]\n", "  - ends: [\"A:1\", lan]\n"), `"A:1"`, `must not contain ':'`},
		{"host name used twice", two(plain+"  - name: A\n    addresses: [10.0.0.3/24]\n", plainLinks), "A\n    addresses: [10.0.0.3", `name already used by a host`},
		{"switch named like a host", "hosts:\n" + plain + "switches:\n  - name: A\nlinks:\n  - ends: [B, A]\n", "A\nlinks", `switch "A": name already used by a host`},
		{"NIC name with colon", two(strings.Replace(router, "{name: eth1,", "{name: \"e:1\",", 1)+hostB, "  - ends: [R:eth0, lan]\n"), `"e:1"`, `name must not contain ':'`},
		{"NIC name twice", two(strings.Replace(router, "{name: eth1,", "{name: eth0,", 1)+hostB, "  - ends: [R:eth0, lan]\n"), "eth0, addresses: [10.1", `duplicate NIC name`},
		{"multicast MAC", two(strings.Replace(plain, "  - name: B\n", "  - name: B\n    nics: [{mac: \"01:00:5e:00:00:01\", addresses: [10.0.0.2/24]}]\n", 1)[:len(plain)-len("    addresses: [10.0.0.2/24]\n")+len("    nics: [{mac: \"01:00:5e:00:00:01\", addresses: [10.0.0.2/24]}]\n")], plainLinks), `"01:00:5e`, `multicast MAC`},
		{"MAC twice", two("  - name: A\n    nics: [{mac: \"02:00:00:00:00:09\", addresses: [10.0.0.1/24]}]\n  - name: B\n    nics: [{mac: \"02:00:00:00:00:09\", addresses: [10.0.0.2/24]}]\n", plainLinks), "\"02:00:00:00:00:09\", addresses: [10.0.0.2", `already used by A:eth0`},
		{"network address", two(strings.Replace(plain, "10.0.0.1/24", "10.0.0.0/24", 1), plainLinks), "10.0.0.0/24", `is the network address of 10.0.0.0/24`},
		{"broadcast address on a NIC", two(strings.Replace(router, "10.1.0.1/24", "10.1.0.255/24", 1)+hostB, routerLinks), "10.1.0.255/24", `broadcast address`},
		{"loopback address", two(strings.Replace(plain, "10.0.0.1/24", "127.0.0.1/8", 1), plainLinks), "127.0.0.1/8", `not a unicast host address`},
		{"address twice", two(strings.Replace(plain, "10.0.0.2/24", "10.0.0.1/24", 1), plainLinks), "10.0.0.1/24]\nswitches", `NIC "B:eth0": duplicate address 10.0.0.1 (also on A:eth0)`},
		{"route with host bits", two(plain[:len(plain)/2]+"    routes: [{to: 10.9.0.1/16, via: 10.0.0.254}]\n"+plain[len(plain)/2:], plainLinks), "10.9.0.1/16", `has host bits set (did you mean 10.9.0.0/16?)`},
		{"route of two families", two(plain[:len(plain)/2]+"    routes: [{to: 10.9.0.0/16, via: \"fd00::1\"}]\n"+plain[len(plain)/2:], plainLinks), `"fd00::1"`, `different IP versions`},
		{"IPv6 route without IPv6", two(plain[:len(plain)/2]+"    routes: [{to: \"fd09::/64\", nic: eth0}]\n"+plain[len(plain)/2:], plainLinks), `"fd09::/64"`, `IPv6 route on a host without IPv6`},
		{"route via unknown NIC", two(router+"    routes: [{to: 10.9.0.0/16, nic: eth7}]\n"+hostB, routerLinks), "eth7", `unknown NIC "eth7"`},
		{"on-link route on two NICs", two(router+"    routes: [{to: 10.9.0.0/16}]\n"+hostB, routerLinks), "to: 10.9.0.0/16}", `needs a NIC`},
		{"gateway off-link", two(plain[:len(plain)/2]+"    gateway: 10.5.5.5\n"+plain[len(plain)/2:], plainLinks), "10.5.5.5", `gateway 10.5.5.5 is not in the subnet of any NIC`},
		{"unknown end A", two(plain, "  - ends: [Q, lan]\n  - ends: [B, lan]\n"), "Q, lan", `end A: unknown host or switch "Q"`},
		{"unknown NIC at end B", two(router+hostB, "  - ends: [R:eth0, lan]\n  - ends: [B, R:eth9]\n"), "R:eth9", `host "R" has no NIC "eth9"`},
		{"multi-NIC host without NIC", two(router+hostB, "  - ends: [R, lan]\n"), "R, lan", `host "R" has 2 NICs`},
		{"switch to switch", "hosts:\n" + plain + "switches:\n  - name: lan\n  - name: wan\nlinks:\n" + plainLinks + "  - ends: [lan, wan]\n", "ends: [lan, wan]", `switch-to-switch links are not supported`},
		{"both ends the same", two(plain, "  - ends: [A, A]\n  - ends: [B, lan]\n"), "A]\n  - ends: [B", `both ends are A`},
		{"NIC on two links", two(plain, plainLinks+"  - {name: again, ends: [A, lan]}\n"), "A, lan]}", `NIC A:eth0 is already on link "A-lan"`},
		{"mtu too large", two(plain, "  - ends: [A, lan]\n    mtu: 65530\n  - ends: [B, lan]\n"), "65530", `mtu 65530 out of range 68..65521`},
		{"mtu too small", two(plain, "  - ends: [A, lan]\n    mtu: 40\n  - ends: [B, lan]\n"), "40", `mtu 40 out of range`},
		{"mtu too small for IPv6", two("  - name: A\n    addresses: [10.0.0.1/24, \"fd00::1/64\"]\n  - name: B\n    addresses: [10.0.0.2/24]\n", "  - ends: [A, lan]\n    mtu: 600\n  - ends: [B, lan]\n"), "600", `mtu 600 is too small for IPv6 on A:eth0 (minimum 1280)`},
		{"jitter without delay", two(plain, "  - ends: [A, lan]\n    jitter: 5ms\n  - ends: [B, lan]\n"), "5ms", `jitter 5ms without delay`},
		{"link name twice", two(plain, "  - {name: x, ends: [A, lan]}\n  - {name: x, ends: [B, lan]}\n"), "x, ends: [B", `duplicate link name`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := "name: t\n" + tc.yaml
			_, err := Load("bad.yaml", []byte(src))
			require.Error(t, err, "validate accepts:\n%s", src)
			i := strings.Index(src, tc.at)
			require.GreaterOrEqual(t, i, 0, "test case: %q not in the lab", tc.at)
			line := strings.Count(src[:i], "\n") + 1
			col := i - strings.LastIndex(src[:i], "\n")
			assert.Contains(t, err.Error(), fmt.Sprintf("bad.yaml:%d:%d: ", line, col), "position")
			assert.Contains(t, err.Error(), tc.msg)

			// run builds the network from the same lab: it must refuse it.
			lab := &Lab{}
			require.NoError(t, yaml.Unmarshal([]byte(src), lab))
			n, nerr := stack.New(context.Background(), lab.StackConfig(), stack.Options{})
			if nerr == nil {
				n.Close()
			}
			require.Error(t, nerr, "stack.New accepts what validate refused")
			for _, e := range stack.ConfigErrors(nerr) {
				assert.Contains(t, err.Error(), e.Error(), "validate and run say the same")
			}
		})
	}
}

// TestLinkStepChecked: a link step whose change stack would refuse at run
// time is refused by validate, with the parameters earlier link steps left.
func TestLinkStepChecked(t *testing.T) {
	_, err := Load("bad.yaml", []byte(base+"steps:\n  - link: {name: A-lan, delay: 5ms, jitter: 1ms}\n  - link: {name: A-lan, delay: 0s}\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "bad.yaml:19:12: ")
	assert.Contains(t, err.Error(), `link "A-lan": jitter 1ms without delay`)
}

// TestRegistry: every action key decodes to its own type, and the steps'
// error message lists them all.
func TestRegistry(t *testing.T) {
	keys := ActionKeys()
	assert.Equal(t, []string{"cmd", "expect", "fxp", "get", "link", "listen", "put", "relay", "steal", "wait"}, keys)
	_, err := Load("bad.yaml", []byte(base+"steps:\n  - name: x\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "give one action: "+strings.Join(keys, ", "))
}
