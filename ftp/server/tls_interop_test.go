package server

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/ftp"
	"github.com/ftplab/ftplab/ftp/ftptest"
	"github.com/ftplab/ftplab/ftp/proto"
)

// lftpTLS makes lftp insist on TLS for control and data, without
// verifying our self-signed certificate.
const lftpTLS = "set ftp:ssl-allow yes; set ftp:ssl-force true; set ftp:ssl-protect-data true; set ssl:verify-certificate no; "

// strictTLS is a server that requires TLS for login and data, and session
// reuse on data connections (the default).
func strictTLS(t *testing.T, more ...func(*Config)) func(*Config) {
	return withTLS(t, append([]func(*Config){func(c *Config) { c.RequireTLS, c.RequireTLSData = true, true }}, more...)...)
}

func TestLFTPTLS(t *testing.T) {
	if !ftptest.Run(t, ftptest.Need("lftp")) {
		return
	}
	ts := startServer(t, "127.0.0.2", strictTLS(t))
	lftpGetPut(t, ts, lftpTLS, "", bytes.Repeat([]byte("lftp over tls\n"), 20000), 33333)
	assert.Contains(t, ts.logs.String(), "resumed=true", "lftp resumes the control connection's session")
	assert.NotContains(t, ts.logs.String(), "session reuse required")
}

// curl: explicit FTPS (--ssl-reqd) in its passive modes, and implicit
// (ftps://), both with session reuse required.
func TestCurlTLS(t *testing.T) {
	if !ftptest.Run(t, ftptest.Need("curl")) {
		return
	}
	curl := tool(t, "curl")
	ts := startServer(t, "127.0.0.2", strictTLS(t))
	ln, err := ftp.OS{}.Listen(context.Background(), "tcp", "127.0.0.2:0")
	require.NoError(t, err)
	go func() { _ = ts.srv.ServeTLS(context.Background(), ln) }()
	implicit := proto.AddrPortOf(ln.Addr())
	content := bytes.Repeat([]byte{0, 1, 2, 255, '\n', '\r'}, 40000)
	require.NoError(t, ts.fs.WriteFile("/f.bin", content))
	dir := t.TempDir()
	local := filepath.Join(dir, "local.bin")
	require.NoError(t, os.WriteFile(local, content[:99999], 0o644))
	urls := map[string]string{"explicit": url(ts, ""), "implicit": fmt.Sprintf("ftps://u:p@%s", implicit)}
	for _, kind := range []string{"explicit", "implicit"} {
		// Passive modes only: this curl (7.88.1) fails active FTPS with
		// "sa_addr inet_ntop() failed" before sending PORT (curl#10622,
		// fixed in 8.0).
		for _, m := range ftptest.CurlModes("-")[:2] {
			t.Run(kind+"/"+m.Name, func(t *testing.T) {
				got := filepath.Join(dir, "got-"+kind+m.Name)
				base := []string{"-sS", "--max-time", "30", "--ssl-reqd", "-k"}
				out, err := run(t, time.Minute, curl, append(append(base, "-o", got, urls[kind]+"/f.bin"), m.Args...)...)
				require.NoError(t, err, out)
				data, err := os.ReadFile(got)
				require.NoError(t, err)
				require.Equal(t, content, data)
				name := "up-" + kind + m.Name
				out, err = run(t, time.Minute, curl, append(append(base, "-T", local, urls[kind]+"/"+name), m.Args...)...)
				require.NoError(t, err, out)
				up, err := ts.fs.ReadFile("/" + name)
				require.NoError(t, err)
				require.Equal(t, content[:99999], up)
			})
		}
	}
	assert.NotContains(t, ts.logs.String(), "session reuse required")
}

// pythonFTPTLS downloads f and uploads g with ftplib.FTP_TLS and prot_p();
// with reuse, its data connections resume the control connection's
// session (ftplib does not on its own: bpo-19500).
const pythonFTPTLS = `
import ftplib, io, ssl, sys
host, port, reuse = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "reuse"
class Reusing(ftplib.FTP_TLS):
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
f = (Reusing if reuse else ftplib.FTP_TLS)(context=ctx, timeout=10)
f.connect(host, port)
f.login("u", "p")
f.prot_p()
buf = io.BytesIO()
f.retrbinary("RETR f", buf.write)
f.storbinary("STOR g", io.BytesIO(buf.getvalue()[::-1]))
f.quit()
print(len(buf.getvalue()))
`

func TestPythonFTPTLS(t *testing.T) {
	if !ftptest.Run(t, ftptest.Need("python3")) {
		return
	}
	py := tool(t, "python3")
	for _, tc := range []struct {
		name     string
		optional bool
		arg      string
		ok       bool
	}{
		{"ftplib-reuse-required", false, "plain", false},
		{"ftplib-reuse-optional", true, "plain", true},
		{"ftplib-with-session-reuse-required", false, "reuse", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, "127.0.0.2", strictTLS(t, func(c *Config) { c.TLSReuseOptional = tc.optional; c.DataTimeout = 3 * time.Second }))
			require.NoError(t, ts.fs.WriteFile("/f", []byte("python tls")))
			host, port, _ := net.SplitHostPort(ts.addr.String())
			out, err := run(t, time.Minute, py, "-c", pythonFTPTLS, host, port, tc.arg)
			if !tc.ok {
				require.Error(t, err, out)
				assert.Contains(t, ts.logs.String(), "session reuse required")
				return
			}
			require.NoError(t, err, out)
			assert.Equal(t, "10", strings.TrimSpace(out))
			g, err := ts.fs.ReadFile("/g")
			require.NoError(t, err)
			assert.Equal(t, "slt nohtyp", string(g))
		})
	}
}

// lftp's secure FXP between two of our TLS servers: with
// ftp:fxp-passive-sscn on (its default) the passive server is the TLS
// client, which lftp asks for with CPSV since our FEAT lists it; off, lftp
// sends SSCN ON to the active server. Both with the destination passive,
// then the source.
func TestLFTPSecureFXP(t *testing.T) {
	if !ftptest.Run(t, ftptest.Need("lftp")) {
		return
	}
	src := startServer(t, "127.0.0.2", strictTLS(t, func(c *Config) { c.TrustedPeers = mustPrefixes("127.0.0.3/32") }))
	dst := startServer(t, "127.0.0.3", strictTLS(t, func(c *Config) { c.TrustedPeers = mustPrefixes("127.0.0.2/32") }))
	require.NoError(t, src.fs.AddGenerated("/big.bin", 3<<20, 9))
	want, err := src.fs.ReadFile("/big.bin")
	require.NoError(t, err)
	for _, sscn := range []string{"on", "off"} {
		for _, srcPassive := range []string{"no", "yes"} {
			name := fmt.Sprintf("copy-%s-%s", sscn, srcPassive)
			count := func(what string) int {
				return strings.Count(src.logs.String(), what) + strings.Count(dst.logs.String(), what)
			}
			t.Run("fxp-passive-sscn="+sscn+"/passive-source="+srcPassive, func(t *testing.T) {
				// on: the passive server is the TLS client, and lftp asks with
				// CPSV where FEAT offers it; off: SSCN ON to the active one
				verb := map[string]string{"on": "verb=CPSV", "off": "verb=SSCN arg=ON"}[sscn]
				verbBefore, roleBefore := count(verb), count("role=client")
				out, err := lftp(t, lftpTLS+fmt.Sprintf("set ftp:ssl-protect-fxp true; set ftp:fxp-passive-sscn %s; set ftp:fxp-passive-source %s; set ftp:use-fxp true; get %s -o %s",
					sscn, srcPassive, url(src, "/big.bin"), url(dst, "/"+name)))
				require.NoError(t, err, out)
				got, err := dst.fs.ReadFile("/" + name)
				require.NoError(t, err, out)
				require.Equal(t, want, got)
				assert.Greater(t, count(verb), verbBefore, "lftp sent %s", verb)
				assert.Greater(t, count("role=client"), roleBefore, "that server was the TLS client of the data connection")
			})
		}
	}
}

func mustPrefixes(ps ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range ps {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

// cccLogged checks from the server's log that CCC cleared a control
// connection and that commands were read in the clear after it.
func cccLogged(t *testing.T, ts *testServer) {
	t.Helper()
	logs := ts.logs.String()
	cleared := strings.Index(logs, "control connection in the clear (CCC)")
	require.GreaterOrEqual(t, cleared, 0, "CCC accepted")
	assert.Greater(t, strings.LastIndex(logs, "verb=RETR"), cleared, "a command read after CCC")
	assert.NotContains(t, logs, "CCC failed")
}

// cccServer allows CCC; with reuse optional, as clients that lose their
// TLS session with the control connection's TLS need.
func cccServer(t *testing.T, reuseOptional bool) *testServer {
	return startServer(t, "127.0.0.2", strictTLS(t, func(c *Config) { c.AllowCCC, c.TLSReuseOptional = true, reuseOptional }))
}

// lftp with ftp:ssl-use-ccc sends CCC after login: a server that refuses
// it (534, the default) keeps the session protected, one that allows it
// goes on in the clear; get and put work either way. lftp (GnuTLS) does
// not resume the control connection's TLS session on data connections
// after CCC: the server must not require it.
func TestLFTPCCC(t *testing.T) {
	if !ftptest.Run(t, ftptest.Need("lftp")) {
		return
	}
	content := bytes.Repeat([]byte("lftp ccc\n"), 30000)
	t.Run("refused", func(t *testing.T) {
		ts := startServer(t, "127.0.0.2", strictTLS(t))
		lftpGetPut(t, ts, lftpTLS+"set ftp:ssl-use-ccc yes; ", "", content, 22222)
		assert.Contains(t, ts.logs.String(), "CCC refused")
		assert.NotContains(t, ts.logs.String(), "(CCC)")
	})
	t.Run("allowed", func(t *testing.T) {
		ts := cccServer(t, true)
		lftpGetPut(t, ts, lftpTLS+"set ftp:ssl-use-ccc yes; ", "", content, 22222)
		cccLogged(t, ts)
	})
}

// curl's --ftp-ssl-ccc in both its modes: active sends its own
// close_notify and waits for ours, and resumes its session on data
// connections; passive waits for ours and goes on in the clear without
// one, and OpenSSL then drops the session (a connection not shut down
// both ways), so the server must not require reuse.
func TestCurlCCC(t *testing.T) {
	if !ftptest.Run(t, ftptest.Need("curl")) {
		return
	}
	curl := tool(t, "curl")
	servers := map[string]*testServer{"active": cccServer(t, false), "passive": cccServer(t, true)}
	content := bytes.Repeat([]byte("curl ccc\n"), 40000)
	dir := t.TempDir()
	local := filepath.Join(dir, "local.bin")
	require.NoError(t, os.WriteFile(local, content[:54321], 0o644))
	for _, mode := range []string{"active", "passive"} {
		t.Run(mode, func(t *testing.T) {
			ts := servers[mode]
			require.NoError(t, ts.fs.WriteFile("/f.bin", content))
			got := filepath.Join(dir, "got-"+mode)
			base := []string{"-sS", "--max-time", "30", "--ssl-reqd", "-k", "--ftp-ssl-ccc", "--ftp-ssl-ccc-mode", mode}
			out, err := run(t, time.Minute, curl, append(base, "-o", got, url(ts, "/f.bin"))...)
			require.NoError(t, err, out)
			data, err := os.ReadFile(got)
			require.NoError(t, err)
			require.Equal(t, content, data)
			out, err = run(t, time.Minute, curl, append(base, "-T", local, url(ts, "/up-"+mode))...)
			require.NoError(t, err, out)
			up, err := ts.fs.ReadFile("/up-" + mode)
			require.NoError(t, err)
			require.Equal(t, content[:54321], up)
			cccLogged(t, ts)
		})
	}
}
