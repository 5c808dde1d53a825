// Package server is an FTP server (RFC 959, 2389, 2428, 3659) with RFC 478's
// SOCK/RTRV dialect and RFC 2577's third-party safety on by default. It
// listens and dials only through an ftp.Network, so it runs on a virtual
// host of a lab as well as on the operating system's network, and keeps its
// files behind a store.FS.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftplab/ftplab/ftp"
	"github.com/ftplab/ftplab/ftp/proto"
	"github.com/ftplab/ftplab/ftp/store"
)

// User is an account of the server.
type User struct {
	Name     string
	Password string
	ReadOnly bool     // may read and list only
	Store    store.FS // this user's files; nil means Config.Store
}

// PortRange is an inclusive range of TCP ports; the zero value means "any
// port the network picks".
type PortRange struct {
	Lo, Hi uint16
}

// Config configures a Server. Zero values take the defaults noted.
type Config struct {
	// Network is where the server listens and dials (required).
	Network ftp.Network
	// Store holds the files of users without their own (and anonymous).
	Store store.FS
	// Users are the accounts.
	Users []User
	// Anonymous lets "anonymous" and "ftp" log in with any password, read-only
	// unless AnonymousWrite, on Store.
	Anonymous      bool
	AnonymousWrite bool
	// ReadOnly makes every user read-only.
	ReadOnly bool
	// TrustedPeers are addresses other than a session's control peer that may
	// be the other end of its data connections: PORT/EPRT/SOCK may name them
	// at ports of 1024 and more and at their default data port (20, or L-1
	// of this server's control port L), and they may connect to its passive
	// sockets. This is what a server that takes part in third-party
	// transfers needs. A prefix of length 0 (0.0.0.0/0, ::/0) trusts every
	// host.
	TrustedPeers []netip.Prefix
	// AllowPrivilegedPorts lets PORT/EPRT/SOCK name any port below 1024 of
	// the client or a trusted peer (SMTP's 25 included: the bounce attack of
	// RFC 2577 §3 on a trusted host). Unsafe.
	AllowPrivilegedPorts bool
	// AllowForeign turns RFC 2577's third-party safety off: any address and
	// port is accepted. Unsafe; for teaching the bounce attack only.
	AllowForeign bool
	// PassivePorts is where PASV/EPSV listen; zero means any free port.
	PassivePorts PortRange
	// PassiveAddress is advertised in 227 replies instead of the control
	// connection's local address (for NAT).
	PassiveAddress netip.Addr
	// MaxSessions bounds concurrent sessions (default 64); MaxPerAddr bounds
	// them per client address (default 8). Excess connections get 421.
	MaxSessions int
	MaxPerAddr  int
	// MaxUnauthenticated bounds the sessions not logged in (default 16, at
	// most MaxSessions). A connection that finds this bound (or MaxSessions)
	// reached is still served: it closes, with 421, the oldest session not
	// logged in of the address that has the most of them, so connections
	// that never log in cannot keep clients out. LoginTimeout closes a
	// session that has not logged in that long after connecting (or after
	// a USER that starts a new login) with 421 (default 30s).
	MaxUnauthenticated int
	LoginTimeout       time.Duration
	// LoginFailDelay delays the reply to each failed login (default 1s;
	// negative for none), and the session is closed (530, then 421) after
	// MaxLoginFails failed logins (default 3; negative for no limit), as
	// vsftpd's delay_failed_login and max_login_fails do.
	LoginFailDelay time.Duration
	MaxLoginFails  int
	// IdleTimeout closes a session idle between commands (default 5m) with
	// 421; DataTimeout bounds setting up a data connection and any stall of
	// one (default 30s) with 425/426.
	IdleTimeout time.Duration
	DataTimeout time.Duration
	// Logger receives every command and reply (passwords masked); nil
	// discards.
	Logger *slog.Logger
	// Greeting is the text of the 220 reply.
	Greeting string

	// TLS, when set, turns FTPS on (RFC 4217): AUTH TLS (AUTH SSL too),
	// PBSZ, PROT, SSCN and CPSV, and ServeTLS for implicit FTPS. It needs a
	// certificate (ftp.SelfSigned makes one). Its KeyLogWriter receives the
	// secrets of every TLS connection of the server, control and data, as
	// TLS server and (SSCN, CPSV) as TLS client: a lab can collect them all
	// there. The server keeps a clone; session tickets must stay enabled.
	TLS *tls.Config
	// RequireTLS refuses USER (530) until AUTH TLS has protected the
	// control connection; RequireTLSData refuses PROT C (534) and any
	// transfer without PROT P (521).
	RequireTLS     bool
	RequireTLSData bool
	// TLSReuseOptional accepts a protected data connection whose TLS
	// session is not resumed from the control connection. By default such
	// a connection from the client's address is refused (as vsftpd's
	// require_ssl_reuse does): whoever steals the passive port cannot
	// complete the handshake. Clients that do not resume, such as Python's
	// ftplib, need it. A data connection from a trusted peer other than the
	// client (a third-party transfer's other server) never has to resume.
	TLSReuseOptional bool
	// AllowCCC accepts CCC (RFC 4217 §6) from a logged-in client: a 200
	// reply, both ends close TLS (close_notify) on the control connection,
	// and the session goes on in plain text, as a NAT or firewall that
	// reads FTP commands needs; data connections stay protected as PROT
	// set them, and PBSZ, PROT and AUTH are refused from then on. Without
	// it CCC is refused (534): a control connection in the clear can be
	// read and changed on the way.
	AllowCCC bool
}

// Defaults of Config.
const (
	DefaultMaxSessions        = 64
	DefaultMaxPerAddr         = 8
	DefaultMaxUnauthenticated = 16
	DefaultLoginTimeout       = 30 * time.Second
	DefaultLoginFailDelay     = time.Second
	DefaultMaxLoginFails      = 3
	DefaultIdleTimeout        = 5 * time.Minute
	DefaultDataTimeout        = 30 * time.Second
	DefaultGreeting           = "ftplab FTP server ready"
)

// Server is an FTP server. Serve it on one or more listeners; Close or
// Shutdown stops it.
type Server struct {
	cfg        Config
	log        *slog.Logger
	nextID     atomic.Uint64
	asciiSizes asciiSizes // TYPE A sizes for SIZE
	tls        *tlsState  // nil without TLS

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	perAddr   map[netip.Addr]int
	unauth    map[*session]struct{} // sessions not logged in, not evicted
	evicted   map[*session]struct{} // sessions told to go, still running
	wg        sync.WaitGroup
	idle      chan struct{} // closed and replaced when sessions drop to zero
}

// New checks cfg, fills in defaults and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Network == nil {
		return nil, errors.New("server config: Network is nil")
	}
	for _, u := range cfg.Users {
		if u.Name == "" {
			return nil, errors.New("server config: a user has an empty name")
		}
		if u.Store == nil && cfg.Store == nil {
			return nil, fmt.Errorf("server config: user %q has no store and Config.Store is nil", u.Name)
		}
	}
	if cfg.Anonymous && cfg.Store == nil {
		return nil, errors.New("server config: Anonymous needs Config.Store")
	}
	if cfg.PassivePorts.Lo > cfg.PassivePorts.Hi {
		return nil, fmt.Errorf("server config: passive port range %d-%d is empty", cfg.PassivePorts.Lo, cfg.PassivePorts.Hi)
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.MaxPerAddr <= 0 {
		cfg.MaxPerAddr = DefaultMaxPerAddr
	}
	if cfg.MaxUnauthenticated <= 0 {
		cfg.MaxUnauthenticated = DefaultMaxUnauthenticated
	}
	cfg.MaxUnauthenticated = min(cfg.MaxUnauthenticated, cfg.MaxSessions)
	if cfg.LoginTimeout <= 0 {
		cfg.LoginTimeout = DefaultLoginTimeout
	}
	switch {
	case cfg.LoginFailDelay == 0:
		cfg.LoginFailDelay = DefaultLoginFailDelay
	case cfg.LoginFailDelay < 0:
		cfg.LoginFailDelay = 0
	}
	switch {
	case cfg.MaxLoginFails == 0:
		cfg.MaxLoginFails = DefaultMaxLoginFails
	case cfg.MaxLoginFails < 0:
		cfg.MaxLoginFails = 0 // no limit
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.DataTimeout <= 0 {
		cfg.DataTimeout = DefaultDataTimeout
	}
	if cfg.Greeting == "" {
		cfg.Greeting = DefaultGreeting
	}
	ts, err := newTLSState(cfg.TLS)
	if err != nil {
		return nil, err
	}
	if (cfg.RequireTLS || cfg.RequireTLSData || cfg.AllowCCC) && ts == nil {
		return nil, errors.New("server config: RequireTLS, RequireTLSData or AllowCCC without TLS")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{
		cfg:       cfg,
		tls:       ts,
		log:       log,
		listeners: map[net.Listener]struct{}{},
		sessions:  map[*session]struct{}{},
		perAddr:   map[netip.Addr]int{},
		unauth:    map[*session]struct{}{},
		evicted:   map[*session]struct{}{},
		idle:      make(chan struct{}),
	}, nil
}

// ErrServerClosed is returned by Serve after Close or Shutdown.
var ErrServerClosed = errors.New("ftp server closed")

// ListenAndServe listens on addr ("host:port") of network and serves until
// ctx is done or the server is closed. Data connections always go through
// Config.Network; network is normally the same.
func (s *Server) ListenAndServe(ctx context.Context, network ftp.Network, addr string) error {
	ln, err := network.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("ftp server listen on %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve accepts control connections on ln until ctx is done or the server
// is closed; it closes ln. It returns ErrServerClosed (or ctx's error).
// Sessions end with ctx too (421); Close or Shutdown waits for them.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return s.serve(ctx, ln, false)
}

// ServeTLS is Serve for implicit FTPS (port 990 by convention): every
// control connection starts with the TLS handshake. It needs Config.TLS.
func (s *Server) ServeTLS(ctx context.Context, ln net.Listener) error {
	if s.tls == nil {
		ln.Close()
		return errors.New("ftp server: implicit TLS on " + ln.Addr().String() + " needs Config.TLS")
	}
	return s.serve(ctx, ln, true)
}

func (s *Server) serve(ctx context.Context, ln net.Listener, implicit bool) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	s.log.Info("ftp server listening", "addr", ln.Addr().String(), "implicit_tls", implicit)
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if s.isClosed() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("ftp server accept on %s: %w", ln.Addr(), err)
		}
		s.start(ctx, c, implicit)
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// start admits a control connection, or refuses it with 421 when a limit is
// reached. It never blocks on the client.
func (s *Server) start(ctx context.Context, c net.Conn, implicit bool) {
	peer := proto.AddrPortOf(c.RemoteAddr())
	s.mu.Lock()
	var refuse string
	switch {
	case s.closed:
		refuse = "421 Server shutting down."
	case s.perAddr[peer.Addr()] >= s.cfg.MaxPerAddr:
		refuse = fmt.Sprintf("421 Too many connections from %s (%d), try later.", peer.Addr(), s.cfg.MaxPerAddr)
	case len(s.sessions)-len(s.evicted) >= s.cfg.MaxSessions || len(s.unauth) >= s.cfg.MaxUnauthenticated:
		victim := s.oldestUnauthenticated()
		if victim == nil {
			refuse = fmt.Sprintf("421 Too many users (%d), try later.", s.cfg.MaxSessions)
			break
		}
		delete(s.unauth, victim)
		s.evicted[victim] = struct{}{}
		victim.evict()
	}
	if refuse != "" {
		s.mu.Unlock()
		s.log.Warn("ftp connection refused", "peer", peer.String(), "reason", refuse)
		s.wg.Go(func() {
			_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			_, _ = c.Write([]byte(refuse + "\r\n"))
			c.Close()
		})
		return
	}
	sess := newSession(s, c, s.nextID.Add(1), implicit)
	s.sessions[sess] = struct{}{}
	s.unauth[sess] = struct{}{}
	s.perAddr[peer.Addr()]++
	s.mu.Unlock()
	s.wg.Go(func() {
		defer s.finish(sess, peer.Addr())
		sess.run(ctx)
	})
}

// oldestUnauthenticated picks the session to close for a newcomer: the
// oldest not logged in of the address with the most such sessions; nil if
// every session is logged in. s.mu is held.
func (s *Server) oldestUnauthenticated() *session {
	count := map[netip.Addr]int{}
	for u := range s.unauth {
		count[u.peer.Addr()]++
	}
	var victim *session
	for u := range s.unauth {
		if victim == nil {
			victim = u
			continue
		}
		cu, cv := count[u.peer.Addr()], count[victim.peer.Addr()]
		if cu > cv || (cu == cv && u.id < victim.id) {
			victim = u
		}
	}
	return victim
}

// setLoggedIn records that sess logged in (or, with a new USER, started a
// new login): only sessions not logged in count against MaxUnauthenticated.
func (s *Server) setLoggedIn(sess *session, in bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, gone := s.evicted[sess]
	switch {
	case in:
		delete(s.unauth, sess)
	case !gone:
		s.unauth[sess] = struct{}{}
	}
}

func (s *Server) finish(sess *session, a netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, sess)
	delete(s.unauth, sess)
	delete(s.evicted, sess)
	if s.perAddr[a]--; s.perAddr[a] <= 0 {
		delete(s.perAddr, a)
	}
	if len(s.sessions) == 0 {
		close(s.idle)
		s.idle = make(chan struct{})
	}
}

// Close stops listening, ends every session at once and waits for them.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for ln := range s.listeners {
		ln.Close()
	}
	for sess := range s.sessions {
		sess.kill()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// Shutdown stops listening and waits for sessions to end by themselves
// until ctx is done, then closes the rest.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	for {
		s.mu.Lock()
		n, idle := len(s.sessions), s.idle
		s.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-idle:
		case <-ctx.Done():
			s.Close()
			return fmt.Errorf("ftp server shutdown: %w", ctx.Err())
		}
	}
	s.wg.Wait()
	return nil
}

// Sessions reports how many sessions are open.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// trusted reports whether a is one of the configured trusted peers.
func (s *Server) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range s.cfg.TrustedPeers {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseTrustedPeer parses a trusted peer as written on a command line or
// in a lab: an address ("10.0.0.2", that host alone) or a prefix
// ("10.0.0.0/24", any host in it).
func ParseTrustedPeer(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("trusted peer %q: not an address or prefix", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("trusted peer %q: not an address or prefix", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}
