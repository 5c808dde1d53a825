package ladder

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorded is what the two ends of a real crypto/tls connection wrote, in
// order (one answers only what it read), and the secrets they logged.
type recorded struct {
	mu     sync.Mutex
	chunks []chunk
	mark   int // chunks written before the client called markHere
	keys   bytes.Buffer
	state  tls.ConnectionState
}

type chunk struct {
	client bool
	b      []byte
}

func (r *recorded) add(client bool, p []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.chunks = append(r.chunks, chunk{client, bytes.Clone(p)})
}

func (r *recorded) markHere() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mark = len(r.chunks)
}

// Write is the key log.
func (r *recorded) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.keys.Write(p)
}

type tap struct {
	net.Conn
	r      *recorded
	client bool
}

func (t tap) Write(p []byte) (int, error) {
	t.r.add(t.client, p)
	return t.Conn.Write(p)
}

// runTLS runs client and server over a real TLS connection on loopback
// (TLS version v, a fresh self-signed certificate) and records it.
func runTLS(t testing.TB, v uint16, client func(c *tls.Conn, r *recorded) error, server func(c *tls.Conn) error) *recorded {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	r := &recorded{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		done <- func() error { // the connection closed (close_notify recorded) before done
			raw, err := ln.Accept()
			if err != nil {
				return err
			}
			c := tls.Server(tap{raw, r, false}, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
				MinVersion: v, MaxVersion: v, KeyLogWriter: r})
			defer c.Close()
			return server(c)
		}()
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	c := tls.Client(tap{raw, r, true}, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: v, MaxVersion: v, KeyLogWriter: r})
	defer c.Close()
	require.NoError(t, client(c, r))
	require.NoError(t, <-done)
	r.state = c.ConnectionState()
	return r
}

// session is the FTP dialogue inside TLS: commands and B's answers.
var session = []struct{ cmd, reply string }{
	{"USER alice", "331 password, please"},
	{"PASS secret", "230 logged in"},
	{"PASV", "227 Entering Passive Mode (10,0,0,2,195,80)"},
	{"RETR f", "150 here it comes"},
	{"QUIT", "226 done\r\n221 bye"},
}

// ftpsControl records the control connection's TLS part: the client
// marks where RETR's 150 arrived (the data connection goes there).
func ftpsControl(t testing.TB, v uint16) *recorded {
	return runTLS(t, v, func(c *tls.Conn, r *recorded) error {
		br := bufio.NewReader(c)
		for _, x := range session {
			if _, err := c.Write([]byte(x.cmd + "\r\n")); err != nil {
				return err
			}
			for range strings.Count(x.reply, "\r\n") + 1 {
				if _, err := br.ReadString('\n'); err != nil {
					return err
				}
			}
			if strings.HasPrefix(x.reply, "150") {
				r.markHere()
			}
		}
		return nil
	}, func(c *tls.Conn) error {
		br := bufio.NewReader(c)
		for _, x := range session {
			if _, err := br.ReadString('\n'); err != nil {
				return err
			}
			if _, err := c.Write([]byte(x.reply + "\r\n")); err != nil {
				return err
			}
		}
		return nil
	})
}

// file is what the data connection carries.
var file = bytes.Repeat([]byte("ftplab "), 3000)

// ftpsData records a protected data connection: B sends payload.
func ftpsData(t testing.TB, v uint16, payload []byte) *recorded {
	return runTLS(t, v, func(c *tls.Conn, _ *recorded) error {
		got, err := io.ReadAll(c)
		if err == nil && !bytes.Equal(got, payload) {
			err = fmt.Errorf("the client got %d bytes", len(got))
		}
		return err
	}, func(c *tls.Conn) error {
		if _, err := c.Write(payload); err != nil {
			return err
		}
		return c.CloseWrite()
	})
}

// emitTLS sends chunks over a synthetic connection, in segments of at
// most 1400 bytes.
func emitTLS(k *tcpConn, chunks []chunk) {
	for _, ch := range chunks {
		for b := ch.b; len(b) > 0; {
			n := min(1400, len(b))
			k.s.emit(k.segment(ch.client, string(b[:n])))
			b = b[n:]
		}
	}
}

// secretsAt is where a capture's Decryption Secrets Block goes.
type secretsAt int

const (
	secretsNone   secretsAt = iota // stripped: an eavesdropper's capture
	secretsBefore                  // before the TLS records, as ftplab writes them
	secretsAfter                   // long after them: too late
)

// ftpsCapture builds a pcapng of an explicit FTPS session of TLS version
// v: the clear start, then the recorded TLS of the control connection and
// of a protected download of file, with the secrets (after extra key log
// lines) where at says.
func ftpsCapture(t testing.TB, v uint16, at secretsAt, extra string) ([]byte, *recorded, *recorded) {
	return ftpsCaptureOf(t, v, at, extra, file)
}

// ftpsCaptureOf is ftpsCapture downloading payload.
func ftpsCaptureOf(t testing.TB, v uint16, at secretsAt, extra string, payload []byte) ([]byte, *recorded, *recorded) {
	ctl, data := ftpsControl(t, v), ftpsData(t, v, payload)
	s := newSynth(t, layers.LinkTypeEthernet)
	k := s.dialISN("10.0.0.1:40000", "10.0.0.2:21", 7000, 9000)
	k.reply("220 ready")
	k.cmd("AUTH TLS")
	k.reply("234 go ahead")
	dsb := len(s.pkts)
	emitTLS(k, ctl.chunks[:ctl.mark])
	d := s.dialISN("10.0.0.1:41000", "10.0.0.2:50000", 100, 200)
	emitTLS(d, data.chunks)
	d.close()
	emitTLS(k, ctl.chunks[ctl.mark:])
	k.close()
	if at == secretsAfter {
		// Far enough after the records that the reader's look-ahead does
		// not reach the secrets first: 200 KB of something else.
		o := s.dial("10.0.0.9:40000", "10.0.0.8:80")
		for range 200 {
			s.emit(o.segment(true, strings.Repeat("x", 1000)))
		}
		dsb = len(s.pkts)
	}
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&b, pcapgo.NgInterface{Name: "A:eth0", Description: "host A NIC eth0 MAC 02:00:00:00:00:01 addresses [10.0.0.1/24]", LinkType: s.lt, SnapLength: 65536},
		pcapgo.DefaultNgWriterOptions)
	require.NoError(t, err)
	_, err = w.AddInterface(pcapgo.NgInterface{Name: "B:eth0", Description: "host B NIC eth0 MAC 02:00:00:00:00:02 addresses [10.0.0.2/24]", LinkType: s.lt, SnapLength: 65536})
	require.NoError(t, err)
	for i := range len(s.pkts) + 1 {
		if i == dsb && at != secretsNone {
			keys := append(append([]byte(extra), ctl.keys.Bytes()...), data.keys.Bytes()...)
			require.NoError(t, w.WriteDecryptionSecretsBlock(0x544c534b, keys))
		}
		if i < len(s.pkts) {
			require.NoError(t, w.WritePacket(gopacket.CaptureInfo{Timestamp: s.tss[i], CaptureLength: len(s.pkts[i]), Length: len(s.pkts[i])}, s.pkts[i]))
		}
	}
	require.NoError(t, w.Flush())
	return b.Bytes(), ctl, data
}

var ab = map[string]string{"10.0.0.1": "A", "10.0.0.2": "B"}

// TestFTPSDecrypted: with the capture's secrets the ladder reads the
// control dialogue inside TLS (TLS 1.2 and 1.3) as it reads it in the
// clear, each line marked, and the announcement inside TLS links the data
// connection, whose plaintext is counted.
func TestFTPSDecrypted(t *testing.T) {
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(v), func(t *testing.T) {
			capture, ctl, data := ftpsCapture(t, v, secretsBefore, "")
			l, err := Read(bytes.NewReader(capture))
			require.NoError(t, err)
			suite := tls.VersionName(v) + ", " + tls.CipherSuiteName(ctl.state.CipherSuite)
			var wire int
			for _, ch := range data.chunks {
				if !ch.client {
					wire += len(ch.b)
				}
			}
			assert.Equal(t, []string{
				"B→A  220 ready",
				"A→B  AUTH TLS",
				"B→A  234 go ahead",
				"A→B  TLS handshake (A is the TLS client): control connection decrypted with the capture's secrets (" + suite + ")",
				"A→B  🔒 USER alice",
				"B→A  🔒 331 password, please",
				"A→B  🔒 PASS ****",
				"B→A  🔒 230 logged in",
				"A→B  🔒 PASV",
				"B→A  🔒 227 Entering Passive Mode (10,0,0,2,195,80)",
				"A→B  🔒 RETR f",
				"B→A  🔒 150 here it comes",
				"A→B  SYN data connection :41000 → :50000",
				"A→B  TLS handshake (A is the TLS client): data connection decrypted with the capture's secrets (" + tls.VersionName(v) + ", " + tls.CipherSuiteName(data.state.CipherSuite) + ")",
				fmt.Sprintf("B⇒A  data %d bytes, FIN (🔒 %d bytes of plaintext)", wire, len(file)),
				"A→B  🔒 QUIT",
				"B→A  🔒 226 done",
				"B→A  🔒 221 bye",
			}, labels(t, l, ab))
			assert.Empty(t, l.Notes)
			dc := l.Conns[1]
			assert.Equal(t, int64(len(file)), dc.Plaintext)
			assert.True(t, dc.TLSDecrypted)
			assert.Equal(t, ctl.state.CipherSuite, l.Conns[0].TLSCipherSuite)
			require.NotEqual(t, -1, dc.Command)
			assert.Equal(t, "RETR f", l.Events[dc.Command].Text, "the RETR inside TLS is the data connection's command")
			open := l.Events[slicesIndex(l.Events, DataOpen)]
			require.Len(t, open.Announced, 1)
			assert.Equal(t, 227, l.Events[open.Announced[0]].Code, "announced by the 227 inside TLS")
			// The lock makes a label two columns wider on a terminal: fitted
			// labels stay within the width.
			var b bytes.Buffer
			require.NoError(t, l.Render(&b, Options{Width: 60}))
			for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
				assert.LessOrEqual(t, columns(line), 60, "%q", line)
			}
		})
	}
}

func slicesIndex(events []Event, k Kind) int {
	for i, e := range events {
		if e.Kind == k {
			return i
		}
	}
	return -1
}

// TestFTPSWithoutSecrets: without the secrets (stripped, or come too late
// to decrypt the records before them) the ladder shows what an
// eavesdropper sees: the clear start, the handshakes, the data
// connection; with secrets in the capture, a note says why a connection
// was not decrypted.
func TestFTPSWithoutSecrets(t *testing.T) {
	want := []string{
		"B→A  220 ready",
		"A→B  AUTH TLS",
		"B→A  234 go ahead",
		"A→B  TLS handshake (A is the TLS client): control connection encrypted from here on",
		"A→B  SYN data connection :41000 → :50000",
		"A→B  TLS handshake (A is the TLS client): data connection encrypted from here on",
	}
	for name, at := range map[string]secretsAt{"stripped": secretsNone, "too late": secretsAfter} {
		t.Run(name, func(t *testing.T) {
			capture, _, _ := ftpsCapture(t, tls.VersionTLS13, at, "")
			l, err := Read(bytes.NewReader(capture))
			require.NoError(t, err)
			got := labels(t, l, ab)
			require.Len(t, got, len(want)+1)
			assert.Equal(t, want, got[:len(want)])
			assert.Regexp(t, `^B⇒A  data \d+ bytes, FIN$`, got[len(want)])
			for _, c := range l.Conns {
				assert.False(t, c.TLSDecrypted)
			}
			if at == secretsNone {
				assert.Empty(t, l.Notes)
				return
			}
			require.Len(t, l.Notes, 1)
			assert.Contains(t, l.Notes[0], "10.0.0.1:40000 → 10.0.0.2:21 not decrypted: TLS server: no secrets for this connection in the key log (SERVER_HANDSHAKE_TRAFFIC_SECRET")
		})
	}
}

// TestFTPSMalformedSecrets: malformed key log lines in the capture are
// noted; the good ones still decrypt.
func TestFTPSMalformedSecrets(t *testing.T) {
	capture, _, _ := ftpsCapture(t, tls.VersionTLS13, secretsBefore, "CLIENT_RANDOM nothex\n")
	l, err := Read(bytes.NewReader(capture))
	require.NoError(t, err)
	assert.Contains(t, strings.Join(labels(t, l, ab), "\n"), "A→B  🔒 RETR f")
	require.Len(t, l.Notes, 1)
	assert.Contains(t, l.Notes[0], `the capture's TLS secrets are partly malformed (key log: line 1 (CLIENT_RANDOM): 2 fields, want 3`)
}

// TestSecretsReader: the pcapng block walk finds secrets whatever the
// reads' sizes, in either byte order, and passes every byte through.
func TestSecretsReader(t *testing.T) {
	r := strings.Repeat("ab", 32)
	text := "CLIENT_RANDOM " + r + " " + strings.Repeat("01", 48) + "\n"
	for _, order := range []string{"little", "big"} {
		t.Run(order, func(t *testing.T) {
			file := pcapngWithSecrets(order == "big", text)
			for _, chunk := range []int{1, 3, 7, 64, len(file)} {
				keys := newAnalyzer().keys
				sr := &secretsReader{r: &chunked{file, chunk}, keys: keys}
				out, err := io.ReadAll(sr)
				require.NoError(t, err)
				assert.Equal(t, file, out)
				assert.Equal(t, 1, keys.Len(), "reads of %d bytes", chunk)
				assert.False(t, sr.lost)
			}
		})
	}
	sr := &secretsReader{r: strings.NewReader("not pcapng at all"), keys: newAnalyzer().keys}
	_, err := io.ReadAll(sr)
	require.NoError(t, err)
	assert.True(t, sr.lost, "a stream that is not pcapng is passed through unread")
}

// pcapngWithSecrets builds a section header, a secrets block holding
// text, and an interface block, in either byte order.
func pcapngWithSecrets(big bool, text string) []byte {
	var order binary.AppendByteOrder = binary.LittleEndian
	if big {
		order = binary.BigEndian
	}
	var b []byte
	block := func(typ uint32, body []byte) {
		n := uint32(12 + len(body))
		b = order.AppendUint32(b, typ)
		b = order.AppendUint32(b, n)
		b = append(b, body...)
		b = order.AppendUint32(b, n)
	}
	shb := order.AppendUint32(nil, byteOrderMagic)
	shb = order.AppendUint16(shb, 1)
	shb = order.AppendUint16(shb, 0)
	shb = append(shb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	block(blockSectionHeader, shb)
	dsb := order.AppendUint32(nil, secretsTLSKeyLog)
	dsb = order.AppendUint32(dsb, uint32(len(text)))
	dsb = append(dsb, text...)
	for len(dsb)%4 != 0 {
		dsb = append(dsb, 0)
	}
	block(blockSecrets, dsb)
	idb := order.AppendUint16(nil, 1)
	idb = order.AppendUint16(idb, 0)
	idb = order.AppendUint32(idb, 0)
	block(1, idb)
	return b
}

// chunked reads at most n bytes at a time.
type chunked struct {
	b []byte
	n int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[k:]
	return k, nil
}

// BenchmarkReadFTPS reads an FTPS capture with a 4 MiB protected
// download, with its secrets (the data connection decrypted to count its
// plaintext) and stripped (the reference, read in the same run):
// MB/s of capture read, and the cost of decryption as a ratio.
func BenchmarkReadFTPS(b *testing.B) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<18)
	with, _, _ := ftpsCaptureOf(b, tls.VersionTLS13, secretsBefore, "", payload)
	without, _, _ := ftpsCaptureOf(b, tls.VersionTLS13, secretsNone, "", payload)
	var tWith, tWithout time.Duration
	b.ResetTimer()
	for b.Loop() {
		for _, c := range []struct {
			capture []byte
			took    *time.Duration
		}{{with, &tWith}, {without, &tWithout}} {
			start := time.Now()
			if _, err := Read(bytes.NewReader(c.capture)); err != nil {
				b.Fatal(err)
			}
			*c.took += time.Since(start)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(len(with))*n/tWith.Seconds()/1e6, "MB/s-secrets")
	b.ReportMetric(float64(len(without))*n/tWithout.Seconds()/1e6, "MB/s-stripped")
	b.ReportMetric(tWith.Seconds()/tWithout.Seconds(), "secrets/stripped")
}
