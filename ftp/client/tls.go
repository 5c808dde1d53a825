package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"net/textproto"
	"strings"
	"time"

	"github.com/ftplab/ftplab/ftp"
)

// TLSMode is whether and how a Client protects its connections (RFC 4217).
type TLSMode int

const (
	// TLSOff is plain FTP (the default).
	TLSOff TLSMode = iota
	// TLSExplicit sends AUTH TLS after the greeting, then PBSZ 0 and PROT P
	// (PROT C with Options.ClearData): explicit FTPS.
	TLSExplicit
	// TLSImplicit starts the control connection with the TLS handshake
	// (implicit FTPS, port 990 by convention), then PBSZ 0 and PROT P.
	TLSImplicit
)

var tlsModeNames = enumNames[TLSMode]{typ: "TLSMode", what: "TLS mode", names: []string{TLSOff: "off", TLSExplicit: "explicit", TLSImplicit: "implicit"}}

// String names the mode as ParseTLSMode accepts it.
func (m TLSMode) String() string { return tlsModeNames.name(m) }

// ParseTLSMode parses "off", "explicit" or "implicit" (any case).
func ParseTLSMode(s string) (TLSMode, error) { return tlsModeNames.parse(s) }

// tlsConfig is the configuration of the control connection and every data
// connection of a client for the server at host: one session cache, so
// that data connections resume the control connection's TLS session, as
// servers that require session reuse (vsftpd, ftplab) want.
func (o Options) tlsConfig(host string) *tls.Config {
	cfg := &tls.Config{}
	if o.TLSConfig != nil {
		cfg = o.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	if cfg.ClientSessionCache == nil {
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if o.Insecure {
		cfg.InsecureSkipVerify = true
	}
	return cfg
}

// startTLS runs the TLS handshake on the control connection and reads
// from the TLS connection from then on.
func (c *Client) startTLS(ctx context.Context) error {
	c.record = ftp.NewRecordConn(c.conn)
	tc := tls.Client(c.record, c.tls)
	hctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return fmt.Errorf("ftp server %s: TLS handshake: %w", c.remote, err)
	}
	c.conn, c.text = tc, textproto.NewConn(tc)
	st := tc.ConnectionState()
	c.log.Debug("ftp TLS on control connection", "version", tls.VersionName(st.Version), "cipher", tls.CipherSuiteName(st.CipherSuite))
	return nil
}

// secureSession is what Dial does with TLS after the greeting: AUTH TLS
// and the handshake (explicit FTPS only), then PBSZ 0 and PROT.
func (c *Client) secureSession(ctx context.Context) error {
	if c.opts.TLS == TLSExplicit {
		if _, err := c.expect(ctx, 234, "AUTH TLS"); err != nil {
			return err
		}
		if err := c.startTLS(ctx); err != nil {
			return err
		}
	}
	if _, err := c.expect(ctx, 2, "PBSZ 0"); err != nil {
		return err
	}
	prot := "P"
	if c.opts.ClearData {
		prot = "C"
	}
	return c.Prot(ctx, prot)
}

// Prot sends PROT P (data connections protected by TLS) or PROT C (in the
// clear) after PBSZ. It needs a TLS control connection.
func (c *Client) Prot(ctx context.Context, level string) error {
	level = strings.ToUpper(level)
	if _, ok := c.conn.(*tls.Conn); !ok {
		return fmt.Errorf("ftp server %s: PROT %s: the control connection is not TLS", c.remote, level)
	}
	if _, err := c.expect(ctx, 2, "PROT %s", level); err != nil {
		return err
	}
	c.protect = level == "P"
	return nil
}

// CCC clears the control connection (RFC 4217 §6): after the server's 200
// both ends close TLS on it (close_notify) and the session goes on in
// plain text, so that a NAT or firewall on the way can read the commands
// (and anyone can read and change them); data connections stay protected
// as PROT set them, and PBSZ, PROT and AUTH are over. Servers refuse it
// unless configured to allow it (534), ftplab's among them.
func (c *Client) CCC(ctx context.Context) error {
	if _, ok := c.conn.(*tls.Conn); !ok {
		return fmt.Errorf("ftp server %s: CCC: the control connection is not TLS", c.remote)
	}
	if _, err := c.expect(ctx, 200, "CCC"); err != nil {
		return err
	}
	return c.clearControl(ctx)
}

// clearControl ends TLS on the control connection after a 200 to CCC:
// our close_notify, then the server's, within Options.Timeout.
func (c *Client) clearControl(ctx context.Context) error {
	tc := c.conn.(*tls.Conn)
	if n := c.text.R.Buffered(); n > 0 {
		return fmt.Errorf("ftp server %s: CCC: %d bytes after the 200 reply inside TLS", c.remote, n)
	}
	if err := c.record.EndTLS(tc); err != nil {
		return fmt.Errorf("ftp server %s: %w", c.remote, err)
	}
	dl := time.Now().Add(c.opts.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	_ = c.record.SetReadDeadline(dl)
	if err := c.record.Clear(tc); err != nil {
		return fmt.Errorf("ftp server %s: %w", c.remote, err)
	}
	_ = c.record.SetReadDeadline(time.Time{})
	c.conn, c.text = c.record, textproto.NewConn(c.record)
	c.log.Debug("ftp control connection in the clear (CCC)")
	return nil
}

// Protected reports whether data connections are protected (PROT P).
func (c *Client) Protected() bool { return c.protect }

// TLS reports the control connection's TLS state; false without TLS.
func (c *Client) TLS() (tls.ConnectionState, bool) {
	if tc, ok := c.conn.(*tls.Conn); ok {
		return tc.ConnectionState(), true
	}
	return tls.ConnectionState{}, false
}

// SSCN sends SSCN ON or OFF: with ON, the server is the TLS client on its
// next data connections (one server of a secure third-party transfer must
// be).
func (c *Client) SSCN(ctx context.Context, on bool) error {
	arg := "OFF"
	if on {
		arg = "ON"
	}
	_, err := c.expect(ctx, 2, "SSCN %s", arg)
	return err
}

// CPSV is PASV for a data connection on which the server is the TLS
// client; it returns the address from the 227 reply.
func (c *Client) CPSV(ctx context.Context) (netip.AddrPort, error) {
	return c.passive(ctx, "CPSV")
}

// secureData runs the TLS client handshake on a data connection, resuming
// the control connection's session.
func (c *Client) secureData(ctx context.Context, conn net.Conn) (net.Conn, error) {
	tc := ftp.DataClient(conn, c.tls)
	hctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return nil, fmt.Errorf("ftp server %s: TLS handshake on data connection: %w", c.remote, err)
	}
	c.log.Debug("ftp TLS on data connection", "resumed", tc.ConnectionState().DidResume)
	return tc, nil
}
