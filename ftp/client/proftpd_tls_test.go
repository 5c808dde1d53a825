package client

import (
	"bytes"
	"crypto/x509"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/ftp/ftptest"
	"github.com/ftplab/ftplab/ftp/server"
)

// Our client against ProFTPD with mod_tls (TLSRequired on, session reuse
// required): listing, download and upload in every data-connection mode,
// with the certificate verified against a given CA; a login in the clear
// is refused.
func TestProftpdTLSClient(t *testing.T) {
	if !ftptest.Run(t) {
		return
	}
	ctx := testCtx(t)
	p := ftptest.StartProftpd(t, nil, ftptest.ProftpdConfig{Addr: netip.MustParseAddrPort("127.0.0.2:2121"), Writable: true, TLS: true})
	data := payload(1<<20 + 29)
	require.NoError(t, os.WriteFile(filepath.Join(p.Root, "f.bin"), data, 0o644))
	pool := x509.NewCertPool()
	pool.AddCert(p.Cert.Leaf)

	plain, err := Dial(ctx, osNet, p.Addr.String(), Options{})
	require.NoError(t, err)
	require.Error(t, plain.Login(ctx, "anonymous", "x"), "ProFTPD refuses logins in the clear")
	plain.Close()

	tlsClientModes(t, ctx, p.Addr, pool, p.Root, data)
	log := p.Log(t)
	assert.Contains(t, log, "client reused TLS session for data connection")
	assert.NotContains(t, log, "did not reuse TLS session")
}

// Secure third-party copies between ProFTPD and our server (both on PROT
// P), driven by our client with SSCN, in both directions and both passive
// orders. ProFTPD wants every protected data connection to resume its
// control connection's TLS session, which the other server cannot: as
// shipped it must be the TLS client (SSCN ON to it, wherever it is
// passive or active). With NoSessionReuseRequired ours may be the TLS
// client too. ProFTPD has no CPSV: asked first, it is refused and SSCN
// follows; with neither, the copy fails (both wait as TLS servers).
func TestProftpdSecureFXP(t *testing.T) {
	if !ftptest.Run(t) {
		return
	}
	strict := ftptest.StartProftpd(t, nil, ftptest.ProftpdConfig{Addr: netip.MustParseAddrPort("127.0.0.2:2121"), Writable: true, TLS: true})
	lax := ftptest.StartProftpd(t, nil, ftptest.ProftpdConfig{Addr: netip.MustParseAddrPort("127.0.0.4:2121"), Writable: true, TLS: true, ReuseOptional: true})
	ours := startServer(t, "127.0.0.3:2121", server.Config{TLS: serverTLS(t), RequireTLS: true, RequireTLSData: true, DataTimeout: 3 * time.Second,
		TrustedPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32"), netip.MustParsePrefix("127.0.0.4/32")}})
	data := payload(2<<20 + 11)
	for _, p := range []ftptest.Proftpd{strict, lax} {
		require.NoError(t, os.WriteFile(filepath.Join(p.Root, "from-proftpd"), data, 0o644))
	}
	require.NoError(t, ours.mem.WriteFile("/from-ours", data))
	tlsOpts := Options{TLS: TLSExplicit, Insecure: true}
	type end struct {
		c    *Client
		path string
		read func(string) ([]byte, error)
	}
	ends := func(t *testing.T, p ftptest.Proftpd, fromProftpd bool) (src, dst end) {
		ctx := testCtx(t)
		pe := end{dialAnon(t, ctx, p.Addr, tlsOpts), "from-proftpd", readIn(p.Root)}
		oe := end{dialUser(t, ctx, ours.addr, tlsOpts), "/from-ours", func(name string) ([]byte, error) { return ours.mem.ReadFile("/" + name) }}
		if fromProftpd {
			return pe, oe
		}
		return oe, pe
	}
	for _, p := range []struct {
		name string
		p    ftptest.Proftpd
		sscn []string // which server gets SSCN ON: "proftpd", "ours"
	}{{"reuse-required", strict, []string{"proftpd"}}, {"reuse-optional", lax, []string{"proftpd", "ours"}}} {
		for _, fromProftpd := range []bool{true, false} {
			for _, passive := range []Side{Source, Destination} {
				for _, tlsClient := range p.sscn {
					dir := map[bool]string{true: "proftpd-to-ours", false: "ours-to-proftpd"}[fromProftpd]
					t.Run(p.name+"/"+dir+"/passive-"+passive.String()+"/sscn-on-"+tlsClient, func(t *testing.T) {
						src, dst := ends(t, p.p, fromProftpd)
						// the passive server is ProFTPD when it is the
						// source and the source is passive, or neither
						proftpdPassive := fromProftpd == (passive == Source)
						onActive := proftpdPassive != (tlsClient == "proftpd")
						name := "copy-" + dir + "-" + passive.String() + "-" + tlsClient
						// what ProFTPD logs as the TLS client of a data connection
						const asClient = "making TLS connection for data connection"
						before := strings.Count(p.p.Log(t), asClient)
						assertCopy(t, src.c, src.path, dst.c, name, TransferOptions{Passive: passive, SSCNOnActive: onActive}, data, dst.read)
						assert.Equal(t, tlsClient == "proftpd", strings.Count(p.p.Log(t), asClient) > before, "ProFTPD was the TLS client")
					})
				}
			}
		}
	}

	// SSCN ON to ours: ours is the TLS client, ProFTPD the TLS server, and
	// it refuses a data connection that does not resume its session (425
	// to RETR).
	t.Run("reuse-required/sscn-on-ours-refused", func(t *testing.T) {
		ctx := testCtx(t)
		src, dst := ends(t, strict, true)
		_, err := Transfer(ctx, src.c, src.path, dst.c, "refused", TransferOptions{Passive: Source, SSCNOnActive: true})
		require.Error(t, err)
		assert.Contains(t, strict.Log(t), "did not reuse TLS session")
		assert.Contains(t, err.Error(), "source server")
		assert.Contains(t, err.Error(), "425")
		// ProFTPD ended TLS cleanly after the handshake: ours, the
		// destination, received an empty file, and nothing of the source's.
		got, _ := ours.mem.ReadFile("/refused")
		assert.Empty(t, got)
		assertInStep(t, ctx, src.c, dst.c)
	})

	t.Run("cpsv-refused-then-sscn", func(t *testing.T) {
		var steps []string
		src, dst := ends(t, strict, true)
		opts := TransferOptions{Passive: Source, Security: []FXPSecurity{FXPCPSV, FXPSSCN}, Step: func(s string) { steps = append(steps, s) }}
		assertCopy(t, src.c, src.path, dst.c, "after-cpsv", opts, data, dst.read)
		joined := strings.Join(steps, "\n")
		assert.Contains(t, joined, "CPSV refused")
		assert.Contains(t, joined, "SSCN ON to the source")
	})

	t.Run("none-fails", func(t *testing.T) {
		ctx := testCtx(t)
		src, dst := ends(t, lax, true)
		_, err := Transfer(ctx, src.c, src.path, dst.c, "none", TransferOptions{Passive: Source, Security: []FXPSecurity{FXPNone}})
		require.Error(t, err)
		_, rerr := ours.mem.ReadFile("/none")
		assert.Error(t, rerr, "nothing stored")
	})
}

// CCC with ProFTPD: refused as shipped (TLSRequired on: 534); with
// TLSRequired auth+data it clears the control connection after login, the
// commands after it cross in the clear, and data stays protected and
// resumes the control connection's session.
func TestProftpdCCC(t *testing.T) {
	if !ftptest.Run(t) {
		return
	}
	ctx := testCtx(t)
	strict := ftptest.StartProftpd(t, nil, ftptest.ProftpdConfig{Addr: netip.MustParseAddrPort("127.0.0.2:2121"), TLS: true})
	c, err := Dial(ctx, osNet, strict.Addr.String(), Options{TLS: TLSExplicit, Insecure: true, CCC: true})
	require.NoError(t, err)
	defer c.Close()
	require.True(t, IsReply(c.Login(ctx, "anonymous", "x"), 534), "CCC refused")

	p := ftptest.StartProftpd(t, nil, ftptest.ProftpdConfig{Addr: netip.MustParseAddrPort("127.0.0.3:2121"), Writable: true, TLS: true, AllowCCC: true})
	data := payload(1<<20 + 7)
	require.NoError(t, os.WriteFile(filepath.Join(p.Root, "f.bin"), data, 0o644))
	tap := startWiretap(t, p.Addr)
	c = dialAnon(t, ctx, tap.addr, Options{TLS: TLSExplicit, Insecure: true, CCC: true, Mode: ModePASV}) // PASV: the data goes around the tap
	_, isTLS := c.TLS()
	assert.False(t, isTLS)
	assertRetr(t, ctx, c, "f.bin", data)
	_, err = c.Stor(ctx, "up.bin", bytes.NewReader(data[:99999]))
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(p.Root, "up.bin"))
	require.NoError(t, err)
	assert.Equal(t, data[:99999], got)
	require.NoError(t, c.Quit(ctx))
	wire := tap.String()
	assert.NotContains(t, wire, "USER anonymous")
	assert.Contains(t, wire, "RETR f.bin\r\n")
	log := p.Log(t)
	assert.Contains(t, log, "received CCC, clearing control channel protection")
	assert.Contains(t, log, "data connection accepted, using cipher TLS_AES_256_GCM_SHA384 (256 bits, resumed session)")
}
