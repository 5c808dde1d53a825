package main

import (
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ftplab/ftplab/ftp"
	"github.com/ftplab/ftplab/ftp/server"
	"github.com/ftplab/ftplab/ftp/store"
	"github.com/ftplab/ftplab/labs"
)

func init() { root.AddCommand(newServeCmd()) }

// serveFlags are the flags of ftplab serve.
type serveFlags struct {
	listen     string
	root       string
	users      []string
	anonymous  bool
	readOnly   bool
	trust      []string
	privileged bool
	pasvPorts  string
	pasvAddr   string
	debug      bool
	maxSession int
	// login limits (server.Config's MaxUnauthenticated, LoginTimeout,
	// LoginFailDelay, MaxLoginFails)
	maxUnauth      int
	loginTimeout   time.Duration
	loginFailDelay time.Duration
	maxLoginFails  int
	// FTPS
	tls, tlsRequired, tlsDataRequired, tlsReuseOptional, tlsCCC bool
	tlsCert, tlsKey, implicitTLS, keylog                        string
}

func newServeCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve --listen ADDR --root DIR",
		Short: "Serve a directory over FTP on the operating system's network",
		Long: `Serve a directory over FTP (the ftplab server: RFC 959, 2428, 3659, and
RFC 478's SOCK/RTRV) on the operating system's network until interrupted.

The directory is a jail: no path, "..", or symbolic link reaches outside it.
Third-party safety (RFC 2577) is on: PORT/EPRT to any host but the client's
own is refused, and passive sockets accept only the client, unless --trust
names the peer servers of third-party transfers. PORT/EPRT may name ports of
1024 and more, and a trusted peer's default data port (20, or the listening
port minus one); --allow-privileged-ports lifts that rule.

Listening on a non-loopback address exposes the directory to the network:
to try things out, stay on 127.0.0.0/8 (or run inside a network namespace,
"unshare -rn").

FTPS (RFC 4217): --tls offers AUTH TLS, PBSZ, PROT, SSCN and CPSV, with a
self-signed ECDSA certificate made at start (its SHA-256 is printed) unless
--tls-cert and --tls-key name one; --implicit-tls adds a port where TLS
starts with the first byte. Protected data connections must resume the
control connection's TLS session (as vsftpd's require_ssl_reuse), so a
thief who connects to a passive port first gets nothing; clients that do not
resume (Python's ftplib) need --tls-reuse-optional. CCC, which returns the
control connection to plain text after login (for a NAT or firewall that
reads FTP commands; anyone on the path can then read and change them), is
refused unless --tls-ccc; data connections stay protected after it. Clients
that lose their TLS session with CCC (lftp, curl's passive CCC mode) also
need --tls-reuse-optional. --keylog writes every TLS secret for Wireshark.`,
		Example: `  # Anonymous read-write server on loopback, trusting a second server for FXP
  ftplab serve --listen 127.0.0.2:2121 --root /tmp/a --anonymous --trust 127.0.0.3/32

  # Two users, one read-only, passive ports 50000-50100
  ftplab serve --listen 127.0.0.1:2121 --root ./pub --user alice:secret \
      --user bob:pw --read-only --pasv-ports 50000-50100

  # FTPS only, explicit on 2121 and implicit on 9990, secrets for Wireshark
  ftplab serve --listen 127.0.0.1:2121 --root ./pub --user alice:secret \
      --tls --tls-required --tls-data-required --implicit-tls 127.0.0.1:9990 \
      --keylog /tmp/keys.log`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", "", "address to listen on, host:port (required)")
	fl.StringVar(&f.root, "root", "", "directory to serve (required)")
	fl.StringArrayVar(&f.users, "user", nil, "account NAME:PASS (repeatable)")
	fl.BoolVar(&f.anonymous, "anonymous", false, `allow "anonymous" and "ftp" with any password`)
	fl.BoolVar(&f.readOnly, "read-only", false, "nobody may change files (anonymous may upload unless set)")
	fl.StringArrayVar(&f.trust, "trust", nil, "trusted third-party peer, address or prefix (repeatable)")
	fl.BoolVar(&f.privileged, "allow-privileged-ports", false, "let PORT/EPRT name ports below 1024 besides a trusted peer's data port 20 (unsafe: bounce attack)")
	fl.StringVar(&f.pasvPorts, "pasv-ports", "", "passive port range LO-HI (default: any free port)")
	fl.StringVar(&f.pasvAddr, "pasv-address", "", "address to advertise in PASV replies (for NAT)")
	fl.IntVar(&f.maxSession, "max-sessions", 0, "maximum concurrent sessions (default 64)")
	fl.IntVar(&f.maxUnauth, "max-unauthenticated", server.DefaultMaxUnauthenticated, "maximum sessions not logged in; a newcomer closes the oldest")
	fl.DurationVar(&f.loginTimeout, "login-timeout", server.DefaultLoginTimeout, "close a session not logged in after this long")
	fl.DurationVar(&f.loginFailDelay, "login-fail-delay", server.DefaultLoginFailDelay, "delay before answering a failed login (0: none)")
	fl.IntVar(&f.maxLoginFails, "max-login-fails", server.DefaultMaxLoginFails, "close the session after this many failed logins (0: no limit)")
	fl.BoolVar(&f.tls, "tls", false, "offer FTPS (AUTH TLS, RFC 4217), with a self-signed certificate unless --tls-cert/--tls-key")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate (chain) file for --tls")
	fl.StringVar(&f.tlsKey, "tls-key", "", "PEM private key file of --tls-cert")
	fl.StringVar(&f.implicitTLS, "implicit-tls", "", "also serve implicit FTPS (TLS from the first byte) on host:port")
	fl.BoolVar(&f.tlsRequired, "tls-required", false, "refuse USER before AUTH TLS")
	fl.BoolVar(&f.tlsDataRequired, "tls-data-required", false, "refuse transfers without PROT P")
	fl.BoolVar(&f.tlsReuseOptional, "tls-reuse-optional", false, "accept protected data connections that do not resume the control connection's TLS session (e.g. Python's ftplib)")
	fl.BoolVar(&f.tlsCCC, "tls-ccc", false, "accept CCC after login: the control connection goes back to plain text (RFC 4217 §6), data stays protected")
	fl.StringVar(&f.keylog, "keylog", "", "append the TLS secrets of every connection to FILE (NSS key log format, for Wireshark)")
	fl.BoolVar(&f.debug, "debug", false, "log every command and reply")
	_ = cmd.MarkFlagRequired("listen")
	_ = cmd.MarkFlagRequired("root")
	return cmd
}

// usageError is a bad flag or argument: exit status 2.
func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// serverConfig turns the flags into a server configuration (without Store).
func (f serveFlags) serverConfig() (server.Config, error) {
	cfg := server.Config{
		Network:        ftp.OS{},
		Anonymous:      f.anonymous,
		AnonymousWrite: f.anonymous && !f.readOnly,
		MaxSessions:    f.maxSession,

		AllowPrivilegedPorts: f.privileged,

		MaxUnauthenticated: f.maxUnauth,
		LoginTimeout:       f.loginTimeout,
		LoginFailDelay:     f.loginFailDelay,
		MaxLoginFails:      f.maxLoginFails,
	}
	// 0 on the command line means none; in server.Config it means the default
	if f.loginFailDelay == 0 {
		cfg.LoginFailDelay = -1
	}
	if f.maxLoginFails == 0 {
		cfg.MaxLoginFails = -1
	}
	if len(f.users) == 0 && !f.anonymous {
		return cfg, usageError("serve: no accounts: give --user NAME:PASS or --anonymous")
	}
	for _, u := range f.users {
		name, pass, ok := strings.Cut(u, ":")
		if !ok || name == "" {
			return cfg, usageError("serve: --user %q: want NAME:PASS", u)
		}
		cfg.Users = append(cfg.Users, server.User{Name: name, Password: pass, ReadOnly: f.readOnly})
	}
	for _, t := range f.trust {
		p, err := server.ParseTrustedPeer(t)
		if err != nil {
			return cfg, usageError("serve: --trust %q: %w", t, err)
		}
		cfg.TrustedPeers = append(cfg.TrustedPeers, p)
	}
	if f.pasvPorts != "" {
		r, err := labs.ParsePortRange(f.pasvPorts)
		if err != nil {
			return cfg, usageError("serve: --pasv-ports: %w", err)
		}
		cfg.PassivePorts = server.PortRange{Lo: r.Lo, Hi: r.Hi}
	}
	if f.pasvAddr != "" {
		a, err := netip.ParseAddr(f.pasvAddr)
		if err != nil {
			return cfg, usageError("serve: --pasv-address %q: not an IP address", f.pasvAddr)
		}
		cfg.PassiveAddress = a
	}
	return cfg, nil
}

// tlsConfig makes the server's TLS configuration from the flags: the
// certificate of --tls-cert/--tls-key or a self-signed one for the listen
// addresses, and the key log. close closes the key log file.
func (f serveFlags) tlsConfig(hosts ...string) (cfg *tls.Config, close func(), err error) {
	close = func() {}
	if !f.tls {
		if f.tlsCert != "" || f.tlsKey != "" || f.implicitTLS != "" || f.keylog != "" || f.tlsRequired || f.tlsDataRequired || f.tlsReuseOptional || f.tlsCCC {
			return nil, close, usageError("serve: TLS flags need --tls")
		}
		return nil, close, nil
	}
	var cert tls.Certificate
	switch {
	case f.tlsCert != "" && f.tlsKey != "":
		cert, err = ftp.LoadKeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return nil, close, usageError("serve: %w", err)
		}
	case f.tlsCert != "" || f.tlsKey != "":
		return nil, close, usageError("serve: --tls-cert and --tls-key go together")
	default:
		cert, err = ftp.SelfSigned(hosts...)
		if err != nil {
			return nil, close, fmt.Errorf("serve: %w", err)
		}
	}
	cfg = &tls.Config{Certificates: []tls.Certificate{cert}}
	if f.keylog != "" {
		kl, err := os.OpenFile(f.keylog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return nil, close, usageError("serve: --keylog: %w", err)
		}
		cfg.KeyLogWriter = kl
		close = func() { kl.Close() }
	}
	return cfg, close, nil
}

func runServe(cmd *cobra.Command, f serveFlags) error {
	cfg, err := f.serverConfig()
	if err != nil {
		return err
	}
	listen, err := netip.ParseAddrPort(f.listen)
	if err != nil {
		return usageError("serve: --listen %q: want IP:PORT", f.listen)
	}
	hosts := []string{listen.Addr().String(), "localhost"}
	var implicit netip.AddrPort
	if f.implicitTLS != "" {
		if implicit, err = netip.ParseAddrPort(f.implicitTLS); err != nil {
			return usageError("serve: --implicit-tls %q: want IP:PORT", f.implicitTLS)
		}
		hosts = append(hosts, implicit.Addr().String())
	}
	tlsCfg, closeKeylog, err := f.tlsConfig(hosts...)
	if err != nil {
		return err
	}
	defer closeKeylog()
	cfg.TLS, cfg.RequireTLS, cfg.RequireTLSData, cfg.TLSReuseOptional, cfg.AllowCCC = tlsCfg, f.tlsRequired, f.tlsDataRequired, f.tlsReuseOptional, f.tlsCCC
	st, err := store.NewDir(f.root)
	if err != nil {
		return usageError("serve: --root: %w", err)
	}
	defer st.Close()
	cfg.Store = st
	level := slog.LevelInfo
	if f.debug {
		level = slog.LevelDebug
	}
	cfg.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
	srv, err := server.New(cfg)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	ctx := cmd.Context()
	ln, err := cfg.Network.Listen(ctx, "tcp", f.listen)
	if err != nil {
		return fmt.Errorf("serve: listen on %s: %w", f.listen, err)
	}
	var implicitDone chan error
	if implicit.IsValid() {
		iln, err := cfg.Network.Listen(ctx, "tcp", implicit.String())
		if err != nil {
			ln.Close()
			return fmt.Errorf("serve: --implicit-tls: listen on %s: %w", implicit, err)
		}
		implicitDone = make(chan error, 1)
		go func() { implicitDone <- srv.ServeTLS(ctx, iln) }()
		fmt.Fprintf(cmd.OutOrStdout(), "serving %s on ftps://%s (implicit TLS)\n", f.root, iln.Addr())
	}
	offer := ""
	if tlsCfg != nil {
		offer = ", AUTH TLS offered"
		if c := tlsCfg.Certificates[0].Leaf; c != nil && f.tlsCert == "" {
			fmt.Fprintf(cmd.OutOrStdout(), "self-signed TLS certificate for %s, SHA-256 %X\n", strings.Join(hosts, ", "), sha256.Sum256(c.Raw))
		}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "serving %s on ftp://%s (interrupt to stop%s)\n", f.root, ln.Addr(), offer)
	err = srv.Serve(ctx, ln)
	cerr := srv.Close()
	if implicitDone != nil {
		ierr := <-implicitDone
		if !errors.Is(ierr, server.ErrServerClosed) && !errors.Is(ierr, ctx.Err()) {
			err = errors.Join(err, ierr)
		}
	}
	if ctx.Err() != nil && (errors.Is(err, ctx.Err()) || errors.Is(err, server.ErrServerClosed)) {
		return cerr // interrupted: the normal way to stop
	}
	return errors.Join(err, cerr)
}
