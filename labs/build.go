package labs

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path"
	"strings"
	"time"

	"github.com/ftplab/ftplab/ftp/server"
	"github.com/ftplab/ftplab/ftp/store"
	"github.com/ftplab/ftplab/stack"
)

// StackConfig turns the lab's hosts, switches and links into the virtual
// network's configuration (runtime types are kept apart from the lab file's).
func (l *Lab) StackConfig() stack.Config { return l.stackNetwork().cfg }

// network is the lab's network as stack's configuration, with what it takes
// to point from a stack.Item back to the YAML the user wrote.
type network struct {
	l   *Lab
	cfg stack.Config
	// links maps a stack link index to the lab's (links without two ends
	// are left out: the checker reports them).
	links []int
}

// stackNetwork builds the network configuration. Host i of the lab is host
// i of stack; a host's gateways come first among its routes.
func (l *Lab) stackNetwork() network {
	n := network{l: l, links: make([]int, 0, len(l.Links))}
	n.cfg.Hosts = make([]stack.HostConfig, 0, len(l.Hosts))
	n.cfg.Switches = make([]stack.SwitchConfig, 0, len(l.Switches))
	n.cfg.Links = make([]stack.LinkConfig, 0, len(l.Links))
	for _, h := range l.Hosts {
		nics := h.nics()
		hc := stack.HostConfig{Name: h.Name, Router: h.Router, NICs: make([]stack.NICConfig, 0, len(nics))}
		h.stackRoles(&hc)
		for _, nic := range nics {
			nc := stack.NICConfig{Name: nic.Name, MAC: nic.MAC.HW(), Addrs: make([]netip.Prefix, 0, len(nic.Addresses))}
			for _, p := range nic.Addresses {
				nc.Addrs = append(nc.Addrs, p.P())
			}
			hc.NICs = append(hc.NICs, nc)
		}
		for _, g := range h.Gateway {
			dst := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
			if g.A().Is6() {
				dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
			}
			hc.Routes = append(hc.Routes, stack.RouteConfig{Dst: dst, Via: g.A()})
		}
		for _, r := range h.Routes {
			hc.Routes = append(hc.Routes, stack.RouteConfig{Dst: r.To.P(), Via: r.Via.A(), NIC: r.NIC})
		}
		n.cfg.Hosts = append(n.cfg.Hosts, hc)
	}
	for _, s := range l.Switches {
		n.cfg.Switches = append(n.cfg.Switches, stack.SwitchConfig{Name: s.Name})
	}
	for i, k := range l.Links {
		if len(k.Ends) != 2 {
			continue
		}
		n.links = append(n.links, i)
		n.cfg.Links = append(n.cfg.Links, stack.LinkConfig{
			Name: k.linkName(), A: k.Ends[0], B: k.Ends[1],
			Params: stack.LinkParams{
				MTU: k.MTU, Delay: k.Delay.D(), Jitter: k.Jitter.D(), Loss: float64(k.Loss),
				Rate: int64(k.Rate), Queue: int(k.Queue), Seed: k.Seed, Down: k.Down,
			},
		})
	}
	return n
}

// path is the YAML path of what it concerns in the lab file (Lab.at falls
// back to the nearest parent that was written).
func (n network) path(it stack.Item) string {
	field := func(base string) string {
		switch it.Field {
		case "":
			return base
		case "A", "B":
			return fmt.Sprintf("%s.ends[%d]", base, it.Field[0]-'A')
		case "Addrs":
			return fmt.Sprintf("%s.addresses[%d]", base, it.Elem)
		case "Dst":
			return base + ".to"
		}
		return base + "." + strings.ToLower(it.Field)
	}
	switch it.Kind {
	case stack.SwitchItem:
		return field(fmt.Sprintf("$.switches[%d]", it.Index))
	case stack.LinkItem:
		return field(fmt.Sprintf("$.links[%d]", n.links[it.Index]))
	}
	host := fmt.Sprintf("$.hosts[%d]", it.Index)
	h := n.l.Hosts[it.Index]
	switch it.Kind {
	case stack.NICItem:
		if len(h.NICs) == 0 { // the addresses shorthand is eth0
			return field(host)
		}
		return field(fmt.Sprintf("%s.nics[%d]", host, it.Sub))
	case stack.NATItem, stack.FirewallItem, stack.FTPHelperItem:
		return rolePath(host, it)
	case stack.RouteItem:
		if it.Sub < len(h.Gateway) {
			return fmt.Sprintf("%s.gateway[%d]", host, it.Sub)
		}
		return field(fmt.Sprintf("%s.routes[%d]", host, it.Sub-len(h.Gateway)))
	}
	return field(host)
}

// runningServer is an FTP server of the lab, serving on its host.
type runningServer struct {
	cfg  *Server
	host *stack.Host
	mem  *store.Mem
	srv  *server.Server
	done chan error
}

// startServer fills the server's store and serves it on its host.
func (l *Lab) startServer(ctx context.Context, s *Server, host *stack.Host, t *labTLS, logger *slog.Logger) (*runningServer, error) {
	mem := store.NewMem()
	for _, f := range s.Files {
		if err := l.addFile(mem, f); err != nil {
			return nil, fmt.Errorf("server %s: %w", s.Name, err)
		}
	}
	cfg := server.Config{
		Network:              host,
		Store:                mem,
		Anonymous:            s.Anonymous,
		AllowPrivilegedPorts: s.AllowPrivilegedPorts,
		PassivePorts:         server.PortRange{Lo: s.PassivePorts.Lo, Hi: s.PassivePorts.Hi},
		PassiveAddress:       s.PassiveAddress.A(),
		DataTimeout:          s.DataTimeout.D(),
		Logger:               logger.With("server", s.Name),
		Greeting:             fmt.Sprintf("ftplab server %s ready", s.Name),
	}
	for _, u := range s.Users {
		cfg.Users = append(cfg.Users, server.User{Name: u.Name, Password: u.Password, ReadOnly: u.ReadOnly})
	}
	for _, p := range s.Trust {
		cfg.TrustedPeers = append(cfg.TrustedPeers, netip.Prefix(p))
	}
	if err := t.serverConfig(l, s, host, &cfg); err != nil {
		return nil, fmt.Errorf("server %s: %w", s.Name, err)
	}
	srv, err := server.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", s.Name, err)
	}
	ln, err := host.Listen(ctx, "tcp", fmt.Sprintf(":%d", s.Port))
	if err != nil {
		return nil, fmt.Errorf("server %s: listen on %s port %d: %w", s.Name, s.Host, s.Port, err)
	}
	rs := &runningServer{cfg: s, host: host, mem: mem, srv: srv, done: make(chan error, 1)}
	serve := srv.Serve
	if s.TLS != nil && s.TLS.Mode.implicit() {
		serve = srv.ServeTLS
	}
	go func() { rs.done <- serve(ctx, ln) }()
	return rs, nil
}

// stop shuts the server down and waits for its Serve to return: sessions
// that are ending (a QUIT over TLS waits for the client's close_notify)
// get stopGrace to finish, so that a lab ends without resets; the rest are
// closed then.
func (rs *runningServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), stopGrace)
	defer cancel()
	_ = rs.srv.Shutdown(ctx)
	<-rs.done
}

// stopGrace bounds how long a lab's end waits for its servers' sessions.
const stopGrace = 2 * time.Second

// addFile puts one configured file (or directory tree) into mem.
func (l *Lab) addFile(mem *store.Mem, f File) error {
	switch {
	case f.Content != nil:
		return mem.WriteFile(f.Path, []byte(*f.Content))
	case f.Size > 0:
		return mem.AddGenerated(f.Path, int64(f.Size), uint64(f.Seed))
	}
	dir := l.resolve(f.From)
	dest := f.Path
	if dest == "" {
		dest = "/"
	}
	root := os.DirFS(dir)
	return fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("files from %s: %w", dir, err)
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		data, err := fs.ReadFile(root, p)
		if err != nil {
			return fmt.Errorf("files from %s: %w", dir, err)
		}
		return mem.WriteFile(path.Join(dest, p), data)
	})
}
