package ftp

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOSDialFromReusesPort checks what active mode needs of the OS network:
// a connection from a chosen local port, and another from the same port
// right after the first was closed (its socket still in TIME-WAIT).
func TestOSDialFromReusesPort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n Network = OS{}
	// A free local port for the "data port".
	probe, err := n.Listen(ctx, "tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	local := probe.Addr().(*net.TCPAddr).AddrPort()
	require.NoError(t, probe.Close())

	for i := range 2 {
		ln, err := n.Listen(ctx, "tcp4", "127.0.0.1:0")
		require.NoError(t, err)
		remote := ln.Addr().(*net.TCPAddr).AddrPort()
		c, err := n.DialFrom(ctx, "tcp4", local, remote)
		require.NoError(t, err, "connection %d from %s", i+1, local)
		s, err := ln.Accept()
		require.NoError(t, err)
		assert.Equal(t, local, s.RemoteAddr().(*net.TCPAddr).AddrPort(), "the server sees the chosen port")
		_, err = c.Write([]byte("x"))
		require.NoError(t, err)
		buf := make([]byte, 1)
		_, err = s.Read(buf)
		require.NoError(t, err)
		require.NoError(t, c.Close()) // the client closes first: TIME-WAIT on local
		require.NoError(t, s.Close())
		require.NoError(t, ln.Close())
	}
}

func TestOSDialFromErrorNamesBoth(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	local := netip.MustParseAddrPort("127.0.0.1:0")
	remote := netip.MustParseAddrPort("127.0.0.1:1") // nothing listens on port 1
	_, err := OS{}.DialFrom(ctx, "tcp4", local, remote)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "127.0.0.1:1")
}

func TestOSDial(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ln, err := OS{}.Listen(ctx, "tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	defer ln.Close()
	c, err := OS{}.Dial(ctx, "tcp", ln.Addr().String())
	require.NoError(t, err)
	require.NoError(t, c.Close())
}
