package server

import (
	"crypto/tls"
	"io"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/ftp"
	"github.com/ftplab/ftplab/ftp/proto"
	"github.com/ftplab/ftplab/ftp/store"
)

var (
	certOnce sync.Once
	testCert tls.Certificate
)

// serverTLS is a TLS configuration with a self-signed certificate for
// 127.0.0.1-3, made once per test binary.
func serverTLS(t testing.TB) *tls.Config {
	t.Helper()
	certOnce.Do(func() {
		var err error
		testCert, err = ftp.SelfSigned("127.0.0.1", "127.0.0.2", "127.0.0.3", "localhost")
		require.NoError(t, err)
	})
	return &tls.Config{Certificates: []tls.Certificate{testCert}}
}

// withTLS turns TLS on in a test server's config and applies more.
func withTLS(t testing.TB, more ...func(*Config)) func(*Config) {
	return func(c *Config) {
		c.TLS = serverTLS(t)
		for _, m := range more {
			m(c)
		}
	}
}

// tlsClient is the test client's TLS config: it skips verification, and
// caches sessions under one name (the servers' host) so that data
// connections resume (Go keys its cache by ServerName, else by address and
// port).
func tlsClient() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, ServerName: "127.0.0.2", ClientSessionCache: tls.NewLRUClientSessionCache(4)}
}

// authTLS sends AUTH TLS and continues the control connection over TLS.
func (c *client) authTLS(cfg *tls.Config) {
	c.t.Helper()
	c.cmd(234, "AUTH TLS")
	c.rec = ftp.NewRecordConn(c.conn)
	tc := tls.Client(c.rec, cfg)
	require.NoError(c.t, tc.Handshake())
	c.conn, c.tp, c.tls = tc, textproto.NewConn(tc), cfg
}

// clear ends TLS on the control connection after a 200 to CCC as mode
// says, then sends next in plain text. close-notify: our close_notify,
// the server's, then next; close-notify-at-once: our close_notify and
// next together, then the server's close_notify; wait: no close_notify
// of ours, the server's, then next (curl's passive CCC mode); at-once:
// next at once, no close_notify either way.
func (c *client) clear(mode, next string) {
	c.t.Helper()
	tc := c.conn.(*tls.Conn)
	_ = c.rec.SetReadDeadline(time.Now().Add(5 * time.Second))
	if strings.HasPrefix(mode, "close-notify") {
		require.NoError(c.t, c.rec.EndTLS(tc))
	}
	send := func() {
		_, err := c.rec.Write([]byte(next + "\r\n"))
		require.NoError(c.t, err)
	}
	switch mode {
	case "close-notify", "wait":
		require.NoError(c.t, c.rec.Clear(tc))
		send()
	case "close-notify-at-once":
		send()
		require.NoError(c.t, c.rec.Clear(tc))
	default:
		send()
		c.rec.SetClear()
	}
	c.conn, c.tp = c.rec, textproto.NewConn(c.rec)
}

// secure logs in over TLS with PROT P.
func (c *client) secure(cfg *tls.Config) {
	c.t.Helper()
	c.authTLS(cfg)
	c.cmd(200, "PBSZ 0")
	c.cmd(200, "PROT P")
	c.login("u", "p")
}

func TestTLSCommandsWithoutTLS(t *testing.T) {
	ts := startServer(t, "127.0.0.2", nil)
	c := dial(t, ts, "127.0.0.2")
	assert.NotContains(t, c.cmd(211, "FEAT"), "AUTH")
	runSteps(t, c, []step{
		{"AUTH TLS", 502, "TLS not enabled"}, {"PBSZ 0", 502, "TLS not enabled"}, {"PROT P", 502, "TLS not enabled"},
		{"SSCN ON", 530, ""}, {"USER u", 331, ""}, {"PASS p", 230, ""},
		{"SSCN ON", 502, "TLS not enabled"}, {"CPSV", 502, "TLS not enabled"}, {"CCC", 502, "TLS not enabled"},
	})
	_, err := New(Config{Network: ftp.OS{}, Store: ts.fs, RequireTLS: true})
	require.ErrorContains(t, err, "without TLS")
	_, err = New(Config{Network: ftp.OS{}, Store: ts.fs, TLS: &tls.Config{}})
	require.ErrorContains(t, err, "no certificate")
}

// The order of RFC 4217 and the policies: TLS for login and for data.
func TestTLSPolicy(t *testing.T) {
	ts := startServer(t, "127.0.0.2", withTLS(t, func(c *Config) { c.RequireTLS, c.RequireTLSData = true, true }))
	require.NoError(t, ts.fs.WriteFile("/f", []byte("secret")))
	c := dial(t, ts, "127.0.0.2")
	feat := c.cmd(211, "FEAT")
	for _, f := range []string{"AUTH TLS", "PBSZ", "PROT", "SSCN", "CPSV"} {
		assert.Contains(t, feat, "\n "+f+"\n")
	}
	assert.NotContains(t, feat, "CCC", "CCC is refused, so not announced")
	runSteps(t, c, []step{
		{"USER u", 530, "AUTH TLS"}, {"PBSZ 0", 503, "AUTH TLS first"}, {"PROT P", 503, "AUTH TLS first"},
		{"AUTH KERBEROS_V4", 504, "AUTH TLS only"},
	})
	c.authTLS(tlsClient())
	runSteps(t, c, []step{
		{"AUTH TLS", 503, "already"}, {"PROT P", 503, "PBSZ first"}, {"PBSZ x", 501, ""}, {"PBSZ 0", 200, "PBSZ=0"},
		{"PROT E", 536, ""}, {"PROT Q", 504, ""}, {"PROT C", 534, "requires protected"}, {"CCC", 534, "stays protected"},
		{"USER u", 331, ""}, {"PASS p", 230, ""},
	})
	dc := c.pasv()
	defer dc.Close()
	c.cmd(521, "RETR f")
	c.cmd(200, "PROT P")
	dc = c.pasv()
	c.cmd(150, "RETR f")
	got := c.readData(tlsDataClient(t, dc, c))
	c.expect(226)
	assert.Equal(t, "secret", string(got))
}

// tlsDataClient runs the TLS handshake of a data connection with the
// control connection's configuration (so it resumes) and checks it did.
func tlsDataClient(t *testing.T, dc net.Conn, c *client) net.Conn {
	t.Helper()
	cfg := tlsConfigOf(c)
	tc := tls.Client(dc, cfg)
	require.NoError(t, tc.Handshake())
	require.True(t, tc.ConnectionState().DidResume, "the data connection resumes the control connection's session")
	return tc
}

func tlsConfigOf(c *client) *tls.Config { return c.tls }

// RFC 4217 §4 resets the session after AUTH: a login made in the clear is
// gone, and bytes sent after AUTH in the clear never become commands.
func TestTLSAuthResetsAndNoInjection(t *testing.T) {
	ts := startServer(t, "127.0.0.2", withTLS(t))
	c := dial(t, ts, "127.0.0.2")
	c.login("u", "p")
	c.authTLS(tlsClient())
	c.cmd(530, "PWD")

	c2 := dial(t, ts, "127.0.0.2")
	c2.send("AUTH TLS\r\nUSER u\r\nPASS p") // the tail sits in the server's buffer
	c2.expect(234)
	tc := tls.Client(c2.conn, tlsClient())
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	require.Error(t, tc.Handshake(), "clear text after AUTH goes to the TLS handshake and fails it")
	_, err := io.ReadAll(c2.conn)
	_ = err // the server closed the connection: no 331 or 230 ever came
	assert.NotContains(t, ts.logs.String(), `verb=USER arg=u session=2`)
}

// A data connection must resume the control connection's TLS session: a
// thief on the client's own address who connects first cannot complete
// the transfer, and the client then gets its file.
func TestTLSDataSessionReuse(t *testing.T) {
	ts := startServer(t, "127.0.0.2", withTLS(t))
	require.NoError(t, ts.fs.WriteFile("/f", []byte("the file")))
	c := dial(t, ts, "127.0.0.2")
	c.secure(tlsClient())
	ap, err := proto.ParsePASVReply(c.cmd(227, "PASV"))
	require.NoError(t, err)

	thief := c.dialData(ap.String())
	defer thief.Close()
	c.cmd(150, "RETR f")
	tt := tls.Client(thief, tlsClient()) // a session of its own, not the client's
	_ = tt.SetDeadline(time.Now().Add(5 * time.Second))
	stolen, _ := io.ReadAll(tt) // the handshake may finish on its side; no data comes
	assert.Empty(t, stolen)

	got := c.readData(tlsDataClient(t, c.dialData(ap.String()), c))
	c.expect(226)
	assert.Equal(t, "the file", string(got))
	assert.Contains(t, ts.logs.String(), "session reuse required")
}

// With TLSReuseOptional a client that does not resume is served.
func TestTLSReuseOptional(t *testing.T) {
	ts := startServer(t, "127.0.0.2", withTLS(t, func(c *Config) { c.TLSReuseOptional = true }))
	require.NoError(t, ts.fs.WriteFile("/f", []byte("x")))
	c := dial(t, ts, "127.0.0.2")
	c.secure(tlsClient())
	dc := c.pasv()
	c.cmd(150, "RETR f")
	tc := tls.Client(dc, tlsClient())
	require.NoError(t, tc.Handshake())
	require.False(t, tc.ConnectionState().DidResume)
	assert.Equal(t, "x", string(c.readData(tc)))
	c.expect(226)
}

// Implicit FTPS: TLS from the first byte.
func TestImplicitTLS(t *testing.T) {
	ln, err := ftp.OS{}.Listen(t.Context(), "tcp", "127.0.0.2:0")
	require.NoError(t, err)
	ts := &testServer{}
	srv, err := New(Config{Network: ftp.OS{}, Users: []User{{Name: "u", Password: "p", Store: newMem(t, "/f", "imp")}}, TLS: serverTLS(t)})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(t.Context(), ln) }()
	defer func() { require.NoError(t, srv.Close()); <-done }()
	ts.addr = proto.AddrPortOf(ln.Addr())
	cfg := tlsClient()
	conn, err := tls.Dial("tcp", ts.addr.String(), cfg)
	require.NoError(t, err)
	c := &client{t: t, conn: conn, tp: textproto.NewConn(conn), tls: cfg}
	defer c.tp.Close()
	c.expect(220)
	c.cmd(200, "PBSZ 0")
	c.cmd(200, "PROT P")
	c.login("u", "p")
	dc := c.pasv()
	c.cmd(150, "RETR f")
	assert.Equal(t, "imp", string(c.readData(tlsDataClient(t, dc, c))))
	c.expect(226)

	// plain FTP on the implicit port: no greeting, the handshake fails
	raw, err := net.Dial("tcp", ts.addr.String())
	require.NoError(t, err)
	defer raw.Close()
	_, _ = raw.Write([]byte("USER u\r\n"))
	_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(raw)
	assert.NotContains(t, string(b), "220")

	require.ErrorContains(t, startNoTLS(t).ServeTLS(t.Context(), ln), "needs Config.TLS")
}

func startNoTLS(t *testing.T) *Server {
	srv, err := New(Config{Network: ftp.OS{}, Anonymous: true, Store: newMem(t)})
	require.NoError(t, err)
	return srv
}

// SSCN ON and CPSV make the server the TLS client of the data connection.
func TestSSCNAndCPSV(t *testing.T) {
	ts := startServer(t, "127.0.0.2", withTLS(t))
	require.NoError(t, ts.fs.WriteFile("/f", []byte("sscn")))
	c := dial(t, ts, "127.0.0.2")
	c.secure(tlsClient())
	srvSide := &tls.Config{Certificates: []tls.Certificate{testCert}}

	c.cmd(200, "SSCN")
	assert.Contains(t, c.cmd(200, "SSCN ON"), "CLIENT METHOD")
	c.cmd(501, "SSCN MAYBE")
	ln := activeListener(t, "127.0.0.2")
	arg, err := proto.FormatPORT(proto.AddrPortOf(ln.Addr()))
	require.NoError(t, err)
	c.cmd(200, "PORT %s", arg)
	c.send("RETR f")
	dc, err := acceptWithin(ln, 5*time.Second)
	require.NoError(t, err)
	c.expect(150)
	assert.Equal(t, "sscn", string(c.readData(tls.Server(dc, srvSide))))
	c.expect(226)
	assert.Contains(t, c.cmd(200, "SSCN OFF"), "SERVER METHOD")

	ap, err := proto.ParsePASVReply(c.cmd(227, "CPSV"))
	require.NoError(t, err)
	dc = c.dialData(ap.String())
	c.cmd(150, "RETR f")
	assert.Equal(t, "sscn", string(c.readData(tls.Server(dc, srvSide))))
	c.expect(226)
	// the next PASV is an ordinary one again: we are the TLS client
	dc = c.pasv()
	c.cmd(150, "RETR f")
	assert.Equal(t, "sscn", string(c.readData(tlsDataClient(t, dc, c))))
	c.expect(226)
}

// newMem is an in-memory store holding name-content pairs.
func newMem(t *testing.T, files ...string) *store.Mem {
	t.Helper()
	m := store.NewMem()
	for i := 0; i+1 < len(files); i += 2 {
		require.NoError(t, m.WriteFile(files[i], []byte(files[i+1])))
	}
	return m
}

// CCC is refused unless the server allows it; allowed, it needs a login,
// then the control connection goes on in the clear however the client
// ends TLS (see client.clear), data stays protected (and must still
// resume the session), and PBSZ, PROT, AUTH and a second CCC are refused.
func TestCCC(t *testing.T) {
	refusing := startServer(t, "127.0.0.2", withTLS(t))
	c := dial(t, refusing, "127.0.0.2")
	c.secure(tlsClient())
	c.cmd(534, "CCC")
	c.cmd(257, "PWD")

	for _, mode := range []string{"close-notify", "close-notify-at-once", "wait", "at-once"} {
		t.Run(mode, func(t *testing.T) {
			ts := startServer(t, "127.0.0.2", withTLS(t, func(c *Config) {
				c.AllowCCC, c.RequireTLS, c.RequireTLSData, c.DataTimeout = true, true, true, time.Second
			}))
			require.NoError(t, ts.fs.WriteFile("/f", []byte("still protected")))
			c := dial(t, ts, "127.0.0.2")
			c.cmd(533, "CCC")
			c.authTLS(tlsClient())
			c.cmd(534, "CCC")
			c.cmd(200, "PBSZ 0")
			c.cmd(200, "PROT P")
			c.login("u", "p")
			assert.Contains(t, c.cmd(200, "CCC"), "data connections stay protected")
			c.clear(mode, "PWD")
			c.expect(257)
			runSteps(t, c, []step{
				{"PROT C", 503, "after CCC"}, {"PBSZ 0", 503, "after CCC"}, {"AUTH TLS", 503, "after CCC"},
				{"CCC", 533, "not protected"}, {"USER u", 530, "TLS required"},
			})
			dc := c.pasv()
			c.cmd(150, "RETR f")
			assert.Equal(t, "still protected", string(c.readData(tlsDataClient(t, dc, c))))
			c.expect(226)
			dc = c.pasv()
			c.cmd(150, "RETR f")
			thief := tls.Client(dc, tlsClient()) // a session of its own
			_ = thief.SetDeadline(time.Now().Add(5 * time.Second))
			stolen, _ := io.ReadAll(thief)
			assert.Empty(t, stolen, "a data connection that does not resume is refused")
			c.expect(425)
			assert.Contains(t, ts.logs.String(), "control connection in the clear (CCC)")
		})
	}
	_, err := New(Config{Network: ftp.OS{}, Store: store.NewMem(), AllowCCC: true})
	require.ErrorContains(t, err, "AllowCCC without TLS")
}
