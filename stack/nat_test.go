package stack_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/ftp/proto"
	"github.com/ftplab/ftplab/stack"
)

// natConfig: A (10.1.0.2) inside - R (10.1.0.1 | 192.0.2.1) - C (192.0.2.2)
// outside. C has no route to the inside unless routeInside.
func natConfig(roles func(*stack.HostConfig), routeInside bool) stack.Config {
	r := stack.HostConfig{Name: "R", Router: true, NICs: []stack.NICConfig{
		{Addrs: []netip.Prefix{pfx("10.1.0.1/24")}},
		{Addrs: []netip.Prefix{pfx("192.0.2.1/24")}},
	}}
	roles(&r)
	c := stack.HostConfig{Name: "C", NICs: []stack.NICConfig{{Addrs: []netip.Prefix{pfx("192.0.2.2/24")}}}}
	if routeInside {
		c.Routes = []stack.RouteConfig{{Dst: pfx("10.1.0.0/24"), Via: addr("192.0.2.1")}}
	}
	return stack.Config{
		Hosts: []stack.HostConfig{
			{Name: "A", NICs: []stack.NICConfig{{Addrs: []netip.Prefix{pfx("10.1.0.2/24")}}},
				Routes: []stack.RouteConfig{{Dst: pfx("0.0.0.0/0"), Via: addr("10.1.0.1")}}},
			r, c,
		},
		Links: []stack.LinkConfig{{A: "A", B: "R:eth0"}, {A: "R:eth1", B: "C"}},
	}
}

// peerOf accepts one connection on ln and returns its remote address.
func peerOf(t *testing.T, ln net.Listener) <-chan string {
	ch := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- "accept: " + err.Error()
			return
		}
		ch <- c.RemoteAddr().(*net.TCPAddr).IP.String()
		c.Close()
	}()
	return ch
}

func TestNATMasqueradeAndPortForward(t *testing.T) {
	n := newNet(t, natConfig(func(r *stack.HostConfig) {
		r.NAT = &stack.NATConfig{Outside: "eth1", Forwards: []stack.PortForward{{Ports: stack.PortRange{First: 2222}, To: addr("10.1.0.2"), ToPort: 9}}}
	}, false), stack.Options{})
	ctx := testCtx(t, 20*time.Second)
	a, c := n.Host("A"), n.Host("C")

	ln, err := c.Listen(ctx, "tcp4", ":9")
	require.NoError(t, err)
	defer ln.Close()
	peer := peerOf(t, ln)
	conn, err := a.Dial(ctx, "tcp", "192.0.2.2:9")
	require.NoError(t, err, "A reaches the outside through the NAT")
	conn.Close()
	assert.Equal(t, "192.0.2.1", <-peer, "C sees the NAT's outside address")

	ln2, err := a.Listen(ctx, "tcp4", ":9")
	require.NoError(t, err)
	defer ln2.Close()
	peer = peerOf(t, ln2)
	conn, err = c.Dial(ctx, "tcp", "192.0.2.1:2222")
	require.NoError(t, err, "the port forward reaches A")
	conn.Close()
	assert.Equal(t, "192.0.2.2", <-peer, "A sees C's own address")

	data := payload(300 << 10)
	got, _ := transfer(t, ctx, a, c, addr("192.0.2.2"), data)
	assert.Equal(t, sum(data), sum(got), "bulk data through the NAT")
}

func TestFirewallStateful(t *testing.T) {
	n := newNet(t, natConfig(func(r *stack.HostConfig) {
		r.Firewall = &stack.FirewallConfig{Allow: []stack.FirewallRule{
			{In: "eth0"},
			{In: "eth1", Proto: "tcp", Dst: pfx("10.1.0.2/32"), Ports: stack.PortRange{First: 21}},
		}}
	}, true), stack.Options{})
	ctx := testCtx(t, 20*time.Second)
	a, c, r := n.Host("A"), n.Host("C"), n.Host("R")

	data := payload(200 << 10)
	got, _ := transfer(t, ctx, a, c, addr("192.0.2.2"), data)
	assert.Equal(t, sum(data), sum(got), "outbound is allowed, and its replies pass")
	assert.Zero(t, r.RouterStats().FirewallDropped)

	for _, port := range []string{"21", "22"} {
		ln, err := a.Listen(ctx, "tcp4", ":"+port)
		require.NoError(t, err)
		defer ln.Close()
	}
	conn, err := c.Dial(ctx, "tcp", "10.1.0.2:21")
	require.NoError(t, err, "the explicit allow rule")
	conn.Close()
	dctx := testCtx(t, 1500*time.Millisecond)
	_, err = c.Dial(dctx, "tcp", "10.1.0.2:22")
	require.Error(t, err, "a new inbound connection no rule allows is dropped")
	assert.NotZero(t, r.RouterStats().FirewallDropped, "and counted")
}

// fakeFTP serves one control connection on ln the way an FTP server does
// for active mode: banner, then for each PORT line it connects to the
// address it names (sending "hello"), and it answers every line.
func fakeFTP(t *testing.T, h *stack.Host, ln net.Listener, seen chan<- string) {
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		fmt.Fprint(c, "220 fake\r\n")
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			seen <- line
			arg, ok := strings.CutPrefix(line, "PORT ")
			if !ok {
				fmt.Fprintf(c, "200 %s\r\n", line)
				continue
			}
			ap, err := proto.ParsePORT(arg)
			if err != nil {
				fmt.Fprint(c, "501 bad\r\n")
				continue
			}
			ctx := testCtx(t, 2*time.Second)
			d, err := h.Dial(ctx, "tcp", ap.String())
			if err != nil {
				fmt.Fprint(c, "425 no data connection\r\n")
				continue
			}
			fmt.Fprint(d, "hello")
			d.Close()
			fmt.Fprint(c, "226 sent\r\n")
		}
	}()
}

// activeThroughNAT runs A's side of an active-mode exchange with C through
// R and returns the replies A got and the lines C saw.
func activeThroughNAT(t *testing.T, helper *stack.FTPHelperConfig) (replies, seen []string, st stack.RouterStats) {
	n := newNet(t, natConfig(func(r *stack.HostConfig) {
		r.NAT = &stack.NATConfig{Outside: "eth1"}
		r.FTPHelper = helper
	}, false), stack.Options{})
	ctx := testCtx(t, 20*time.Second)
	a, c := n.Host("A"), n.Host("C")
	ln, err := c.Listen(ctx, "tcp4", ":21")
	require.NoError(t, err)
	defer ln.Close()
	seenCh := make(chan string, 16)
	fakeFTP(t, c, ln, seenCh)

	data, err := a.Listen(ctx, "tcp4", "10.1.0.2:4100")
	require.NoError(t, err)
	defer data.Close()
	got := make(chan string, 1)
	go func() {
		d, err := data.Accept()
		if err != nil {
			return
		}
		b, _ := io.ReadAll(d)
		d.Close()
		got <- string(b)
	}()

	conn, err := a.Dial(ctx, "tcp", "192.0.2.2:21")
	require.NoError(t, err)
	defer conn.Close()
	br := bufio.NewReader(conn)
	read := func() string {
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
		l, err := br.ReadString('\n')
		require.NoError(t, err)
		return strings.TrimRight(l, "\r\n")
	}
	read() // banner
	for _, cmd := range []string{"USER x", "PORT 10,1,0,2,16,4", "NOOP", "NOOP again"} {
		fmt.Fprintf(conn, "%s\r\n", cmd)
		replies = append(replies, read())
		seen = append(seen, <-seenCh)
	}
	if strings.HasPrefix(replies[1], "226") {
		assert.Equal(t, "hello", <-got, "the data connection reached A")
	}
	return replies, seen, n.Host("R").RouterStats()
}

func TestFTPHelperActiveModeThroughNAT(t *testing.T) {
	replies, seen, st := activeThroughNAT(t, nil)
	assert.Equal(t, "PORT 10,1,0,2,16,4", seen[1], "without the helper the private address reaches the server")
	assert.True(t, strings.HasPrefix(replies[1], "425"), "and the server cannot connect: %q", replies[1])
	assert.Zero(t, st.Rewritten)

	replies, seen, st = activeThroughNAT(t, &stack.FTPHelperConfig{})
	assert.Equal(t, "PORT 192,0,2,1,16,4", seen[1], "the helper rewrote the PORT line")
	assert.True(t, strings.HasPrefix(replies[1], "226"), "and the data connection came through: %q", replies[1])
	// The line grew by one byte: later lines in both directions are intact.
	assert.Equal(t, []string{"USER x", "PORT 192,0,2,1,16,4", "NOOP", "NOOP again"}, seen)
	assert.Equal(t, "200 NOOP again", replies[3])
	assert.Equal(t, uint64(1), st.Rewritten)
	assert.Equal(t, uint64(1), st.Expectations)
	assert.Equal(t, uint64(1), st.Related)
}

func TestRouterRoleErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		roles func(*stack.HostConfig)
		kind  stack.ItemKind
		field string
		want  string
	}{
		{"NAT on a host that is not a router", func(r *stack.HostConfig) {
			r.Router = false
			r.NAT = &stack.NATConfig{Outside: "eth1"}
		}, stack.NATItem, "", "NAT needs a router"},
		{"unknown outside NIC", func(r *stack.HostConfig) { r.NAT = &stack.NATConfig{Outside: "eth9"} },
			stack.NATItem, "Outside", `NAT outside NIC "eth9": the host has no such NIC`},
		{"forward outside the router's subnets", func(r *stack.HostConfig) {
			r.NAT = &stack.NATConfig{Outside: "eth1", Forwards: []stack.PortForward{{Ports: stack.PortRange{First: 21}, To: addr("10.9.0.2")}}}
		}, stack.NATItem, "To", "10.9.0.2: the address is in none of the router's inside subnets"},
		{"forward to the outside subnet", func(r *stack.HostConfig) {
			r.NAT = &stack.NATConfig{Outside: "eth1", Forwards: []stack.PortForward{{Ports: stack.PortRange{First: 21}, To: addr("192.0.2.2")}}}
		}, stack.NATItem, "To", "none of the router's inside subnets"},
		{"range with a to-port", func(r *stack.HostConfig) {
			r.NAT = &stack.NATConfig{Outside: "eth1", Forwards: []stack.PortForward{{Ports: stack.PortRange{First: 50000, Last: 50010}, To: addr("10.1.0.2"), ToPort: 40000}}}
		}, stack.NATItem, "ToPort", "a range keeps its ports"},
		{"overlapping forwards", func(r *stack.HostConfig) {
			r.NAT = &stack.NATConfig{Outside: "eth1", Forwards: []stack.PortForward{
				{Ports: stack.PortRange{First: 50000, Last: 50010}, To: addr("10.1.0.2")},
				{Ports: stack.PortRange{First: 50005}, To: addr("10.1.0.2")}}}
		}, stack.NATItem, "Ports", "overlap port forward #1"},
		{"firewall rule on an unknown NIC", func(r *stack.HostConfig) {
			r.Firewall = &stack.FirewallConfig{Allow: []stack.FirewallRule{{In: "wan"}}}
		}, stack.FirewallItem, "In", `no NIC "wan"`},
		{"firewall ports for icmp", func(r *stack.HostConfig) {
			r.Firewall = &stack.FirewallConfig{Allow: []stack.FirewallRule{{Proto: "icmp", Ports: stack.PortRange{First: 1}}}}
		}, stack.FirewallItem, "Ports", "icmp has no ports"},
		{"helper port 0", func(r *stack.HostConfig) { r.FTPHelper = &stack.FTPHelperConfig{Ports: []uint16{21, 0}} },
			stack.FTPHelperItem, "Ports", "port 0 is not a port"},
		{"helper on a host that is not a router", func(r *stack.HostConfig) {
			r.Router = false
			r.FTPHelper = &stack.FTPHelperConfig{}
		}, stack.FTPHelperItem, "", "an FTP helper needs a router"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := natConfig(tc.roles, false).Validate()
			require.Error(t, err)
			es := stack.ConfigErrors(err)
			require.Len(t, es, 1, "%v", err)
			assert.ErrorContains(t, es[0], tc.want)
			assert.Equal(t, tc.kind, es[0].Item.Kind)
			assert.Equal(t, 1, es[0].Item.Index, "host R")
			assert.Equal(t, tc.field, es[0].Item.Field)
		})
	}
}

func TestFirewallIPv6AndHelperEPRT(t *testing.T) {
	cfg := stack.Config{
		Hosts: []stack.HostConfig{
			{Name: "A", NICs: []stack.NICConfig{{Addrs: []netip.Prefix{pfx("fd01::2/64")}}},
				Routes: []stack.RouteConfig{{Dst: pfx("::/0"), Via: addr("fd01::1")}}},
			{Name: "R", Router: true, NICs: []stack.NICConfig{
				{Addrs: []netip.Prefix{pfx("fd01::1/64")}}, {Addrs: []netip.Prefix{pfx("fd02::1/64")}}},
				Firewall:  &stack.FirewallConfig{Allow: []stack.FirewallRule{{In: "eth0"}}},
				FTPHelper: &stack.FTPHelperConfig{}},
			{Name: "C", NICs: []stack.NICConfig{{Addrs: []netip.Prefix{pfx("fd02::2/64")}}},
				Routes: []stack.RouteConfig{{Dst: pfx("::/0"), Via: addr("fd02::1")}}},
		},
		Links: []stack.LinkConfig{{A: "A", B: "R:eth0"}, {A: "R:eth1", B: "C"}},
	}
	n := newNet(t, cfg, stack.Options{})
	ctx := testCtx(t, 20*time.Second)
	a, c := n.Host("A"), n.Host("C")

	ln, err := a.Listen(ctx, "tcp6", "[fd01::2]:4100")
	require.NoError(t, err)
	defer ln.Close()
	dctx := testCtx(t, 1500*time.Millisecond)
	_, err = c.Dial(dctx, "tcp", "[fd01::2]:4100")
	require.Error(t, err, "a new inbound IPv6 connection is dropped")
	assert.NotZero(t, n.Host("R").RouterStats().FirewallDropped)

	// After A announces the port with EPRT on a control connection to C,
	// C's connection to it is related and passes.
	ctl, err := c.Listen(ctx, "tcp6", "[fd02::2]:21")
	require.NoError(t, err)
	defer ctl.Close()
	seen := make(chan string, 8)
	go func() {
		s, err := ctl.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		fmt.Fprint(s, "220 fake\r\n")
		br := bufio.NewReader(s)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			seen <- strings.TrimRight(line, "\r\n")
			fmt.Fprint(s, "200 ok\r\n")
		}
	}()
	conn, err := a.Dial(ctx, "tcp", "[fd02::2]:21")
	require.NoError(t, err)
	defer conn.Close()
	br := bufio.NewReader(conn)
	_, err = br.ReadString('\n')
	require.NoError(t, err)
	for _, cmd := range []string{"USER x", "EPRT |2|fd01::2|4100|"} {
		fmt.Fprintf(conn, "%s\r\n", cmd)
		_, err = br.ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, cmd, <-seen, "no NAT: the line passes unchanged")
	}
	peer := peerOf(t, ln)
	d, err := c.Dial(ctx, "tcp", "[fd01::2]:4100")
	require.NoError(t, err, "the announced data connection is related")
	d.Close()
	assert.Equal(t, "fd02::2", <-peer)
	st := n.Host("R").RouterStats()
	assert.Equal(t, uint64(1), st.Expectations)
	assert.Equal(t, uint64(1), st.Related)
	assert.Zero(t, st.Rewritten)
}
