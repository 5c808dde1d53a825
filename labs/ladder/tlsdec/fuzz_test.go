package tlsdec

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"testing"
)

// FuzzFeed feeds a Conn arbitrary records from both sides with a key log
// (seeded with real TLS 1.2 and 1.3 sessions and their secrets): it may
// stop with an error, but must not panic.
func FuzzFeed(f *testing.F) {
	ec, _ := certs(f)
	x, err := x509.ParseCertificate(ec.Certificate[0])
	if err != nil {
		f.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(x)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		s := converse(f, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MaxVersion: v}, &tls.Config{Certificates: []tls.Certificate{ec}, MaxVersion: v})
		f.Add(encodeWire(s.wire.chunks), s.keyLog)
	}
	f.Fuzz(func(t *testing.T, wire, keyLog []byte) {
		keys := NewKeyLog()
		_ = keys.Add(keyLog)
		c := NewConn(keys)
		for len(wire) >= 3 {
			side, n := Side(wire[0]&1), int(binary.BigEndian.Uint16(wire[1:3]))
			wire = wire[3:]
			n = min(n, len(wire))
			if c.Feed(side, wire[:n], func([]byte) {}) != nil {
				return
			}
			wire = wire[n:]
		}
	})
}

// encodeWire writes chunks as side (1 byte), length (2), bytes.
func encodeWire(chunks []chunk) []byte {
	var b []byte
	for _, ch := range chunks {
		for p := ch.b; len(p) > 0; {
			n := min(len(p), 1<<16-1)
			b = append(b, byte(ch.side))
			b = binary.BigEndian.AppendUint16(b, uint16(n))
			b = append(b, p[:n]...)
			p = p[n:]
		}
	}
	return b
}
