package tun

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/ftplab/ftplab/stack"
	"github.com/gopacket/gopacket/layers"
)

// Attach opens the TUN device cfg describes and plugs it into host gw of
// network n as a NIC named after the device, with IP forwarding on, so the
// kernel reaches every lab host through gw:
//
//   - cfg.Gateway defaults to one address per kernel subnet for gw's end of
//     the link (the first free host address: kernel .1 gives gateway .2);
//   - cfg.Routes defaults to every subnet of every lab host;
//   - every other lab host that shares a subnet with gw gets a route back to
//     the TUN subnets via gw;
//   - packets crossing the device go to the lab's capture as interface
//     "tun:NAME" (LinkTypeRaw) unless cfg.Capture is set or the network has
//     no capture.
//
// The device goes away on Close, when ctx ends, or when Attach fails.
func Attach(ctx context.Context, n *stack.Network, gw *stack.Host, cfg Config) (*Device, error) {
	if n == nil || gw == nil {
		return nil, errors.New("tun: attach needs a network and a gateway host")
	}
	lab := labSubnets(n)
	for _, k := range cfg.Kernel {
		for _, l := range lab {
			if k.Masked().Overlaps(l) {
				return nil, fmt.Errorf("tun: device %s: kernel address %v overlaps lab subnet %v; give the TUN link a subnet of its own (e.g. 10.99.0.1/24)", cfg.Name, k, l)
			}
		}
	}
	if len(cfg.Gateway) == 0 {
		for _, k := range cfg.Kernel {
			p, err := peerAddr(k)
			if err != nil {
				return nil, fmt.Errorf("tun: device %s: %w", cfg.Name, err)
			}
			cfg.Gateway = append(cfg.Gateway, p)
		}
	}
	if cfg.Routes == nil {
		cfg.Routes = lab
	}
	if cfg.Capture == nil {
		if capture, err := n.CaptureInterface("tun:"+cfg.Name, layers.LinkTypeRaw); err == nil {
			cfg.Capture = capture
		} else {
			cfg.logger().Info("tun: packets on the device are not captured", "dev", cfg.Name, "reason", err)
		}
	}
	dev, err := Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := gw.AddNIC(cfg.Name, dev.Endpoint(), cfg.Gateway); err != nil {
		return nil, errors.Join(fmt.Errorf("tun: attach %s to host %s: %w", cfg.Name, gw.Name(), err), dev.Close())
	}
	if err := gw.SetForwarding(true); err != nil {
		return nil, errors.Join(fmt.Errorf("tun: forwarding on host %s: %w", gw.Name(), err), dev.Close())
	}
	if err := routeBack(n, gw, cfg.Kernel); err != nil {
		return nil, errors.Join(fmt.Errorf("tun: device %s: %w", cfg.Name, err), dev.Close())
	}
	return dev, nil
}

// Gateway returns the gateway host's addresses on the TUN link.
func (d *Device) Gateway() []netip.Prefix { return slices.Clone(d.cfg.Gateway) }

// peerAddr picks the gateway's address in kernel prefix k's subnet: the
// first host address that is not the kernel's own.
func peerAddr(k netip.Prefix) (netip.Prefix, error) {
	if k.Bits() >= k.Addr().BitLen()-1 {
		return netip.Prefix{}, fmt.Errorf("kernel address %v: subnet too small for a gateway address; give one explicitly", k)
	}
	a := k.Masked().Addr().Next()
	if a == k.Addr() {
		a = a.Next()
	}
	return netip.PrefixFrom(a, k.Bits()), nil
}

// labSubnets lists the subnets of every host address in n.
func labSubnets(n *stack.Network) []netip.Prefix {
	var out []netip.Prefix
	for _, h := range n.Hosts() {
		for _, a := range h.Addrs() {
			if m := a.Masked(); !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	return out
}

// routeBack gives every host that shares a subnet with gw a route to the
// kernel-side subnets via gw's address in that subnet. Hosts further away
// use their default route.
func routeBack(n *stack.Network, gw *stack.Host, kernel []netip.Prefix) error {
	gwAddrs := gw.Addrs()
	for _, h := range n.Hosts() {
		if h == gw {
			continue
		}
		var added []stack.RouteConfig
		for _, mine := range h.Addrs() {
			for _, g := range gwAddrs {
				if !mine.Masked().Contains(g.Addr()) {
					continue
				}
				for _, k := range kernel {
					rc := stack.RouteConfig{Dst: k.Masked(), Via: g.Addr()}
					if k.Addr().Is4() != g.Addr().Is4() || slices.Contains(added, rc) {
						continue
					}
					if err := h.AddRoute(rc); err != nil {
						return fmt.Errorf("route back to the kernel: %w", err)
					}
					added = append(added, rc)
				}
			}
		}
	}
	return nil
}
