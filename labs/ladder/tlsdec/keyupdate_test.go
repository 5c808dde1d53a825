package tlsdec

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/ftplab/ftplab/ftp/ftptest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readTap records what a connection reads (the peer's bytes) and writes,
// and tells writes when it wrote.
type readTap struct {
	net.Conn
	w      *wire
	writes chan struct{}
}

func (t readTap) Read(p []byte) (int, error) {
	n, err := t.Conn.Read(p)
	if n > 0 {
		t.w.add(Client, p[:n])
	}
	return n, err
}

func (t readTap) Write(p []byte) (int, error) {
	t.w.add(Server, p)
	t.writes <- struct{}{}
	return t.Conn.Write(p)
}

// TestKeyUpdate: OpenSSL's s_client asks for a KeyUpdate (its "K"
// command) in a TLS 1.3 session with a crypto/tls server, which answers
// with its own: both directions change their traffic keys mid-session,
// and the Conn follows both. The server's side of the wire is recorded
// (its reads are the client's bytes).
func TestKeyUpdate(t *testing.T) {
	openssl := ftptest.Tool(t, "openssl", "no TLS peer that sends KeyUpdate")
	ec, _ := certs(t)
	var keys bytes.Buffer
	var keysMu sync.Mutex
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	w := &wire{}
	writes := make(chan struct{}, 1000)
	replied := make(chan struct{}, 2)
	done := make(chan error, 1)
	go func() {
		done <- func() error { // the connection closed (close_notify recorded) before done
			raw, err := ln.Accept()
			if err != nil {
				return err
			}
			c := tls.Server(readTap{raw, w, writes}, &tls.Config{Certificates: []tls.Certificate{ec}, MinVersion: tls.VersionTLS13,
				KeyLogWriter: writerFunc(func(p []byte) (int, error) { keysMu.Lock(); defer keysMu.Unlock(); return keys.Write(p) })})
			defer c.Close()
			br := bufio.NewReader(c)
			for _, reply := range []string{"331 password, please\r\n", "230 logged in\r\n"} {
				if _, err := br.ReadBytes('\n'); err != nil {
					return err
				}
				if _, err := c.Write([]byte(reply)); err != nil {
					return err
				}
				replied <- struct{}{}
			}
			_, err = io.ReadAll(br)
			return err
		}()
	}()
	cmd := exec.Command(openssl, "s_client", "-connect", ln.Addr().String(), "-tls1_3") // interactive: K is a command
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer cmd.Process.Kill()
	// wait guards against a peer that never answers: a hang, not a time
	// the test measures.
	wait := func(c chan struct{}, what string) {
		t.Helper()
		select {
		case <-c:
		case <-time.After(time.Minute):
			t.Fatalf("no %s", what)
		}
	}
	// One write per line, each after the server's answer to the one
	// before: s_client reads a command only at the start of a read.
	_, err = stdin.Write([]byte("USER alice\n"))
	require.NoError(t, err)
	wait(replied, "331")
	for len(writes) > 0 {
		<-writes
	}
	_, err = stdin.Write([]byte("K\n"))
	require.NoError(t, err)
	wait(writes, "KeyUpdate from the server, answering the client's")
	_, err = stdin.Write([]byte("PASS secret\n"))
	require.NoError(t, err)
	wait(replied, "230")
	require.NoError(t, stdin.Close())
	require.NoError(t, <-done)
	require.NoError(t, cmd.Wait())

	keysMu.Lock()
	s := session{wire: w, keyLog: bytes.Clone(keys.Bytes())}
	keysMu.Unlock()
	_, plain, err := decrypt(s, keyLogOf(t, s.keyLog), 0)
	require.NoError(t, err)
	assert.Equal(t, "USER alice\nPASS secret\n", string(plain[Client]))
	assert.Equal(t, "331 password, please\r\n230 logged in\r\n", string(plain[Server]))
}
