package tun

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/ftplab/ftplab/ftp/ftptest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	gvstack "gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// The addresses of the bare-stack tests: the TUN link 10.99.0.0/24 and
// fd99::/64 (kernel .1, gVisor .2) and a "lab subnet" behind the gateway,
// 10.100.0.0/24 and fd00:100::/64. They exist only inside the test's
// network namespace and the test's gVisor stack.
var (
	kernel4, kernel6 = netip.MustParsePrefix("10.99.0.1/24"), netip.MustParsePrefix("fd99::1/64")
	gw4, gw6         = netip.MustParsePrefix("10.99.0.2/24"), netip.MustParsePrefix("fd99::2/64")
	lab4, lab6       = netip.MustParsePrefix("10.100.0.1/24"), netip.MustParsePrefix("fd00:100::1/64")
)

func testConfig(name string, log *packetLog) Config {
	cfg := Config{
		Name:    name,
		Kernel:  []netip.Prefix{kernel4, kernel6},
		Gateway: []netip.Prefix{gw4, gw6},
		Routes:  []netip.Prefix{lab4.Masked(), lab6.Masked(), gw4.Masked()},
	}
	if log != nil {
		cfg.Capture = log.capture
	}
	return cfg
}

// bareStack is a gVisor stack with one NIC on ep holding the gateway and
// lab addresses (what package stack's gateway host will be).
func bareStack(t *testing.T, ep gvstack.LinkEndpoint) *gvstack.Stack {
	t.Helper()
	s := gvstack.New(gvstack.Options{
		NetworkProtocols:   []gvstack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol},
		TransportProtocols: []gvstack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6},
	})
	t.Cleanup(func() { s.Close(); s.Wait() })
	require.Nil(t, s.CreateNIC(1, ep))
	for _, p := range []netip.Prefix{gw4, gw6, lab4, lab6} {
		proto := ipv4.ProtocolNumber
		if p.Addr().Is6() {
			proto = ipv6.ProtocolNumber
		}
		pa := tcpip.ProtocolAddress{Protocol: proto, AddressWithPrefix: tcpip.AddressWithPrefix{
			Address: tcpip.AddrFromSlice(p.Addr().AsSlice()), PrefixLen: p.Bits()}}
		require.Nil(t, s.AddProtocolAddress(1, pa, gvstack.AddressProperties{}))
	}
	s.SetRouteTable([]tcpip.Route{
		{Destination: header.IPv4EmptySubnet, NIC: 1},
		{Destination: header.IPv6EmptySubnet, NIC: 1},
	})
	return s
}

func fullAddr(a netip.Addr, port uint16) tcpip.FullAddress {
	return tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFromSlice(a.AsSlice()), Port: port}
}

func netProto(a netip.Addr) tcpip.NetworkProtocolNumber {
	if a.Is4() {
		return ipv4.ProtocolNumber
	}
	return ipv6.ProtocolNumber
}

// assertGone checks that no device called name and no route into the lab
// subnets remain in this namespace.
func assertGone(t *testing.T, name string) {
	t.Helper()
	_, err := netlink.LinkByName(name)
	assert.ErrorAs(t, err, new(netlink.LinkNotFoundError), "device %s still exists", name)
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := netlink.RouteList(nil, fam)
		require.NoError(t, err)
		for _, r := range routes {
			if r.Dst == nil {
				continue
			}
			dst, _ := netip.AddrFromSlice(r.Dst.IP)
			for _, p := range []netip.Prefix{lab4, lab6, gw4, gw6} {
				assert.False(t, p.Masked().Contains(dst.Unmap()), "route %v left behind", r.Dst)
			}
		}
	}
}

// TestBridgeBareStack: ping and TCP both ways between the kernel and a
// gVisor stack through the TUN device, routes to a subnet behind the
// gateway, valid checksums in every captured packet, counters that match
// the capture, and nothing left after Close.
func TestBridgeBareStack(t *testing.T) {
	if !ftptest.Run(t, ftptest.NeedTUN()) {
		return
	}
	log := &packetLog{}
	dev, err := Open(context.Background(), testConfig("ftplabt0", log))
	require.NoError(t, err)
	s := bareStack(t, dev.Endpoint())

	// Kernel view: the device is up with the MTU, addresses and routes.
	l, err := netlink.LinkByName("ftplabt0")
	require.NoError(t, err)
	assert.Equal(t, int(DefaultMTU), l.Attrs().MTU)
	assert.NotZero(t, l.Attrs().Flags&net.FlagUp, "device not up")
	assert.Equal(t, txQueueLen, l.Attrs().TxQLen)
	for _, p := range []netip.Prefix{lab4, lab6} {
		rs, err := netlink.RouteGet(p.Addr().AsSlice())
		require.NoError(t, err, "route to %v", p)
		require.Len(t, rs, 1)
		assert.Equal(t, l.Attrs().Index, rs[0].LinkIndex, "route to %v not via the device", p)
	}

	for _, a := range []netip.Prefix{gw4, gw6, lab4, lab6} {
		require.NoError(t, ping(a.Addr()), "ping %v from the kernel", a.Addr())
	}

	for _, tc := range []struct {
		name       string
		gv, kernel netip.Addr
	}{
		{"v4 gateway", gw4.Addr(), kernel4.Addr()},
		{"v6 gateway", gw6.Addr(), kernel6.Addr()},
		{"v4 behind gateway", lab4.Addr(), kernel4.Addr()},
		{"v6 behind gateway", lab6.Addr(), kernel6.Addr()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Kernel client -> gVisor server.
			gl, err := gonet.ListenTCP(s, fullAddr(tc.gv, 2100), netProto(tc.gv))
			require.NoError(t, err)
			defer gl.Close()
			done := echoServe(t, gl)
			var d net.Dialer
			c, err := d.DialContext(withTimeout(t, 5*time.Second), "tcp", netip.AddrPortFrom(tc.gv, 2100).String())
			require.NoError(t, err)
			roundTrip(t, c, 1<<20)
			require.NoError(t, c.Close())
			require.NoError(t, <-done)

			// gVisor client -> kernel server.
			kl, err := net.Listen("tcp", netip.AddrPortFrom(tc.kernel, 0).String())
			require.NoError(t, err)
			defer kl.Close()
			done = echoServe(t, kl)
			port := uint16(kl.Addr().(*net.TCPAddr).Port)
			gc, err := gonet.DialTCPWithBind(withTimeout(t, 5*time.Second), s,
				fullAddr(tc.gv, 0), fullAddr(tc.kernel, port), netProto(tc.gv))
			require.NoError(t, err)
			roundTrip(t, gc, 1<<20)
			require.NoError(t, gc.Close())
			require.NoError(t, <-done)
		})
	}

	// Packets still cross while the connections wind down: only after
	// Close are the counters and the capture final, and equal.
	require.NoError(t, dev.Close())
	st := dev.Stats()
	assertGone(t, "ftplabt0")

	pkts := log.all()
	assert.Equal(t, st.ToKernelPackets+st.FromKernelPackets, uint64(len(pkts)), "capture and counters disagree")
	assert.NotZero(t, st.ToKernelPackets)
	assert.NotZero(t, st.FromKernelPackets)
	assert.Zero(t, st.WriteDrops)
	var fromKernel, toKernel int
	for _, p := range pkts {
		require.NoError(t, checksumsValid(p))
		src, _ := netip.AddrFromSlice(srcOf(p))
		if src == kernel4.Addr() || src == kernel6.Addr() {
			fromKernel++
		} else {
			toKernel++
		}
	}
	assert.NotZero(t, fromKernel, "no kernel-side packet captured")
	assert.NotZero(t, toKernel, "no gVisor-side packet captured")
	require.NoError(t, dev.Close(), "second Close")
}

// srcOf is an IP packet's source address.
func srcOf(b []byte) []byte {
	if header.IPVersion(b) == header.IPv4Version {
		return header.IPv4(b).SourceAddressSlice()
	}
	return header.IPv6(b).SourceAddressSlice()
}

// TestCloseOnCancel: cancelling Open's context removes the device and its
// routes, as SIGINT/SIGTERM do through the command's context.
func TestCloseOnCancel(t *testing.T) {
	if !ftptest.Run(t, ftptest.NeedTUN()) {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	dev, err := Open(ctx, testConfig("ftplabt1", nil))
	require.NoError(t, err)
	_, err = netlink.LinkByName("ftplabt1")
	require.NoError(t, err)
	cancel()
	require.Eventually(t, func() bool {
		_, err := netlink.LinkByName("ftplabt1")
		return errors.As(err, new(netlink.LinkNotFoundError))
	}, 5*time.Second, 10*time.Millisecond, "device still there after cancel")
	require.NoError(t, dev.Close())
	assertGone(t, "ftplabt1")
}

// TestOpenRefusals: a taken name (a TUN device already open, or another
// kind of device) is refused with ErrNameTaken and the existing device is
// left alone; a start that fails half-way (a route the kernel rejects)
// leaves nothing behind.
func TestOpenRefusals(t *testing.T) {
	if !ftptest.Run(t, ftptest.NeedTUN()) {
		return
	}
	ftptest.LoUp(t)
	first, err := Open(context.Background(), testConfig("ftplabt2", nil))
	require.NoError(t, err)
	defer first.Close()

	for _, name := range []string{"ftplabt2", "lo"} {
		_, err := Open(context.Background(), testConfig(name, nil))
		require.ErrorIs(t, err, ErrNameTaken, name)
		assert.Contains(t, err.Error(), name)
		l, err := netlink.LinkByName(name)
		require.NoError(t, err, "existing %s removed", name)
		assert.NotZero(t, l.Attrs().Flags&net.FlagUp, "existing %s brought down", name)
	}

	// Half-way failure: the lab route already exists (via lo), so adding it
	// fails after the device, addresses and first routes are in place.
	lo, err := netlink.LinkByName("lo")
	require.NoError(t, err)
	clash := &netlink.Route{LinkIndex: lo.Attrs().Index, Dst: ipNet(netip.MustParsePrefix("10.200.0.0/24"))}
	require.NoError(t, netlink.RouteAdd(clash))
	cfg := testConfig("ftplabt3", nil)
	cfg.Kernel = []netip.Prefix{netip.MustParsePrefix("10.98.0.1/24")}
	cfg.Gateway = []netip.Prefix{netip.MustParsePrefix("10.98.0.2/24")}
	cfg.Routes = []netip.Prefix{netip.MustParsePrefix("10.201.0.0/24"), netip.MustParsePrefix("10.200.0.0/24")}
	_, err = Open(context.Background(), cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "10.200.0.0/24")
	_, err = netlink.LinkByName("ftplabt3")
	assert.ErrorAs(t, err, new(netlink.LinkNotFoundError), "device left after a failed start")
	rs, err := netlink.RouteGet(net.ParseIP("10.201.0.1"))
	if err == nil {
		for _, r := range rs {
			assert.NotEqual(t, "10.98.0.2", r.Gw.String(), "route 10.201.0.0/24 left after a failed start")
		}
	}
	rs, err = netlink.RouteGet(net.ParseIP("10.200.0.1"))
	require.NoError(t, err)
	assert.Equal(t, lo.Attrs().Index, rs[0].LinkIndex, "the existing route was touched")
}

// TestNoNetAdmin: without CAP_NET_ADMIN Open fails with ErrPermission (a
// clear message), not a panic. The test drops the capability with setpriv
// inside its namespace.
func TestNoNetAdmin(t *testing.T) {
	if !ftptest.Run(t, ftptest.NeedTUN(), ftptest.Need("setpriv"), ftptest.Wrap("setpriv", "--inh-caps=-net_admin", "--bounding-set=-net_admin", "--")) {
		return
	}
	_, err := Open(context.Background(), testConfig("ftplabt4", nil))
	require.ErrorIs(t, err, ErrPermission)
	assert.Contains(t, err.Error(), "CAP_NET_ADMIN")
	_, err = netlink.LinkByName("ftplabt4")
	assert.ErrorAs(t, err, new(netlink.LinkNotFoundError))
}
