package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/ftp"
	"github.com/ftplab/ftplab/ftp/ftptest"
	"github.com/ftplab/ftplab/ftp/proto"
	"github.com/ftplab/ftplab/ftp/store"
)

// countingNet is ftp.OS that counts the connections the server dials.
type countingNet struct {
	ftp.OS
	dials atomic.Int32
}

func (n *countingNet) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	n.dials.Add(1)
	return n.OS.Dial(ctx, network, address)
}

func (n *countingNet) DialFrom(ctx context.Context, network string, local, remote netip.AddrPort) (net.Conn, error) {
	n.dials.Add(1)
	return n.OS.DialFrom(ctx, network, local, remote)
}

func trust(prefixes ...string) func(*Config) {
	return func(c *Config) {
		for _, p := range prefixes {
			c.TrustedPeers = append(c.TrustedPeers, netip.MustParsePrefix(p))
		}
	}
}

// nothingArrives checks that no connection reaches ln for a while.
func nothingArrives(t *testing.T, ln net.Listener) {
	t.Helper()
	c, err := acceptWithin(ln, 300*time.Millisecond)
	if err == nil {
		c.Close()
		t.Fatalf("a connection from %s reached %s", c.RemoteAddr(), ln.Addr())
	}
}

func TestActiveRefusals(t *testing.T) {
	cases := []struct {
		name   string
		target func(foreign, own net.Listener) string
		has    string
	}{
		{"foreign PORT", func(f, _ net.Listener) string {
			a, _ := proto.FormatPORT(proto.AddrPortOf(f.Addr()))
			return "PORT " + a
		}, "not this client's address"},
		{"foreign EPRT", func(f, _ net.Listener) string { return "EPRT " + proto.FormatEPRT(proto.AddrPortOf(f.Addr())) }, "127.0.0.3"},
		{"foreign SOCK", func(f, _ net.Listener) string {
			a, _ := proto.FormatPORT(proto.AddrPortOf(f.Addr()))
			return "SOCK " + a
		}, "bounce"},
		{"PORT below 1024", func(_, _ net.Listener) string { return "PORT 127,0,0,2,0,21" }, "below 1024"},
		{"EPRT below 1024", func(_, _ net.Listener) string { return "EPRT |1|127.0.0.2|80|" }, "below 1024"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nw := &countingNet{}
			ts := startServer(t, "127.0.0.2", func(c *Config) { c.Network = nw })
			require.NoError(t, ts.fs.WriteFile("/f", []byte("data")))
			foreign := activeListener(t, "127.0.0.3")
			own := activeListener(t, "127.0.0.2")
			c := dial(t, ts, "127.0.0.2")
			c.login("u", "p")
			msg := c.cmd(504, "%s", tc.target(foreign, own))
			assert.Contains(t, msg, tc.has)
			c.cmd(425, "RETR f")
			nothingArrives(t, foreign)
			assert.Zero(t, nw.dials.Load(), "nothing dialled")
			assert.Contains(t, ts.logs.String(), "ftp data address refused")
		})
	}
}

func TestTrustedPeerActive(t *testing.T) {
	ts := startServer(t, "127.0.0.2", trust("127.0.0.3/32"))
	require.NoError(t, ts.fs.WriteFile("/f", []byte("to the trusted peer")))
	c := dial(t, ts, "127.0.0.2")
	c.login("u", "p")
	c.cmd(200, "PORT 127,0,0,3,0,20") // port 20 of a trusted peer is fine
	got, _ := c.activeRETR("127.0.0.3", "PORT", "RETR", "f")
	assert.Equal(t, "to the trusted peer", string(got))
	c.cmd(504, "PORT 127,0,0,4,200,1") // others still refused
}

// Trusting a peer lets PORT name it at unprivileged ports and its default
// data port, not at its other privileged ports (SMTP's 25: the bounce
// attack), unless AllowPrivilegedPorts or an open (/0) trust says so.
func TestTrustedPeerPorts(t *testing.T) {
	cases := []struct {
		name  string
		mod   func(*Config)
		steps []step
	}{
		{"trusted peer", trust("127.0.0.3/32"), []step{
			{"PORT 127,0,0,3,0,25", 504, "port 25 of trusted peer 127.0.0.3 is below 1024"},
			{"EPRT |1|127.0.0.3|1023|", 504, "AllowPrivilegedPorts"},
			{"PORT 127,0,0,2,0,20", 504, "below 1024"}, // the client itself: no exception
			{"RETR f", 425, ""},
			{"PORT 127,0,0,3,0,20", 200, ""}, {"EPRT |1|127.0.0.3|1024|", 200, ""},
		}},
		{"AllowPrivilegedPorts", func(c *Config) { trust("127.0.0.3/32")(c); c.AllowPrivilegedPorts = true }, []step{
			{"PORT 127,0,0,3,0,25", 200, ""}, {"PORT 127,0,0,2,0,25", 200, ""}, {"PORT 127,0,0,4,0,25", 504, "not a trusted peer"},
		}},
		// An open trust policy alone keeps the port rule: the bounce to
		// port 25 needs AllowPrivilegedPorts as well.
		{"open trust", trust("0.0.0.0/0"), []step{{"PORT 127,0,0,9,0,25", 504, "below 1024"}, {"PORT 127,0,0,9,4,0", 200, ""}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nw := &countingNet{}
			ts := startServer(t, "127.0.0.2", func(c *Config) { c.Network = nw; tc.mod(c) })
			require.NoError(t, ts.fs.WriteFile("/f", []byte("mail")))
			c := dial(t, ts, "127.0.0.2")
			c.login("u", "p")
			runSteps(t, c, tc.steps)
			assert.Zero(t, nw.dials.Load(), "nothing dialled")
		})
	}
}

// In a namespace of its own, where privileged ports can be bound: PORT and
// RETR reach a trusted peer's port L-1 (the server on port 990, as FTPS
// servers are), never its port 25 unless AllowPrivilegedPorts.
func TestTrustedPeerPrivilegedPortsDelivery(t *testing.T) {
	if !ftptest.Run(t) {
		return
	}
	serve := func(t *testing.T, mod func(*Config)) (*testServer, *client) {
		ln, err := ftp.OS{}.Listen(context.Background(), "tcp", "127.0.0.2:990")
		require.NoError(t, err)
		ts := serveOn(t, ln, func(c *Config) { trust("127.0.0.3/32")(c); mod(c) })
		require.NoError(t, ts.fs.WriteFile("/mail.txt", []byte("HELO bounce\r\n")))
		c := dial(t, ts, "127.0.0.2")
		c.login("u", "p")
		return ts, c
	}
	smtp := activeListenerAt(t, "127.0.0.3:25")
	dataL1 := activeListenerAt(t, "127.0.0.3:989")
	t.Run("port 25 refused", func(t *testing.T) {
		_, c := serve(t, func(*Config) {})
		c.cmd(504, "PORT 127,0,0,3,0,25")
		c.cmd(425, "RETR mail.txt")
		nothingArrives(t, smtp)
	})
	t.Run("port L-1 delivered", func(t *testing.T) {
		_, c := serve(t, func(*Config) {})
		c.cmd(200, "PORT 127,0,0,3,3,221")
		c.send("RETR mail.txt")
		dc, err := acceptWithin(dataL1, 5*time.Second)
		require.NoError(t, err)
		assert.Equal(t, "HELO bounce\r\n", string(c.readData(dc)))
		c.expect(150)
		c.expect(226)
	})
	t.Run("AllowPrivilegedPorts: port 25 delivered", func(t *testing.T) {
		_, c := serve(t, func(c *Config) { c.AllowPrivilegedPorts = true })
		c.cmd(200, "PORT 127,0,0,3,0,25")
		c.send("RETR mail.txt")
		dc, err := acceptWithin(smtp, 5*time.Second)
		require.NoError(t, err)
		assert.Equal(t, "HELO bounce\r\n", string(c.readData(dc)))
		c.expect(150)
		c.expect(226)
	})
}

// activeListenerAt listens at addr (host:port) until the test ends.
func activeListenerAt(t *testing.T, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return ln
}

// dialFrom connects to addr from a local address and port (0: any).
func dialFrom(t *testing.T, local netip.AddrPort, addr netip.AddrPort) (net.Conn, error) {
	t.Helper()
	return ftp.OS{}.DialFrom(context.Background(), "tcp", local, addr)
}

// closedByServer checks that the server reset c without sending data: a
// reset, not a FIN, so that a peer server reading from c cannot take it for
// an empty file.
func closedByServer(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(make([]byte, 1))
	assert.Zero(t, n)
	require.ErrorIs(t, err, syscall.ECONNRESET, "the server must reset a stolen connection")
}

func TestPortStealing(t *testing.T) {
	cases := []struct {
		name   string
		mod    func(*Config)
		before string // a command before PASV
		thief  string // the thief's address
		right  string // the right peer's address
	}{
		{"foreign host", nil, "", "127.0.0.4", "127.0.0.2"},
		{"trusted peer allowed", trust("127.0.0.3/32"), "", "127.0.0.4", "127.0.0.3"},
		{"PORT names the peer", trust("127.0.0.3/32"), "PORT 127,0,0,3,100,100", "127.0.0.2", "127.0.0.3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, "127.0.0.2", tc.mod)
			want := []byte("only for the right peer")
			require.NoError(t, ts.fs.WriteFile("/f", want))
			c := dial(t, ts, "127.0.0.2")
			c.login("u", "p")
			if tc.before != "" {
				c.cmd(200, "%s", tc.before)
			}
			ap, err := proto.ParsePASVReply(c.cmd(227, "PASV"))
			require.NoError(t, err)
			thief, err := dialFrom(t, netip.AddrPortFrom(netip.MustParseAddr(tc.thief), 0), ap)
			require.NoError(t, err)
			defer thief.Close()
			c.send("RETR f")
			closedByServer(t, thief)
			right, err := dialFrom(t, netip.AddrPortFrom(netip.MustParseAddr(tc.right), 0), ap)
			require.NoError(t, err)
			got, err := io.ReadAll(right)
			require.NoError(t, err)
			right.Close()
			c.expect(150)
			c.expect(226)
			assert.Equal(t, want, got)
			assert.Contains(t, ts.logs.String(), "port stealing")
		})
	}
}

// listenFreeBelow listens on host at a port P whose P-1 is free too, so the
// server's default data port L-1 is available.
func listenFreeBelow(t *testing.T, host string) net.Listener {
	t.Helper()
	for range 50 {
		ln, err := ftp.OS{}.Listen(context.Background(), "tcp", host+":0")
		require.NoError(t, err)
		below := netip.AddrPortFrom(netip.MustParseAddr(host), proto.AddrPortOf(ln.Addr()).Port()-1)
		if l2, err := (ftp.OS{}).Listen(context.Background(), "tcp", below.String()); err == nil {
			l2.Close()
			return ln
		}
		ln.Close()
	}
	t.Fatal("no port pair free")
	return nil
}

func TestSOCK(t *testing.T) {
	t.Run("PASV after SOCK listens on L-1 and accepts only the named socket", func(t *testing.T) {
		ts := serveOn(t, listenFreeBelow(t, "127.0.0.2"), trust("127.0.0.3/32"))
		c := dial(t, ts, "127.0.0.2")
		c.login("u", "p")
		named := netip.MustParseAddrPort("127.0.0.3:40123")
		a, _ := proto.FormatPORT(named)
		c.cmd(200, "SOCK %s", a)
		ap, err := proto.ParsePASVReply(c.cmd(227, "PASV"))
		require.NoError(t, err)
		assert.Equal(t, ts.addr.Port()-1, ap.Port(), "RFC 478: the default data socket L-1")
		wrongPort, err := dialFrom(t, netip.MustParseAddrPort("127.0.0.3:40124"), ap)
		require.NoError(t, err)
		defer wrongPort.Close()
		c.send("STOR up")
		closedByServer(t, wrongPort)
		right, err := dialFrom(t, named, ap)
		require.NoError(t, err)
		_, err = right.Write([]byte("from the SOCK socket"))
		require.NoError(t, err)
		right.Close()
		c.expect(150)
		c.expect(226)
		got, err := ts.fs.ReadFile("/up")
		require.NoError(t, err)
		assert.Equal(t, "from the SOCK socket", string(got))
	})
	t.Run("RTRV after SOCK connects from L-1", func(t *testing.T) {
		ts := serveOn(t, listenFreeBelow(t, "127.0.0.2"), nil)
		require.NoError(t, ts.fs.WriteFile("/f", []byte("rfc 478")))
		c := dial(t, ts, "127.0.0.2")
		c.login("u", "p")
		got, from := c.activeRETR("127.0.0.2", "SOCK", "RTRV", "f")
		assert.Equal(t, "rfc 478", string(got))
		assert.Equal(t, ts.addr.Port()-1, from.Port())
	})
	t.Run("L-1 busy: PASV falls back and logs it", func(t *testing.T) {
		ts := startServer(t, "127.0.0.2", nil)
		busy, err := ftp.OS{}.Listen(context.Background(), "tcp", fmt.Sprintf("127.0.0.2:%d", ts.addr.Port()-1))
		if err != nil {
			t.Skipf("port L-1 is taken by something else: %v", err)
		}
		defer busy.Close()
		c := dial(t, ts, "127.0.0.2")
		c.login("u", "p")
		c.cmd(200, "SOCK 127,0,0,2,200,1")
		ap, err := proto.ParsePASVReply(c.cmd(227, "PASV"))
		require.NoError(t, err)
		assert.NotEqual(t, ts.addr.Port()-1, ap.Port())
		assert.Contains(t, ts.logs.String(), "default data port busy")
	})
}

func TestPathEscapes(t *testing.T) {
	top := t.TempDir()
	root := filepath.Join(top, "root")
	require.NoError(t, os.MkdirAll(filepath.Join(top, "outside"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(top, "secret"), []byte("secret"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(top, "outside", "o.txt"), []byte("outside"), 0o644))
	require.NoError(t, os.MkdirAll(root, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "in.txt"), []byte("inside"), 0o644))
	require.NoError(t, os.Symlink("../secret", filepath.Join(root, "link")))
	require.NoError(t, os.Symlink(filepath.Join(top, "outside"), filepath.Join(root, "dirlink")))
	require.NoError(t, os.Symlink("in.txt", filepath.Join(root, "goodlink")))
	dir, err := store.NewDir(root)
	require.NoError(t, err)
	defer dir.Close()

	ts := startServer(t, "127.0.0.2", func(c *Config) { c.Store = dir })
	c := dial(t, ts, "127.0.0.2")
	c.login("u", "p")
	runSteps(t, c, []step{
		{"CWD ..", 250, ""}, {"PWD", 257, `"/"`}, {"SIZE ../secret", 550, ""}, {"SIZE /../../secret", 550, ""},
		{"SIZE link", 550, ""}, {"CWD dirlink", 550, ""}, {"SIZE dirlink/o.txt", 550, ""}, {"MDTM link", 550, ""},
		{"DELE ../secret", 550, ""}, {"RNFR link", 550, ""}, {"RNFR goodlink", 350, ""}, {"RNTO ../../moved", 250, ""},
		{"SIZE moved", 213, "6"}, {"SIZE in.txt", 213, "6"}, {"RETR ../../../secret", 550, ""},
	})
	c.stor("STOR", "../../escaped.txt", []byte("stays inside"))
	assert.ElementsMatch(t, []string{"escaped.txt", "in.txt", "moved"}, c.list("NLST"))
	_, err = os.Stat(filepath.Join(root, "escaped.txt"))
	require.NoError(t, err, "the upload landed inside the root")
	for _, p := range []string{"secret", "outside/o.txt"} {
		_, err := os.Stat(filepath.Join(top, p))
		require.NoError(t, err, "%s is still there", p)
	}
	_, err = os.Stat(filepath.Join(top, "escaped.txt"))
	require.Error(t, err)
	_, err = os.Stat(filepath.Join(top, "moved"))
	require.Error(t, err)
}

func TestAllowForeign(t *testing.T) {
	ts := startServer(t, "127.0.0.2", func(c *Config) { c.AllowForeign = true })
	require.NoError(t, ts.fs.WriteFile("/f", []byte("bounced")))
	c := dial(t, ts, "127.0.0.2")
	c.login("u", "p")
	c.cmd(504, "PORT 0,0,0,0,100,1") // unreachable stays refused
	got, _ := c.activeRETR("127.0.0.3", "PORT", "RETR", "f")
	assert.Equal(t, "bounced", string(got))
}

func TestActiveFallbackWhenL1Busy(t *testing.T) {
	ts := startServer(t, "127.0.0.2", nil)
	busy, err := ftp.OS{}.Listen(context.Background(), "tcp", fmt.Sprintf("127.0.0.2:%d", ts.addr.Port()-1))
	if err != nil {
		t.Skipf("port L-1 is taken by something else: %v", err)
	}
	defer busy.Close()
	require.NoError(t, ts.fs.WriteFile("/f", []byte("from another port")))
	c := dial(t, ts, "127.0.0.2")
	c.login("u", "p")
	got, from := c.activeRETR("127.0.0.2", "PORT", "RETR", "f")
	assert.Equal(t, "from another port", string(got))
	assert.NotEqual(t, ts.addr.Port()-1, from.Port())
	assert.Contains(t, ts.logs.String(), "dialling from any port")
}
