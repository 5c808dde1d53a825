package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ftplab/ftplab/ftp"
	"github.com/ftplab/ftplab/ftp/client"
	"github.com/ftplab/ftplab/ftp/proto"
)

// execute runs cmd with args in-process and returns what it printed.
func execute(cmd *cobra.Command, args ...string) (string, error) {
	var out bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// randomLoopback is a 127.x.y.z address other than 127.0.0.1, so that a
// test's fixed ports (2121 and RFC 478's L-1, 2120) are free on it.
func randomLoopback() netip.Addr {
	return netip.AddrFrom4([4]byte{127, byte(1 + rand.IntN(254)), byte(rand.IntN(256)), byte(1 + rand.IntN(254))})
}

// serveInTest runs "ftplab serve args..." in-process until the test ends and
// returns once the server answers on listen.
func serveInTest(t *testing.T, listen string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := newServeCmd()
	cmd.SetArgs(append([]string{"--listen", listen}, args...))
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done, "serve ends cleanly when interrupted")
	})
	for start := time.Now(); ; {
		c, err := net.DialTimeout("tcp", listen, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-done:
			t.Fatalf("serve %v stopped: %v", args, err)
		default:
		}
		require.Less(t, time.Since(start), 5*time.Second, "serve on %s never answered: %v", listen, err)
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServeCommand(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // runs last, after the servers stop
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "hello.txt"), []byte("hello\n"), 0o644))
	listen := netip.AddrPortFrom(randomLoopback(), 2121).String()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t.Run("serves", func(t *testing.T) {
		serveInTest(t, listen, "--root", root, "--user", "alice:secret", "--anonymous", "--pasv-ports", "40000-40100")
		c, err := client.Dial(ctx, ftp.OS{}, listen, client.Options{Mode: client.ModePASV})
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.Login(ctx, "alice", "secret"))
		var got bytes.Buffer
		_, err = c.Retr(ctx, "hello.txt", &got)
		require.NoError(t, err)
		assert.Equal(t, "hello\n", got.String())
		_, err = c.Stor(ctx, "up.txt", strings.NewReader("uploaded"))
		require.NoError(t, err)
		onDisk, err := os.ReadFile(filepath.Join(root, "up.txt"))
		require.NoError(t, err)
		assert.Equal(t, "uploaded", string(onDisk))
		require.NoError(t, c.Quit(ctx))

		anon, err := client.Dial(ctx, ftp.OS{}, listen, client.Options{})
		require.NoError(t, err)
		defer anon.Close()
		require.NoError(t, anon.Login(ctx, "anonymous", "me@"))
		names, err := anon.NameList(ctx, "")
		require.NoError(t, err)
		assert.Contains(t, names, "hello.txt")
		require.NoError(t, anon.Quit(ctx))
	})
	t.Run("read-only", func(t *testing.T) {
		serveInTest(t, listen, "--root", root, "--user", "bob:pw", "--read-only")
		c, err := client.Dial(ctx, ftp.OS{}, listen, client.Options{})
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.Login(ctx, "bob", "pw"))
		_, err = c.Stor(ctx, "nope.txt", strings.NewReader("x"))
		var re *client.ReplyError
		require.ErrorAs(t, err, &re, "a read-only user cannot upload")
		assert.Equal(t, 5, re.Code/100)
		assert.NoFileExists(t, filepath.Join(root, "nope.txt"))
	})
}

// readReplies reads raw reply lines from conn until it closes.
func readReplies(t *testing.T, conn net.Conn) string {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(conn)
	require.NoError(t, err)
	return string(b)
}

func TestServeLoginLimits(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // runs last, after the server stops
	listen := netip.AddrPortFrom(randomLoopback(), 2121).String()
	serveInTest(t, listen, "--root", t.TempDir(), "--user", "alice:secret",
		"--login-timeout", "300ms", "--max-login-fails", "1", "--login-fail-delay", "0")
	guess, err := net.Dial("tcp", listen)
	require.NoError(t, err)
	defer guess.Close()
	_, err = guess.Write([]byte("USER alice\r\nPASS guess\r\n"))
	require.NoError(t, err)
	out := readReplies(t, guess)
	assert.Contains(t, out, "530 Login incorrect.")
	assert.Contains(t, out, "421 Too many failed logins (1)")

	mute, err := net.Dial("tcp", listen)
	require.NoError(t, err)
	defer mute.Close()
	assert.Contains(t, readReplies(t, mute), "421 Login timeout (300ms)")
}

func TestServeAllowPrivilegedPorts(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // runs last, after the servers stop
	for _, tc := range []struct {
		args []string
		code int
	}{{nil, 504}, {[]string{"--allow-privileged-ports"}, 200}} {
		t.Run(fmt.Sprint(tc.args), func(t *testing.T) {
			listen := netip.AddrPortFrom(randomLoopback(), 2121).String()
			serveInTest(t, listen, append([]string{"--root", t.TempDir(), "--user", "alice:secret"}, tc.args...)...)
			conn, err := net.Dial("tcp", listen)
			require.NoError(t, err)
			tp := textproto.NewConn(conn)
			defer tp.Close()
			me, err := proto.FormatPORT(netip.AddrPortFrom(proto.AddrPortOf(conn.LocalAddr()).Addr(), 25))
			require.NoError(t, err)
			for _, c := range []struct {
				cmd  string
				code int
			}{{"", 220}, {"USER alice", 331}, {"PASS secret", 230}, {"PORT " + me, tc.code}} {
				if c.cmd != "" {
					require.NoError(t, tp.PrintfLine("%s", c.cmd))
				}
				_, msg, err := tp.ReadResponse(c.code)
				require.NoError(t, err, "%s: %s", c.cmd, msg)
			}
		})
	}
}

func TestServeFlagErrors(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // runs last, after the servers stop
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--listen", "127.0.0.1:0"}, `required flag(s) "root" not set`},
		{[]string{"--listen", "127.0.0.1:0", "--root", dir}, "no accounts"},
		{[]string{"--listen", "127.0.0.1:0", "--root", dir, "--user", "nopass"}, `--user "nopass"`},
		{[]string{"--listen", "127.0.0.1:0", "--root", dir, "--anonymous", "--trust", "10.0.0.300"}, `--trust "10.0.0.300"`},
		{[]string{"--listen", "127.0.0.1:0", "--root", dir, "--anonymous", "--pasv-ports", "9-2"}, `--pasv-ports: port range "9-2": low end 9 is above high end 2`},
		{[]string{"--listen", "127.0.0.1:0", "--root", dir, "--anonymous", "--pasv-address", "host"}, `--pasv-address "host"`},
		{[]string{"--listen", "localhost", "--root", dir, "--anonymous"}, `--listen "localhost"`},
		{[]string{"--listen", "127.0.0.1:0", "--root", filepath.Join(dir, "missing"), "--anonymous"}, "missing"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, err := execute(newServeCmd(), tc.args...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			if !strings.HasPrefix(tc.want, "required") {
				assert.Equal(t, 2, exitCode(err), "a usage error exits with 2")
			}
		})
	}
}

func TestHelpHasExample(t *testing.T) {
	for name, cmd := range map[string]*cobra.Command{"serve": newServeCmd(), "fxp": newFXPCmd()} {
		out, err := execute(cmd, "--help")
		require.NoError(t, err)
		assert.Contains(t, out, "Examples:", "ftplab %s --help", name)
		assert.Contains(t, out, "ftplab "+name+" ")
		found, _, err := root.Find([]string{name})
		require.NoError(t, err)
		assert.Equal(t, name, found.Name(), "registered on the root command")
	}
}
