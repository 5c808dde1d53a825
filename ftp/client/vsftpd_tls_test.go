package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/ftp/ftptest"
	"github.com/ftplab/ftplab/ftp/server"
)

// Our client against vsftpd with ssl_enable and require_ssl_reuse: every
// data connection must resume the control connection's session, in every
// mode; the certificate is verified against a given CA.
func TestVsftpdTLSClient(t *testing.T) {
	if !ftptest.Run(t, ftptest.Need("vsftpd")) {
		return
	}
	ctx := testCtx(t)
	v := ftptest.StartVsftpdWith(t, nil, ftptest.VsftpdConfig{Addr: netip.MustParseAddrPort("127.0.0.2:2121"), Writable: true, TLS: true, RequireReuse: true})
	data := payload(1<<20 + 17)
	require.NoError(t, os.WriteFile(filepath.Join(v.Root, "f.bin"), data, 0o644))
	pool := x509.NewCertPool()
	pool.AddCert(v.Cert.Leaf)

	plain, err := Dial(ctx, osNet, v.Addr.String(), Options{})
	require.NoError(t, err)
	require.Error(t, plain.Login(ctx, "anonymous", "x"), "vsftpd refuses logins in the clear")
	plain.Close()

	tlsClientModes(t, ctx, v.Addr, pool, v.Root, data)
}

// tlsClientModes checks our client against a kernel-side FTPS server at
// addr (certificate from pool, files in root, holding f.bin = data) in
// every data mode: explicit TLS, PROT P, a download, an upload read back
// from root, and NLST.
func tlsClientModes(t *testing.T, ctx context.Context, addr netip.AddrPort, pool *x509.CertPool, root string, data []byte) {
	t.Helper()
	for _, mode := range []Mode{ModeEPSV, ModePASV, ModeEPRT, ModePORT} {
		t.Run(mode.String(), func(t *testing.T) {
			c := dialAnon(t, ctx, addr, Options{Mode: mode, TLS: TLSExplicit, TLSConfig: &tls.Config{RootCAs: pool}})
			assert.True(t, c.Protected())
			assertRetr(t, ctx, c, "f.bin", data)
			name := "up-" + mode.String()
			_, err := c.Stor(ctx, name, bytes.NewReader(data[:76543]))
			require.NoError(t, err)
			got, err := os.ReadFile(filepath.Join(root, name))
			require.NoError(t, err)
			assert.Equal(t, data[:76543], got)
			names, err := c.NameList(ctx, "")
			require.NoError(t, err)
			assert.Contains(t, names, "f.bin")
			assert.Contains(t, names, name)
			require.NoError(t, c.Quit(ctx))
		})
	}
}

// A secure third-party copy between vsftpd (no SSCN, no CPSV: it is always
// the TLS server) and our server: SSCN must go to ours. Asked of vsftpd,
// SSCN and CPSV are refused and the fallback reaches clear data, which
// vsftpd refuses.
func TestVsftpdSecureTransfer(t *testing.T) {
	if !ftptest.Run(t, ftptest.Need("vsftpd")) {
		return
	}
	ctx := testCtx(t)
	v := ftptest.StartVsftpdWith(t, nil, ftptest.VsftpdConfig{Addr: netip.MustParseAddrPort("127.0.0.2:2121"), Writable: true, TLS: true})
	data := payload(300000)
	require.NoError(t, os.WriteFile(filepath.Join(v.Root, "f.bin"), data, 0o644))
	ours := startServer(t, "127.0.0.3:0", server.Config{TLS: serverTLS(t), TrustedPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}})
	var steps []string
	src := dialAnon(t, ctx, v.Addr, Options{TLS: TLSExplicit, Insecure: true})
	dst := dialUser(t, ctx, ours.addr, Options{TLS: TLSExplicit, Insecure: true})

	// vsftpd passive, ours active and the TLS client
	res, err := Transfer(ctx, src, "f.bin", dst, "copy1", TransferOptions{Passive: Source, SSCNOnActive: true})
	require.NoError(t, err)
	assert.Contains(t, res.Protection, "SSCN")
	got, err := ours.mem.ReadFile("/copy1")
	require.NoError(t, err)
	assert.Equal(t, data, got)

	// SSCN to vsftpd (passive) is refused, CPSV to it too, then PROT C,
	// which vsftpd's force_anon_data_ssl refuses at RETR: each step shows.
	_, err = Transfer(ctx, src, "f.bin", dst, "copy2", TransferOptions{Passive: Source,
		Security: []FXPSecurity{FXPSSCN, FXPCPSV, FXPClear}, Step: func(s string) { steps = append(steps, s) }})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "522", "vsftpd wants protected data")
	require.Len(t, steps, 5, "SSCN tried and refused, CPSV tried and refused, PROT C: %q", steps)
	assert.Contains(t, steps[1], "SSCN refused")
	assert.Contains(t, steps[3], "CPSV refused")
	assert.Contains(t, steps[4], "PROT C")
}
