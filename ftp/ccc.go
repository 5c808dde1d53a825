package ftp

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// RecordConn is the connection under a control connection's TLS, which
// CCC (RFC 4217 §6) may return to plain text. It never reads past the end
// of the TLS record being read: crypto/tls reads ahead, and would swallow
// the plain text a peer sends right after its close_notify. After Clear
// it reads and writes straight through.
type RecordConn struct {
	net.Conn
	hdr     [recordHeader]byte
	nhdr    int // bytes of the current record's header read so far
	body    int // bytes of the current record's body still to come
	peeked  []byte
	cleared bool
}

// recordHeader is a TLS record header's length: type, version, length.
const recordHeader = 5

// NewRecordConn wraps c, on which TLS is about to start.
func NewRecordConn(c net.Conn) *RecordConn { return &RecordConn{Conn: c} }

// Read reads at most to the end of the current TLS record (or its header),
// and anything once the connection is clear.
func (r *RecordConn) Read(p []byte) (int, error) {
	if r.cleared || len(p) == 0 {
		return r.read(p)
	}
	if r.body > 0 {
		n, err := r.read(p[:min(len(p), r.body)])
		r.body -= n
		return n, err
	}
	n, err := r.read(p[:min(len(p), recordHeader-r.nhdr)])
	r.nhdr += copy(r.hdr[r.nhdr:], p[:n])
	if r.nhdr == recordHeader {
		r.nhdr, r.body = 0, int(binary.BigEndian.Uint16(r.hdr[3:]))
	}
	return n, err
}

// read reads what Clear peeked first, then the connection.
func (r *RecordConn) read(p []byte) (int, error) {
	if len(r.peeked) > 0 {
		n := copy(p, r.peeked)
		r.peeked = r.peeked[n:]
		return n, nil
	}
	return r.Conn.Read(p)
}

// EndTLS sends the close_notify of tc, the TLS connection over r, after
// a 200 reply to CCC: what is written on r from then on goes in the clear.
func (r *RecordConn) EndTLS(tc *tls.Conn) error {
	if err := tc.CloseWrite(); err != nil {
		return fmt.Errorf("CCC: close_notify: %w", err)
	}
	// crypto/tls leaves the write deadline at now after close_notify
	return r.Conn.SetWriteDeadline(time.Time{})
}

// ErrCCCData is why Clear fails when the peer sends data inside TLS after
// CCC.
var ErrCCCData = errors.New("data inside TLS after CCC")

// Clear ends tc, the TLS connection over r, for reading after a 200
// reply to CCC (EndTLS ends it for writing): if the peer's next bytes are
// a TLS record, it reads TLS up to the peer's close_notify; a peer that
// goes on in plain text without one (curl's passive CCC mode) is fine
// too. Then r is in the clear. It blocks until the peer sends something:
// set a deadline on r to bound the wait.
func (r *RecordConn) Clear(tc *tls.Conn) error {
	tlsNext, err := r.NextIsTLS()
	if err != nil {
		return err
	}
	if tlsNext {
		if err := r.ReadTLSEnd(tc); err != nil {
			return err
		}
	}
	r.SetClear()
	return nil
}

// NextIsTLS waits for the peer's next byte after CCC and reports whether
// it begins a TLS record (its close_notify) rather than plain text; the
// byte stays to be read. In the middle of a record it is true at once.
func (r *RecordConn) NextIsTLS() (bool, error) {
	if r.nhdr != 0 || r.body != 0 || len(r.peeked) > 0 {
		return r.nhdr != 0 || r.body != 0 || isRecordType(r.peeked[0]), nil
	}
	var b [1]byte
	if _, err := io.ReadFull(r.Conn, b[:]); err != nil {
		return false, fmt.Errorf("after CCC: %w", err)
	}
	r.peeked = append(r.peeked, b[0])
	return isRecordType(b[0]), nil
}

// ReadTLSEnd reads tc, the TLS connection over r, up to the peer's
// close_notify.
func (r *RecordConn) ReadTLSEnd(tc *tls.Conn) error {
	var buf [512]byte
	for {
		n, err := tc.Read(buf[:])
		switch {
		case n > 0:
			return fmt.Errorf("after CCC: %w (%d bytes)", ErrCCCData, n)
		case errors.Is(err, io.EOF): // the peer's close_notify
			return nil
		case err != nil:
			return fmt.Errorf("after CCC, waiting for the peer's close_notify: %w", err)
		}
	}
}

// SetClear makes r read straight through: TLS is over.
func (r *RecordConn) SetClear() { r.cleared = true }

// isRecordType reports whether b can begin a TLS record: change cipher
// spec, alert, handshake, application data or heartbeat (20 to 24). No
// FTP command or reply starts so.
func isRecordType(b byte) bool { return b >= 20 && b <= 24 }
