package stack_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/stack"
)

// routedConfig: A (10.1.0.2, fd01::2) - R - C (10.2.0.2, fd02::2); R forwards.
func routedConfig(router bool) stack.Config {
	return stack.Config{
		Hosts: []stack.HostConfig{
			{Name: "A", NICs: []stack.NICConfig{{Addrs: []netip.Prefix{pfx("10.1.0.2/24"), pfx("fd01::2/64")}}},
				Routes: []stack.RouteConfig{{Dst: pfx("0.0.0.0/0"), Via: addr("10.1.0.1")}, {Dst: pfx("::/0"), Via: addr("fd01::1")}}},
			{Name: "R", Router: router, NICs: []stack.NICConfig{
				{Addrs: []netip.Prefix{pfx("10.1.0.1/24"), pfx("fd01::1/64")}},
				{Addrs: []netip.Prefix{pfx("10.2.0.1/24"), pfx("fd02::1/64")}},
			}},
			{Name: "C", NICs: []stack.NICConfig{{Addrs: []netip.Prefix{pfx("10.2.0.2/24"), pfx("fd02::2/64")}}},
				Routes: []stack.RouteConfig{{Dst: pfx("10.1.0.0/16"), Via: addr("10.2.0.1")}, {Dst: pfx("::/0"), Via: addr("fd02::1")}}},
		},
		Switches: []stack.SwitchConfig{{Name: "lan1"}, {Name: "lan2"}},
		Links: []stack.LinkConfig{
			{A: "A", B: "lan1"}, {A: "R:eth0", B: "lan1"},
			{A: "R:eth1", B: "lan2"}, {A: "lan2", B: "C"},
		},
	}
}

func TestRouterTwoSubnets(t *testing.T) {
	n := newNet(t, routedConfig(true), stack.Options{})
	ctx := testCtx(t, 30*time.Second)
	a, c := n.Host("A"), n.Host("C")
	for _, dst := range []string{"10.2.0.2", "fd02::2"} {
		_, err := a.Ping(ctx, addr(dst))
		require.NoError(t, err, "ping %s through router", dst)
	}
	for _, dst := range []string{"10.2.0.2", "fd02::2"} {
		data := payload(200 << 10)
		got, _ := transfer(t, ctx, a, c, addr(dst), data)
		assert.Equal(t, sum(data), sum(got), "TCP through router to %s", dst)
	}
	// The server sees the client's own address: routing, not NAT.
	ln, err := c.Listen(ctx, "tcp4", ":9")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Addr, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- conn.RemoteAddr()
		conn.Close()
	}()
	conn, err := a.Dial(ctx, "tcp", "10.2.0.2:9")
	require.NoError(t, err)
	defer conn.Close()
	assert.Equal(t, "10.1.0.2", (<-accepted).(*net.TCPAddr).IP.String())
}

func TestRouterOffDoesNotForward(t *testing.T) {
	n := newNet(t, routedConfig(false), stack.Options{})
	ctx := testCtx(t, 5*time.Second)
	_, err := n.Host("A").Ping(testCtx(t, time.Second), addr("10.2.0.2"))
	require.Error(t, err, "a host that is not a router must not forward")
	require.NoError(t, n.Host("R").SetForwarding(true))
	_, err = n.Host("A").Ping(ctx, addr("10.2.0.2"))
	require.NoError(t, err, "after SetForwarding(true)")
}

func TestIPv6Only(t *testing.T) {
	cfg := stack.Config{
		Hosts: []stack.HostConfig{
			{Name: "A", NICs: []stack.NICConfig{{Addrs: []netip.Prefix{pfx("2001:db8::a/64")}}}},
			{Name: "B", NICs: []stack.NICConfig{{Addrs: []netip.Prefix{pfx("2001:db8::b/64")}}}},
		},
		Links: []stack.LinkConfig{{A: "A", B: "B"}},
	}
	n := newNet(t, cfg, stack.Options{})
	ctx := testCtx(t, 20*time.Second)
	a, b := n.Host("A"), n.Host("B")
	_, err := a.Ping(ctx, addr("2001:db8::b"))
	require.NoError(t, err, "NDP + ICMPv6 echo")
	data := payload(100 << 10)
	got, _ := transfer(t, ctx, a, b, addr("2001:db8::b"), data)
	assert.Equal(t, sum(data), sum(got))

	// Listen on "tcp" any-address on an IPv6-only host listens on IPv6.
	ln, err := b.Listen(ctx, "tcp", ":21")
	require.NoError(t, err)
	defer ln.Close()
	assert.Equal(t, "[::]:21", ln.Addr().String())
}

func TestSourceAddressSelection(t *testing.T) {
	// A has two IPv4 subnets on one NIC; B and C each sit in one of them.
	cfg := stack.Config{
		Hosts: []stack.HostConfig{
			{Name: "A", NICs: []stack.NICConfig{{Addrs: []netip.Prefix{pfx("10.0.0.1/24"), pfx("192.168.5.1/24")}}}},
			{Name: "B", NICs: []stack.NICConfig{{Addrs: []netip.Prefix{pfx("10.0.0.2/24")}}}},
			{Name: "C", NICs: []stack.NICConfig{{Addrs: []netip.Prefix{pfx("192.168.5.2/24")}}}},
		},
		Switches: []stack.SwitchConfig{{Name: "sw"}},
		Links:    []stack.LinkConfig{{A: "A", B: "sw"}, {A: "B", B: "sw"}, {A: "C", B: "sw"}},
	}
	n := newNet(t, cfg, stack.Options{})
	ctx := testCtx(t, 10*time.Second)
	for _, tc := range []struct{ dst, wantSrc string }{
		{"10.0.0.2", "10.0.0.1"},
		{"192.168.5.2", "192.168.5.1"},
	} {
		dstHost := map[string]string{"10.0.0.2": "B", "192.168.5.2": "C"}[tc.dst]
		ln, err := n.Host(dstHost).Listen(ctx, "tcp", tc.dst+":80")
		require.NoError(t, err)
		c, err := n.Host("A").Dial(ctx, "tcp", tc.dst+":80")
		require.NoError(t, err, tc.dst)
		assert.Equal(t, tc.wantSrc, c.LocalAddr().(*net.TCPAddr).IP.String(), "source for %s", tc.dst)
		c.Close()
		ln.Close()
	}
}
