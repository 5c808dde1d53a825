package tun

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"syscall"

	"github.com/songgao/water"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// tunPath is the TUN clone device (a variable so a test can make it
// missing).
var tunPath = "/dev/net/tun"

// txQueueLen is the device's transmit queue (kernel to us) in packets.
const txQueueLen = 4096

// kernelLink is the kernel side of a device: the open TUN file and what was
// configured on it through netlink, so it can all be removed again.
type kernelLink struct {
	name   string
	ifce   *water.Interface
	fd     int
	link   netlink.Link
	addrs  []*netlink.Addr
	routes []*netlink.Route
	log    *slog.Logger
}

// openKernel creates the TUN device and configures addresses, MTU, link up
// and routes. On failure everything done so far is undone.
func openKernel(cfg *Config) (*kernelLink, error) {
	if _, err := os.Stat(tunPath); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoTUN, err)
	}
	// water attaches silently to an existing persistent TUN device of the
	// same name: refuse any existing link first.
	if l, err := netlink.LinkByName(cfg.Name); err == nil {
		return nil, fmt.Errorf("%w: %q exists (type %s, index %d)", ErrNameTaken, cfg.Name, l.Type(), l.Attrs().Index)
	} else if !errors.As(err, new(netlink.LinkNotFoundError)) {
		return nil, fmt.Errorf("tun: look up device %q: %w", cfg.Name, classify(err))
	}
	ifce, err := water.New(water.Config{
		DeviceType:             water.TUN,
		PlatformSpecificParams: water.PlatformSpecificParams{Name: cfg.Name},
	})
	if err != nil {
		return nil, fmt.Errorf("tun: create device %q: %w", cfg.Name, classify(err))
	}
	k := &kernelLink{name: cfg.Name, ifce: ifce, log: cfg.logger()}
	if err := k.configure(cfg); err != nil {
		if cerr := k.close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return nil, err
	}
	return k, nil
}

// classify maps permission and busy errors onto the package's sentinels,
// keeping the original error in the chain.
func classify(err error) error {
	switch {
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		return fmt.Errorf("%w: %w", ErrPermission, err)
	case errors.Is(err, syscall.EBUSY):
		return fmt.Errorf("%w: %w", ErrNameTaken, err)
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ENODEV):
		return fmt.Errorf("%w: %w", ErrNoTUN, err)
	}
	return err
}

// configure sets up the device; on error the caller closes k.
func (k *kernelLink) configure(cfg *Config) error {
	f, ok := k.ifce.ReadWriteCloser.(*os.File)
	if !ok {
		return fmt.Errorf("tun: device %s: water returned %T, not a file", k.name, k.ifce.ReadWriteCloser)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("tun: device %s: %w", k.name, err)
	}
	// Control leaves the descriptor's mode alone (File.Fd would make it
	// blocking); it stays valid while f is open.
	if err := rc.Control(func(fd uintptr) { k.fd = int(fd) }); err != nil {
		return fmt.Errorf("tun: device %s: %w", k.name, err)
	}
	link, err := netlink.LinkByName(k.name)
	if err != nil {
		return fmt.Errorf("tun: find new device %s: %w", k.name, classify(err))
	}
	k.link = link
	if err := netlink.LinkSetMTU(link, int(cfg.mtu())); err != nil {
		return fmt.Errorf("tun: set MTU %d on %s: %w", cfg.mtu(), k.name, classify(err))
	}
	// A longer queue towards us than the default 500 absorbs the kernel's
	// bursts (ACK trains of a fast download) instead of dropping them.
	if err := netlink.LinkSetTxQLen(link, txQueueLen); err != nil {
		return fmt.Errorf("tun: set queue length of %s: %w", k.name, classify(err))
	}
	for _, p := range cfg.Kernel {
		a := &netlink.Addr{IPNet: ipNet(p)}
		if p.Addr().Is6() {
			a.Flags = unix.IFA_F_NODAD // usable at once; the link has one peer
		}
		if err := netlink.AddrAdd(link, a); err != nil {
			return fmt.Errorf("tun: add address %v to %s: %w", p, k.name, classify(err))
		}
		k.addrs = append(k.addrs, a)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("tun: set %s up: %w", k.name, classify(err))
	}
	for _, r := range cfg.routes() {
		gw, _ := cfg.gatewayFor(r.Addr())
		route := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: ipNet(r), Gw: gw.AsSlice()}
		if err := netlink.RouteAdd(route); err != nil {
			return fmt.Errorf("tun: add route %v via %v dev %s: %w", r, gw, k.name, classify(err))
		}
		k.routes = append(k.routes, route)
	}
	k.log.Info("tun device up", "dev", k.name, "mtu", cfg.mtu(), "addrs", cfg.Kernel, "routes", len(k.routes))
	return nil
}

// close removes the routes and addresses it added and closes the TUN file,
// which deletes the (non-persistent) device.
func (k *kernelLink) close() error {
	var errs []error
	for i := len(k.routes) - 1; i >= 0; i-- {
		if err := netlink.RouteDel(k.routes[i]); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("tun: delete route %v dev %s: %w", k.routes[i].Dst, k.name, err))
		}
	}
	for i := len(k.addrs) - 1; i >= 0; i-- {
		if err := netlink.AddrDel(k.link, k.addrs[i]); err != nil && !errors.Is(err, syscall.EADDRNOTAVAIL) {
			errs = append(errs, fmt.Errorf("tun: delete address %v from %s: %w", k.addrs[i].IPNet, k.name, err))
		}
	}
	k.routes, k.addrs = nil, nil
	if err := k.ifce.Close(); err != nil {
		errs = append(errs, fmt.Errorf("tun: close device %s: %w", k.name, err))
	}
	if _, err := netlink.LinkByName(k.name); err == nil {
		errs = append(errs, fmt.Errorf("tun: device %s still exists after close", k.name))
	}
	k.log.Info("tun device removed", "dev", k.name)
	return errors.Join(errs...)
}

// ipNet converts a prefix to the net.IPNet netlink wants, keeping the host
// bits (an address) as they are.
func ipNet(p netip.Prefix) *net.IPNet {
	bits := p.Addr().BitLen()
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), bits)}
}
