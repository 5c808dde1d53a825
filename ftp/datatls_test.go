package ftp

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingConn counts the reads and writes that reach the connection.
type countingConn struct {
	net.Conn
	reads, writes atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	c.reads.Add(1)
	return c.Conn.Read(p)
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// A DataTLS pair moves 8 MiB each way intact, and its big writes reach
// the connection in 256 KiB calls, not one per 16 KiB TLS record; small
// writes (a listing's lines) and the end (CloseData) still work.
func TestDataTLS(t *testing.T) {
	cert, err := SelfSigned("127.0.0.1")
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	raw, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	sc, err := ln.Accept()
	require.NoError(t, err)
	cc, scount := &countingConn{Conn: raw}, &countingConn{Conn: sc}
	cli := DataClient(cc, &tls.Config{InsecureSkipVerify: true})
	srv := DataServer(scount, &tls.Config{Certificates: []tls.Certificate{cert}})

	want := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB
	got := make(chan []byte, 1)
	go func() {
		var buf bytes.Buffer
		time.Sleep(100 * time.Millisecond) // let the data pile up, as a busy reader does
		_, _ = io.CopyN(&buf, srv, int64(len(want)))
		got <- buf.Bytes()
	}()
	require.NoError(t, cli.Handshake())
	before := cc.writes.Load()
	_, err = cli.Write(want)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(want, <-got), "client to server intact")
	assert.LessOrEqual(t, cc.writes.Load()-before, int64(len(want)/dataIOSize+1), "records sent in big batches")
	// about 40 reads here; crypto/tls on its own makes over 250
	reads := scount.reads.Load()
	assert.Less(t, reads, int64(len(want)/(64<<10)), "records read many per call: %d reads", reads)

	go func() {
		var buf bytes.Buffer
		_, _ = io.Copy(&buf, cli)
		_ = CloseData(cli, 5*time.Second) // the receiver's end: its close_notify
		got <- buf.Bytes()
	}()
	for i := 0; i < 100; i++ {
		_, err := srv.Write([]byte("line\r\n"))
		require.NoError(t, err)
	}
	_, err = srv.Write(want)
	require.NoError(t, err)
	require.NoError(t, CloseData(srv, 5*time.Second))
	back := <-got
	assert.Equal(t, 600+len(want), len(back))
	assert.True(t, bytes.Equal(want, back[600:]), "server to client intact")
}
