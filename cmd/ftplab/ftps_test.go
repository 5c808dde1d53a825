package main

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ftplab/ftplab/ftp"
	"github.com/ftplab/ftplab/ftp/client"
)

// ftplab serve --tls: explicit and implicit FTPS through our client, with
// TLS required for login and data, and every secret in the key log.
func TestServeTLS(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "hello.txt"), []byte("hello tls\n"), 0o644))
	host := randomLoopback()
	listen := netip.AddrPortFrom(host, 2121).String()
	implicit := netip.AddrPortFrom(host, 2990).String()
	keylog := filepath.Join(t.TempDir(), "keys.log")
	serveInTest(t, listen, "--root", root, "--user", "alice:pw", "--tls", "--tls-required", "--tls-data-required",
		"--implicit-tls", implicit, "--keylog", keylog)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	_, err := client.Dial(ctx, ftp.OS{}, listen, client.Options{TLS: client.TLSExplicit})
	require.ErrorContains(t, err, "certificate", "a self-signed certificate fails verification by default")
	plain, err := client.Dial(ctx, ftp.OS{}, listen, client.Options{})
	require.NoError(t, err)
	require.True(t, client.IsReply(plain.Login(ctx, "alice", "pw"), 530), "login in the clear is refused")
	plain.Close()

	for addr, mode := range map[string]client.TLSMode{listen: client.TLSExplicit, implicit: client.TLSImplicit} {
		c, err := client.Dial(ctx, ftp.OS{}, addr, client.Options{TLS: mode, Insecure: true})
		require.NoError(t, err, mode)
		require.NoError(t, c.Login(ctx, "alice", "pw"))
		var buf bytes.Buffer
		_, err = c.Retr(ctx, "hello.txt", &buf)
		require.NoError(t, err, mode)
		assert.Equal(t, "hello tls\n", buf.String())
		_, err = c.Stor(ctx, "up-"+mode.String(), strings.NewReader("up"))
		require.NoError(t, err)
		require.NoError(t, c.Quit(ctx))
	}
	c, err := client.Dial(ctx, ftp.OS{}, listen, client.Options{TLS: client.TLSExplicit, Insecure: true, CCC: true})
	require.NoError(t, err)
	require.True(t, client.IsReply(c.Login(ctx, "alice", "pw"), 534), "CCC refused without --tls-ccc")
	c.Close()
	logged, err := os.ReadFile(keylog)
	require.NoError(t, err)
	// TLS 1.3: each connection logs its traffic secrets; 2 control + 4 data
	assert.GreaterOrEqual(t, strings.Count(string(logged), "CLIENT_TRAFFIC_SECRET_0 "), 6, "every connection is in the key log")
}

// ftplab serve --tls --tls-ccc: after CCC the session goes on in the
// clear, and a download still works over a protected data connection.
func TestServeTLSCCC(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	root := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(root, "f.txt"), []byte("after ccc\n"), 0o644))
	listen := netip.AddrPortFrom(randomLoopback(), 2121).String()
	serveInTest(t, listen, "--root", root, "--user", "alice:pw", "--tls", "--tls-ccc", "--tls-data-required")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := client.Dial(ctx, ftp.OS{}, listen, client.Options{TLS: client.TLSExplicit, Insecure: true, CCC: true})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Login(ctx, "alice", "pw"))
	_, isTLS := c.TLS()
	assert.False(t, isTLS, "the control connection is in the clear")
	var buf bytes.Buffer
	_, err = c.Retr(ctx, "f.txt", &buf)
	require.NoError(t, err)
	assert.Equal(t, "after ccc\n", buf.String())
	require.NoError(t, c.Quit(ctx))
}

func TestServeTLSFlagErrors(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	dir := t.TempDir()
	c1, err := ftp.SelfSigned("127.0.0.1")
	require.NoError(t, err)
	c2, err := ftp.SelfSigned("127.0.0.1")
	require.NoError(t, err)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o600))
		return p
	}
	k2, err := ftp.KeyPEM(c2)
	require.NoError(t, err)
	cert := write("cert.pem", ftp.CertPEM(c1))
	otherKey := write("other.key", k2)
	garbage := write("garbage.pem", []byte("not a certificate"))
	base := []string{"--listen", "127.0.0.1:0", "--root", dir, "--anonymous"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls", "--tls-cert", filepath.Join(dir, "missing.pem"), "--tls-key", otherKey}, "missing.pem"},
		{[]string{"--tls", "--tls-cert", cert, "--tls-key", filepath.Join(dir, "missing.key")}, "missing.key"},
		{[]string{"--tls", "--tls-cert", cert, "--tls-key", otherKey}, "private key does not match public key"},
		{[]string{"--tls", "--tls-cert", garbage, "--tls-key", otherKey}, "garbage.pem: no PEM CERTIFICATE"},
		{[]string{"--tls", "--tls-cert", cert, "--tls-key", garbage}, "garbage.pem: no PEM PRIVATE KEY"},
		{[]string{"--tls", "--tls-cert", cert}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-required"}, "TLS flags need --tls"},
		{[]string{"--tls-ccc"}, "TLS flags need --tls"},
		{[]string{"--tls", "--implicit-tls", "nowhere"}, `--implicit-tls "nowhere"`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, err := execute(newServeCmd(), append(base, tc.args...)...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Equal(t, 2, exitCode(err), "a usage error exits with 2")
		})
	}
}

// ftplab fxp --tls between two ftplab serve --tls: SSCN on either side,
// and CPSV, every step printed (the failure without either is
// client.TestSecureTransferWithoutTLSClient: it takes a data timeout).
func TestFXPCommandTLS(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	a, b := randomLoopback(), randomLoopback()
	for a == b {
		b = randomLoopback()
	}
	srcRoot, dstRoot := t.TempDir(), t.TempDir()
	data := bytes.Repeat([]byte("secure fxp\n"), 50000)
	require.NoError(t, os.WriteFile(filepath.Join(srcRoot, "data.bin"), data, 0o644))
	srcAddr := netip.AddrPortFrom(a, 2121).String()
	dstAddr := netip.AddrPortFrom(b, 2121).String()
	serveInTest(t, srcAddr, "--root", srcRoot, "--anonymous", "--trust", b.String(), "--tls", "--tls-data-required")
	serveInTest(t, dstAddr, "--root", dstRoot, "--anonymous", "--trust", a.String(), "--tls", "--tls-data-required")
	for i, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--passive", "destination"}, []string{"dst > SSCN ON", "dst < 200 SSCN:CLIENT METHOD", "destination (passive) is the TLS client"}},
		{[]string{"--passive", "source"}, []string{"src > SSCN ON", "source (passive) is the TLS client"}},
		{[]string{"--sscn-side", "active"}, []string{"src > SSCN ON", "source (active) is the TLS client"}},
		{[]string{"--secure", "cpsv"}, []string{"dst > CPSV", "CPSV to the destination"}},
		{[]string{"--secure", "cpsv", "--passive", "source"}, []string{"src > CPSV"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			name := fmt.Sprintf("copy-%d", i)
			text, err := execute(newFXPCmd(), append(tc.args, "--tls", "--insecure",
				"ftp://"+srcAddr+"/data.bin", "ftp://"+dstAddr+"/"+name)...)
			require.NoError(t, err, text)
			got, err := os.ReadFile(filepath.Join(dstRoot, name))
			require.NoError(t, err)
			assert.True(t, bytes.Equal(data, got), "copied content differs")
			for _, w := range append(tc.want, "src > AUTH TLS", "dst > PROT P", fmt.Sprintf("copied %d bytes", len(data))) {
				assert.Contains(t, text, w)
			}
		})
	}
}
