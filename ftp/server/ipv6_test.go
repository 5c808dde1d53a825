package server

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/ftp/proto"
)

func TestIPv6(t *testing.T) {
	if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	} else {
		ln.Close()
	}
	ts := startServer(t, "::1", nil)
	require.NoError(t, ts.fs.WriteFile("/f", []byte("over IPv6")))
	c := dial(t, ts, "::1")
	c.login("u", "p")
	c.cmd(425, "PASV") // PASV cannot name an IPv6 address
	c.cmd(522, "EPSV 1")
	dc := c.epsv()
	c.cmd(150, "RETR f")
	assert.Equal(t, "over IPv6", string(c.readData(dc)))
	c.expect(226)
	got, _ := c.activeRETR("::1", "EPRT", "RETR", "f")
	assert.Equal(t, "over IPv6", string(got))
	c.cmd(504, "EPRT |2|::2|5000|") // foreign
}

// TestTwoActiveTransfersAtOnce runs two active downloads from the same
// server at the same time: both come from the default data port L-1 (the
// targets differ), or one falls back; both must complete.
func TestTwoActiveTransfersAtOnce(t *testing.T) {
	ts := startServer(t, "127.0.0.2", nil)
	data := make([]byte, 8<<20)
	require.NoError(t, ts.fs.WriteFile("/f", data))
	var conns []net.Conn
	var clients []*client
	for i := range 2 {
		c := dial(t, ts, "127.0.0.2")
		c.login("u", "p")
		ln := activeListener(t, "127.0.0.2")
		a, _ := proto.FormatPORT(proto.AddrPortOf(ln.Addr()))
		c.cmd(200, "PORT %s", a)
		c.cmd(150, "RETR f")
		dc, err := acceptWithin(ln, 5*time.Second)
		require.NoError(t, err, "transfer %d", i)
		conns = append(conns, dc)
		clients = append(clients, c)
	}
	for i, dc := range conns {
		assert.Len(t, clients[i].readData(dc), len(data))
		clients[i].expect(226)
	}
}
