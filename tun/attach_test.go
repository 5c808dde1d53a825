package tun

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/ftplab/ftplab/ftp/ftptest"
	"github.com/ftplab/ftplab/stack"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
)

// twoHostLab is gw and srv on one switch, IPv4 and IPv6, capturing into buf.
func twoHostLab(t *testing.T, buf io.Writer) *stack.Network {
	t.Helper()
	p := netip.MustParsePrefix
	n, err := stack.New(context.Background(), stack.Config{
		Hosts: []stack.HostConfig{
			{Name: "gw", NICs: []stack.NICConfig{{Addrs: []netip.Prefix{p("10.0.0.1/24"), p("fd00::1/64")}}}},
			{Name: "srv", NICs: []stack.NICConfig{{Addrs: []netip.Prefix{p("10.0.0.2/24"), p("fd00::2/64")}}}},
		},
		Switches: []stack.SwitchConfig{{Name: "lan"}},
		Links:    []stack.LinkConfig{{A: "gw", B: "lan"}, {A: "srv", B: "lan"}},
	}, stack.Options{Capture: buf})
	require.NoError(t, err)
	return n
}

// TestAttachLab: a TUN device attached to a lab's gateway host reaches every
// host (ping, TCP to a host behind the gateway, IPv4 and IPv6), the lab's
// pcapng gets a "tun:NAME" raw-IP interface whose packets carry valid
// checksums, and closing leaves no device or route.
func TestAttachLab(t *testing.T) {
	if !ftptest.Run(t, ftptest.NeedTUN()) {
		return
	}
	var pcap bytes.Buffer
	n := twoHostLab(t, &pcap)
	netClosed := false
	defer func() {
		if !netClosed {
			n.Close()
		}
	}()
	dev, err := Attach(context.Background(), n, n.Host("gw"), Config{
		Name:   "ftplabt5",
		Kernel: []netip.Prefix{kernel4, kernel6},
	})
	require.NoError(t, err)
	defer dev.Close()
	assert.Equal(t, []netip.Prefix{gw4, gw6}, dev.Gateway())

	for _, a := range []string{"10.99.0.2", "fd99::2", "10.0.0.1", "fd00::1", "10.0.0.2", "fd00::2"} {
		require.NoError(t, ping(netip.MustParseAddr(a)), "ping %s", a)
	}
	srv := n.Host("srv")
	for _, a := range []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("fd00::2")} {
		l, err := srv.Listen(withTimeout(t, 5*time.Second), "tcp", netip.AddrPortFrom(a, 2121).String())
		require.NoError(t, err)
		done := echoServe(t, l)
		var d net.Dialer
		c, err := d.DialContext(withTimeout(t, 5*time.Second), "tcp", netip.AddrPortFrom(a, 2121).String())
		require.NoError(t, err)
		roundTrip(t, c, 256<<10)
		require.NoError(t, c.Close())
		require.NoError(t, <-done)
		require.NoError(t, l.Close())
	}
	assert.Zero(t, dev.Stats().WriteDrops, "packets dropped while the device was up")
	require.NoError(t, dev.Close())
	st := dev.Stats()
	assert.NotZero(t, st.ToKernelPackets)
	assertGone(t, "ftplabt5")
	require.NoError(t, n.Close())
	netClosed = true

	opts := pcapgo.DefaultNgReaderOptions
	opts.WantMixedLinkType = true
	r, err := pcapgo.NewNgReader(&pcap, opts)
	require.NoError(t, err)
	var tunPkts int
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		intf, err := r.Interface(ci.InterfaceIndex)
		require.NoError(t, err)
		if intf.Name != "tun:ftplabt5" {
			continue
		}
		assert.Equal(t, layers.LinkTypeRaw, intf.LinkType)
		require.NoError(t, checksumsValid(data))
		tunPkts++
	}
	assert.EqualValues(t, st.ToKernelPackets+st.FromKernelPackets, tunPkts, "tun packets in the capture")
}

// TestAttachErrors: bad input to Attach is an error, and a failed attach
// leaves no device behind.
func TestAttachErrors(t *testing.T) {
	if !ftptest.Run(t, ftptest.NeedTUN()) {
		return
	}
	n := twoHostLab(t, nil)
	defer n.Close()
	_, err := Attach(context.Background(), n, nil, Config{Name: "ftplabt6", Kernel: []netip.Prefix{kernel4}})
	require.ErrorContains(t, err, "gateway host")
	_, err = Attach(context.Background(), n, n.Host("gw"), Config{Name: "ftplabt6", Kernel: []netip.Prefix{netip.MustParsePrefix("10.99.0.1/32")}})
	require.ErrorContains(t, err, "too small")
	_, err = Attach(context.Background(), n, n.Host("gw"), Config{Name: "ftplabt6", Kernel: []netip.Prefix{netip.MustParsePrefix("10.0.0.9/24")}})
	require.ErrorContains(t, err, "kernel address 10.0.0.9/24 overlaps lab subnet 10.0.0.0/24")
	// The gateway already has a NIC of that name: AddNIC fails after Open.
	_, err = Attach(context.Background(), n, n.Host("gw"), Config{Name: "eth0", Kernel: []netip.Prefix{kernel4}})
	require.Error(t, err)
	_, lerr := netlink.LinkByName("eth0")
	assert.ErrorAs(t, lerr, new(netlink.LinkNotFoundError), "device left after a failed attach")
}
