package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftplab/ftplab/ftp"
)

// closeWait bounds how long a data connection that ends with TLS waits
// for the peer's close_notify (ftp.CloseData).
const closeWait = 5 * time.Second

// copyBufs are the buffers data moves through: big, and reused.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// transfer is a data transfer running in its own goroutine. The session
// announces it (150) when its data connection opens and answers it when done
// closes.
type transfer struct {
	verb, path string
	upload     bool
	size       int64  // bytes to send, -1 when unknown
	note       string // the text of the 150 reply, when not the usual one
	n          atomic.Int64
	opened     chan struct{}
	done       chan struct{}
	announced  bool // 150 sent
	code       int  // final reply, set before done closes
	msg        string
	cancel     context.CancelFunc
	aborted    atomic.Bool

	mu   sync.Mutex
	conn net.Conn
}

// body moves the data over conn and returns the final reply.
type body func(conn *dataConn) (int, string)

// abort stops the transfer: it resets the data connection (so that a
// receiving peer does not keep a partial file), or gives up waiting for it.
func (x *transfer) abort() {
	x.aborted.Store(true)
	x.cancel()
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.conn != nil {
		_ = x.conn.SetDeadline(time.Now()) // wakes blocked I/O on any stack
		resetConn(x.conn)
	}
}

// setConn records the data connection; false if the transfer was aborted.
func (x *transfer) setConn(c net.Conn) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.aborted.Load() {
		return false
	}
	x.conn = c
	return true
}

// startTransfer runs b over the data connection set up by PORT/PASV & co.
// release frees what b uses; it runs whatever happens.
func (s *session) startTransfer(x *transfer, b body, release func()) {
	if s.data.mode == noData {
		release()
		s.reply(425, "Use PORT, PASV, EPRT, EPSV or SOCK first.")
		return
	}
	if s.srv.cfg.RequireTLSData && !s.protect {
		release()
		s.data.reset()
		s.reply(521, "Data connections must be protected: send PBSZ 0 and PROT P first.")
		return
	}
	d := s.data.take()
	sec := s.dataTLS(d)
	ctx, cancel := context.WithCancel(s.ctx)
	x.cancel = cancel
	x.opened = make(chan struct{})
	x.done = make(chan struct{})
	s.xfer = x
	s.rest = 0
	go func() {
		defer close(x.done)
		defer cancel()
		defer release()
		// The 150 goes out once the TCP connection is up, before any TLS
		// handshake: clients start TLS when they have it.
		connected := func(c net.Conn) bool {
			if !x.setConn(c) {
				return false
			}
			if !isClosed(x.opened) {
				close(x.opened)
			}
			return true
		}
		c, err := s.openData(ctx, d, sec, connected)
		switch {
		case err != nil && x.aborted.Load():
			x.code, x.msg = 426, "Transfer aborted before the data connection opened."
			return
		case err != nil:
			x.code, x.msg = 425, fmt.Sprintf("Can't open data connection: %v.", err)
			return
		}
		// A transfer that failed resets its data connection: a receiving
		// peer must not take the end of what it got for the whole file.
		defer func() {
			if x.code/100 == 2 {
				_ = ftp.CloseData(c, min(s.srv.cfg.DataTimeout, closeWait))
			} else {
				resetConn(c)
			}
		}()
		if !x.setConn(c) {
			x.code, x.msg = 426, "Connection closed; transfer aborted."
			return
		}
		dc := &dataConn{c: c, n: &x.n, timeout: s.srv.cfg.DataTimeout}
		x.code, x.msg = b(dc)
		if x.aborted.Load() {
			x.code, x.msg = 426, "Connection closed; transfer aborted."
		}
	}()
}

// announce sends the 150 of the running transfer.
func (s *session) announce() {
	x := s.xfer
	x.announced = true
	if x.note != "" {
		s.reply(150, x.note)
		return
	}
	mode := "BINARY"
	if s.ascii {
		mode = "ASCII"
	}
	size := ""
	if x.size >= 0 {
		size = fmt.Sprintf(" (%d bytes)", x.size)
	}
	s.reply(150, fmt.Sprintf("Opening %s mode data connection for %s%s.", mode, x.path, size))
}

// endTransfer sends the final reply of the finished transfer.
func (s *session) endTransfer() {
	x := s.xfer
	if !x.announced && isClosed(x.opened) {
		s.announce()
	}
	s.xfer = nil
	s.log.Info("ftp transfer done", "verb", x.verb, "path", x.path, "bytes", x.n.Load(), "code", x.code)
	s.reply(x.code, x.msg)
}

// abortTransfer handles ABOR during a transfer: 426 for the transfer, then
// 226 for the ABOR (RFC 959 §4.1.3).
func (s *session) abortTransfer() {
	s.xfer.abort()
	<-s.xfer.done
	s.endTransfer()
	s.reply(226, "ABOR successful.")
}

// transferStatus answers STAT during a transfer with its progress, in the
// form lftp reads ("Receiving file NAME (N bytes)", then the byte count).
func (s *session) transferStatus() {
	x := s.xfer
	n := x.n.Load()
	dir := "Sending"
	if x.upload {
		dir = "Receiving"
	}
	of := ""
	if x.size >= 0 {
		of = fmt.Sprintf(" of %d", x.size)
	}
	s.reply(213, fmt.Sprintf("Status of %s %s:", x.verb, x.path),
		fmt.Sprintf("%s file %s (%d bytes)", dir, x.path, n),
		fmt.Sprintf("Status: %d%s bytes transferred", n, of))
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// dataConn is a data connection that counts the bytes it moves and fails a
// stall longer than timeout. It remembers its own errors, so a transfer can
// tell a network failure (426) from a storage one (451).
type dataConn struct {
	c       net.Conn
	n       *atomic.Int64
	timeout time.Duration
	last    time.Time
	err     error
}

func (d *dataConn) refresh() {
	if now := time.Now(); now.Sub(d.last) > d.timeout/8 {
		_ = d.c.SetDeadline(now.Add(d.timeout))
		d.last = now
	}
}

// Read reads from the data connection, counting and refreshing the deadline.
func (d *dataConn) Read(p []byte) (int, error) {
	d.refresh()
	n, err := d.c.Read(p)
	d.n.Add(int64(n))
	if err != nil && err != io.EOF {
		d.err = err
	}
	return n, err
}

// Write writes to the data connection, counting and refreshing the deadline.
func (d *dataConn) Write(p []byte) (int, error) {
	d.refresh()
	n, err := d.c.Write(p)
	d.n.Add(int64(n))
	if err != nil {
		d.err = err
	}
	return n, err
}

// failure turns a copy error into the final reply of a transfer.
func (d *dataConn) failure(err error, what string) (int, string) {
	switch {
	case errors.Is(d.err, os.ErrDeadlineExceeded):
		return 426, fmt.Sprintf("Data connection stalled for %s; transfer aborted.", d.timeout)
	case d.err != nil:
		return 426, fmt.Sprintf("Data connection failed; transfer aborted: %v.", d.err)
	}
	return 451, fmt.Sprintf("Local error %s: %v.", what, err)
}

// copyData copies src to dst through a pooled buffer.
func copyData(dst io.Writer, src io.Reader) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	if _, ok := src.(*os.File); ok {
		src = struct{ io.Reader }{src} // use our buffer, not os.File's 32 KiB one
	}
	return io.CopyBuffer(dst, src, *bp)
}
