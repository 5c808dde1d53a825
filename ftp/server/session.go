package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/ftplab/ftplab/ftp"
	"github.com/ftplab/ftplab/ftp/proto"
	"github.com/ftplab/ftplab/ftp/store"
)

// session is one control connection. Only its run goroutine writes replies;
// a reader goroutine feeds it commands, and a transfer goroutine moves data.
type session struct {
	srv  *Server
	id   uint64
	conn net.Conn // the control connection: raw, or TLS over record
	raw  net.Conn // the TCP connection
	// record is what TLS runs over on the control connection (nil before
	// TLS): it lets CCC return to the clear.
	record *ftp.RecordConn
	log    *slog.Logger
	peer   netip.AddrPort // the client's end of the control connection
	local  netip.AddrPort // our end: port L, whose L-1 is the default data port
	w      *bufio.Writer

	cmds     chan command
	stop     chan struct{} // closed when run returns: the reader stops
	killed   chan struct{} // closed by kill
	killOnce sync.Once
	evicted  chan struct{} // closed by evict
	evictOne sync.Once

	// login state
	user     string
	loggedIn bool
	login    *time.Timer // the login timeout, running while not logged in
	fails    int         // failed logins
	readOnly bool
	fs       store.FS
	fsID     int // which store fs is: see asciiKey
	cwd      string

	// transfer parameters
	ascii   bool
	rest    int64
	rnfr    string
	facts   []string // MLST facts selected by OPTS MLST
	epsvAll bool
	data    dataSetup

	// TLS (RFC 4217)
	secure        bool        // the control connection is TLS
	cleared       bool        // CCC done: the control connection is clear again
	pbsz          bool        // PBSZ sent
	protect       bool        // PROT P
	sscn          bool        // SSCN ON: TLS client on data connections
	ctlTLS        *tls.Config // the session's configs (sessionConfigs)
	dataTLSConfig *tls.Config

	xfer    *transfer
	pending []command // commands that arrived during a transfer
	quit    bool
	ctx     context.Context // the session's life, set by run
}

// newSession makes the session of control connection c; with implicit,
// c starts with TLS (implicit FTPS), and run does the handshake first.
func newSession(srv *Server, c net.Conn, id uint64, implicit bool) *session {
	s := &session{
		srv:     srv,
		id:      id,
		conn:    c,
		raw:     c,
		peer:    proto.AddrPortOf(c.RemoteAddr()),
		local:   proto.AddrPortOf(c.LocalAddr()),
		w:       bufio.NewWriter(c),
		cmds:    make(chan command),
		stop:    make(chan struct{}),
		killed:  make(chan struct{}),
		evicted: make(chan struct{}),
		cwd:     "/",
		facts:   allFacts,
	}
	s.log = srv.log.With("session", id, "peer", s.peer.String())
	if srv.tls != nil {
		s.ctlTLS, s.dataTLSConfig = srv.tls.sessionConfigs()
	}
	if implicit {
		s.record = ftp.NewRecordConn(c)
		tc := tls.Server(s.record, s.ctlTLS)
		s.conn, s.w, s.secure = tc, bufio.NewWriter(tc), true
	}
	return s
}

// kill ends the session at once (Server.Close).
func (s *session) kill() {
	s.killOnce.Do(func() {
		close(s.killed)
		s.raw.Close()
	})
}

// evict ends a session not logged in to make room for a new one: it gets
// 421 (Server.start).
func (s *session) evict() {
	s.evictOne.Do(func() { close(s.evicted) })
}

// setLoggedIn changes the login state, for the server's count of sessions
// not logged in and for the login timeout.
func (s *session) setLoggedIn(in bool) {
	if s.loggedIn == in {
		return
	}
	s.loggedIn = in
	s.srv.setLoggedIn(s, in)
	if in {
		s.login.Stop()
	} else {
		s.login.Reset(s.srv.cfg.LoginTimeout)
	}
}

// pause waits d, or less if the session must end; false then.
func (s *session) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
	case <-s.killed:
	case <-s.evicted:
	}
	return false
}

// quitWait bounds how long a session that ends waits for a TLS client's
// close after its own close_notify.
const quitWait = time.Second

// run serves the session until QUIT, an error, a timeout or ctx's end.
func (s *session) run(ctx context.Context) {
	s.ctx = ctx
	s.log.Info("ftp session open", "local", s.local.String())
	var readerDone sync.WaitGroup
	defer func() {
		close(s.stop)
		if s.xfer != nil {
			s.xfer.abort()
			<-s.xfer.done
		}
		s.data.reset()
		if s.quit {
			// Over TLS: close_notify, then the client's close (read by
			// readCommands, at most quitWait), so neither end resets.
			if tc, err := ftp.CloseWrite(s.conn); tc != nil && err == nil {
				_ = tc.SetReadDeadline(time.Now().Add(quitWait))
				readerDone.Wait()
			}
		}
		s.conn.Close()
		readerDone.Wait()
		s.log.Info("ftp session closed")
	}()
	if tc, ok := s.conn.(*tls.Conn); ok {
		if err := s.handshake(tc); err != nil {
			s.log.Warn("ftp implicit TLS handshake failed", "err", err.Error())
			return
		}
	}
	s.reply(220, s.srv.cfg.Greeting)
	readerDone.Go(s.readCommands)
	idle := time.NewTimer(s.srv.cfg.IdleTimeout)
	defer idle.Stop()
	s.login = time.NewTimer(s.srv.cfg.LoginTimeout)
	defer s.login.Stop()
	for !s.quit {
		cmds := s.cmds
		if len(s.pending) >= maxPending {
			cmds = nil // let TCP push back on a client that floods us
		}
		var login <-chan time.Time
		if !s.loggedIn {
			login = s.login.C
		}
		var opened, done <-chan struct{}
		if x := s.xfer; x != nil {
			done = x.done
			if !x.announced {
				opened = x.opened
			}
		}
		select {
		case <-ctx.Done():
			s.reply(421, "Server shutting down, closing control connection.")
			return
		case <-s.killed:
			return
		case <-s.evicted:
			s.reply(421, fmt.Sprintf("Too many connections not logged in (%d): closing the oldest, this one.", s.srv.cfg.MaxUnauthenticated))
			return
		case <-login:
			s.reply(421, fmt.Sprintf("Login timeout (%s): closing control connection.", s.srv.cfg.LoginTimeout))
			return
		case <-idle.C:
			if s.xfer != nil {
				idle.Reset(s.srv.cfg.IdleTimeout)
				continue
			}
			s.reply(421, fmt.Sprintf("Idle timeout (%s): closing control connection.", s.srv.cfg.IdleTimeout))
			return
		case c, ok := <-cmds:
			if !ok {
				return
			}
			idle.Reset(s.srv.cfg.IdleTimeout)
			s.dispatch(c)
		case <-opened:
			s.announce()
		case <-done:
			s.endTransfer()
		}
		for len(s.pending) > 0 && s.xfer == nil && !s.quit {
			c := s.pending[0]
			s.pending = s.pending[1:]
			s.exec(c)
		}
	}
}

// maxPending bounds the commands kept while a transfer runs.
const maxPending = 32

// dispatch runs c now, or, during a transfer, answers ABOR, STAT and NOOP
// at once and keeps anything else (QUIT included) until the transfer ends.
func (s *session) dispatch(c command) {
	s.logCommand(c)
	if s.xfer == nil {
		s.exec(c)
		return
	}
	switch c.verb {
	case "ABOR":
		s.abortTransfer()
	case "STAT":
		if c.arg == "" {
			s.transferStatus()
			return
		}
		s.pending = append(s.pending, c)
	case "NOOP":
		if len(s.pending) == 0 { // else it waits its turn, to keep replies in order
			s.reply(200, "NOOP ok, transfer in progress.")
			return
		}
		s.pending = append(s.pending, c)
	default:
		s.pending = append(s.pending, c)
	}
}

// readCommands reads command lines and hands them to run until the
// connection fails or the session stops.
func (s *session) readCommands() {
	defer close(s.cmds)
	br := bufio.NewReaderSize(s.conn, 4096)
	for {
		line, err := readLine(br)
		var c command
		switch {
		case errors.Is(err, errLineTooLong):
			c = command{err: err}
		case err != nil:
			s.log.Debug("ftp control connection ends", "err", err.Error())
			return
		default:
			c = parseCommand(line)
		}
		if switches(c.verb) {
			c.br, c.upgrade = br, make(chan io.Reader, 1)
		}
		select {
		case s.cmds <- c:
		case <-s.stop:
			return
		}
		if c.upgrade != nil {
			select {
			case r := <-c.upgrade:
				if r != nil {
					br = bufio.NewReaderSize(r, 4096)
				}
			case <-s.stop:
				return
			}
		}
	}
}

// reply writes a reply; more than one line makes a multi-line reply (RFC
// 959 §4.2): "code-first", the middle lines indented by a space, "code last".
func (s *session) reply(code int, lines ...string) {
	if len(lines) == 0 {
		lines = []string{""}
	}
	var b strings.Builder
	for i, l := range lines {
		l = flatten.Replace(l)
		switch {
		case len(lines) == 1:
			fmt.Fprintf(&b, "%d %s\r\n", code, l)
		case i == 0:
			fmt.Fprintf(&b, "%d-%s\r\n", code, l)
		case i == len(lines)-1:
			fmt.Fprintf(&b, "%d %s\r\n", code, l)
		default:
			b.WriteString(" " + l + "\r\n")
		}
	}
	s.log.Info("ftp reply", "code", code, "text", strings.TrimRight(b.String(), "\r\n"))
	_ = s.conn.SetWriteDeadline(time.Now().Add(s.srv.cfg.DataTimeout))
	_, _ = s.w.WriteString(b.String())
	if err := s.w.Flush(); err != nil {
		s.log.Warn("ftp reply not sent", "err", err)
		s.quit = true
	}
}

// logCommand logs c with the password of PASS masked.
func (s *session) logCommand(c command) {
	arg := c.arg
	if c.verb == "PASS" && arg != "" {
		arg = "****"
	}
	if c.err != nil {
		s.log.Info("ftp command", "err", c.err.Error())
		return
	}
	s.log.Info("ftp command", "verb", c.verb, "arg", arg)
}

// flatten keeps a reply line on one line.
var flatten = strings.NewReplacer("\r", " ", "\n", " ")
