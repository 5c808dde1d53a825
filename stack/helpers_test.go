package stack_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/stack"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }

// lan builds hosts named in names on one switch "sw", host i at 10.0.0.(i+1)/24
// and fd00::(i+1)/64, each link with params p.
func lanConfig(p stack.LinkParams, names ...string) stack.Config {
	cfg := stack.Config{Switches: []stack.SwitchConfig{{Name: "sw"}}}
	for i, n := range names {
		cfg.Hosts = append(cfg.Hosts, stack.HostConfig{
			Name: n,
			NICs: []stack.NICConfig{{Addrs: []netip.Prefix{
				netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), 24),
				netip.PrefixFrom(netip.AddrFrom16([16]byte{0: 0xfd, 15: byte(i + 1)}), 64),
			}}},
		})
		cfg.Links = append(cfg.Links, stack.LinkConfig{A: n + ":eth0", B: "sw", Params: p})
	}
	return cfg
}

func newNet(t testing.TB, cfg stack.Config, opts stack.Options) *stack.Network {
	t.Helper()
	n, err := stack.New(context.Background(), cfg, opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, n.Close()) })
	return n
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// payload returns n reproducible pseudo-random bytes.
func payload(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{1})
	_, _ = r.Read(b)
	return b
}

// transfer sends data from src to dst (listening on dstAddr) over TCP and
// returns what dst received and how long it took.
func transfer(t testing.TB, ctx context.Context, src, dst *stack.Host, dstAddr netip.Addr, data []byte) ([]byte, time.Duration) {
	t.Helper()
	ln, err := dst.Listen(ctx, "tcp", netip.AddrPortFrom(dstAddr, 0).String())
	require.NoError(t, err)
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- b
	}()
	start := time.Now()
	c, err := src.Dial(ctx, "tcp", ln.Addr().String())
	require.NoError(t, err)
	_, err = io.Copy(c, bytes.NewReader(data))
	require.NoError(t, err)
	require.NoError(t, c.Close())
	select {
	case b := <-got:
		return b, time.Since(start)
	case <-ctx.Done():
		t.Fatalf("transfer: %v", ctx.Err())
	}
	return nil, 0
}

func sum(b []byte) [32]byte { return sha256.Sum256(b) }

// echo serves one TCP echo per connection on ln until it is closed.
func echo(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_, _ = io.Copy(c, c)
		}()
	}
}
