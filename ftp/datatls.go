package ftp

import (
	"crypto/tls"
	"net"
	"sync"
)

// dataIOSize is how much a protected data connection reads or writes per
// system call: as much as a plain one moves per call (256 KiB), where
// crypto/tls alone would make one call per TLS record (16 KiB).
const dataIOSize = 256 << 10

// firstReadSize is the read buffer of a new data connection.
const firstReadSize = 32 << 10

// DataTLS is a data connection protected by TLS, moving its records in
// big system calls: crypto/tls writes every record (at most 16 KiB) with a
// call of its own and reads about one per call, which costs more than the
// AES-GCM of the record on a fast network. Reads come through a buffer
// (of up to 256 KiB); the records of one Write go out together.
type DataTLS struct {
	*tls.Conn
	t *batchConn
}

// DataClient and DataServer run TLS as client or server over the data
// connection c.
func DataClient(c net.Conn, cfg *tls.Config) *DataTLS { return newDataTLS(c, cfg, tls.Client) }

// DataServer is DataClient's server side.
func DataServer(c net.Conn, cfg *tls.Config) *DataTLS { return newDataTLS(c, cfg, tls.Server) }

func newDataTLS(c net.Conn, cfg *tls.Config, side func(net.Conn, *tls.Config) *tls.Conn) *DataTLS {
	b := &batchConn{Conn: c}
	return &DataTLS{Conn: side(b, cfg), t: b}
}

// NetConn is the TCP connection under the TLS.
func (d *DataTLS) NetConn() net.Conn { return d.t.Conn }

// Write encrypts p into TLS records and sends them with as few system
// calls as their size allows.
func (d *DataTLS) Write(p []byte) (int, error) {
	d.t.startBatch()
	n, err := d.Conn.Write(p)
	if ferr := d.t.endBatch(); err == nil {
		err = ferr
	}
	return n, err
}

// batchConn is the TCP connection under a DataTLS.
type batchConn struct {
	net.Conn
	rbuf       []byte // read buffer, made on the first read
	r, w       int    // rbuf[r:w] is unread
	mu         sync.Mutex
	batching   bool
	wbuf       []byte
	writeError error
}

// Read reads from the buffer, filling it with one system call when
// empty; a read as big as the buffer goes straight to the connection. The
// buffer starts small (handshakes, listings) and doubles, up to
// dataIOSize, while fills fill it.
func (b *batchConn) Read(p []byte) (int, error) {
	if b.r == b.w {
		if len(p) >= dataIOSize {
			return b.Conn.Read(p)
		}
		if b.rbuf == nil {
			b.rbuf = make([]byte, firstReadSize)
		} else if b.w == len(b.rbuf) && len(b.rbuf) < dataIOSize {
			b.rbuf = make([]byte, 2*len(b.rbuf))
		}
		n, err := b.Conn.Read(b.rbuf)
		b.r, b.w = 0, n
		if n == 0 {
			return 0, err
		}
	}
	n := copy(p, b.rbuf[b.r:b.w])
	b.r += n
	return n, nil
}

// Write sends p at once, or, within a batch, adds it to the batch (sent
// when it reaches dataIOSize and at its end).
func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.batching {
		return b.Conn.Write(p)
	}
	if b.writeError != nil {
		return 0, b.writeError
	}
	b.wbuf = append(b.wbuf, p...)
	if len(b.wbuf) >= dataIOSize {
		b.flushLocked()
	}
	return len(p), b.writeError
}

func (b *batchConn) startBatch() {
	b.mu.Lock()
	b.batching = true
	b.mu.Unlock()
}

// endBatch sends what the batch holds.
func (b *batchConn) endBatch() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.batching = false
	b.flushLocked()
	err := b.writeError
	b.writeError = nil
	return err
}

func (b *batchConn) flushLocked() {
	if len(b.wbuf) > 0 && b.writeError == nil {
		_, b.writeError = b.Conn.Write(b.wbuf)
	}
	b.wbuf = b.wbuf[:0]
}
