// Package tlsdec follows TLS connections in the two byte streams of their
// TCP connections and decrypts them with the secrets of an NSS key log
// (SSLKEYLOGFILE's format, as crypto/tls's KeyLogWriter writes it and as
// pcapng Decryption Secrets Blocks carry it), the way Wireshark does.
//
// It reads TLS 1.2 and TLS 1.3 records, finds the ClientHello's random in
// the key log, derives the record keys (TLS 1.2: the PRF's key expansion
// from the master secret of CLIENT_RANDOM, with the cipher suite the
// ServerHello chose; TLS 1.3: HKDF-Expand-Label from the handshake and
// traffic secrets, following KeyUpdate) and opens the records of the AEAD
// suites crypto/tls negotiates: AES-128-GCM, AES-256-GCM and
// ChaCha20-Poly1305 (TLS 1.3, and TLS 1.2's ECDHE and RSA GCM and ChaCha
// suites). A TLS 1.2 connection that resumes a session is decrypted with
// the master secret of the connection that made the session (found by
// session ID or ticket), as crypto/tls logs none for a resumed one.
//
// Memory is bounded: a Conn keeps at most one record and one handshake
// message (ClientHello, ServerHello, NewSessionTicket) per direction, and
// hands each record's plaintext to its caller without keeping it.
package tlsdec

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
)

// The key log's labels (NSS key log format) that the decryption uses;
// others (CLIENT_EARLY_TRAFFIC_SECRET, EXPORTER_SECRET, RSA, ...) are
// skipped.
const (
	labelTLS12           = "CLIENT_RANDOM"
	labelClientHandshake = "CLIENT_HANDSHAKE_TRAFFIC_SECRET"
	labelServerHandshake = "SERVER_HANDSHAKE_TRAFFIC_SECRET"
	labelClientTraffic   = "CLIENT_TRAFFIC_SECRET_0"
	labelServerTraffic   = "SERVER_TRAFFIC_SECRET_0"
)

// secretKind indexes a connection's secrets.
type secretKind int

const (
	none   secretKind = -1
	master secretKind = iota - 1 // TLS 1.2's master secret
	clientHandshake
	serverHandshake
	clientTraffic
	serverTraffic
	nKinds
)

// kindLabel is each kind's key log label.
var kindLabel = [nKinds]string{labelTLS12, labelClientHandshake, labelServerHandshake, labelClientTraffic, labelServerTraffic}

// kindOf is each label's kind.
var kindOf = func() map[string]secretKind {
	m := map[string]secretKind{}
	for k, l := range kindLabel {
		m[l] = secretKind(k)
	}
	return m
}()

// maxSecret bounds a secret's length: 48 bytes (a TLS 1.2 master secret,
// a SHA-384 suite's TLS 1.3 secret) is the longest in use.
const maxSecret = 64

// KeyLog holds TLS secrets by the ClientHello random they belong to. Add
// to it as secrets are found; the Conns that use it look them up when
// they need them. It is not safe for concurrent use.
type KeyLog struct {
	byRandom map[[32]byte]*[nKinds][]byte
	// sessions maps a TLS 1.2 session ID or ticket ("t" + ticket) to the
	// master secret of the full handshake that made it.
	sessions map[string][]byte
}

// NewKeyLog returns an empty key log.
func NewKeyLog() *KeyLog {
	return &KeyLog{byRandom: map[[32]byte]*[nKinds][]byte{}, sessions: map[string][]byte{}}
}

// Len is the number of TLS connections (client randoms) with secrets.
func (k *KeyLog) Len() int { return len(k.byRandom) }

// Add reads NSS key log text: lines "LABEL CLIENT_RANDOM_HEX SECRET_HEX",
// '#' comments and blank lines skipped, labels the decryption does not use
// skipped. A malformed line is skipped too and named in the error; the
// good lines are kept all the same.
func (k *KeyLog) Add(text []byte) error {
	var bad []string
	n := 0
	for line := range bytes.Lines(text) {
		n++
		f := strings.Fields(string(line))
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		kind, ok := kindOf[f[0]]
		if !ok {
			continue
		}
		if err := k.addLine(kind, f); err != nil {
			bad = append(bad, fmt.Sprintf("line %d (%s): %v", n, f[0], err))
		}
	}
	switch len(bad) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("key log: %s", bad[0])
	}
	return fmt.Errorf("key log: %d malformed lines, the first %s", len(bad), bad[0])
}

func (k *KeyLog) addLine(kind secretKind, f []string) error {
	if len(f) != 3 {
		return fmt.Errorf("%d fields, want 3 (label, client random, secret)", len(f))
	}
	r, err := hex.DecodeString(f[1])
	if err != nil || len(r) != 32 {
		return fmt.Errorf("client random %.20q is not 64 hex digits", f[1])
	}
	s, err := hex.DecodeString(f[2])
	if err != nil || len(s) == 0 || len(s) > maxSecret {
		return fmt.Errorf("secret is not 2 to %d hex digits", 2*maxSecret)
	}
	rnd := [32]byte(r)
	e := k.byRandom[rnd]
	if e == nil {
		e = new([nKinds][]byte)
		k.byRandom[rnd] = e
	}
	e[kind] = s
	return nil
}

// secret returns the secret of kind for the connection of client random
// rnd, or nil.
func (k *KeyLog) secret(rnd [32]byte, kind secretKind) []byte {
	if e := k.byRandom[rnd]; e != nil {
		return e[kind]
	}
	return nil
}

// maxSessions bounds the TLS 1.2 session cache.
const maxSessions = 1 << 14

// remember maps a TLS 1.2 session (ID or "t" + ticket) to its master
// secret.
func (k *KeyLog) remember(session string, secret []byte) {
	if len(session) > 1 && len(k.sessions) < maxSessions {
		k.sessions[session] = secret
	}
}
