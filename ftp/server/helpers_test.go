package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ftplab/ftplab/ftp"
	"github.com/ftplab/ftplab/ftp/ftptest"
	"github.com/ftplab/ftplab/ftp/proto"
	"github.com/ftplab/ftplab/ftp/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testServer is a server on loopback with an in-memory store.
type testServer struct {
	srv  *Server
	fs   *store.Mem
	addr netip.AddrPort
	logs *ftptest.SyncBuffer
}

// startServer serves cfg on host (e.g. "127.0.0.2") at a free port. The
// default config has user "u" (password "p"), anonymous read-only, ftp.OS
// as network and a 1 ms delay after a failed login.
func startServer(t testing.TB, host string, mod func(*Config)) *testServer {
	t.Helper()
	ln, err := ftp.OS{}.Listen(context.Background(), "tcp", net.JoinHostPort(host, "0"))
	require.NoError(t, err)
	return serveOn(t, ln, mod)
}

// serveOn is startServer on a given listener.
func serveOn(t testing.TB, ln net.Listener, mod func(*Config)) *testServer {
	t.Helper()
	ts := &testServer{fs: store.NewMem(), logs: &ftptest.SyncBuffer{}}
	cfg := Config{
		Network:     ftp.OS{},
		Store:       ts.fs,
		Users:       []User{{Name: "u", Password: "p"}, {Name: "ro", Password: "p", ReadOnly: true}},
		Anonymous:   true,
		DataTimeout: 5 * time.Second,
		// keeps tests with failed logins fast; TestLoginFailures tests it
		LoginFailDelay: time.Millisecond,
		Logger:         slog.New(slog.NewTextHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := New(cfg)
	require.NoError(t, err)
	ts.srv = srv
	ts.addr = proto.AddrPortOf(ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		require.NoError(t, srv.Close())
		require.ErrorIs(t, <-done, ErrServerClosed)
	})
	return ts
}

// client is a raw FTP control connection for tests.
type client struct {
	t    testing.TB
	conn net.Conn
	tp   *textproto.Conn
	tls  *tls.Config     // the control connection's, after AUTH TLS
	rec  *ftp.RecordConn // what the control connection's TLS runs over
}

// dial connects to ts from local address from ("" for any) and reads the
// greeting.
func dial(t testing.TB, ts *testServer, from string) *client {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	conn, err := d.Dial("tcp", ts.addr.String())
	require.NoError(t, err)
	c := &client{t: t, conn: conn, tp: textproto.NewConn(conn)}
	t.Cleanup(func() { c.tp.Close() })
	c.expect(220)
	return c
}

// send writes a raw line (CRLF added).
func (c *client) send(format string, args ...any) {
	c.t.Helper()
	require.NoError(c.t, c.tp.PrintfLine(format, args...))
}

// read reads one reply.
func (c *client) read() (int, string) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	code, msg, err := c.tp.ReadResponse(0)
	require.NoError(c.t, err)
	return code, msg
}

// expect reads one reply and checks its code.
func (c *client) expect(code int) string {
	c.t.Helper()
	got, msg := c.read()
	require.Equal(c.t, code, got, "reply %d %s", got, msg)
	return msg
}

// cmd sends a command and checks the code of its reply.
func (c *client) cmd(code int, format string, args ...any) string {
	c.t.Helper()
	c.send(format, args...)
	return c.expect(code)
}

func (c *client) login(user, pass string) {
	c.t.Helper()
	c.cmd(331, "USER %s", user)
	c.cmd(230, "PASS %s", pass)
}

// pasv sends PASV and connects to the announced socket.
func (c *client) pasv() net.Conn {
	c.t.Helper()
	ap, err := proto.ParsePASVReply(c.cmd(227, "PASV"))
	require.NoError(c.t, err)
	return c.dialData(ap.String())
}

// dialData connects to a passive socket from the control connection's
// local address, as the server's safety wants.
func (c *client) dialData(addr string) net.Conn {
	c.t.Helper()
	local := c.conn.LocalAddr().(*net.TCPAddr)
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: local.IP}}
	dc, err := d.Dial("tcp", addr)
	require.NoError(c.t, err)
	return dc
}

// epsv sends EPSV and connects to the announced port.
func (c *client) epsv() net.Conn {
	c.t.Helper()
	port, err := proto.ParseEPSVReply(c.cmd(229, "EPSV"))
	require.NoError(c.t, err)
	host, _, _ := net.SplitHostPort(c.conn.RemoteAddr().String())
	return c.dialData(net.JoinHostPort(host, fmt.Sprint(port)))
}

// retr downloads path over a fresh passive connection.
func (c *client) retr(path string) []byte {
	c.t.Helper()
	dc := c.pasv()
	c.cmd(150, "RETR %s", path)
	data := c.readData(dc)
	c.expect(226)
	return data
}

// readData reads a data connection to its end and closes it.
func (c *client) readData(dc net.Conn) []byte {
	c.t.Helper()
	data, err := io.ReadAll(dc)
	require.NoError(c.t, err)
	dc.Close()
	return data
}

// activeRETR names a new listener on host with verb (PORT, EPRT or SOCK),
// sends "retr path" (RETR or RTRV) and returns what the server sent and the
// address it connected from.
func (c *client) activeRETR(host, verb, retr, path string) ([]byte, netip.AddrPort) {
	c.t.Helper()
	ln := activeListener(c.t, host)
	arg := proto.FormatEPRT(proto.AddrPortOf(ln.Addr()))
	if verb != "EPRT" {
		var err error
		arg, err = proto.FormatPORT(proto.AddrPortOf(ln.Addr()))
		require.NoError(c.t, err)
	}
	c.cmd(200, "%s %s", verb, arg)
	c.send("%s %s", retr, path)
	dc, err := acceptWithin(ln, 5*time.Second)
	require.NoError(c.t, err)
	data := c.readData(dc)
	c.expect(150)
	c.expect(226)
	return data, proto.AddrPortOf(dc.RemoteAddr())
}

// stor uploads data to path over a fresh passive connection.
func (c *client) stor(verb, path string, data []byte) {
	c.t.Helper()
	dc := c.pasv()
	c.cmd(150, "%s %s", verb, path)
	_, err := dc.Write(data)
	require.NoError(c.t, err)
	require.NoError(c.t, dc.Close())
	c.expect(226)
}

// list runs a listing command over a fresh passive connection.
func (c *client) list(cmd string) []string {
	c.t.Helper()
	dc := c.pasv()
	c.cmd(150, "%s", cmd)
	data := c.readData(dc)
	c.expect(226)
	s := strings.TrimSuffix(string(data), "\r\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\r\n")
}

// activeListener listens for an active-mode data connection on host.
func activeListener(t testing.TB, host string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return ln
}

// acceptWithin accepts one connection or fails after d.
func acceptWithin(ln net.Listener, d time.Duration) (net.Conn, error) {
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(d))
	c, err := ln.Accept()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil, fmt.Errorf("nothing connected within %s: %w", d, err)
	}
	return c, err
}

func netipAddrPort(host string, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr(host), port)
}
