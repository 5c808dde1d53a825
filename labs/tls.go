package labs

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/ftplab/ftplab/ftp"
	"github.com/ftplab/ftplab/ftp/client"
	"github.com/ftplab/ftplab/ftp/server"
	"github.com/ftplab/ftplab/stack"
)

// FTPS in a lab: servers with a tls: section (ServerTLS) and client steps
// with tls: explicit or implicit. Every certificate of the run goes into
// one pool the lab's clients trust, and every TLS secret, of servers and
// clients alike, goes to one keyLog: into the capture as pcapng Decryption
// Secrets Blocks (Wireshark decrypts with no setup) and to Options.KeyLog.

// serverTLS checks a server's tls: section: a certificate and key given
// together, readable and matching (embedded labs may not read files).
func (c *checker) serverTLS(at string, s *Server) {
	t := s.TLS
	if t == nil {
		return
	}
	switch {
	case (t.Cert == "") != (t.Key == ""):
		c.errorf(at, "server %q: tls: give both cert and key, or neither (a self-signed certificate is made for the run)", s.Name)
	case t.Cert != "" && c.l.embedded():
		c.errorf(at+".cert", "server %q: embedded labs cannot read certificate files", s.Name)
	case t.Cert != "":
		if _, err := ftp.LoadKeyPair(c.l.resolve(t.Cert), c.l.resolve(t.Key)); err != nil {
			c.errorf(at+".cert", "server %q: %v", s.Name, err)
		}
	}
}

// clientTLS checks that a step's TLS mode fits the server it talks to.
func (c *checker) clientTLS(at string, mode TLSMode, serverName, what string) {
	s := c.servers[serverName]
	if s == nil {
		return // reported by the reference's check
	}
	m := client.TLSMode(mode)
	switch {
	case s.TLS == nil && m != client.TLSOff:
		c.errorf(at, "%s: tls %s: server %q has no tls: section", what, m, serverName)
	case s.TLS != nil && s.TLS.Mode.implicit() && m != client.TLSImplicit:
		c.errorf(at, "%s: server %q is implicit FTPS (TLS from the first byte): use tls: implicit", what, serverName)
	case s.TLS != nil && !s.TLS.Mode.implicit() && m == client.TLSImplicit:
		c.errorf(at, "%s: server %q is explicit FTPS (AUTH TLS): use tls: explicit", what, serverName)
	}
}

// resolve makes a path of the lab file relative to its directory.
func (l *Lab) resolve(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(l.Dir, p)
}

// labTLS is a run's TLS: the certificates its clients trust and where
// every secret goes.
type labTLS struct {
	pool *x509.CertPool
	keys *keyLog
}

func newLabTLS(n *stack.Network, file io.Writer, logger *slog.Logger) *labTLS {
	return &labTLS{pool: x509.NewCertPool(), keys: &keyLog{net: n, file: file, log: logger, seen: map[string]bool{}}}
}

// serverConfig sets cfg's FTPS for server s on host: its certificate (the
// lab's files, or self-signed for the host's addresses), trusted by the
// lab's clients from now on.
func (t *labTLS) serverConfig(l *Lab, s *Server, host *stack.Host, cfg *server.Config) error {
	if s.TLS == nil {
		return nil
	}
	var cert tls.Certificate
	var err error
	if s.TLS.Cert != "" {
		cert, err = ftp.LoadKeyPair(l.resolve(s.TLS.Cert), l.resolve(s.TLS.Key))
	} else {
		var names []string
		for _, p := range host.Addrs() {
			names = append(names, p.Addr().String())
		}
		cert, err = ftp.SelfSigned(names...)
	}
	if err != nil {
		return err
	}
	for _, der := range cert.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("TLS certificate: %w", err)
		}
		t.pool.AddCert(c)
	}
	cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, KeyLogWriter: t.keys}
	cfg.RequireTLS, cfg.RequireTLSData = s.TLS.Require, s.TLS.RequireData
	cfg.TLSReuseOptional = s.TLS.Reuse == "optional"
	cfg.AllowCCC = s.TLS.CCC
	return nil
}

// clientOptions sets a lab client's TLS: mode, the lab's certificates as
// its roots, its secrets to the key log.
func (t *labTLS) clientOptions(mode TLSMode, o *client.Options) {
	o.TLS = client.TLSMode(mode)
	if o.TLS != client.TLSOff {
		o.TLSConfig = &tls.Config{RootCAs: t.pool, KeyLogWriter: t.keys}
	}
}

// keyLog is the KeyLogWriter of every TLS connection of a run: each NSS
// key log line (crypto/tls writes one per call, during the handshake,
// before the records it protects are sent) goes once into the capture as
// a Decryption Secrets Block, which the capture writes before the frames
// recorded after it, and to file. It never fails: a failing KeyLogWriter
// would fail the handshake.
type keyLog struct {
	mu   sync.Mutex
	net  *stack.Network
	file io.Writer // or nil
	log  *slog.Logger
	seen map[string]bool // both ends of a connection log its secrets
}

// Write implements io.Writer.
func (k *keyLog) Write(p []byte) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var fresh []byte
	for line := range bytes.Lines(p) {
		if !k.seen[string(line)] {
			k.seen[string(line)] = true
			fresh = append(fresh, line...)
		}
	}
	if len(fresh) == 0 {
		return len(p), nil
	}
	if err := k.net.CaptureSecrets(fresh); err != nil {
		k.log.Warn("TLS secrets not captured", "err", err)
	}
	if k.file != nil {
		if _, err := k.file.Write(fresh); err != nil {
			k.log.Warn("TLS key log", "err", err)
			k.file = nil
		}
	}
	return len(p), nil
}

// clientTLSBoth checks a step's TLS mode against both servers of a copy.
func (c *checker) clientTLSBoth(at string, mode TLSMode, from, to, what string) {
	src, _ := splitRef(from)
	dst, _ := splitRef(to)
	c.clientTLS(at, mode, src, what)
	if dst != src {
		c.clientTLS(at, mode, dst, what)
	}
}
