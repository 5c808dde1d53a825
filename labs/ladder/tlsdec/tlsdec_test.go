package tlsdec

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
	_ "unsafe" // go:linkname, to pick TLS 1.3's cipher suite

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// crypto/tls has no setting for TLS 1.3's cipher suite: it prefers AES-GCM
// where the CPU has AES instructions, ChaCha20 elsewhere, and AES-256-GCM
// never. The tests set its preference list (which quic-go reaches the same
// way, and which the standard library promises to keep) to the one suite
// each case needs.
//
//go:linkname defaultCipherSuitesTLS13 crypto/tls.defaultCipherSuitesTLS13
var defaultCipherSuitesTLS13 []uint16

//go:linkname defaultCipherSuitesTLS13NoAES crypto/tls.defaultCipherSuitesTLS13NoAES
var defaultCipherSuitesTLS13NoAES []uint16

// only13 makes suite the only TLS 1.3 suite crypto/tls offers and accepts
// until the test ends.
func only13(t *testing.T, suite uint16) {
	saved, savedNoAES := defaultCipherSuitesTLS13, defaultCipherSuitesTLS13NoAES
	defaultCipherSuitesTLS13, defaultCipherSuitesTLS13NoAES = []uint16{suite}, []uint16{suite}
	t.Cleanup(func() { defaultCipherSuitesTLS13, defaultCipherSuitesTLS13NoAES = saved, savedNoAES })
}

// certificate makes a self-signed certificate for 127.0.0.1 with an ECDSA
// or RSA key.
func certificate(t testing.TB, useRSA bool) tls.Certificate {
	t.Helper()
	var key any
	var pub any
	if useRSA {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		require.NoError(t, err)
		key, pub = k, &k.PublicKey
	} else {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		key, pub = k, &k.PublicKey
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tlsdec test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

var (
	certOnce  sync.Once
	ecdsaCert tls.Certificate
	rsaCert   tls.Certificate
)

func certs(t testing.TB) (ecdsa, rsa tls.Certificate) {
	certOnce.Do(func() { ecdsaCert, rsaCert = certificate(t, false), certificate(t, true) })
	return ecdsaCert, rsaCert
}

// trustedECDSA is the test's ECDSA certificate and a pool that trusts it.
func trustedECDSA(t testing.TB) (tls.Certificate, *x509.CertPool) {
	ec, _ := certs(t)
	x, err := x509.ParseCertificate(ec.Certificate[0])
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(x)
	return ec, pool
}

// chunk is what one side wrote in one call.
type chunk struct {
	side Side
	b    []byte
}

// wire records what both ends of a connection write, in the order they
// write it: one side answers only what it read, so the order is the
// order on the wire.
type wire struct {
	mu     sync.Mutex
	chunks []chunk
}

func (w *wire) add(side Side, p []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.chunks = append(w.chunks, chunk{side, bytes.Clone(p)})
}

// tap is a connection whose writes the wire records.
type tap struct {
	net.Conn
	w    *wire
	side Side
}

func (t tap) Write(p []byte) (int, error) {
	t.w.add(t.side, p)
	return t.Conn.Write(p)
}

// session is one recorded TLS connection: what each side sent as
// application data, the bytes on the wire, the key log, what crypto/tls
// negotiated.
type session struct {
	sent    [2][]byte
	wire    *wire
	keyLog  []byte
	state   tls.ConnectionState
	resumed bool
}

// bigPayload is data that spans several TLS records.
var bigPayload = bytes.Repeat([]byte("0123456789abcdef"), 5000)

// converse runs an FTP-like exchange over a real TLS connection on
// loopback (client: a command, then 80000 bytes; server: a reply to each)
// with the configs given, both logging their secrets to one key log.
func converse(t testing.TB, client, server *tls.Config) session {
	t.Helper()
	var keys bytes.Buffer
	var keysMu sync.Mutex
	logKeys := writerFunc(func(p []byte) (int, error) {
		keysMu.Lock()
		defer keysMu.Unlock()
		return keys.Write(p)
	})
	client, server = client.Clone(), server.Clone()
	client.KeyLogWriter, server.KeyLogWriter = logKeys, logKeys
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	w := &wire{}
	s := session{wire: w}
	s.sent[Client] = append([]byte("USER alice\r\n"), bigPayload...)
	s.sent[Server] = []byte("331 password, please\r\n226 got it all\r\n")
	done := make(chan error, 1)
	go func() { done <- serve(ln, w, server) }()
	raw, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	c := tls.Client(tap{raw, w, Client}, client)
	defer c.Close()
	require.NoError(t, c.Handshake())
	_, err = c.Write([]byte("USER alice\r\n"))
	require.NoError(t, err)
	line := make([]byte, len("331 password, please\r\n"))
	_, err = io.ReadFull(c, line)
	require.NoError(t, err)
	_, err = c.Write(bigPayload)
	require.NoError(t, err)
	rest, err := io.ReadAll(c)
	require.NoError(t, err)
	assert.Equal(t, s.sent[Server], append(line, rest...))
	require.NoError(t, <-done)
	s.state = c.ConnectionState()
	s.resumed = s.state.DidResume
	keysMu.Lock()
	s.keyLog = bytes.Clone(keys.Bytes())
	keysMu.Unlock()
	return s
}

// serve answers one connection of converse.
func serve(ln net.Listener, w *wire, cfg *tls.Config) error {
	raw, err := ln.Accept()
	if err != nil {
		return err
	}
	c := tls.Server(tap{raw, w, Server}, cfg)
	defer c.Close()
	cmd := make([]byte, len("USER alice\r\n"))
	if _, err := io.ReadFull(c, cmd); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if _, err := c.Write([]byte("331 password, please\r\n")); err != nil {
		return err
	}
	data := make([]byte, len(bigPayload))
	if _, err := io.ReadFull(c, data); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if !bytes.Equal(data, bigPayload) {
		return errors.New("server: the payload changed")
	}
	if _, err := c.Write([]byte("226 got it all\r\n")); err != nil {
		return err
	}
	return c.CloseWrite()
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// decrypt feeds a session's wire to a Conn using keys, each chunk cut
// into pieces of at most piece bytes (0: whole), and returns the
// plaintext of each side.
func decrypt(s session, keys *KeyLog, piece int) (*Conn, [2][]byte, error) {
	c := NewConn(keys)
	var got [2][]byte
	for _, ch := range s.wire.chunks {
		b := ch.b
		for len(b) > 0 {
			n := len(b)
			if piece > 0 {
				n = min(n, 1+len(b)%piece)
			}
			if err := c.Feed(ch.side, b[:n], func(p []byte) { got[ch.side] = append(got[ch.side], p...) }); err != nil {
				return c, got, err
			}
			b = b[n:]
		}
	}
	return c, got, nil
}

func keyLogOf(t *testing.T, text []byte) *KeyLog {
	t.Helper()
	k := NewKeyLog()
	require.NoError(t, k.Add(text))
	return k
}

// checkSession decrypts s and checks it gives back what each side sent.
func checkSession(t *testing.T, s session, keys *KeyLog) {
	t.Helper()
	for _, piece := range []int{0, 7, 1} {
		c, got, err := decrypt(s, keys, piece)
		require.NoError(t, err, "pieces of %d bytes", piece)
		assert.Equal(t, s.sent[Client], got[Client], "client's plaintext (pieces of %d bytes)", piece)
		assert.Equal(t, s.sent[Server], got[Server], "server's plaintext (pieces of %d bytes)", piece)
		assert.Equal(t, s.state.Version, c.Version())
		assert.Equal(t, s.state.CipherSuite, c.CipherSuite())
		assert.True(t, c.Decrypted())
	}
}

// TestSuites decrypts real crypto/tls connections of every AEAD suite,
// TLS 1.2 and 1.3, with the secrets they logged; and without them (an
// eavesdropper's view) or with wrong ones, says so and yields nothing.
func TestSuites(t *testing.T) {
	ec, rs := certs(t)
	pool := x509.NewCertPool()
	for _, c := range []tls.Certificate{ec, rs} {
		x, err := x509.ParseCertificate(c.Certificate[0])
		require.NoError(t, err)
		pool.AddCert(x)
	}
	type tc struct {
		version uint16
		suite   uint16
		cert    tls.Certificate
	}
	cases := []tc{
		{tls.VersionTLS13, tls.TLS_AES_128_GCM_SHA256, ec},
		{tls.VersionTLS13, tls.TLS_AES_256_GCM_SHA384, ec},
		{tls.VersionTLS13, tls.TLS_CHACHA20_POLY1305_SHA256, ec},
		{tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, ec},
		{tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, ec},
		{tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, ec},
		{tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, rs},
		{tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, rs},
		{tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, rs},
		{tls.VersionTLS12, tls.TLS_RSA_WITH_AES_128_GCM_SHA256, rs},
		{tls.VersionTLS12, tls.TLS_RSA_WITH_AES_256_GCM_SHA384, rs},
	}
	for _, c := range cases {
		t.Run(tls.VersionName(c.version)+"/"+tls.CipherSuiteName(c.suite), func(t *testing.T) {
			if c.version == tls.VersionTLS13 {
				only13(t, c.suite)
			}
			client := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: c.version, MaxVersion: c.version, CipherSuites: []uint16{c.suite}}
			server := &tls.Config{Certificates: []tls.Certificate{c.cert}, MinVersion: c.version, MaxVersion: c.version, CipherSuites: []uint16{c.suite}}
			s := converse(t, client, server)
			require.Equal(t, c.suite, s.state.CipherSuite, "crypto/tls negotiated the suite under test")
			checkSession(t, s, keyLogOf(t, s.keyLog))

			_, got, err := decrypt(s, NewKeyLog(), 0)
			require.ErrorIs(t, err, ErrNoSecrets)
			assert.Empty(t, got[Client])
			assert.Empty(t, got[Server])

			wrong := keyLogOf(t, flipSecrets(s.keyLog))
			_, got, err = decrypt(s, wrong, 0)
			require.ErrorContains(t, err, "does not authenticate")
			assert.Empty(t, got[Client])
		})
	}
}

// flipSecrets changes the last hex digit of every secret in a key log.
func flipSecrets(keyLog []byte) []byte {
	var out []byte
	for line := range bytes.Lines(keyLog) {
		l := bytes.TrimRight(line, "\n")
		last := l[len(l)-1]
		l = append(bytes.Clone(l[:len(l)-1]), "01"[boolIndex(last == '0')])
		out = append(append(out, l...), '\n')
	}
	return out
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestResumption: a connection that resumes a session is decrypted too.
// crypto/tls logs no secret for a resumed TLS 1.2 connection: its master
// secret comes from the connection that made the session, found by the
// ticket the ClientHello offers (as a data connection resumes its
// control connection's session in FTPS).
func TestResumption(t *testing.T) {
	ec, pool := trustedECDSA(t)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			cache := tls.NewLRUClientSessionCache(4)
			client := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MaxVersion: v, ClientSessionCache: cache}
			server := &tls.Config{Certificates: []tls.Certificate{ec}, MaxVersion: v}
			server.SetSessionTicketKeys([][32]byte{{1, 2, 3}}) // kept by the clones converse makes
			first := converse(t, client, server)
			second := converse(t, client, server)
			require.False(t, first.resumed)
			require.True(t, second.resumed, "the second connection resumed the first one's session")
			if v == tls.VersionTLS12 {
				require.Empty(t, second.keyLog, "crypto/tls logs no secret for a resumed TLS 1.2 connection")
			}
			keys := keyLogOf(t, first.keyLog)
			require.NoError(t, keys.Add(second.keyLog))
			checkSession(t, first, keys)
			checkSession(t, second, keys)
		})
	}
}

// TestHelloRetryRequest: a TLS 1.3 server that asks for another key share
// (HelloRetryRequest) is followed through the second ClientHello.
func TestHelloRetryRequest(t *testing.T) {
	ec, pool := trustedECDSA(t)
	client := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256}}
	server := &tls.Config{Certificates: []tls.Certificate{ec}, CurvePreferences: []tls.CurveID{tls.CurveP256}}
	s := converse(t, client, server)
	require.Equal(t, tls.CurveP256, s.state.CurveID)
	checkSession(t, s, keyLogOf(t, s.keyLog))
}

// TestSecretsLater: secrets that come after the ServerHello but before
// the records they protect (as crypto/tls logs TLS 1.2's master secret,
// and as a capture's Decryption Secrets Blocks come) are found when
// needed.
func TestSecretsLater(t *testing.T) {
	ec, pool := trustedECDSA(t)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			s := converse(t, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MaxVersion: v}, &tls.Config{Certificates: []tls.Certificate{ec}, MaxVersion: v})
			keys := NewKeyLog()
			c := NewConn(keys)
			var got [2][]byte
			deliver := func(side Side) func([]byte) {
				return func(p []byte) { got[side] = append(got[side], p...) }
			}
			added := false
			for _, ch := range s.wire.chunks {
				b := ch.b
				if ch.side == Server && !added {
					// The ServerHello record first, then the secrets.
					n := recordHeader + int(b[3])<<8 + int(b[4])
					require.NoError(t, c.Feed(Server, b[:n], deliver(Server)))
					require.NoError(t, keys.Add(s.keyLog))
					b, added = b[n:], true
				}
				require.NoError(t, c.Feed(ch.side, b, deliver(ch.side)))
			}
			assert.Equal(t, s.sent, got)
		})
	}
}

// TestNotTLS: bytes that are no TLS, or a connection whose start the
// capture missed, stop the Conn with an error that says so.
func TestNotTLS(t *testing.T) {
	for name, tc := range map[string]struct {
		side Side
		data string
		want string
	}{
		"ftp":                  {Client, "USER alice\r\n", "not a TLS record"},
		"huge record":          {Client, "\x16\x03\x03\xff\xff", "not a TLS record"},
		"server speaks first":  {Server, "\x16\x03\x03\x00\x04\x02\x00\x00\x00", "ServerHello before any ClientHello"},
		"application data":     {Client, "\x17\x03\x03\x00\x01x", "application data before the handshake"},
		"short ClientHello":    {Client, "\x16\x03\x01\x00\x06\x01\x00\x00\x02\x03\x03", "malformed ClientHello"},
		"ChangeCipherSpec":     {Client, "\x14\x03\x03\x00\x01\x01", "ChangeCipherSpec before the ServerHello"},
		"ClientHello reversed": {Server, "\x16\x03\x01\x00\x04\x01\x00\x00\x00", "wrong side"},
	} {
		t.Run(name, func(t *testing.T) {
			c := NewConn(NewKeyLog())
			err := c.Feed(tc.side, []byte(tc.data), func([]byte) { t.Error("delivered plaintext") })
			require.ErrorContains(t, err, tc.want)
			assert.Equal(t, err, c.Err())
			assert.Equal(t, err, c.Feed(tc.side, []byte("more"), nil), "stays stopped")
		})
	}
	assert.ErrorContains(t, NewConn(NewKeyLog()).Feed(Side(7), nil, nil), "no side 7")
}

// TestKeyLog: the key log's lines, good and bad.
func TestKeyLog(t *testing.T) {
	r := strings.Repeat("ab", 32)
	k := NewKeyLog()
	err := k.Add([]byte("# comment\n\nCLIENT_RANDOM " + r + " " + strings.Repeat("01", 48) + "\n" +
		"EXPORTER_SECRET " + r + " 00\n" +
		"CLIENT_TRAFFIC_SECRET_0 " + r + "\n" +
		"SERVER_TRAFFIC_SECRET_0 abcd 0011\n" +
		"CLIENT_HANDSHAKE_TRAFFIC_SECRET " + r + " zz\n"))
	require.ErrorContains(t, err, "3 malformed lines, the first line 5 (CLIENT_TRAFFIC_SECRET_0): 2 fields, want 3")
	assert.Equal(t, 1, k.Len(), "the good line is kept")
	assert.NotNil(t, k.secret([32]byte(bytes.Repeat([]byte{0xab}, 32)), master))
	require.ErrorContains(t, NewKeyLog().Add([]byte("SERVER_TRAFFIC_SECRET_0 abcd 0011")), "line 1 (SERVER_TRAFFIC_SECRET_0): client random \"abcd\" is not 64 hex digits")
}
