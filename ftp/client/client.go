// Package client is an FTP client (RFC 959, 2428, 3659) that runs over any
// ftp.Network: a virtual host of a lab or the operating system's network.
//
// A Client holds one control connection. It sends raw commands (Cmd), logs
// in, opens data connections in passive (EPSV, PASV) or active (EPRT, PORT)
// mode, and moves files (Retr, Stor, Appe with a REST offset), lists
// directories (List, NameList, MLSD) and asks for SIZE and MDTM. Transfer
// drives a third-party ("server-server", FXP) copy between two logged-in
// clients in the RFC 959 §5.2 dialect or RFC 478's SOCK/PASV/RTRV dialect.
//
// A Client is not safe for concurrent use by several goroutines.
package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/textproto"
	"strings"
	"time"

	"github.com/ftplab/ftplab/ftp"
	"github.com/ftplab/ftplab/ftp/proto"
)

// Mode is how a Client opens its data connections.
type Mode int

const (
	// ModeAuto tries EPSV and falls back to PASV when the server refuses
	// EPSV (the default).
	ModeAuto Mode = iota
	// ModeEPSV uses EPSV only (RFC 2428 §3).
	ModeEPSV
	// ModePASV uses PASV only (RFC 959; IPv4 only).
	ModePASV
	// ModeEPRT listens and sends EPRT (RFC 2428 §2).
	ModeEPRT
	// ModePORT listens and sends PORT (RFC 959; IPv4 only).
	ModePORT
)

var modeNames = enumNames[Mode]{typ: "Mode", what: "data connection mode", names: []string{
	ModeAuto: "auto", ModeEPSV: "epsv", ModePASV: "pasv", ModeEPRT: "eprt", ModePORT: "port",
}}

// String names the mode as ParseMode accepts it.
func (m Mode) String() string { return modeNames.name(m) }

// ParseMode parses "auto", "epsv", "pasv", "eprt" or "port" (any case).
func ParseMode(s string) (Mode, error) { return modeNames.parse(s) }

// enumNames names the values 0, 1, ... of an enumeration, for its String
// and Parse functions.
type enumNames[T ~int] struct {
	typ, what string   // the Go type's name; what a value is, in words
	names     []string // by value
}

func (e enumNames[T]) name(v T) string {
	if v >= 0 && int(v) < len(e.names) {
		return e.names[v]
	}
	return fmt.Sprintf("%s(%d)", e.typ, int(v))
}

// parse finds a value by name, in any case.
func (e enumNames[T]) parse(s string) (T, error) {
	for v, n := range e.names {
		if strings.EqualFold(s, n) {
			return T(v), nil
		}
	}
	want := strings.Join(e.names[:len(e.names)-1], ", ") + " or " + e.names[len(e.names)-1]
	return 0, fmt.Errorf("%s %q: want %s", e.what, s, want)
}

// DefaultTimeout bounds dialling and waiting for an active-mode data
// connection when Options.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Options tune a Client. The zero value is ready to use.
type Options struct {
	// Mode picks the data connection mode; ModeAuto by default.
	Mode Mode
	// Timeout bounds dialling the control and data connections and waiting
	// for a server to connect in active mode (DefaultTimeout when zero).
	// Replies are bounded by the caller's context only: a transfer's final
	// reply may take as long as the transfer.
	Timeout time.Duration
	// Logger receives every command (PASS masked) and reply at debug level.
	Logger *slog.Logger
	// Trace, when set, is called with every command line sent (outgoing,
	// PASS masked) and every reply line received. During Transfer it may
	// be called from two goroutines at once.
	Trace func(outgoing bool, line string)

	// TLS protects the session (RFC 4217): TLSExplicit or TLSImplicit.
	TLS TLSMode
	// TLSConfig is the TLS configuration; nil means the defaults: the
	// server's certificate is verified against the system's roots for the
	// host of the address dialled. Set RootCAs to trust a given CA
	// (ftp.LoadCertPool), KeyLogWriter to record the secrets of the control
	// and every data connection. The client clones it.
	TLSConfig *tls.Config
	// Insecure skips verification of the server's certificate (self-signed
	// test servers): anyone in the path can then read and change the
	// session.
	Insecure bool
	// ClearData sends PROT C instead of PROT P: the control connection is
	// protected, data connections are not.
	ClearData bool
	// CCC makes Login send CCC after logging in (see Client.CCC): the
	// rest of the session's commands cross in the clear, data stays
	// protected. Servers refuse it unless configured to allow it.
	CCC bool
}

// Client is one FTP control connection.
type Client struct {
	net    ftp.Network
	conn   net.Conn
	text   *textproto.Conn
	opts   Options
	log    *slog.Logger
	remote netip.AddrPort
	local  netip.AddrPort
	typ    string // current TYPE, "" until set
	noEPSV bool   // server refused EPSV: ModeAuto uses PASV

	tls     *tls.Config     // nil without TLS
	record  *ftp.RecordConn // what the control connection's TLS runs over
	protect bool            // PROT P: data connections are TLS
}

// Dial connects to the FTP server at addr ("host:port") through network and
// reads its greeting.
func Dial(ctx context.Context, network ftp.Network, addr string, opts Options) (*Client, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	conn, err := network.Dial(dctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ftp server %s: dial: %w", addr, err)
	}
	c := &Client{
		net:    network,
		conn:   conn,
		text:   textproto.NewConn(conn),
		opts:   opts,
		remote: proto.AddrPortOf(conn.RemoteAddr()),
		local:  proto.AddrPortOf(conn.LocalAddr()),
	}
	c.log = logger.With("server", c.remote.String())
	if opts.TLS != TLSOff {
		host, _, _ := net.SplitHostPort(addr)
		c.tls = opts.tlsConfig(host)
	}
	if opts.TLS == TLSImplicit {
		if err := c.startTLS(ctx); err != nil {
			conn.Close()
			return nil, err
		}
	}
	code, msg, err := c.Read(ctx)
	if err == nil && code/100 != 2 {
		err = &ReplyError{Command: "(greeting)", Code: code, Msg: msg}
	}
	if err != nil {
		c.conn.Close()
		return nil, fmt.Errorf("ftp server %s: greeting: %w", addr, err)
	}
	if opts.TLS != TLSOff {
		if err := c.secureSession(ctx); err != nil {
			c.conn.Close()
			return nil, fmt.Errorf("ftp server %s: FTPS: %w", addr, err)
		}
	}
	return c, nil
}

// RemoteAddr is the server's control address as this client sees it.
func (c *Client) RemoteAddr() netip.AddrPort { return c.remote }

// LocalAddr is the client's end of the control connection.
func (c *Client) LocalAddr() netip.AddrPort { return c.local }

// ReplyError is a reply that a command did not want.
type ReplyError struct {
	Command string // the command line sent, PASS masked
	Code    int
	Msg     string
}

// Error is "COMMAND: CODE text", multi-line text joined with " / ".
func (e *ReplyError) Error() string {
	return fmt.Sprintf("%s: %d %s", e.Command, e.Code, strings.ReplaceAll(e.Msg, "\n", " / "))
}

// IsReply reports whether err carries a reply with the given code.
func IsReply(err error, code int) bool {
	var re *ReplyError
	return errors.As(err, &re) && re.Code == code
}

// Login sends USER and, when asked for, PASS; then CCC with Options.CCC.
func (c *Client) Login(ctx context.Context, user, pass string) error {
	if err := c.login(ctx, user, pass); err != nil {
		return err
	}
	if c.opts.CCC {
		return c.CCC(ctx)
	}
	return nil
}

func (c *Client) login(ctx context.Context, user, pass string) error {
	code, msg, err := c.Cmd(ctx, "USER %s", user)
	if err != nil {
		return err
	}
	if code == 331 || code == 332 {
		code, msg, err = c.Cmd(ctx, "PASS %s", pass)
		if err != nil {
			return err
		}
		if code/100 == 2 {
			return nil
		}
		return &ReplyError{Command: "PASS ****", Code: code, Msg: msg}
	}
	if code/100 == 2 {
		return nil
	}
	return &ReplyError{Command: "USER " + user, Code: code, Msg: msg}
}

// Cmd sends one command line (fmt-style) and reads its reply. Only a
// broken connection is an error; any reply code is returned as is. A raw
// TYPE makes the client send TYPE I again before its next transfer; a raw
// CCC answered 200 ends TLS on the control connection as Client.CCC does.
// The preliminary reply of a command that opens a data connection is
// returned too: read the rest with Read.
func (c *Client) Cmd(ctx context.Context, format string, args ...any) (code int, msg string, err error) {
	line := fmt.Sprintf(format, args...)
	if err := c.Send(ctx, line); err != nil {
		return 0, "", err
	}
	code, msg, err = c.Read(ctx)
	if err == nil && code == 200 && strings.EqualFold(strings.TrimSpace(line), "CCC") {
		if _, ok := c.conn.(*tls.Conn); ok {
			err = c.clearControl(ctx)
		}
	}
	return code, msg, err
}

// expect sends a command and wants a reply matching want as net/textproto
// matches it: a class (1-5), a code's first two digits (10-59) or one code
// (100 and more). Any other reply is a *ReplyError.
func (c *Client) expect(ctx context.Context, want int, format string, args ...any) (string, error) {
	line := fmt.Sprintf(format, args...)
	if err := c.Send(ctx, line); err != nil {
		return "", err
	}
	return c.expectReply(ctx, line, want)
}

// expectReply reads the (next) reply to the command line sent and wants it
// to match want, as expect does.
func (c *Client) expectReply(ctx context.Context, line string, want int) (string, error) {
	_, msg, err := c.read(ctx, want)
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Msg, &ReplyError{Command: mask(line), Code: te.Code, Msg: te.Msg}
	}
	return msg, err
}

// mask hides the argument of PASS.
func mask(line string) string {
	if len(line) >= 4 && strings.EqualFold(line[:4], "PASS") {
		return "PASS ****"
	}
	return line
}

// Send writes one command line without reading a reply.
func (c *Client) Send(ctx context.Context, line string) error {
	if strings.ContainsAny(line, "\r\n") {
		return fmt.Errorf("command %q: contains CR or LF", mask(line))
	}
	shown := mask(line)
	if len(line) >= 4 && strings.EqualFold(line[:4], "TYPE") {
		c.typ = "" // unknown until Type sees the reply
	}
	c.log.Debug("ftp command", "cmd", shown)
	if c.opts.Trace != nil {
		c.opts.Trace(true, shown)
	}
	stop := c.deadline(ctx, c.conn.SetWriteDeadline)
	defer stop()
	if err := c.text.PrintfLine("%s", line); err != nil {
		return fmt.Errorf("ftp server %s: send %s: %w", c.remote, shown, err)
	}
	return nil
}

// Read reads one (possibly multi-line) reply.
func (c *Client) Read(ctx context.Context) (code int, msg string, err error) {
	return c.read(ctx, 0)
}

// read reads one reply with textproto.Reader.ReadResponse: with want > 0,
// a reply that does not match it comes with a *textproto.Error (see
// expect); any other error means the connection failed.
func (c *Client) read(ctx context.Context, want int) (code int, msg string, err error) {
	stop := c.deadline(ctx, c.conn.SetReadDeadline)
	defer stop()
	code, msg, err = c.text.ReadResponse(want)
	var te *textproto.Error
	if err != nil && !errors.As(err, &te) {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return 0, "", fmt.Errorf("ftp server %s: read reply: %w", c.remote, err)
	}
	c.log.Debug("ftp reply", "code", code, "msg", msg)
	if c.opts.Trace != nil {
		for i, l := range strings.Split(msg, "\n") {
			sep := " "
			if i < strings.Count(msg, "\n") {
				sep = "-"
			}
			c.opts.Trace(false, fmt.Sprintf("%d%s%s", code, sep, l))
		}
	}
	return code, msg, err
}

// deadline applies ctx's deadline with set and interrupts the I/O when ctx
// is cancelled; stop undoes the watch.
func (c *Client) deadline(ctx context.Context, set func(time.Time) error) (stop func()) {
	d, _ := ctx.Deadline()
	_ = set(d)
	off := context.AfterFunc(ctx, func() { _ = set(time.Unix(1, 0)) })
	return func() { off() }
}

// Quit sends QUIT, reads the reply and closes the connection.
func (c *Client) Quit(ctx context.Context) error {
	_, err := c.expect(ctx, 2, "QUIT")
	if err == nil {
		// Over TLS: close_notify, and the server's before closing, so
		// neither end resets the connection.
		if cerr := ftp.CloseData(c.conn, quitWait); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			return fmt.Errorf("ftp server %s: close: %w", c.remote, cerr)
		}
		return nil
	}
	_ = c.Close()
	return err
}

// quitWait bounds how long Quit waits for a TLS server's close.
const quitWait = time.Second

// Close closes the control connection without QUIT.
func (c *Client) Close() error {
	if err := c.text.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("ftp server %s: close: %w", c.remote, err)
	}
	return nil
}

// Type sets the representation type ("I" for binary, "A" for ASCII).
func (c *Client) Type(ctx context.Context, t string) error {
	if c.typ == t {
		return nil
	}
	if _, err := c.expect(ctx, 2, "TYPE %s", t); err != nil {
		return err
	}
	c.typ = t
	return nil
}
