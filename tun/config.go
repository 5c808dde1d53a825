// Package tun attaches a kernel TUN device to a NIC of a virtual host, so the
// machine's own tools (ping, curl, lftp, Wireshark) reach a running lab over
// real packets.
//
// The kernel side is configured through netlink: the device's addresses
// (IPv4 and IPv6), its MTU, link up, and a route to every lab subnet via the
// gateway host's address on the TUN link. Everything added is removed again
// on Close, when the context given to Open is cancelled, and when Open
// fails half-way. The gVisor side is an fd-based link endpoint on the TUN
// file descriptor; every packet that crosses the device can be handed to a
// capture function with valid checksums.
//
// Creating a TUN device needs CAP_NET_ADMIN: run inside a network namespace
// made for it (`unshare -rn`), never on the host's own network.
package tun

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"
)

// Errors Open reports for the usual setup problems; test them with errors.Is.
var (
	// ErrNoTUN means /dev/net/tun is missing (no tun module, or a container
	// without the device).
	ErrNoTUN = errors.New("tun: /dev/net/tun is not available")
	// ErrPermission means the process lacks CAP_NET_ADMIN in its network
	// namespace (or may not open /dev/net/tun).
	ErrPermission = errors.New("tun: permission denied (needs CAP_NET_ADMIN: run as root or inside `unshare -rn`)")
	// ErrNameTaken means a network device with the requested name exists.
	ErrNameTaken = errors.New("tun: device name already in use")
)

// DefaultMTU is the device MTU when Config.MTU is zero.
const DefaultMTU = 1500

// maxNameLen is IFNAMSIZ-1, the longest Linux interface name.
const maxNameLen = 15

// Config describes one TUN device and the kernel side of its link.
type Config struct {
	// Name is the kernel device name, for example "ftplab0" (at most 15 bytes).
	Name string
	// MTU is the device MTU on both sides; 0 means DefaultMTU.
	MTU uint32
	// Kernel holds the kernel side's addresses on the device, with their
	// prefix length (for example 10.99.0.1/24 and fd00:99::1/64).
	Kernel []netip.Prefix
	// Gateway holds the gateway host's addresses on the TUN link, one per
	// address family used; each must lie in the subnet of a Kernel address
	// of the same family. Routes go via these addresses.
	Gateway []netip.Prefix
	// Routes are the lab subnets the kernel reaches through the gateway.
	// A route equal to the TUN link's own subnet is skipped (the kernel
	// already has it).
	Routes []netip.Prefix
	// Capture, if not nil, receives every packet that crosses the device
	// (raw IP, valid checksums) with its timestamp. It must not keep frame
	// after it returns.
	Capture func(ts time.Time, frame []byte)
	// Logger receives setup and teardown messages; nil means slog.Default().
	Logger *slog.Logger
}

// mtu is the effective MTU.
func (c *Config) mtu() uint32 {
	if c.MTU == 0 {
		return DefaultMTU
	}
	return c.MTU
}

func (c *Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
}

// validate reports the first thing wrong with c.
func (c *Config) validate() error {
	if c.Name == "" {
		return errors.New("tun: device name is empty")
	}
	if len(c.Name) > maxNameLen {
		return fmt.Errorf("tun: device name %q is longer than %d bytes", c.Name, maxNameLen)
	}
	if strings.ContainsAny(c.Name, "/: \t\n") || c.Name == "." || c.Name == ".." {
		return fmt.Errorf("tun: device name %q contains a character Linux forbids in interface names", c.Name)
	}
	if m := c.mtu(); m < 1280 || m > 65535 {
		return fmt.Errorf("tun: device %s: MTU %d outside 1280..65535", c.Name, m)
	}
	if len(c.Kernel) == 0 {
		return fmt.Errorf("tun: device %s: no kernel-side address", c.Name)
	}
	for _, p := range c.Kernel {
		if !p.IsValid() || p.Addr().Zone() != "" {
			return fmt.Errorf("tun: device %s: invalid kernel address %v", c.Name, p)
		}
	}
	for _, g := range c.Gateway {
		if !g.IsValid() {
			return fmt.Errorf("tun: device %s: invalid gateway address %v", c.Name, g)
		}
		k, ok := c.kernelFor(g.Addr())
		if !ok {
			return fmt.Errorf("tun: device %s: gateway %v is in no kernel-side subnet (kernel addresses %v)", c.Name, g, c.Kernel)
		}
		if k.Addr() == g.Addr() {
			return fmt.Errorf("tun: device %s: gateway %v and kernel side use the same address", c.Name, g.Addr())
		}
	}
	for _, r := range c.Routes {
		if !r.IsValid() {
			return fmt.Errorf("tun: device %s: invalid route %v", c.Name, r)
		}
		if _, ok := c.gatewayFor(r.Addr()); !ok {
			return fmt.Errorf("tun: device %s: route %v has no gateway address of its family", c.Name, r)
		}
	}
	return nil
}

// kernelFor returns the kernel-side prefix whose subnet contains a.
func (c *Config) kernelFor(a netip.Addr) (netip.Prefix, bool) {
	for _, k := range c.Kernel {
		if k.Masked().Contains(a) {
			return k, true
		}
	}
	return netip.Prefix{}, false
}

// gatewayFor returns the gateway address of a's family.
func (c *Config) gatewayFor(a netip.Addr) (netip.Addr, bool) {
	for _, g := range c.Gateway {
		if g.Addr().Is4() == a.Is4() {
			return g.Addr(), true
		}
	}
	return netip.Addr{}, false
}

// routes returns the routes to install: Routes without the TUN link's own
// subnets, masked, without duplicates.
func (c *Config) routes() []netip.Prefix {
	seen := map[netip.Prefix]bool{}
	for _, k := range c.Kernel {
		seen[k.Masked()] = true
	}
	var out []netip.Prefix
	for _, r := range c.Routes {
		r = r.Masked()
		if seen[r] {
			continue
		}
		seen[r] = true
		out = append(out, r)
	}
	return out
}
