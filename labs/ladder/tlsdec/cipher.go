package tlsdec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"

	"golang.org/x/crypto/chacha20poly1305"
)

// ErrUnsupported is the error of a connection whose cipher suite the
// package does not decrypt (CBC and other non-AEAD suites).
var ErrUnsupported = errors.New("cipher suite not decrypted (AEAD suites only)")

// suite is a cipher suite the package decrypts.
type suite struct {
	keyLen int
	aead   func(key []byte) (cipher.AEAD, error)
	hash   func() hash.Hash
	// ivLen is the IV derived from the secrets: 12 bytes in TLS 1.3 and
	// for ChaCha20-Poly1305, 4 (the salt) for TLS 1.2's GCM, whose record
	// carries the nonce's other 8 bytes.
	ivLen int
}

func aesGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

var (
	aes128GCM   = suite{keyLen: 16, aead: aesGCM, hash: sha256.New, ivLen: 4}
	aes256GCM   = suite{keyLen: 32, aead: aesGCM, hash: sha512.New384, ivLen: 4}
	chacha20    = suite{keyLen: 32, aead: chacha20poly1305.New, hash: sha256.New, ivLen: 12}
	aes128GCM13 = suite{keyLen: 16, aead: aesGCM, hash: sha256.New, ivLen: 12}
	aes256GCM13 = suite{keyLen: 32, aead: aesGCM, hash: sha512.New384, ivLen: 12}
)

// suites are the AEAD cipher suites decrypted, by TLS version.
var suites = map[uint16]suite{
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:         aes128GCM,
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:       aes128GCM,
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256:               aes128GCM,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:         aes256GCM,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:       aes256GCM,
	tls.TLS_RSA_WITH_AES_256_GCM_SHA384:               aes256GCM,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:   chacha20,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: chacha20,
}

var suites13 = map[uint16]suite{
	tls.TLS_AES_128_GCM_SHA256:       aes128GCM13,
	tls.TLS_AES_256_GCM_SHA384:       aes256GCM13,
	tls.TLS_CHACHA20_POLY1305_SHA256: chacha20,
}

// lookupSuite returns the suite id names for version, or ErrUnsupported.
func lookupSuite(version, id uint16) (suite, error) {
	table := suites
	if version == tls.VersionTLS13 {
		table = suites13
	}
	s, ok := table[id]
	if !ok {
		return suite{}, fmt.Errorf("%s: %w", tls.CipherSuiteName(id), ErrUnsupported)
	}
	return s, nil
}

// hkdfExpandLabel is TLS 1.3's HKDF-Expand-Label (RFC 8446 §7.1) with an
// empty context.
func hkdfExpandLabel(h func() hash.Hash, secret []byte, label string, n int) ([]byte, error) {
	full := "tls13 " + label
	info := make([]byte, 0, 4+len(full))
	info = binary.BigEndian.AppendUint16(info, uint16(n))
	info = append(info, byte(len(full)))
	info = append(info, full...)
	info = append(info, 0) // context: empty
	return hkdf.Expand(h, secret, string(info), n)
}

// keys13 derives a TLS 1.3 record protection from a traffic secret
// (RFC 8446 §7.3).
func (s suite) keys13(secret []byte) (cipher.AEAD, []byte, error) {
	key, err := hkdfExpandLabel(s.hash, secret, "key", s.keyLen)
	if err != nil {
		return nil, nil, err
	}
	iv, err := hkdfExpandLabel(s.hash, secret, "iv", 12)
	if err != nil {
		return nil, nil, err
	}
	a, err := s.aead(key)
	return a, iv, err
}

// nextSecret is the traffic secret after a KeyUpdate (RFC 8446 §7.2).
func (s suite) nextSecret(secret []byte) ([]byte, error) {
	return hkdfExpandLabel(s.hash, secret, "traffic upd", s.hash().Size())
}

// prf12 is TLS 1.2's PRF, P_hash (RFC 5246 §5).
func prf12(h func() hash.Hash, secret []byte, label string, seed []byte, n int) []byte {
	ls := append([]byte(label), seed...)
	mac := hmac.New(h, secret)
	mac.Write(ls)
	a := mac.Sum(nil) // A(1)
	out := make([]byte, 0, n+mac.Size())
	for len(out) < n {
		mac.Reset()
		mac.Write(a)
		mac.Write(ls)
		out = mac.Sum(out)
		mac.Reset()
		mac.Write(a)
		a = mac.Sum(a[:0])
	}
	return out[:n]
}

// keys12 derives both directions' TLS 1.2 record protection from the
// master secret (RFC 5246 §6.3; AEAD suites have no MAC keys).
func (s suite) keys12(masterSecret []byte, clientRandom, serverRandom [32]byte) (aead [2]cipher.AEAD, iv [2][]byte, err error) {
	seed := append(serverRandom[:], clientRandom[:]...)
	kb := prf12(s.hash, masterSecret, "key expansion", seed, 2*s.keyLen+2*s.ivLen)
	for side := range 2 {
		key := kb[side*s.keyLen : (side+1)*s.keyLen]
		iv[side] = kb[2*s.keyLen+side*s.ivLen : 2*s.keyLen+(side+1)*s.ivLen]
		if aead[side], err = s.aead(key); err != nil {
			return aead, iv, err
		}
	}
	return aead, iv, nil
}
