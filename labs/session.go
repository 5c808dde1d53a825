package labs

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/ftplab/ftplab/ftp/client"
)

// clientTimeout bounds dialling and data-connection setup of lab clients.
const clientTimeout = 10 * time.Second

// splitRef splits "NAME:/path".
func splitRef(ref string) (name, path string) {
	name, path, _ = strings.Cut(ref, ":")
	return name, path
}

// serverAddr picks the server's control address the client host can reach:
// its address key (a server behind a port forward), or else the first
// address of its host of a family the client host also has.
func (r *runner) serverAddr(clientHost string, rs *runningServer) (netip.AddrPort, error) {
	if ap := netip.AddrPort(rs.cfg.Address); ap.Addr().IsValid() {
		if ap.Port() == 0 {
			ap = netip.AddrPortFrom(ap.Addr(), uint16(rs.cfg.Port))
		}
		return ap, nil
	}
	var has4, has6 bool
	for _, p := range r.net.Host(clientHost).Addrs() {
		has4 = has4 || p.Addr().Is4()
		has6 = has6 || p.Addr().Is6()
	}
	for _, p := range rs.host.Addrs() {
		if (p.Addr().Is4() && has4) || (p.Addr().Is6() && has6) {
			return netip.AddrPortFrom(p.Addr(), uint16(rs.cfg.Port)), nil
		}
	}
	return netip.AddrPort{}, fmt.Errorf("server %s: no address of a family host %s has", rs.cfg.Name, clientHost)
}

// dial opens a logged-in control connection from clientHost to a server:
// as its first user, or anonymous; with TLS as mode says (trusting the
// lab's certificates).
func (r *runner) dial(ctx context.Context, clientHost, serverName string, o dialOpts) (*client.Client, error) {
	rs := r.servers[serverName]
	addr, err := r.serverAddr(clientHost, rs)
	if err != nil {
		return nil, err
	}
	opts := client.Options{Timeout: clientTimeout, Mode: client.Mode(o.data)}
	r.tls.clientOptions(o.tls, &opts)
	c, err := client.Dial(ctx, r.net.Host(clientHost), addr.String(), opts)
	if err != nil {
		return nil, fmt.Errorf("%s: connect to server %s at %s: %w", clientHost, serverName, addr, r.explainUnreachable(err, clientHost, rs.cfg.Host))
	}
	user, pass := "anonymous", "ftplab@"
	if len(rs.cfg.Users) > 0 {
		user, pass = rs.cfg.Users[0].Name, rs.cfg.Users[0].Password
	}
	if err := c.Login(ctx, user, pass); err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: log in to server %s as %s: %w", clientHost, serverName, user, err)
	}
	return c, nil
}

// dialOpts is how a step's client connects: TLS, and how it opens data
// connections.
type dialOpts struct {
	tls  TLSMode
	data DataMode
}

// keptSession is a control connection kept for cmd steps; mu keeps one
// command and its replies together when cmd steps run concurrently.
type keptSession struct {
	mu sync.Mutex
	c  *client.Client
}

// session returns the client's kept session with a server (cmd steps),
// one per TLS mode, opening and logging it in on first use, and locked:
// the caller unlocks it when its command's replies are read.
func (r *runner) session(ctx context.Context, clientHost, serverName string, mode TLSMode) (*keptSession, error) {
	key := clientHost + "/" + serverName + "/" + client.TLSMode(mode).String()
	r.sessMu.Lock()
	ks := r.sessions[key]
	if ks == nil {
		ks = &keptSession{}
		r.sessions[key] = ks
	}
	r.sessMu.Unlock()
	ks.mu.Lock()
	if ks.c == nil {
		c, err := r.dial(ctx, clientHost, serverName, dialOpts{tls: mode})
		if err != nil {
			ks.mu.Unlock()
			return nil, err
		}
		ks.c = c
	}
	return ks, nil
}

// closeSessions ends the kept sessions politely.
func (r *runner) closeSessions(ctx context.Context) {
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	r.sessMu.Lock()
	defer r.sessMu.Unlock()
	for _, ks := range r.sessions {
		ks.mu.Lock()
		quit(qctx, ks.c)
		ks.mu.Unlock()
	}
}

// quit ends a step's control connection politely.
func quit(ctx context.Context, cs ...*client.Client) {
	for _, c := range cs {
		if c != nil && c.Quit(ctx) != nil {
			c.Close()
		}
	}
}

// retr downloads ref ("SERVER:/path") through clientHost into w, timing
// the transfer (RETR to its final reply) in res.
func (r *runner) retr(ctx context.Context, clientHost, ref string, o dialOpts, w io.Writer, res *StepResult) error {
	name, path := splitRef(ref)
	return r.transfer(ctx, clientHost, "get", ref, o, r.serverFileSize(name, path), res,
		func(c *client.Client, bar client.Option) (int64, error) { return c.Retr(ctx, path, w, bar) })
}

// stor uploads data to ref through clientHost, timing the transfer (STOR
// to its final reply) in res.
func (r *runner) stor(ctx context.Context, clientHost, ref string, o dialOpts, data io.Reader, size int64, res *StepResult) error {
	_, path := splitRef(ref)
	if err := r.transfer(ctx, clientHost, "put", ref, o, size, res,
		func(c *client.Client, bar client.Option) (int64, error) { return c.Stor(ctx, path, data, bar) }); err != nil {
		return err
	}
	res.Code = 226
	return nil
}

// transfer runs op, one transfer of size bytes (-1: unknown), on a new
// session (TLS as mode says) from clientHost with ref's server: with a
// progress bar, its time and bytes counted in res.
func (r *runner) transfer(ctx context.Context, clientHost, verb, ref string, o dialOpts, size int64, res *StepResult,
	op func(c *client.Client, bar client.Option) (int64, error)) error {
	name, _ := splitRef(ref)
	c, err := r.dial(ctx, clientHost, name, o)
	if err != nil {
		return err
	}
	defer quit(ctx, c)
	bar := r.progress(res.Name, size)
	t0 := time.Now()
	n, err := op(c, client.WithProgress(bar.update))
	res.TransferTime += time.Since(t0)
	bar.done()
	res.Bytes += n
	if err != nil {
		return fmt.Errorf("%s %s: %w", verb, ref, err)
	}
	return nil
}

// serverFileSize is the size of a server's file, or -1.
func (r *runner) serverFileSize(name, path string) int64 {
	if rs := r.servers[name]; rs != nil {
		if fi, err := rs.mem.Stat(path); err == nil {
			return fi.Size
		}
	}
	return -1
}
