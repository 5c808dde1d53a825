package server

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/ftp"
	"github.com/ftplab/ftplab/ftp/proto"
	"github.com/ftplab/ftplab/ftp/store"
)

// refused dials ts and expects a 421 greeting.
func refused(t *testing.T, ts *testServer, from string) string {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	conn, err := d.Dial("tcp", ts.addr.String())
	require.NoError(t, err)
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(conn)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(b), "421 "), "%q", b)
	return string(b)
}

func TestMaxSessions(t *testing.T) {
	ts := startServer(t, "127.0.0.2", func(c *Config) { c.MaxSessions = 2 })
	a := dial(t, ts, "127.0.0.2")
	a.login("u", "p")
	dial(t, ts, "127.0.0.3").login("u", "p")
	assert.Contains(t, refused(t, ts, "127.0.0.4"), "Too many users")
	a.cmd(221, "QUIT")
	require.Eventually(t, func() bool { return ts.srv.Sessions() == 1 }, 5*time.Second, 10*time.Millisecond)
	dial(t, ts, "127.0.0.4").cmd(200, "NOOP")
}

// Eight addresses that open eight connections each and never log in fill
// every session a server has by default (64, 8 per address). A client that
// comes then must still be served: a newcomer closes the oldest session not
// logged in of the address that holds the most.
func TestSilentConnectionsDoNotLockOut(t *testing.T) {
	ts := startServer(t, "127.0.0.2", nil)
	require.NoError(t, ts.fs.WriteFile("/f", []byte("served")))
	var silent []net.Conn
	for h := range 8 {
		for range DefaultMaxPerAddr {
			d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(10+h))}}
			conn, err := d.Dial("tcp", ts.addr.String())
			require.NoError(t, err)
			defer conn.Close()
			silent = append(silent, conn)
		}
	}
	require.Eventually(t, func() bool { return ts.srv.Sessions() <= DefaultMaxUnauthenticated }, 5*time.Second, 10*time.Millisecond)
	c := dial(t, ts, "127.0.0.2")
	c.login("u", "p")
	assert.Equal(t, "served", string(c.retr("f")))
	// The first connections were closed with a 421 that says why.
	_ = silent[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(silent[0])
	require.NoError(t, err)
	assert.Contains(t, string(b), "421 Too many connections not logged in")
	// Evicted sessions end as their 421 goes out: wait for them.
	assert.Eventually(t, func() bool { return ts.srv.Sessions() <= DefaultMaxUnauthenticated+1 }, 5*time.Second, 10*time.Millisecond,
		"sessions: %d", ts.srv.Sessions())
}

func TestLoginTimeout(t *testing.T) {
	ts := startServer(t, "127.0.0.2", func(c *Config) { c.LoginTimeout = 200 * time.Millisecond })
	mute := dial(t, ts, "127.0.0.2")
	user := dial(t, ts, "127.0.0.3")
	user.login("u", "p")
	assert.Contains(t, mute.expect(421), "Login timeout")
	_, err := mute.tp.ReadLine()
	require.ErrorIs(t, err, io.EOF)
	time.Sleep(300 * time.Millisecond)
	user.cmd(200, "NOOP") // logged in: no login timeout
	user.cmd(331, "USER ro")
	assert.Contains(t, user.expect(421), "Login timeout", "a new USER starts a new login")
}

func TestLoginFailures(t *testing.T) {
	const delay = 150 * time.Millisecond
	t.Run("delay, then close after MaxLoginFails", func(t *testing.T) {
		ts := startServer(t, "127.0.0.2", func(c *Config) { c.LoginFailDelay, c.MaxLoginFails = delay, 3 })
		c := dial(t, ts, "127.0.0.2")
		for i := range 3 {
			c.cmd(331, "USER u")
			start := time.Now()
			c.cmd(530, "PASS guess%d", i)
			assert.GreaterOrEqual(t, time.Since(start), delay, "failure %d answered at once", i+1)
		}
		assert.Contains(t, c.expect(421), "Too many failed logins (3)")
		_, err := c.tp.ReadLine()
		require.ErrorIs(t, err, io.EOF)
		assert.Contains(t, ts.logs.String(), "failures=3")
	})
	t.Run("unknown users count too; a good login after fewer failures works", func(t *testing.T) {
		ts := startServer(t, "127.0.0.2", func(c *Config) { c.MaxLoginFails = 3 })
		c := dial(t, ts, "127.0.0.2")
		runSteps(t, c, []step{{"USER nobody", 331, ""}, {"PASS x", 530, ""}, {"USER u", 331, ""}, {"PASS x", 530, ""}})
		c.login("u", "p")
		c.cmd(257, "PWD")
	})
	t.Run("no limit", func(t *testing.T) {
		ts := startServer(t, "127.0.0.2", func(c *Config) { c.LoginFailDelay, c.MaxLoginFails = -1, -1 })
		c := dial(t, ts, "127.0.0.2")
		for range 10 {
			runSteps(t, c, []step{{"USER u", 331, ""}, {"PASS x", 530, ""}})
		}
		c.login("u", "p")
	})
}

// The defaults are what Config's documentation says.
func TestLoginLimitDefaults(t *testing.T) {
	assert.Equal(t, 16, DefaultMaxUnauthenticated)
	assert.Equal(t, 30*time.Second, DefaultLoginTimeout)
	assert.Equal(t, time.Second, DefaultLoginFailDelay)
	assert.Equal(t, 3, DefaultMaxLoginFails)
	srv, err := New(Config{Network: ftp.OS{}, Store: store.NewMem()})
	require.NoError(t, err)
	assert.Equal(t, DefaultMaxUnauthenticated, srv.cfg.MaxUnauthenticated)
	assert.Equal(t, DefaultLoginTimeout, srv.cfg.LoginTimeout)
	assert.Equal(t, DefaultLoginFailDelay, srv.cfg.LoginFailDelay)
	assert.Equal(t, DefaultMaxLoginFails, srv.cfg.MaxLoginFails)
	small, err := New(Config{Network: ftp.OS{}, Store: store.NewMem(), MaxSessions: 4})
	require.NoError(t, err)
	assert.Equal(t, 4, small.cfg.MaxUnauthenticated, "never above MaxSessions")
}

func TestMaxPerAddr(t *testing.T) {
	ts := startServer(t, "127.0.0.2", func(c *Config) { c.MaxPerAddr = 1 })
	dial(t, ts, "127.0.0.2")
	assert.Contains(t, refused(t, ts, "127.0.0.2"), "from 127.0.0.2")
	dial(t, ts, "127.0.0.5").cmd(200, "NOOP")
}

func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, "127.0.0.2", func(c *Config) { c.IdleTimeout = 200 * time.Millisecond })
	c := dial(t, ts, "127.0.0.2")
	c.cmd(200, "NOOP")
	assert.Contains(t, c.expect(421), "Idle timeout")
	_, err := c.tp.ReadLine()
	require.ErrorIs(t, err, io.EOF)
}

func TestDataTimeoutActive(t *testing.T) {
	ts := startServer(t, "127.0.0.2", func(c *Config) { c.DataTimeout = 300 * time.Millisecond })
	require.NoError(t, ts.fs.WriteFile("/f", []byte("x")))
	c := dial(t, ts, "127.0.0.2")
	c.login("u", "p")
	ln := activeListener(t, "127.0.0.2")
	port := proto.AddrPortOf(ln.Addr()).Port()
	ln.Close() // nobody listens: the dial fails
	c.cmd(200, "EPRT |1|127.0.0.2|%d|", port)
	c.cmd(425, "RETR f")
}

func TestSlowClientsDoNotStallOthers(t *testing.T) {
	ts := startServer(t, "127.0.0.2", nil)
	// One client stops reading in the middle of a huge download...
	slow := dial(t, ts, "127.0.0.2")
	slow.login("u", "p")
	dc := startLongRETR(t, ts, slow)
	defer dc.Close()
	// ...one sends an endless line, one connects and says nothing.
	hostile, err := net.Dial("tcp", ts.addr.String())
	require.NoError(t, err)
	defer hostile.Close()
	_, err = hostile.Write([]byte(strings.Repeat("A", 64<<10)))
	require.NoError(t, err)
	mute, err := net.Dial("tcp", ts.addr.String())
	require.NoError(t, err)
	defer mute.Close()

	c := dial(t, ts, "127.0.0.3")
	c.login("u", "p")
	require.NoError(t, ts.fs.WriteFile("/small", []byte("small")))
	assert.Equal(t, "small", string(c.retr("small")))
	_, err = hostile.Write([]byte("\r\n"))
	require.NoError(t, err)
	br := make([]byte, 512)
	_ = hostile.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := io.ReadAtLeast(hostile, br, 30)
	require.NoError(t, err)
	assert.Contains(t, string(br[:n]), "500 Syntax error: command line longer than")
}

func TestLogs(t *testing.T) {
	ts := startServer(t, "127.0.0.2", nil)
	c := dial(t, ts, "127.0.0.2")
	c.cmd(331, "USER u")
	c.cmd(530, "PASS hunter2secret")
	c.login("u", "p")
	c.cmd(257, "PWD")
	logs := ts.logs.String()
	assert.NotContains(t, logs, "hunter2secret")
	assert.Contains(t, logs, "verb=PASS arg=****")
	assert.Contains(t, logs, `session=1 peer=127.0.0.2:`)
	assert.Contains(t, logs, "verb=PWD")
	assert.Contains(t, logs, `code=257 text="257 \"/\" is the current directory."`)
}

func TestShutdown(t *testing.T) {
	t.Run("waits for sessions, then closes them", func(t *testing.T) {
		ts := startServer(t, "127.0.0.2", nil)
		c := dial(t, ts, "127.0.0.2")
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		require.ErrorIs(t, ts.srv.Shutdown(ctx), context.DeadlineExceeded)
		_, err := c.tp.ReadLine()
		require.Error(t, err)
		assert.Zero(t, ts.srv.Sessions())
	})
	t.Run("returns when the last session quits", func(t *testing.T) {
		ts := startServer(t, "127.0.0.2", nil)
		c := dial(t, ts, "127.0.0.2")
		done := make(chan error, 1)
		go func() { done <- ts.srv.Shutdown(context.Background()) }()
		c.cmd(200, "NOOP")
		c.cmd(221, "QUIT")
		require.NoError(t, <-done)
	})
	t.Run("context end says 421", func(t *testing.T) {
		srv, err := New(Config{Network: ftp.OS{}, Store: store.NewMem()})
		require.NoError(t, err)
		ln, err := net.Listen("tcp", "127.0.0.2:0")
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ctx, ln) }()
		conn, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		defer conn.Close()
		buf := make([]byte, 64)
		n, err := conn.Read(buf)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(string(buf[:n]), "220 "))
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
		b, err := io.ReadAll(conn)
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(string(b), "421 "), "%q", b)
		require.NoError(t, srv.Close())
	})
}

func TestNewChecksConfig(t *testing.T) {
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{}, "Network is nil"},
		{Config{Network: ftp.OS{}, Users: []User{{Name: "a"}}}, `user "a" has no store`},
		{Config{Network: ftp.OS{}, Users: []User{{}}, Store: store.NewMem()}, "empty name"},
		{Config{Network: ftp.OS{}, Anonymous: true}, "Anonymous needs"},
		{Config{Network: ftp.OS{}, Store: store.NewMem(), PassivePorts: PortRange{Lo: 10, Hi: 5}}, "10-5"},
	}
	for _, tc := range cases {
		_, err := New(tc.cfg)
		require.Error(t, err)
		assert.Contains(t, err.Error(), tc.want)
	}
}

func TestPassiveRangeAndAddress(t *testing.T) {
	ts := startServer(t, "127.0.0.2", func(c *Config) {
		c.PassivePorts = PortRange{Lo: 41000, Hi: 41010}
		c.PassiveAddress = netip.MustParseAddr("192.0.2.7")
	})
	c := dial(t, ts, "127.0.0.2")
	c.login("u", "p")
	msg := c.cmd(227, "PASV")
	assert.Contains(t, msg, "(192,0,2,7,")
	ap, err := proto.ParsePASVReply(msg)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, ap.Port(), uint16(41000))
	assert.LessOrEqual(t, ap.Port(), uint16(41010))
}
