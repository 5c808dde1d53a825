package stack_test

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/stack"
)

func TestConfigErrors(t *testing.T) {
	host := func(name string, addrs ...string) stack.HostConfig {
		var ps []netip.Prefix
		for _, a := range addrs {
			ps = append(ps, pfx(a))
		}
		return stack.HostConfig{Name: name, NICs: []stack.NICConfig{{Addrs: ps}}}
	}
	mac, _ := net.ParseMAC("02:00:00:00:00:99")
	for _, tc := range []struct {
		name string
		cfg  stack.Config
		want []string
	}{
		{"duplicate address", stack.Config{Hosts: []stack.HostConfig{host("A", "10.0.0.1/24"), host("B", "10.0.0.1/24")}},
			[]string{`NIC "B:eth0"`, "duplicate address 10.0.0.1", "A:eth0"}},
		{"duplicate MAC", stack.Config{Hosts: []stack.HostConfig{
			{Name: "A", NICs: []stack.NICConfig{{MAC: mac}}}, {Name: "B", NICs: []stack.NICConfig{{MAC: mac}}}}},
			[]string{`NIC "B:eth0"`, "MAC 02:00:00:00:00:99 already used by A:eth0"}},
		{"multicast MAC", stack.Config{Hosts: []stack.HostConfig{
			{Name: "A", NICs: []stack.NICConfig{{MAC: net.HardwareAddr{1, 0, 0x5e, 0, 0, 1}}}}}},
			[]string{`NIC "A:eth0"`, "multicast"}},
		{"duplicate host", stack.Config{Hosts: []stack.HostConfig{host("A"), host("A")}},
			[]string{`host "A": name already used by a host`}},
		{"switch named like host", stack.Config{Hosts: []stack.HostConfig{host("A")}, Switches: []stack.SwitchConfig{{Name: "A"}}},
			[]string{`switch "A": name already used by a host`}},
		{"unknown host in link", stack.Config{Hosts: []stack.HostConfig{host("A")}, Links: []stack.LinkConfig{{A: "A", B: "Z:eth0"}}},
			[]string{"link #1 (A-Z:eth0): end B", `unknown host or switch "Z:eth0"`}},
		{"unknown NIC in link", stack.Config{Hosts: []stack.HostConfig{host("A"), host("B")}, Links: []stack.LinkConfig{{Name: "l", A: "A:eth7", B: "B"}}},
			[]string{`link "l": end A`, `host "A" has no NIC "eth7"`}},
		{"NIC on two links", stack.Config{Hosts: []stack.HostConfig{host("A"), host("B"), host("C")},
			Links: []stack.LinkConfig{{A: "A", B: "B"}, {A: "A", B: "C"}}},
			[]string{"NIC A:eth0 is already on link \"A:eth0-B:eth0\""}},
		{"switch to switch", stack.Config{Switches: []stack.SwitchConfig{{Name: "s1"}, {Name: "s2"}}, Links: []stack.LinkConfig{{A: "s1", B: "s2"}}},
			[]string{"switch-to-switch"}},
		{"MTU too small for IPv6", stack.Config{Hosts: []stack.HostConfig{host("A", "fd00::1/64"), host("B", "fd00::2/64")},
			Links: []stack.LinkConfig{{Name: "ab", A: "A", B: "B", Params: stack.LinkParams{MTU: 1000}}}},
			[]string{`link "ab"`, "mtu 1000 is too small for IPv6 on A:eth0"}},
		{"MTU out of range", stack.Config{Hosts: []stack.HostConfig{host("A"), host("B")},
			Links: []stack.LinkConfig{{Name: "ab", A: "A", B: "B", Params: stack.LinkParams{MTU: 40}}}},
			[]string{`link "ab"`, "mtu 40 out of range"}},
		{"bad loss", stack.Config{Hosts: []stack.HostConfig{host("A"), host("B")},
			Links: []stack.LinkConfig{{Name: "ab", A: "A", B: "B", Params: stack.LinkParams{Loss: 1.5}}}},
			[]string{`link "ab"`, "loss 1.5 outside 0..1"}},
		{"network address", stack.Config{Hosts: []stack.HostConfig{host("A", "10.0.0.0/24")}},
			[]string{`NIC "A:eth0": address 10.0.0.0/24`, "network address"}},
		{"broadcast address", stack.Config{Hosts: []stack.HostConfig{host("A", "10.0.0.255/24")}},
			[]string{"broadcast address of 10.0.0.0/24"}},
		{"gateway outside subnets", stack.Config{Hosts: []stack.HostConfig{{Name: "A",
			NICs:   []stack.NICConfig{{Addrs: []netip.Prefix{pfx("10.0.0.1/24")}}},
			Routes: []stack.RouteConfig{{Dst: pfx("0.0.0.0/0"), Via: addr("192.168.1.1")}}}}},
			[]string{`host "A": route #1`, "gateway 192.168.1.1 is not in the subnet of any NIC"}},
		{"route prefix with host bits", stack.Config{Hosts: []stack.HostConfig{{Name: "A",
			NICs:   []stack.NICConfig{{Addrs: []netip.Prefix{pfx("10.0.0.1/24")}}},
			Routes: []stack.RouteConfig{{Dst: pfx("10.9.0.1/16"), Via: addr("10.0.0.254")}}}}},
			[]string{"host bits set", "10.9.0.0/16"}},
		{"mixed families", stack.Config{Hosts: []stack.HostConfig{{Name: "A",
			NICs:   []stack.NICConfig{{Addrs: []netip.Prefix{pfx("10.0.0.1/24")}}},
			Routes: []stack.RouteConfig{{Dst: pfx("::/0"), Via: addr("10.0.0.254")}}}}},
			[]string{"different IP versions"}},
		{"empty host name", stack.Config{Hosts: []stack.HostConfig{host("")}}, []string{"host #1: empty name"}},
		{"host without NIC", stack.Config{Hosts: []stack.HostConfig{{Name: "A"}}}, []string{`host "A": no NICs`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := stack.New(context.Background(), tc.cfg, stack.Options{})
			require.Error(t, err)
			assert.Nil(t, n)
			for _, w := range tc.want {
				assert.ErrorContains(t, err, w)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	n := newNet(t, stack.Config{
		Hosts: []stack.HostConfig{
			{Name: "A", NICs: []stack.NICConfig{{Addrs: []netip.Prefix{pfx("10.0.0.1/24")}}, {Name: "wan"}}},
			{Name: "B", NICs: []stack.NICConfig{{Addrs: []netip.Prefix{pfx("10.0.0.2/24")}}}},
		},
		Switches: []stack.SwitchConfig{{Name: "sw1"}},
		Links:    []stack.LinkConfig{{A: "A:eth0", B: "sw1"}, {A: "sw1", B: "B"}},
	}, stack.Options{})
	var names []string
	for _, l := range n.Links() {
		names = append(names, l.Name())
		p := l.Params()
		assert.Equal(t, 1500, p.MTU)
	}
	assert.Equal(t, []string{"A:eth0-sw1", "sw1-B:eth0"}, names)
	assert.Nil(t, n.Link("nope"))
	assert.Nil(t, n.Host("nope"))
	require.Len(t, n.Hosts(), 2)
	assert.Equal(t, "A", n.Hosts()[0].Name())
	assert.Equal(t, []netip.Prefix{pfx("10.0.0.1/24")}, n.Host("A").Addrs())

	l := n.Link("A:eth0-sw1")
	assert.ErrorContains(t, l.Set(stack.LinkParams{Loss: -1}), `link "A:eth0-sw1": loss -1 outside 0..1`)
}

func TestDialErrors(t *testing.T) {
	n := newNet(t, lanConfig(stack.LinkParams{}, "A", "B"), stack.Options{})
	ctx := testCtx(t, 5*1e9)
	a := n.Host("A")
	for _, tc := range []struct{ network, address, want string }{
		{"tcp", "nohost:21", `"nohost" is neither an IP address nor a host of this network`},
		{"tcp", "10.0.0.2", "missing port"},
		{"tcp4", "[fd00::2]:21", "not an IPv4 address"},
		{"sctp", "10.0.0.2:21", `unsupported network "sctp"`},
		{"tcp", "10.0.0.2:21", "connection refused"},
	} {
		_, err := a.Dial(ctx, tc.network, tc.address)
		assert.ErrorContains(t, err, tc.want, "%s %s", tc.network, tc.address)
	}
}
