package ftp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"time"
)

// CloseData closes the data connection of a transfer that is complete
// (or a control connection after QUIT). A TLS connection first sends its
// close_notify (and a FIN, see CloseWrite), then reads, for at most wait,
// until the peer's close_notify or FIN: closing a socket that holds unread
// data (a TLS 1.3 peer's session tickets, its close_notify) makes the
// kernel reset the connection, and the reset throws away what the peer
// has not read yet, the end of the file. Other connections are closed at
// once.
func CloseData(c net.Conn, wait time.Duration) error {
	tc, werr := CloseWrite(c)
	if tc == nil {
		return c.Close()
	}
	if werr == nil {
		_ = tc.SetReadDeadline(time.Now().Add(wait))
		_, _ = io.Copy(io.Discard, tc)
	}
	return errors.Join(werr, tc.Close())
}

// CloseWrite ends the sending half of a TLS connection: its close_notify,
// then a FIN for a peer that waits for one. It returns the TLS connection
// (nil if c is not one, and then does nothing) so that the caller can read
// what the peer still sends before closing it.
func CloseWrite(c net.Conn) (*tls.Conn, error) {
	var tc *tls.Conn
	var raw net.Conn
	switch t := c.(type) {
	case *tls.Conn:
		tc, raw = t, t.NetConn()
	case *DataTLS:
		tc, raw = t.Conn, t.NetConn()
	default:
		return nil, nil
	}
	werr := tc.CloseWrite()
	if cw, ok := raw.(interface{ CloseWrite() error }); ok && werr == nil {
		_ = cw.CloseWrite()
	}
	return tc, werr
}

// SelfSigned makes a self-signed ECDSA P-256 certificate valid for a day
// before and a year after now, with hosts (IP addresses or DNS names) as
// its subject alternative names, for a server without a certificate of
// its own. Clients must skip verification or trust it explicitly.
func SelfSigned(hosts ...string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("self-signed certificate: key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("self-signed certificate: serial: %w", err)
	}
	now := time.Now()
	tmpl := x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "ftplab self-signed", Organization: []string{"ftplab"}},
		NotBefore:             now.Add(-24 * time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("self-signed certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("self-signed certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// CertPEM is the PEM encoding of c's leaf certificate, for clients that
// are to trust it (a CA file).
func CertPEM(c tls.Certificate) []byte {
	if len(c.Certificate) == 0 {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})
}

// KeyPEM is the PKCS #8 PEM encoding of c's private key.
func KeyPEM(c tls.Certificate) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// LoadKeyPair loads a PEM certificate (chain) and its private key, with
// errors that name the file at fault: a missing or unreadable file, one
// without a certificate or key, or a key that does not match.
func LoadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("TLS certificate %s: %w", certFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("TLS key %s: %w", keyFile, err)
	}
	if b, _ := pem.Decode(certPEM); b == nil || b.Type != "CERTIFICATE" {
		return tls.Certificate{}, fmt.Errorf("TLS certificate %s: no PEM CERTIFICATE block", certFile)
	}
	if b, _ := pem.Decode(keyPEM); b == nil || !isKeyBlock(b.Type) {
		return tls.Certificate{}, fmt.Errorf("TLS key %s: no PEM PRIVATE KEY block", keyFile)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("TLS certificate %s with key %s: %w", certFile, keyFile, err)
	}
	return c, nil
}

func isKeyBlock(t string) bool {
	return t == "PRIVATE KEY" || t == "EC PRIVATE KEY" || t == "RSA PRIVATE KEY"
}

// LoadCertPool reads PEM certificates to trust (a CA file).
func LoadCertPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("TLS CA file %s: %w", file, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("TLS CA file %s: %w", file, errNoCerts)
	}
	return pool, nil
}

var errNoCerts = errors.New("no PEM certificate in it")
