package client

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/ftp"
	"github.com/ftplab/ftplab/ftp/proto"
	"github.com/ftplab/ftplab/ftp/server"
)

var (
	certOnce sync.Once
	testCert tls.Certificate
)

// serverTLS is a server TLS configuration with a self-signed certificate
// for the loopback network, made once per test binary.
func serverTLS(tb testing.TB) *tls.Config {
	tb.Helper()
	certOnce.Do(func() {
		var err error
		testCert, err = ftp.SelfSigned("127.0.0.1", "localhost")
		require.NoError(tb, err)
	})
	return &tls.Config{Certificates: []tls.Certificate{testCert}}
}

// trustTestCert is a client TLS configuration that trusts the test
// certificate (and nothing else).
func trustTestCert(tb testing.TB) *tls.Config {
	serverTLS(tb)
	pool := x509.NewCertPool()
	pool.AddCert(testCert.Leaf)
	return &tls.Config{RootCAs: pool}
}

// Every operation works over FTPS, explicit and implicit, in every data
// connection mode, with the server requiring TLS for login and data and
// session reuse on data connections (its default).
func TestFTPSOperations(t *testing.T) {
	ctx := testCtx(t)
	cfg := server.Config{TLS: serverTLS(t), RequireTLS: true, RequireTLSData: true}
	explicit := startServer(t, "127.0.0.1:0", cfg)
	implicit := startServing(t, "127.0.0.1:0", cfg, true)
	payload := bytes.Repeat([]byte("ftps "), 100000)
	for _, tc := range []struct {
		tls  TLSMode
		srv  ourServer
		mode Mode
	}{
		{TLSExplicit, explicit, ModeEPSV}, {TLSExplicit, explicit, ModePASV},
		{TLSExplicit, explicit, ModeEPRT}, {TLSExplicit, explicit, ModePORT},
		{TLSImplicit, implicit, ModeAuto}, {TLSImplicit, implicit, ModePORT},
	} {
		t.Run(fmt.Sprintf("%s/%s", tc.tls, tc.mode), func(t *testing.T) {
			c := dialUser(t, ctx, tc.srv.addr, Options{TLS: tc.tls, Mode: tc.mode, TLSConfig: trustTestCert(t)})
			st, ok := c.TLS()
			require.True(t, ok)
			assert.True(t, st.HandshakeComplete)
			assert.True(t, c.Protected())
			name := "/" + tc.tls.String() + "-" + tc.mode.String()
			n, err := c.Stor(ctx, name, bytes.NewReader(payload))
			require.NoError(t, err)
			assert.EqualValues(t, len(payload), n)
			assertRetr(t, ctx, c, name, payload)
			names, err := c.NameList(ctx, "/")
			require.NoError(t, err)
			assert.Contains(t, names, name[1:])
			entries, err := c.MLSD(ctx, "/")
			require.NoError(t, err)
			assert.NotEmpty(t, entries)
			require.NoError(t, c.Quit(ctx))
		})
	}
}

// Verification: the system roots do not know a self-signed certificate;
// a CA file (RootCAs) or Insecure gets through.
func TestFTPSVerification(t *testing.T) {
	ctx := testCtx(t)
	srv := startServer(t, "127.0.0.1:0", server.Config{TLS: serverTLS(t)})
	_, err := Dial(ctx, osNet, srv.addr.String(), Options{TLS: TLSExplicit})
	var unknown x509.UnknownAuthorityError
	require.ErrorAs(t, err, &unknown, "the default verifies against the system roots")

	require.NoError(t, srv.mem.WriteFile("/f", []byte("verified")))
	for name, opts := range map[string]Options{
		"ca":       {TLS: TLSExplicit, TLSConfig: trustTestCert(t)},
		"insecure": {TLS: TLSExplicit, Insecure: true},
	} {
		t.Run(name, func(t *testing.T) {
			c := dialUser(t, ctx, srv.addr, opts)
			assertRetr(t, ctx, c, "/f", []byte("verified"))
		})
	}
}

// ClearData: a protected control connection, data in the clear (PROT C);
// a server that requires protected data refuses it.
func TestFTPSClearData(t *testing.T) {
	ctx := testCtx(t)
	srv := startServer(t, "127.0.0.1:0", server.Config{TLS: serverTLS(t)})
	require.NoError(t, srv.mem.WriteFile("/f", []byte("clear")))
	c := dialUser(t, ctx, srv.addr, Options{TLS: TLSExplicit, Insecure: true, ClearData: true})
	assert.False(t, c.Protected())
	assertRetr(t, ctx, c, "/f", []byte("clear"))

	strict := startServer(t, "127.0.0.1:0", server.Config{TLS: serverTLS(t), RequireTLSData: true})
	_, err := Dial(ctx, osNet, strict.addr.String(), Options{TLS: TLSExplicit, Insecure: true, ClearData: true})
	require.True(t, IsReply(err, 534), "PROT C refused: %v", err)

	plain := startServer(t, "127.0.0.1:0", server.Config{})
	_, err = Dial(ctx, osNet, plain.addr.String(), Options{TLS: TLSExplicit, Insecure: true})
	require.True(t, IsReply(err, 502), "AUTH TLS on a server without TLS: %v", err)
}

// wiretap relays TCP connections to a server and records what the
// clients send, as someone on the path sees it.
type wiretap struct {
	addr netip.AddrPort
	mu   sync.Mutex
	sent bytes.Buffer
}

// Write records bytes a client sent.
func (w *wiretap) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sent.Write(p)
}

// String is what the clients sent so far.
func (w *wiretap) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sent.String()
}

// startWiretap listens on loopback and relays each connection to target
// until the test ends.
func startWiretap(t *testing.T, target netip.AddrPort) *wiretap {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	w := &wiretap{addr: proto.AddrPortOf(ln.Addr())}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target.String())
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, s)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(io.MultiWriter(s, w), c); s.Close() })
			wg.Go(func() { _, _ = io.Copy(c, s); c.Close() })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return w
}

// CCC: refused by default; allowed, the commands after it cross in the
// clear (seen on the wire) while data connections stay protected, and
// PROT can no longer change. A raw CCC through Cmd does the same.
func TestCCCClient(t *testing.T) {
	ctx := testCtx(t)
	refusing := startServer(t, "127.0.0.1:0", server.Config{TLS: serverTLS(t)})
	c, err := Dial(ctx, osNet, refusing.addr.String(), Options{TLS: TLSExplicit, Insecure: true, CCC: true})
	require.NoError(t, err)
	defer c.Close()
	require.True(t, IsReply(c.Login(ctx, testUser, testPass), 534), "CCC refused by default")

	srv := startServer(t, "127.0.0.1:0", server.Config{TLS: serverTLS(t), AllowCCC: true, RequireTLS: true, RequireTLSData: true})
	payload := bytes.Repeat([]byte("after ccc "), 50000)
	require.NoError(t, srv.mem.WriteFile("/f", payload))
	for _, raw := range []bool{false, true} {
		t.Run(fmt.Sprintf("raw=%v", raw), func(t *testing.T) {
			tap := startWiretap(t, srv.addr)
			c := dialUser(t, ctx, tap.addr, Options{TLS: TLSExplicit, Insecure: true, CCC: !raw})
			if raw {
				code, _, err := c.Cmd(ctx, "CCC")
				require.NoError(t, err)
				require.Equal(t, 200, code)
			}
			_, isTLS := c.TLS()
			assert.False(t, isTLS, "the control connection is in the clear")
			assert.True(t, c.Protected(), "data stays protected")
			assertRetr(t, ctx, c, "/f", payload)
			_, err := c.Stor(ctx, "/up", bytes.NewReader(payload[:12345]))
			require.NoError(t, err)
			got, err := srv.mem.ReadFile("/up")
			require.NoError(t, err)
			assert.Equal(t, payload[:12345], got)
			require.ErrorContains(t, c.Prot(ctx, "C"), "not TLS")
			require.NoError(t, c.Quit(ctx))
			wire := tap.String()
			assert.NotContains(t, wire, "USER "+testUser, "the login crossed inside TLS")
			assert.Contains(t, wire, "RETR /f\r\n", "commands after CCC cross in the clear")
			assert.Contains(t, wire, "STOR /up\r\n")
			assert.NotContains(t, wire, "after ccc", "the data did not")
		})
	}
}
