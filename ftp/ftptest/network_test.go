package ftptest

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNetworkInNamespace checks that a Network's sockets live in its
// namespace: a listener in one of two joined namespaces is reached from
// the other (from a chosen port with DialFrom), and neither its address
// nor its route exists in the test's own namespace; each namespace has
// its own sysctls (Sysctl).
func TestNetworkInNamespace(t *testing.T) {
	if !Run(t, Need("ip")) {
		return
	}
	a, b := AddNetns(t, "a"), AddNetns(t, "b")
	Veth(t, a, "eth0", b, "eth0")
	a.IP(t, "addr", "add", "10.78.0.1/24", "dev", "eth0")
	b.IP(t, "addr", "add", "10.78.0.2/24", "dev", "eth0")
	a.Sysctl(t, "net.ipv4.ip_forward", "1")
	b.Sysctl(t, "net.ipv4.ip_forward", "0")
	na, nb := a.Network(t), b.Network(t)
	for n, want := range map[*Network]string{na: "1\n", nb: "0\n"} {
		var got []byte
		require.NoError(t, n.Do(func() (err error) { got, err = os.ReadFile("/proc/sys/net/ipv4/ip_forward"); return err }))
		assert.Equal(t, want, string(got), "ip_forward in %s", n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	ln, err := na.Listen(ctx, "tcp", "10.78.0.1:0")
	require.NoError(t, err, "10.78.0.1 exists in namespace a")
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, err = io.Copy(c, c)
			c.Close()
		}
		served <- err
	}()
	c, err := nb.DialFrom(ctx, "tcp4", netip.MustParseAddrPort("10.78.0.2:2020"), netip.MustParseAddrPort(ln.Addr().String()))
	require.NoError(t, err)
	assert.Equal(t, "10.78.0.2:2020", c.LocalAddr().String())
	_, err = c.Write([]byte("hello"))
	require.NoError(t, err)
	require.NoError(t, c.(*net.TCPConn).CloseWrite())
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(got), "echoed from namespace a")
	require.NoError(t, c.Close())
	require.NoError(t, <-served)

	_, err = net.Listen("tcp", "10.78.0.1:0")
	assert.Error(t, err, "the test's own namespace has no 10.78.0.1")
	_, err = (&net.Dialer{}).DialContext(ctx, "tcp", ln.Addr().String())
	assert.Error(t, err, "nor a route to it")

	_, err = nb.Dial(ctx, "tcp", "localhost:21")
	assert.ErrorContains(t, err, "not a name")
	require.NoError(t, nb.Close())
	_, err = nb.Dial(ctx, "tcp", ln.Addr().String())
	assert.ErrorContains(t, err, "closed")
}
