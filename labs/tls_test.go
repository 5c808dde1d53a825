package labs

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/ftp"
	"github.com/ftplab/ftplab/ftp/client"
)

// withTLS is base with FTPS on server B (tls given as a flow mapping).
func withTLS(tls string) string {
	return strings.Replace(base, "anonymous: true", "anonymous: true\n    tls: "+tls, 1)
}

func TestLoadTLS(t *testing.T) {
	l, err := Load("t.yaml", []byte(withTLS("{mode: implicit, require: true, require-data: true, reuse: optional}")+`steps:
  - get: {client: A, from: B:/f, tls: implicit}
  - fxp: {client: A, from: B:/f, to: B:/g, tls: implicit, secure: [cpsv, sscn], sscn-side: active}
  - cmd: {client: A, server: B, send: NOOP, tls: implicit}
`))
	require.NoError(t, err)
	s := l.Servers[0]
	assert.Equal(t, 990, s.Port, "implicit FTPS defaults to port 990")
	assert.True(t, s.TLS.Mode.implicit())
	assert.Equal(t, TLSReuse("optional"), s.TLS.Reuse)
	assert.Equal(t, TLSMode(client.TLSImplicit), l.Steps[0].Action.(*GetStep).TLS)
	f := l.Steps[1].Action.(*FXPStep)
	assert.Equal(t, Security{client.FXPCPSV, client.FXPSSCN}, f.Secure)
	assert.Equal(t, SSCNSide("active"), f.SSCNSide)

	l, err = Load("t.yaml", []byte(withTLS("{}")))
	require.NoError(t, err)
	assert.Equal(t, 21, l.Servers[0].Port, "explicit FTPS stays on 21")
}

func TestLoadTLSErrors(t *testing.T) {
	dir := t.TempDir()
	cert, err := ftp.SelfSigned("10.0.0.2")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cert.pem"), ftp.CertPEM(cert), 0o644))
	other, err := ftp.SelfSigned("10.0.0.2")
	require.NoError(t, err)
	key, err := ftp.KeyPEM(other)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "other.key"), key, 0o600))
	steps := "steps:\n  - "
	tests := []struct {
		name, yaml, pos, contains string
	}{
		{"bad mode", withTLS("{mode: sometimes}"), "15:17", `server TLS mode "sometimes": want explicit or implicit`},
		{"mode off", withTLS("{mode: off}"), "15:17", "leave tls: out for plain FTP"},
		{"bad reuse", withTLS("{reuse: never}"), "15:18", `TLS reuse "never"`},
		{"cert without key", withTLS("{cert: c.pem}"), "15:11", "give both cert and key"},
		{"missing cert file", withTLS("{cert: nope.pem, key: nope.key}"), "15:17", "nope.pem"},
		{"key of another cert", withTLS("{cert: cert.pem, key: other.key}"), "15:17", "with key"},
		{"bad step mode", withTLS("{}") + steps + "get: {client: A, from: B:/f, tls: maybe}\n", "19:39", `TLS mode "maybe"`},
		{"tls to a plain server", base + steps + "get: {client: A, from: B:/f, tls: explicit}\n", "18:39", `server "B" has no tls: section`},
		{"explicit to implicit", withTLS("{mode: implicit}") + steps + "put: {client: A, to: B:/g, content: x, tls: explicit}\n", "19:49", "use tls: implicit"},
		{"plain to implicit", withTLS("{mode: implicit}") + steps + "cmd: {client: A, server: B, send: NOOP}\n", "19:11", "use tls: implicit"},
		{"implicit to explicit", withTLS("{}") + steps + "relay: {client: A, from: B:/f, to: B:/g, tls: implicit}\n", "19:51", "use tls: explicit"},
		{"secure without tls", withTLS("{}") + steps + "fxp: {client: A, from: B:/f, to: B:/g, secure: [sscn]}\n", "19:52", "secure needs tls"},
		{"bad secure method", withTLS("{}") + steps + "fxp: {client: A, from: B:/f, to: B:/g, tls: explicit, secure: [sscn, magic]}\n", "19:74", `method "magic"`},
		{"bad sscn side", withTLS("{}") + steps + "fxp: {client: A, from: B:/f, to: B:/g, tls: explicit, sscn-side: left}\n", "19:70", `SSCN side "left"`},
		{"sscn side without tls", withTLS("{}") + steps + "fxp: {client: A, from: B:/f, to: B:/g, sscn-side: active}\n", "19:55", "sscn-side needs tls"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "bad.yaml")
			require.NoError(t, os.WriteFile(p, []byte(tc.yaml), 0o644))
			_, err := LoadFile(p)
			require.Error(t, err)
			msg := err.Error()
			assert.Contains(t, msg, "bad.yaml:"+tc.pos, "position")
			assert.Contains(t, msg, tc.contains)
		})
	}
	_, err = Load("embedded:x.yaml", []byte(withTLS("{cert: cert.pem, key: other.key}")))
	assert.ErrorContains(t, err, "embedded labs cannot read certificate files")
}

// TestRunTLSFiles: a server with the lab's certificate files; the lab's
// client trusts them, and --keylog's writer gets the secrets.
func TestRunTLSFiles(t *testing.T) {
	dir := t.TempDir()
	cert, err := ftp.SelfSigned("10.0.0.2")
	require.NoError(t, err)
	key, err := ftp.KeyPEM(cert)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cert.pem"), ftp.CertPEM(cert), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "key.pem"), key, 0o600))
	p := filepath.Join(dir, "files.yaml")
	require.NoError(t, os.WriteFile(p, []byte(withTLS("{mode: implicit, cert: cert.pem, key: key.pem}")+
		"steps:\n  - get: {client: A, from: B:/f, tls: implicit}\n"), 0o644))
	lab, err := LoadFile(p)
	require.NoError(t, err)
	var keys strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := Run(ctx, lab, Options{CaptureFile: filepath.Join(dir, "files.pcapng"), KeyLog: &keys})
	require.NoError(t, err)
	require.True(t, rep.OK(), "failures: %v", rep.Failures())
	lines := strings.Split(strings.TrimSpace(keys.String()), "\n")
	assert.Contains(t, keys.String(), "CLIENT_TRAFFIC_SECRET_0 ")
	seen := map[string]bool{}
	for _, l := range lines {
		assert.False(t, seen[l], "secret logged twice: %s", l)
		seen[l] = true
	}
}

// A server's tls: {ccc: true} accepts CCC, sent by a cmd step: the kept
// session goes on in the clear (a later cmd step on it is answered) and
// protected transfers still work; without it CCC gets 534.
func TestRunCCC(t *testing.T) {
	for _, tc := range []struct {
		tls, reply string
	}{{"{ccc: true}", "200"}, {"{}", "534"}} {
		t.Run(tc.tls, func(t *testing.T) {
			lab, err := Load("ccc.yaml", []byte(withTLS(tc.tls)+`steps:
  - cmd: {client: A, server: B, send: CCC, reply: `+tc.reply+`, tls: explicit}
  - cmd: {client: A, server: B, send: PWD, reply: 257, tls: explicit}
  - get: {client: A, from: B:/f, tls: explicit}
`))
			require.NoError(t, err)
			assert.Equal(t, tc.reply == "200", lab.Servers[0].TLS.CCC)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rep, err := Run(ctx, lab, Options{CaptureFile: filepath.Join(t.TempDir(), "ccc.pcapng")})
			require.NoError(t, err)
			require.True(t, rep.OK(), "failures: %v", rep.Failures())
		})
	}
}
