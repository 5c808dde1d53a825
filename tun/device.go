package tun

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/vishvananda/netlink"
	gvstack "gvisor.dev/gvisor/pkg/tcpip/stack"
)

// Device is an open TUN device: the configured kernel side plus the gVisor
// link endpoint that carries its packets. Close it (or cancel the context
// given to Open) to remove everything it added.
type Device struct {
	cfg    Config
	kernel *kernelLink
	ep     *endpoint

	stopWatch func() bool
	once      sync.Once
	closed    atomic.Bool
	// kernelDrops keeps the kernel's drop count once the device is gone.
	kernelDrops atomic.Uint64
	closeErr    error
}

// Open creates and configures the TUN device cfg describes and returns it
// with a link endpoint ready for a gVisor NIC (Endpoint). When ctx is
// cancelled the device is closed. A failed Open leaves nothing behind.
func Open(ctx context.Context, cfg Config) (*Device, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("tun: open %s: %w", cfg.Name, err)
	}
	k, err := openKernel(&cfg)
	if err != nil {
		return nil, err
	}
	ep, err := newEndpoint(k.fd, cfg.mtu(), cfg.Capture)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("tun: link endpoint on %s: %w", cfg.Name, err), k.close())
	}
	d := &Device{cfg: cfg, kernel: k, ep: ep}
	d.stopWatch = context.AfterFunc(ctx, func() {
		if err := d.Close(); err != nil {
			cfg.logger().Error("tun: close on cancel", "dev", cfg.Name, "err", err)
		}
	})
	return d, nil
}

// Name is the kernel device name.
func (d *Device) Name() string { return d.cfg.Name }

// MTU is the device MTU.
func (d *Device) MTU() uint32 { return d.cfg.mtu() }

// Endpoint is the gVisor link endpoint for the device: give it to exactly
// one NIC (stack.CreateNIC, or a virtual host's AddNIC). Packets written to
// it go to the kernel; packets from the kernel arrive on it.
func (d *Device) Endpoint() gvstack.LinkEndpoint { return d.ep }

// Stats returns the device's packet counters, including the kernel's count
// of packets it dropped on the device's queue. While packets cross, a
// packet may be captured a moment before it is counted (or the other way
// round); after Close the counters are final and match the capture.
func (d *Device) Stats() Stats {
	s := d.ep.stats()
	s.KernelDrops = d.kernelDrops.Load()
	if d.closed.Load() {
		return s
	}
	if l, err := netlink.LinkByIndex(d.kernel.link.Attrs().Index); err == nil && l.Attrs().Statistics != nil {
		s.KernelDrops = l.Attrs().Statistics.TxDropped + l.Attrs().Statistics.RxDropped
	}
	return s
}

// Close stops the bridge, removes the routes and addresses it added and
// deletes the device. It is safe to call more than once and concurrently.
func (d *Device) Close() error {
	d.once.Do(func() {
		d.stopWatch()
		d.ep.stop()
		d.kernelDrops.Store(d.Stats().KernelDrops)
		d.closed.Store(true)
		d.closeErr = d.kernel.close()
	})
	return d.closeErr
}

// Kernel returns the kernel side's addresses on the device.
func (d *Device) Kernel() []netip.Prefix { return slices.Clone(d.cfg.Kernel) }

// Routes returns the lab subnets routed through the device.
func (d *Device) Routes() []netip.Prefix { return d.cfg.routes() }
