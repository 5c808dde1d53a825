package ftp

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A TLS server sends a record after the handshake that the sending
// client never reads (as OpenSSL's session tickets, sent after the
// client's Finished), then reads late. Closed at once, the client's socket
// would hold that record unread and the kernel would reset the
// connection, dropping the end of the data still queued (this test fails
// so with Close); CloseData waits for the server's close_notify instead,
// and every byte arrives.
func TestCloseDataDeliversEverything(t *testing.T) {
	cert, err := SelfSigned("127.0.0.1")
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	want := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB: more than the socket buffers hold
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
		_, _ = tc.Write([]byte("unread"))
		time.Sleep(200 * time.Millisecond) // the client has written all it can by now
		var buf bytes.Buffer
		_, _ = io.Copy(&buf, tc)
		_ = CloseData(tc, 5*time.Second)
		got <- buf.Bytes()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	_, err = tc.Write(want)
	require.NoError(t, err)
	require.NoError(t, CloseData(tc, 5*time.Second))
	assert.True(t, bytes.Equal(want, <-got), "the server received the whole stream")
}
