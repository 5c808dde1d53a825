package labs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
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

	servers []*runningServer
	file    *os.File
}

// Up builds the lab's network, starts its servers (no steps) and attaches
// the TUN device, if any, to the gateway host. It runs until Close or the
// end of ctx; Close removes the device and completes the capture.
func Up(ctx context.Context, lab *Lab, opts UpOptions) (*Running, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	capPath := cmp.Or(opts.CaptureFile, lab.Capture.File, lab.Name+".pcapng")
	f, err := os.Create(capPath)
	if err != nil {
		return nil, fmt.Errorf("lab %s: capture file: %w", lab.Name, err)
	}
	r := &Running{Lab: lab, CaptureFile: capPath, file: f}
	r.Net, err = stack.New(ctx, lab.StackConfig(), stack.Options{Capture: f, Logger: opts.Logger})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lab %s: %w", lab.Name, err)
	}
	for i := range lab.Servers {
		s := &lab.Servers[i]
		rs, err := lab.startServer(ctx, s, r.Net.Host(s.Host), opts.Logger)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("lab %s: %w", lab.Name, err), r.Close())
		}
		r.servers = append(r.servers, rs)
	}
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
	for _, rs := range r.servers {
		rs.stop()
	}
	errs = append(errs, r.Net.Close(), r.file.Close())
	return errors.Join(errs...)
}
