package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/ftp/proto"
	"github.com/ftplab/ftplab/ftp/server"
	"github.com/ftplab/ftplab/ftp/store"
)

// testUser and testPass log in to the servers the tests start.
const testUser, testPass = "u", "p"

// ourServer is one of our FTP servers serving an in-memory store.
type ourServer struct {
	addr netip.AddrPort
	mem  *store.Mem
}

// startServer serves a new in-memory store on addr (port 0 picks one) of
// the OS network until the test ends; cfg's Store and Users are filled
// in, and Network when nil.
func startServer(tb testing.TB, addr string, cfg server.Config) ourServer {
	tb.Helper()
	return startServing(tb, addr, cfg, false)
}

// startServing is startServer, serving implicit FTPS with implicit.
func startServing(tb testing.TB, addr string, cfg server.Config, implicit bool) ourServer {
	tb.Helper()
	mem := store.NewMem()
	if cfg.Network == nil {
		cfg.Network = osNet
	}
	if cfg.LoginFailDelay == 0 {
		cfg.LoginFailDelay = time.Millisecond // failed logins in tests: no 1 s wait
	}
	cfg.Store = mem
	cfg.Users = []server.User{{Name: testUser, Password: testPass}}
	srv, err := server.New(cfg)
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := osNet.Listen(ctx, "tcp", addr)
	if err != nil {
		cancel()
		require.NoError(tb, err)
	}
	done := make(chan error, 1)
	serve := srv.Serve
	if implicit {
		serve = srv.ServeTLS
	}
	go func() { done <- serve(ctx, ln) }()
	tb.Cleanup(func() {
		cancel()
		_ = srv.Close()
		err := <-done
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, server.ErrServerClosed) {
			tb.Errorf("server on %s: %v", addr, err)
		}
	})
	return ourServer{addr: proto.AddrPortOf(ln.Addr()), mem: mem}
}

// dialUser connects to s and logs in; the client is closed at cleanup.
func dialUser(tb testing.TB, ctx context.Context, addr netip.AddrPort, opts Options) *Client {
	tb.Helper()
	c, err := Dial(ctx, osNet, addr.String(), opts)
	require.NoError(tb, err)
	tb.Cleanup(func() { c.Close() })
	require.NoError(tb, c.Login(ctx, testUser, testPass))
	return c
}

var loopbackSeq atomic.Uint32

// loopbackPair returns two fresh loopback addresses 127.x.y.z, distinct
// from the client's 127.0.0.1 and unlikely to be used by another test
// process, so that port 2121 and its L-1 (RFC 478's default data port)
// are free on them.
func loopbackPair() (netip.Addr, netip.Addr) {
	n := uint32(os.Getpid())<<8 + loopbackSeq.Add(2)
	a := netip.AddrFrom4([4]byte{127, byte(n >> 16), byte(n >> 8), byte(n)})
	b := netip.AddrFrom4([4]byte{127, byte(n >> 16), byte(n >> 8), byte(n + 1)})
	if a.As4()[3] == 0 || b.As4()[3] == 0 || a.As4()[3] == 255 || b.As4()[3] == 255 {
		return loopbackPair()
	}
	return a, b
}

// serverPair starts two of our servers for third-party tests. With v6 both
// are on ::1; otherwise each on its own 127.x address and port 2121. With
// trust each trusts the other's address.
func serverPair(tb testing.TB, v6, trust bool) (src, dst ourServer) {
	tb.Helper()
	return serverPairWith(tb, v6, trust, server.Config{})
}

// serverPairWith is serverPair with more configuration for both servers.
func serverPairWith(tb testing.TB, v6, trust bool, base server.Config) (src, dst ourServer) {
	tb.Helper()
	if v6 {
		ln, err := osNet.Listen(context.Background(), "tcp", "[::1]:0")
		if err != nil {
			tb.Skipf("no IPv6 loopback here: %v", err)
		}
		ln.Close()
		return startServer(tb, "[::1]:0", base), startServer(tb, "[::1]:0", base)
	}
	a, b := loopbackPair()
	ca, cb := base, base
	if trust {
		ca.TrustedPeers = []netip.Prefix{netip.PrefixFrom(b, 32)}
		cb.TrustedPeers = []netip.Prefix{netip.PrefixFrom(a, 32)}
	}
	return startServer(tb, fmt.Sprintf("%s:2121", a), ca), startServer(tb, fmt.Sprintf("%s:2121", b), cb)
}

// testCtx is a context bounded well below the package's test timeout.
func testCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// slowNet is the OS network with every connection's reads cut to 32 KiB
// and each followed by a 2 ms pause: a server on it receives data at no
// more than about 16 MB/s, so that progress can be watched.
type slowNet struct{}

func (slowNet) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := osNet.Dial(ctx, network, address)
	return slowConn{c}, err
}

func (slowNet) DialFrom(ctx context.Context, network string, local, remote netip.AddrPort) (net.Conn, error) {
	c, err := osNet.DialFrom(ctx, network, local, remote)
	return slowConn{c}, err
}

func (slowNet) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	ln, err := osNet.Listen(ctx, network, address)
	return slowListener{ln}, err
}

type slowListener struct{ net.Listener }

func (l slowListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	return slowConn{c}, err
}

type slowConn struct{ net.Conn }

func (c slowConn) Read(p []byte) (int, error) {
	if len(p) > 32<<10 {
		p = p[:32<<10]
	}
	n, err := c.Conn.Read(p)
	if n > 1024 {
		time.Sleep(2 * time.Millisecond)
	}
	return n, err
}

// assertInStep checks that each client's session still pairs commands and
// replies: a NOOP gets its own 200.
func assertInStep(t *testing.T, ctx context.Context, clients ...*Client) {
	t.Helper()
	for _, c := range clients {
		code, _, err := c.Cmd(ctx, "NOOP")
		require.NoError(t, err)
		assert.Equal(t, 200, code, "session with %s in step", c.RemoteAddr())
	}
}

// assertRetr downloads path and checks the byte count and content.
func assertRetr(t *testing.T, ctx context.Context, c *Client, path string, want []byte, opts ...Option) {
	t.Helper()
	var got bytes.Buffer
	n, err := c.Retr(ctx, path, &got, opts...)
	require.NoError(t, err)
	assert.Equal(t, int64(len(want)), n)
	assert.True(t, bytes.Equal(want, got.Bytes()), "RETR %s: content differs", path)
}

// scriptedServer is a minimal FTP server that answers each verb with the
// reply given (CR LF between the lines of a multi-line one) (default "502 no") and records the verbs it was sent.
func scriptedServer(t *testing.T, replies map[string]string) (netip.AddrPort, func() []string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var verbs []string
	var wg sync.WaitGroup
	wg.Go(func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		fmt.Fprint(c, "220 scripted\r\n")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			verb := strings.ToUpper(strings.Fields(line + " x")[0])
			mu.Lock()
			verbs = append(verbs, verb)
			mu.Unlock()
			reply, ok := replies[verb]
			if !ok {
				reply = "502 no"
			}
			fmt.Fprint(c, reply+"\r\n")
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return proto.AddrPortOf(ln.Addr()), func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(verbs) }
}
