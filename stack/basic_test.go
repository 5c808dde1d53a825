package stack_test

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/stack"
)

func TestSwitchEcho(t *testing.T) {
	n := newNet(t, lanConfig(stack.LinkParams{}, "A", "B"), stack.Options{})
	ctx := testCtx(t, 20*time.Second)
	a, b := n.Host("A"), n.Host("B")

	for _, dst := range []string{"10.0.0.2", "fd00::2"} {
		rtt, err := a.Ping(ctx, addr(dst))
		require.NoError(t, err, dst)
		assert.Positive(t, rtt)
	}

	ln, err := b.Listen(ctx, "tcp", ":7")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { defer close(done); echo(ln) }()
	for _, dst := range []string{"10.0.0.2:7", "[fd00::2]:7", "B:7"} {
		c, err := a.Dial(ctx, "tcp", dst)
		require.NoError(t, err, dst)
		msg := []byte("hello " + dst)
		_, err = c.Write(msg)
		require.NoError(t, err)
		got := make([]byte, len(msg))
		_, err = io.ReadFull(c, got)
		require.NoError(t, err)
		assert.Equal(t, msg, got)
		la := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr()
		assert.Contains(t, []netip.Addr{addr("10.0.0.1"), addr("fd00::1")}, la, "local address of %s", dst)
		require.NoError(t, c.Close())
	}
	require.NoError(t, ln.Close())
	<-done
	_, err = ln.Accept()
	assert.True(t, errors.Is(err, net.ErrClosed), "Accept after Close: %v", err)
}
