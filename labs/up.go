package labs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"

	"github.com/ftplab/ftplab/stack"
	"github.com/ftplab/ftplab/tun"
)

// Default kernel-side addresses of a TUN device when the lab has no `tun:`
// section (they exist only in the caller's network namespace).
var defaultTUNAddrs = []netip.Prefix{netip.MustParsePrefix("10.99.0.1/24"), netip.MustParsePrefix("fd99::1/64")}

// UpOptions are the choices of a lab kept running by Up.
type UpOptions struct {
	// TUN names the TUN device; it overrides the lab's tun.name and attaches
	// a device even to a lab without a `tun:` section. "" with no section
	// means no device.
	TUN string
	// CaptureFile is where the pcapng goes ("" means the lab's capture file).
	CaptureFile string
	// CaptureData is how much of each frame the capture keeps ("" means
	// the lab's; CaptureNone keeps the control connections in memory).
	CaptureData CaptureData
	// Force and EveryHop are as in Options.
	Force, EveryHop bool
	// Logger receives diagnostics; nil discards.
	Logger *slog.Logger
}

// Running is a lab kept up: its network, servers and TUN device.
type Running struct {
	// Lab is the lab's configuration.
	Lab *Lab
	// Net is the running virtual network.
	Net *stack.Network
	// Device is the TUN device, or nil.
	Device *tun.Device
	// CaptureFile is the pcapng being written.
	CaptureFile string

	env *env
}

// Up starts the lab as Run does (network, capture, servers) but runs no
// steps, and attaches the TUN device, if any, to the gateway host. It runs
// until Close or the end of ctx; Close removes the device and completes the
// capture.
func Up(ctx context.Context, lab *Lab, opts UpOptions) (*Running, error) {
	e, err := start(ctx, lab, startOptions{capture: opts.CaptureFile, data: opts.CaptureData, force: opts.Force, everyHop: opts.EveryHop, logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	r := &Running{Lab: lab, Net: e.net, CaptureFile: e.captureFile, env: e}
	if cfg, gw, ok := lab.tunConfig(opts.TUN); ok {
		cfg.Logger = opts.Logger
		if r.Device, err = tun.Attach(ctx, r.Net, r.Net.Host(gw), cfg); err != nil {
			return nil, errors.Join(fmt.Errorf("lab %s: %w", lab.Name, err), r.Close())
		}
	}
	return r, nil
}

// tunConfig returns the device config and gateway host for name (or the
// lab's tun section); ok is false when no device is wanted. Without a
// section the gateway is the first host that runs no server, and the
// kernel side gets 10.99.0.1/24 and/or fd99::1/64 (the gateway's families).
func (l *Lab) tunConfig(name string) (cfg tun.Config, gateway string, ok bool) {
	t := TUN{Name: name}
	if l.TUN != nil {
		t = *l.TUN
		if name != "" {
			t.Name = name
		}
	}
	if t.Name == "" {
		return cfg, "", false
	}
	cfg.Name = t.Name
	for _, p := range t.Addresses {
		cfg.Kernel = append(cfg.Kernel, p.P())
	}
	gw := &l.Hosts[0]
	for i, h := range l.Hosts {
		if h.Name == t.Gateway || t.Gateway == "" && !slices.ContainsFunc(l.Servers, func(s Server) bool { return s.Host == h.Name }) {
			gw = &l.Hosts[i]
			break
		}
	}
	if len(cfg.Kernel) == 0 {
		// One default per address family the gateway host has.
		for _, d := range defaultTUNAddrs {
			if slices.ContainsFunc(gw.prefixes(), func(p netip.Prefix) bool { return p.Addr().Is4() == d.Addr().Is4() }) {
				cfg.Kernel = append(cfg.Kernel, d)
			}
		}
	}
	return cfg, gw.Name, true
}

// URLs returns the ftp:// URLs of the servers on host.
func (r *Running) URLs(host string) []string {
	var out []string
	for _, s := range r.Lab.Servers {
		if s.Host != host {
			continue
		}
		i := slices.IndexFunc(r.Lab.Hosts, func(h Host) bool { return h.Name == host })
		if i < 0 {
			continue
		}
		for _, p := range r.Lab.Hosts[i].prefixes() {
			ap := netip.AddrPortFrom(p.Addr(), uint16(s.Port))
			out = append(out, "ftp://"+ap.String()+"/")
		}
	}
	return out
}

// Close removes the TUN device, stops the servers and the network and
// completes the capture.
func (r *Running) Close() error {
	var errs []error
	if r.Device != nil {
		errs = append(errs, r.Device.Close())
	}
	return errors.Join(append(errs, r.env.close())...)
}
