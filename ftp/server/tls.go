package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/ftplab/ftplab/ftp"
	"github.com/ftplab/ftplab/ftp/proto"
)

// tlsState is the server's TLS setup, made once by New from Config.TLS.
type tlsState struct {
	base   *tls.Config // Config.TLS, cloned: its ticket keys seal every session ticket
	client *tls.Config // for the data connections where we are the TLS client
	// peer is for data connections from the other server of a
	// third-party transfer: no session tickets, which such a peer has no
	// use for and may leave unread (see ftp.CloseData).
	peer *tls.Config
}

func newTLSState(cfg *tls.Config) (*tlsState, error) {
	if cfg == nil {
		return nil, nil
	}
	if len(cfg.Certificates) == 0 && cfg.GetCertificate == nil && cfg.GetConfigForClient == nil {
		return nil, errors.New("server config: TLS has no certificate (Certificates or GetCertificate)")
	}
	base := cfg.Clone()
	base.SessionTicketsDisabled = false
	if base.MinVersion < tls.VersionTLS12 {
		base.MinVersion = tls.VersionTLS12
	}
	peer := base.Clone()
	peer.SessionTicketsDisabled = true
	return &tlsState{
		base: base,
		peer: peer,
		// The other end of an SSCN/CPSV data connection is a server of a
		// third-party transfer, whose certificate nobody here can check
		// (RFC 4217 §10 leaves authentication of the data connection's
		// peer to the control connections).
		client: &tls.Config{
			InsecureSkipVerify: true, //nolint:gosec // see above
			MinVersion:         tls.VersionTLS12,
			KeyLogWriter:       base.KeyLogWriter,
			Certificates:       base.Certificates,
		},
	}, nil
}

// tokenPrefix marks the Extra entry of a session ticket that names the
// control session that issued it.
const tokenPrefix = "ftplab-session:"

// sessionConfigs are a session's TLS configurations: every ticket they
// issue carries the session's token, and data connections resume only
// tickets with it (vsftpd's require_ssl_reuse).
func (t *tlsState) sessionConfigs() (control, data *tls.Config) {
	token := make([]byte, len(tokenPrefix)+16)
	copy(token, tokenPrefix)
	_, _ = rand.Read(token[len(tokenPrefix):])
	wrap := func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		extra := ss.Extra[:0:0]
		for _, e := range ss.Extra {
			if !bytes.HasPrefix(e, []byte(tokenPrefix)) {
				extra = append(extra, e)
			}
		}
		ss.Extra = append(extra, token)
		return t.base.EncryptTicket(cs, ss)
	}
	control = t.base.Clone()
	control.WrapSession = wrap
	control.UnwrapSession = t.base.DecryptTicket
	data = t.base.Clone()
	data.WrapSession = wrap
	data.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		ss, err := t.base.DecryptTicket(identity, cs)
		if err != nil || ss == nil {
			return nil, err
		}
		for _, e := range ss.Extra {
			if bytes.Equal(e, token) {
				return ss, nil
			}
		}
		return nil, nil // another session's ticket: a full handshake, refused below
	}
	return control, data
}

// upgradeConn is the control connection during AUTH TLS: it reads what the
// command reader holds buffered first, so that bytes a client sent after
// AUTH in the clear go to the TLS handshake (and fail it), never to the
// command interpreter.
type upgradeConn struct {
	net.Conn
	r io.Reader
}

// Read reads through the command reader's buffer.
func (u *upgradeConn) Read(p []byte) (int, error) { return u.r.Read(p) }

// tlsEnabled reports whether the server has TLS at all; else the TLS
// commands reply 502.
func (s *session) tlsEnabled(c command) bool {
	if s.srv.tls == nil {
		s.reply(502, fmt.Sprintf("%s not implemented: TLS not enabled on this server.", c.verb))
		return false
	}
	return true
}

// cmdAUTH is AUTH TLS (RFC 4217 §4; AUTH SSL and TLS-C as synonyms): 234,
// then the TLS handshake on the control connection, then a fresh start as
// RFC 4217 §4 asks (login, TYPE, data ports, directory reset).
func (s *session) cmdAUTH(c command) {
	if !s.tlsEnabled(c) {
		return
	}
	switch strings.ToUpper(c.arg) {
	case "TLS", "SSL", "TLS-C", "TLS-P":
	default:
		s.reply(504, fmt.Sprintf("AUTH %q not supported: AUTH TLS only.", clip(c.arg)))
		return
	}
	if s.secure {
		s.reply(503, "AUTH TLS already done: the control connection is protected.")
		return
	}
	if s.cleared {
		s.reply(503, "AUTH refused after CCC: this session stays as CCC left it.")
		return
	}
	s.reply(234, "AUTH TLS ok: start the TLS handshake.")
	if s.quit {
		return
	}
	s.record = ftp.NewRecordConn(&upgradeConn{Conn: s.raw, r: c.br})
	tc := tls.Server(s.record, s.ctlTLS)
	if err := s.handshake(tc); err != nil {
		s.log.Warn("ftp AUTH TLS handshake failed", "err", err.Error())
		s.quit = true
		return
	}
	s.conn, s.w, s.secure = tc, bufio.NewWriter(tc), true
	c.upgrade <- tc
	s.data.reset()
	s.setLoggedIn(false)
	s.user, s.readOnly, s.fs, s.fsID, s.cwd, s.ascii, s.rest = "", false, nil, 0, "/", false, 0
}

// handshake runs the server side of the control connection's handshake,
// bounded by the data timeout.
func (s *session) handshake(tc *tls.Conn) error {
	ctx, cancel := context.WithTimeout(s.ctx, s.srv.cfg.DataTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("TLS handshake with %s: %w", s.peer, err)
	}
	st := tc.ConnectionState()
	s.log.Info("ftp TLS on control connection", "version", tls.VersionName(st.Version), "cipher", tls.CipherSuiteName(st.CipherSuite), "resumed", st.DidResume)
	return nil
}

// needSecure refuses a TLS command before AUTH TLS with 503. After CCC
// the data commands (SSCN, CPSV) go on; PBSZ and PROT check cleared.
func (s *session) needSecure(c command) bool {
	if !s.tlsEnabled(c) {
		return false
	}
	if !s.secure && !s.cleared {
		s.reply(503, fmt.Sprintf("%s needs AUTH TLS first.", c.verb))
		return false
	}
	return true
}

// afterCCC refuses PBSZ and PROT after CCC (RFC 4217 §6: the data
// connections keep the protection set before).
func (s *session) afterCCC(c command) bool {
	if s.cleared {
		s.reply(503, fmt.Sprintf("%s refused after CCC: data connections stay as PROT set them.", c.verb))
	}
	return s.cleared
}

// cmdPBSZ is PBSZ (RFC 2228; RFC 4217 §8: always 0 for TLS).
func (s *session) cmdPBSZ(c command) {
	if !s.needSecure(c) || s.afterCCC(c) {
		return
	}
	if c.arg == "" || strings.Trim(c.arg, "0123456789") != "" {
		s.reply(501, fmt.Sprintf("PBSZ %q: want a number (0 for TLS).", clip(c.arg)))
		return
	}
	s.pbsz = true
	s.reply(200, "PBSZ=0")
}

// cmdPROT is PROT C or P (RFC 4217 §9); S and E make no sense for TLS.
func (s *session) cmdPROT(c command) {
	if !s.needSecure(c) || s.afterCCC(c) {
		return
	}
	if !s.pbsz {
		s.reply(503, "PROT needs PBSZ first (PBSZ 0).")
		return
	}
	switch strings.ToUpper(c.arg) {
	case "P":
		s.protect = true
		s.reply(200, "PROT P ok: data connections are protected by TLS.")
	case "C":
		if s.srv.cfg.RequireTLSData {
			s.reply(534, "PROT C refused: this server requires protected data connections (PROT P).")
			return
		}
		s.protect = false
		s.reply(200, "PROT C ok: data connections are in the clear.")
	case "S", "E":
		s.reply(536, fmt.Sprintf("PROT %s not supported by TLS: use C or P.", strings.ToUpper(c.arg)))
	default:
		s.reply(504, fmt.Sprintf("PROT %q: want C or P.", clip(c.arg)))
	}
}

// cmdCCC clears the control connection (RFC 4217 §6) where
// Config.AllowCCC says so and the client has logged in: a 200 reply,
// then the command reader ends TLS (clearReader) and reads on in the
// clear. Otherwise 534: a control connection in the clear would expose
// the rest of the session; 533 when it is not protected.
func (s *session) cmdCCC(c command) {
	if !s.tlsEnabled(c) {
		return
	}
	switch {
	case !s.secure:
		s.reply(533, "CCC: the control connection is not protected.")
		return
	case !s.srv.cfg.AllowCCC:
		s.reply(534, "CCC refused: the control connection stays protected here.")
		return
	case !s.loggedIn:
		s.reply(534, "CCC refused before login: log in first, under TLS.")
		return
	}
	tc := s.conn.(*tls.Conn)
	data := "in the clear (PROT C)"
	if s.protect {
		data = "protected (PROT P)"
	}
	s.reply(200, "CCC ok: the control connection goes on in the clear; data connections stay "+data+".")
	if s.quit {
		return
	}
	// Nothing more is written until the next command, which the reader
	// reads only once TLS is over.
	s.conn, s.w, s.secure, s.cleared = s.record, bufio.NewWriter(s.record), false, true
	c.upgrade <- &clearReader{record: s.record, tc: tc, log: s.log}
}

// cccPatience is how long the server waits, after its 200 to CCC, for
// the client's close_notify before it sends its own first.
const cccPatience = 250 * time.Millisecond

// clearReader is what the command reader reads after CCC: first it ends
// TLS, then it reads plain text. The client's close_notify, if it sends
// one soon, is answered with ours: lftp takes a close_notify that comes
// before it has handled the 200 for the end of the connection. A client
// that waits for ours (curl's passive CCC mode) gets it after
// cccPatience; one that goes on in plain text at once gets none, which
// would land in its clear text.
type clearReader struct {
	record  *ftp.RecordConn
	tc      *tls.Conn
	log     *slog.Logger
	cleared bool
}

// Read implements io.Reader.
func (r *clearReader) Read(p []byte) (int, error) {
	if !r.cleared {
		if err := r.clear(); err != nil {
			r.log.Warn("ftp CCC failed", "err", err.Error())
			return 0, err
		}
		r.cleared = true
		r.log.Info("ftp control connection in the clear (CCC)")
	}
	return r.record.Read(p)
}

func (r *clearReader) clear() error {
	rec := r.record
	_ = rec.SetReadDeadline(time.Now().Add(cccPatience))
	tlsNext, err := rec.NextIsTLS()
	_ = rec.SetReadDeadline(time.Time{})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// the client waits for our close_notify
		if err := rec.EndTLS(r.tc); err != nil {
			return err
		}
		return rec.Clear(r.tc)
	}
	if err != nil {
		return err
	}
	if tlsNext {
		if err := rec.ReadTLSEnd(r.tc); err != nil {
			return err
		}
		if err := rec.EndTLS(r.tc); err != nil {
			return err
		}
	}
	rec.SetClear()
	return nil
}

// cmdSSCN is SSCN [ON|OFF] (the FXP extension of glFTPd, ProFTPD and
// lftp): with ON, the server is the TLS client on its next data
// connections, as one of the two servers of a secure third-party transfer
// must be. Without an argument it reports the mode.
func (s *session) cmdSSCN(c command) {
	if !s.needSecure(c) {
		return
	}
	switch strings.ToUpper(c.arg) {
	case "ON":
		s.sscn = true
	case "OFF":
		s.sscn = false
	case "":
	default:
		s.reply(501, fmt.Sprintf("SSCN %q: want ON or OFF.", clip(c.arg)))
		return
	}
	if s.sscn {
		s.reply(200, "SSCN:CLIENT METHOD")
		return
	}
	s.reply(200, "SSCN:SERVER METHOD")
}

// cmdCPSV is PASV whose data connection the server secures as TLS client
// (the older alternative to SSCN ON).
func (s *session) cmdCPSV(c command) {
	if !s.needSecure(c) {
		return
	}
	if !s.cmdPASV(c) {
		return
	}
	s.data.tlsClient = true
}

// tlsFeatures are the FEAT lines of a server with TLS.
var tlsFeatures = []string{"AUTH TLS", "PBSZ", "PROT", "SSCN", "CPSV"}

// dataTLS says how the transfer about to start protects its data
// connection; nil is in the clear.
func (s *session) dataTLS(d dataSetup) *dataSecurity {
	if !s.protect {
		return nil
	}
	return &dataSecurity{client: s.sscn || d.tlsClient}
}

// dataSecurity is how a transfer's data connection is protected.
type dataSecurity struct {
	client bool // we are the TLS client (SSCN ON, CPSV)
}

// ErrNoReuse is why a data connection is refused whose TLS session was
// not resumed from its control connection's (Config.TLSReuseOptional).
var ErrNoReuse = errors.New("TLS session not resumed from the control connection (session reuse required)")

// secureData runs the TLS handshake of data connection c. As TLS server it
// wants c to resume the control connection's session, unless reuse is
// optional or c comes from a trusted peer other than the client (the other
// server of a third-party transfer, which cannot hold the client's
// session).
func (s *session) secureData(ctx context.Context, c net.Conn, sec *dataSecurity) (net.Conn, error) {
	hctx, cancel := context.WithTimeout(ctx, s.srv.cfg.DataTimeout)
	defer cancel()
	fromClient := proto.AddrPortOf(c.RemoteAddr()).Addr().Unmap() == s.peer.Addr().Unmap()
	var tc *ftp.DataTLS
	switch {
	case sec.client:
		tc = ftp.DataClient(c, s.srv.tls.client)
	case fromClient:
		tc = ftp.DataServer(c, s.dataTLSConfig)
	default:
		tc = ftp.DataServer(c, s.srv.tls.peer)
	}
	if err := tc.HandshakeContext(hctx); err != nil {
		return nil, fmt.Errorf("TLS handshake on data connection with %s: %w", c.RemoteAddr(), err)
	}
	st := tc.ConnectionState()
	if !sec.client && !st.DidResume && !s.srv.cfg.TLSReuseOptional && fromClient {
		tc.Close()
		return nil, fmt.Errorf("data connection from %s: %w", c.RemoteAddr(), ErrNoReuse)
	}
	role := "server"
	if sec.client {
		role = "client"
	}
	s.log.Info("ftp TLS on data connection", "role", role, "peer", c.RemoteAddr().String(), "version", tls.VersionName(st.Version), "resumed", st.DidResume)
	return tc, nil
}
