package ftp

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tlsPair is a TLS connection over loopback: the server's end runs over
// a RecordConn, the client's end is returned with its raw connection.
func tlsPair(t *testing.T) (srv *tls.Conn, rc *RecordConn, cli *tls.Conn, raw net.Conn) {
	t.Helper()
	cert, err := SelfSigned("127.0.0.1")
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	raw, err = net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { raw.Close() })
	sc, err := ln.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { sc.Close() })
	rc = NewRecordConn(sc)
	srv = tls.Server(rc, &tls.Config{Certificates: []tls.Certificate{cert}})
	cli = tls.Client(raw, &tls.Config{InsecureSkipVerify: true})
	errs := make(chan error, 1)
	go func() { errs <- cli.Handshake() }()
	require.NoError(t, srv.Handshake())
	require.NoError(t, <-errs)
	return srv, rc, cli, raw
}

func TestRecordConnClear(t *testing.T) {
	for _, tc := range []struct {
		name        string
		closeNotify bool // the client ends TLS too
		inside      string
		wantErr     error
	}{
		{"close_notify then plain text at once", true, "", nil},
		{"plain text without close_notify", false, "", nil},
		{"data inside TLS after CCC", false, "PWD\r\n", ErrCCCData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, rc, cli, raw := tlsPair(t)
			_, err := cli.Write([]byte("CCC\r\n"))
			require.NoError(t, err)
			buf := make([]byte, 64)
			n, err := srv.Read(buf)
			require.NoError(t, err)
			require.Equal(t, "CCC\r\n", string(buf[:n]))
			_, err = srv.Write([]byte("200 CCC ok\r\n"))
			require.NoError(t, err)
			require.NoError(t, rc.EndTLS(srv))

			// the client: the 200, then its close_notify and the next
			// command in the clear, written together
			n, err = cli.Read(buf)
			require.NoError(t, err)
			require.Equal(t, "200 CCC ok\r\n", string(buf[:n]))
			if tc.inside != "" {
				_, err = cli.Write([]byte(tc.inside))
				require.NoError(t, err)
			}
			if tc.closeNotify {
				require.NoError(t, cli.CloseWrite())
				require.NoError(t, raw.SetWriteDeadline(time.Time{}))
			}
			_, err = raw.Write([]byte("NOOP\r\n"))
			require.NoError(t, err)

			require.NoError(t, rc.SetReadDeadline(time.Now().Add(5*time.Second)))
			err = rc.Clear(srv)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			got := make([]byte, len("NOOP\r\n"))
			_, err = io.ReadFull(rc, got)
			require.NoError(t, err)
			assert.Equal(t, "NOOP\r\n", string(got), "the plain text after TLS is read, none of it lost")
			_, err = rc.Write([]byte("200 NOOP ok\r\n"))
			require.NoError(t, err)
			_, err = io.ReadFull(raw, buf[:len("200 NOOP ok\r\n")])
			require.NoError(t, err)
		})
	}
}
