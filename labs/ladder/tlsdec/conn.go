package tlsdec

import (
	"bytes"
	"crypto/cipher"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// Side is a TLS role: the side that sent the ClientHello, or the other.
type Side int

// The sides of a TLS connection.
const (
	Client Side = iota // the TLS client: sent the ClientHello
	Server             // the TLS server
)

// String is "client" or "server".
func (s Side) String() string {
	if s == Server {
		return "server"
	}
	return "client"
}

// ErrNoSecrets is the error of a connection the key log has no secrets
// for: what an eavesdropper sees.
var ErrNoSecrets = errors.New("no secrets for this connection in the key log")

// Record content types (RFC 8446 §5.1).
const (
	typeChangeCipherSpec = 20
	typeAlert            = 21
	typeHandshake        = 22
	typeApplicationData  = 23
	typeHeartbeat        = 24
)

// Handshake message types kept whole: the others are skipped as they
// stream by.
const (
	msgClientHello      = 1
	msgServerHello      = 2
	msgNewSessionTicket = 4
	msgFinished         = 20
	msgKeyUpdate        = 24
)

const (
	recordHeader = 5
	// maxRecord is the longest record body TLS allows (TLS 1.2's
	// ciphertext: 2^14 + 2048).
	maxRecord = 1<<14 + 2048
	// maxKept bounds a handshake message kept whole.
	maxKept = 1 << 16
)

// helloRetryRandom is the ServerHello random of a HelloRetryRequest (RFC
// 8446 §4.1.3).
var helloRetryRandom = [32]byte{
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
	0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
}

// Conn follows one TLS connection: give it, in order, the bytes each side
// sent (a TCP connection's two reassembled streams, interleaved as they
// were captured) and it hands back the application data. It stops at the
// first thing it cannot follow (no secrets, a suite it does not decrypt,
// a record that does not authenticate, bytes that are no TLS) and says
// why in Err; nothing it reads makes it panic.
type Conn struct {
	keys *KeyLog
	h    [2]half

	helloSeen     bool
	retry         bool // a HelloRetryRequest was read
	clientRandom  [32]byte
	serverRandom  [32]byte
	sessionID     []byte // the ClientHello's
	ticket        []byte // the session ticket the ClientHello offered
	serverSession []byte // the ServerHello's session ID
	newTicket     []byte // a TLS 1.2 NewSessionTicket's ticket
	version       uint16
	suiteID       uint16
	suite         suite
	master        []byte // TLS 1.2's master secret, once found
	decrypted     bool
	err           error
}

// half is one direction of a Conn.
type half struct {
	rec       []byte // the record being read, header included
	hs        hsReader
	protected bool // its records are encrypted from here on
	// want is the TLS 1.3 secret its next records need, not yet looked
	// up (aead is nil then), or none.
	want   secretKind
	aead   cipher.AEAD
	iv     []byte
	secret []byte // TLS 1.3: the traffic secret in force
	seq    uint64
	plain  []byte // buffer for a record's plaintext
	// after the record being read, TLS 1.3 switches to the application
	// traffic secret (a Finished was read) or the next one (KeyUpdate).
	toTraffic, keyUpdate bool
}

// NewConn follows a TLS connection whose secrets are in keys (looked up as
// the connection needs them, so keys may grow while it is read).
func NewConn(keys *KeyLog) *Conn {
	return &Conn{keys: keys}
}

// Version is the negotiated TLS version (tls.VersionTLS12, ...), 0 before
// the ServerHello was read.
func (c *Conn) Version() uint16 { return c.version }

// CipherSuite is the negotiated cipher suite, 0 before the ServerHello.
func (c *Conn) CipherSuite() uint16 { return c.suiteID }

// Decrypted reports whether at least one record was decrypted.
func (c *Conn) Decrypted() bool { return c.decrypted }

// Err is why the Conn stopped following the connection, or nil.
func (c *Conn) Err() error { return c.err }

// Feed reads the next bytes side sent and calls deliver with the
// plaintext of each application data record they complete (the slice is
// valid during the call only). Bytes of a record not yet complete wait
// for the next Feed of the side. Once it fails it returns its error (as
// Err does) without reading more.
func (c *Conn) Feed(side Side, data []byte, deliver func(plaintext []byte)) error {
	if c.err != nil {
		return c.err
	}
	if side != Client && side != Server {
		return fmt.Errorf("tlsdec: no side %d", side)
	}
	h := &c.h[side]
	for len(data) > 0 {
		if len(h.rec) == 0 && len(data) >= recordHeader {
			// A whole record in data is read where it is.
			if need := recordHeader + int(binary.BigEndian.Uint16(data[3:5])); len(data) >= need {
				if err := checkHeader(data); err != nil {
					return c.fail(side, err)
				}
				if err := c.record(side, data[:need], deliver); err != nil {
					return c.fail(side, err)
				}
				data = data[need:]
				continue
			}
		}
		if len(h.rec) < recordHeader {
			n := min(recordHeader-len(h.rec), len(data))
			h.rec, data = append(h.rec, data[:n]...), data[n:]
			if len(h.rec) < recordHeader {
				break
			}
			if err := checkHeader(h.rec); err != nil {
				return c.fail(side, err)
			}
		}
		need := recordHeader + int(binary.BigEndian.Uint16(h.rec[3:5]))
		n := min(need-len(h.rec), len(data))
		h.rec, data = append(h.rec, data[:n]...), data[n:]
		if len(h.rec) < need {
			break
		}
		err := c.record(side, h.rec, deliver)
		h.rec = h.rec[:0]
		if err != nil {
			return c.fail(side, err)
		}
	}
	return nil
}

// fail stops the Conn and lets its buffers go.
func (c *Conn) fail(side Side, err error) error {
	c.err = fmt.Errorf("TLS %s: %w", side, err)
	c.h = [2]half{}
	return c.err
}

// checkHeader checks a record header: a content type TLS knows, version
// 3.x, a length TLS allows.
func checkHeader(h []byte) error {
	typ, n := h[0], binary.BigEndian.Uint16(h[3:5])
	if typ < typeChangeCipherSpec || typ > typeHeartbeat || h[1] != 3 || n > maxRecord {
		return fmt.Errorf("not a TLS record (content type %d, version %d.%d, length %d)", typ, h[1], h[2], n)
	}
	return nil
}

// record handles one whole record of side.
func (c *Conn) record(side Side, rec []byte, deliver func([]byte)) error {
	h := &c.h[side]
	typ := rec[0]
	if !h.protected {
		switch typ {
		case typeHandshake:
			return h.hs.feed(rec[recordHeader:], keepClear, func(t byte, body []byte) error { return c.clearMessage(side, t, body) })
		case typeChangeCipherSpec:
			switch {
			case c.version == tls.VersionTLS13 || (c.version == 0 && c.retry):
				return nil // middlebox compatibility (RFC 8446 §D.4)
			case c.version == 0:
				return errors.New("ChangeCipherSpec before the ServerHello")
			}
			return c.protect12(side)
		case typeApplicationData:
			return errors.New("application data before the handshake said how it is protected (the capture missed the connection's start?)")
		}
		return nil // an alert or heartbeat in the clear
	}
	if c.version == tls.VersionTLS13 && typ != typeApplicationData {
		if typ == typeChangeCipherSpec || typ == typeAlert {
			return nil // compatibility CCS; an alert sent before the keys
		}
		return fmt.Errorf("record of content type %d in TLS 1.3's protected phase", typ)
	}
	if c.version != tls.VersionTLS13 && typ == typeChangeCipherSpec {
		return errors.New("a second ChangeCipherSpec (renegotiation is not followed)")
	}
	plain, inner, err := c.open(side, rec)
	if err != nil {
		return err
	}
	c.decrypted = true
	switch inner {
	case typeApplicationData:
		deliver(plain)
	case typeHandshake:
		if c.version == tls.VersionTLS13 {
			if err := h.hs.feed(plain, keepNone, func(t byte, _ []byte) error { return c.message13(side, t) }); err != nil {
				return err
			}
		}
	case typeAlert:
	default:
		return fmt.Errorf("protected record of content type %d", inner)
	}
	return c.rekey13(side)
}

func keepClear(t byte) bool {
	return t == msgClientHello || t == msgServerHello || t == msgNewSessionTicket
}
func keepNone(byte) bool { return false }

// clearMessage handles a handshake message sent in the clear.
func (c *Conn) clearMessage(side Side, t byte, body []byte) error {
	switch {
	case t == msgClientHello && side == Client:
		return c.clientHello(body)
	case t == msgServerHello && side == Server:
		return c.serverHello(body)
	case t == msgNewSessionTicket && side == Server && c.version != tls.VersionTLS13:
		s := cryptobyte.String(body)
		var ticket []byte
		if s.Skip(4) && s.ReadUint16LengthPrefixed((*cryptobyte.String)(&ticket)) {
			c.newTicket = bytes.Clone(ticket)
			c.rememberSession()
		}
	case t == msgClientHello || t == msgServerHello:
		return fmt.Errorf("handshake message %d from the wrong side (client and server swapped?)", t)
	}
	return nil
}

func (c *Conn) clientHello(body []byte) error {
	s := cryptobyte.String(body)
	var random, sid []byte
	var suites, comp cryptobyte.String
	if !s.Skip(2) || !s.ReadBytes(&random, 32) || !s.ReadUint8LengthPrefixed((*cryptobyte.String)(&sid)) ||
		!s.ReadUint16LengthPrefixed(&suites) || !s.ReadUint8LengthPrefixed(&comp) {
		return errors.New("malformed ClientHello")
	}
	c.helloSeen, c.clientRandom, c.sessionID, c.ticket = true, [32]byte(random), bytes.Clone(sid), nil
	err := extensions(s, func(typ uint16, data cryptobyte.String) bool {
		if typ == 35 { // session_ticket (RFC 5077)
			c.ticket = bytes.Clone(data)
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("malformed ClientHello: %w", err)
	}
	return nil
}

func (c *Conn) serverHello(body []byte) error {
	if !c.helloSeen {
		return errors.New("ServerHello before any ClientHello (the capture missed the connection's start?)")
	}
	s := cryptobyte.String(body)
	var vers, suiteID uint16
	var random, sid []byte
	if !s.ReadUint16(&vers) || !s.ReadBytes(&random, 32) || !s.ReadUint8LengthPrefixed((*cryptobyte.String)(&sid)) ||
		!s.ReadUint16(&suiteID) || !s.Skip(1) {
		return errors.New("malformed ServerHello")
	}
	if [32]byte(random) == helloRetryRandom {
		c.retry = true // a HelloRetryRequest: the ClientHello and ServerHello that follow count
		return nil
	}
	err := extensions(s, func(typ uint16, data cryptobyte.String) bool {
		if typ == 43 { // supported_versions: the version chosen
			return data.ReadUint16(&vers)
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("malformed ServerHello: %w", err)
	}
	if c.version != 0 {
		return errors.New("a second ServerHello")
	}
	su, err := lookupSuite(vers, suiteID)
	c.version, c.suiteID, c.serverRandom, c.serverSession = vers, suiteID, [32]byte(random), bytes.Clone(sid)
	if err != nil {
		return err
	}
	if vers < tls.VersionTLS12 {
		return fmt.Errorf("TLS version %#04x: not decrypted", vers)
	}
	c.suite = su
	if vers == tls.VersionTLS13 {
		// Everything after the ServerHello is encrypted, with the
		// handshake traffic secrets first.
		c.h[Client].protected, c.h[Client].want = true, clientHandshake
		c.h[Server].protected, c.h[Server].want = true, serverHandshake
	}
	return nil
}

// extensions calls f for each extension that s (what follows a hello's
// fixed fields) holds; f returns false for a malformed one.
func extensions(s cryptobyte.String, f func(typ uint16, data cryptobyte.String) bool) error {
	if s.Empty() {
		return nil
	}
	var exts cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&exts) || !s.Empty() {
		return errors.New("bad extensions")
	}
	for !exts.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) || !f(typ, data) {
			return fmt.Errorf("bad extension %d", typ)
		}
	}
	return nil
}

// protect12 starts TLS 1.2's encryption of side's records after its
// ChangeCipherSpec.
func (c *Conn) protect12(side Side) error {
	if c.master == nil {
		c.master = c.keys.secret(c.clientRandom, master)
		if c.master == nil && len(c.sessionID) > 0 && bytes.Equal(c.sessionID, c.serverSession) {
			// An abbreviated handshake: the session's master secret, from
			// the connection that made it (crypto/tls logs none here).
			if c.ticket != nil {
				c.master = c.keys.sessions["t"+string(c.ticket)]
			}
			if c.master == nil {
				c.master = c.keys.sessions[string(c.sessionID)]
			}
		}
		if c.master == nil {
			return fmt.Errorf("%w (CLIENT_RANDOM %x…)", ErrNoSecrets, c.clientRandom[:8])
		}
	}
	c.rememberSession()
	aeads, ivs, err := c.suite.keys12(c.master, c.clientRandom, c.serverRandom)
	if err != nil {
		return err
	}
	h := &c.h[side]
	h.protected, h.aead, h.iv, h.seq = true, aeads[side], ivs[side], 0
	return nil
}

// rememberSession maps a TLS 1.2 connection's session ID and ticket to its
// master secret, for connections that resume it.
func (c *Conn) rememberSession() {
	if c.master == nil || c.version == tls.VersionTLS13 {
		return
	}
	c.keys.remember(string(c.serverSession), c.master)
	if c.newTicket != nil {
		c.keys.remember("t"+string(c.newTicket), c.master)
	}
}

// message13 handles a handshake message of a TLS 1.3 protected record: a
// Finished ends the handshake keys, a KeyUpdate the traffic secret in
// force; both take effect after the record.
func (c *Conn) message13(side Side, t byte) error {
	h := &c.h[side]
	switch {
	case t == msgFinished && h.secret == nil:
		h.toTraffic = true
	case t == msgKeyUpdate && h.secret != nil:
		h.keyUpdate = true
	}
	return nil
}

// rekey13 switches side's keys after a record with a Finished or a
// KeyUpdate.
func (c *Conn) rekey13(side Side) error {
	h := &c.h[side]
	if !h.toTraffic && !h.keyUpdate {
		return nil
	}
	if !h.hs.idle() {
		return errors.New("a handshake message spans a key change")
	}
	if h.toTraffic {
		h.want = clientTraffic
		if side == Server {
			h.want = serverTraffic
		}
		h.aead, h.toTraffic = nil, false
		return nil
	}
	next, err := c.suite.nextSecret(h.secret)
	if err != nil {
		return err
	}
	h.keyUpdate = false
	return h.setSecret(c.suite, next, true)
}

// setSecret protects the half's records with a TLS 1.3 secret: a
// handshake traffic secret, or (traffic) an application one, which a
// KeyUpdate replaces.
func (h *half) setSecret(s suite, secret []byte, traffic bool) error {
	a, iv, err := s.keys13(secret)
	if err != nil {
		return err
	}
	h.aead, h.iv, h.seq, h.want, h.secret = a, iv, 0, none, nil
	if traffic {
		h.secret = secret
	}
	return nil
}

// open decrypts a protected record of side and returns its plaintext and
// content type.
func (c *Conn) open(side Side, rec []byte) ([]byte, byte, error) {
	h := &c.h[side]
	if h.aead == nil {
		if err := c.lookup13(side); err != nil {
			return nil, 0, err
		}
	}
	body := rec[recordHeader:]
	var nonce [12]byte
	var aad []byte
	ct := body
	if c.version == tls.VersionTLS13 || c.suite.ivLen == 12 {
		copy(nonce[:], h.iv)
		for i := range 8 {
			nonce[4+i] ^= byte(h.seq >> (56 - 8*i))
		}
	} else { // TLS 1.2 GCM: salt, then the record's explicit nonce
		if len(body) < 8 {
			return nil, 0, fmt.Errorf("record %d: %d bytes, shorter than its nonce", h.seq, len(body))
		}
		copy(nonce[:4], h.iv)
		copy(nonce[4:], body[:8])
		ct = body[8:]
	}
	if len(ct) < h.aead.Overhead() {
		return nil, 0, fmt.Errorf("record %d: %d bytes, shorter than its authentication tag", h.seq, len(ct))
	}
	if c.version == tls.VersionTLS13 {
		aad = rec[:recordHeader]
	} else {
		aad = binary.BigEndian.AppendUint64(make([]byte, 0, 13), h.seq)
		aad = append(aad, rec[:3]...)
		aad = binary.BigEndian.AppendUint16(aad, uint16(len(ct)-h.aead.Overhead()))
	}
	plain, err := h.aead.Open(h.plain[:0], nonce[:], ct, aad)
	if err != nil {
		return nil, 0, fmt.Errorf("record %d does not authenticate: the secrets do not fit, or the capture altered it", h.seq)
	}
	h.plain = plain
	h.seq++
	if c.version != tls.VersionTLS13 {
		return plain, rec[0], nil
	}
	// TLSInnerPlaintext: content, content type, zero padding.
	i := len(plain) - 1
	for i >= 0 && plain[i] == 0 {
		i--
	}
	if i < 0 {
		return nil, 0, fmt.Errorf("record %d has no content type", h.seq-1)
	}
	return plain[:i], plain[i], nil
}

// lookup13 finds the TLS 1.3 secret side's records need now.
func (c *Conn) lookup13(side Side) error {
	h := &c.h[side]
	if h.want == none {
		return errors.New("no keys for a protected record")
	}
	secret := c.keys.secret(c.clientRandom, h.want)
	if secret == nil {
		return fmt.Errorf("%w (%s %x…)", ErrNoSecrets, kindLabel[h.want], c.clientRandom[:8])
	}
	return h.setSecret(c.suite, secret, h.want == clientTraffic || h.want == serverTraffic)
}
