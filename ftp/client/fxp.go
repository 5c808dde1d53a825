package client

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/ftplab/ftplab/ftp/proto"
)

// Side names one of the two servers of a third-party transfer.
type Side int

const (
	// Destination is the server that stores the file. It is the default
	// passive side, as in RFC 959 §5.2 fig. 3 and RFC 478.
	Destination Side = iota
	// Source is the server that sends the file.
	Source
)

// String is "destination" or "source".
func (s Side) String() string {
	if s == Source {
		return "source"
	}
	return "destination"
}

// ParseSide parses "source" or "destination" (any case; "src"/"dst" too).
func ParseSide(s string) (Side, error) {
	switch strings.ToLower(s) {
	case "source", "src":
		return Source, nil
	case "destination", "dst", "dest":
		return Destination, nil
	}
	return 0, fmt.Errorf("side %q: want source or destination", s)
}

// Dialect is the command sequence of a third-party transfer.
type Dialect int

const (
	// RFC959 is RFC 959 §5.2 fig. 3: PASV to the passive side, PORT with
	// its address to the other (EPSV and EPRT when a server is on IPv6),
	// then STOR and RETR.
	RFC959 Dialect = iota
	// RFC478 is RFC 478: SOCK to both servers naming the other's default
	// data socket (port L-1 of its control port), PASV to the passive
	// side, then STOR to the destination and RTRV to the source.
	RFC478
)

// String is "rfc959" or "rfc478".
func (d Dialect) String() string {
	if d == RFC478 {
		return "rfc478"
	}
	return "rfc959"
}

// ParseDialect parses "rfc959" or "rfc478" (any case).
func ParseDialect(s string) (Dialect, error) {
	switch strings.ToLower(s) {
	case "rfc959", "959":
		return RFC959, nil
	case "rfc478", "478":
		return RFC478, nil
	}
	return 0, fmt.Errorf("dialect %q: want rfc959 or rfc478", s)
}

// DefaultPollInterval is how often Transfer asks the destination for STAT
// when TransferOptions.Progress is set and PollInterval is zero.
const DefaultPollInterval = time.Second

// TransferOptions tune a third-party transfer.
type TransferOptions struct {
	// Passive is the server that listens (gets PASV or EPSV).
	Passive Side
	// Dialect is the command sequence; RFC959 by default.
	Dialect Dialect
	// Progress, when set, is called with the byte count the destination
	// reports to STAT, polled every PollInterval while the copy runs.
	Progress func(n int64)
	// PollInterval is the STAT polling period (DefaultPollInterval if 0).
	PollInterval time.Duration
	// Security is the order of the methods tried, until a server accepts
	// one, when both clients protect data (PROT P); DefaultFXPSecurity when
	// nil. Add FXPClear to fall back to clear data.
	Security []FXPSecurity
	// SSCNOnActive sends SSCN ON to the active server instead of the
	// passive one (lftp's ftp:fxp-passive-sscn off).
	SSCNOnActive bool
	// Step, when set, is told each step of choosing the data connection's
	// protection.
	Step func(msg string)
}

// Reply is one server reply.
type Reply struct {
	Code int
	Msg  string
}

// String is "CODE text".
func (r Reply) String() string { return fmt.Sprintf("%d %s", r.Code, r.Msg) }

// Result is the outcome of a third-party transfer.
type Result struct {
	// Bytes moved: from a final reply that states it, else SIZE of the
	// destination file; -1 when neither says.
	Bytes int64
	// SourceReply and DestinationReply are the servers' final replies to
	// RETR (or RTRV) and STOR.
	SourceReply, DestinationReply Reply
	// Duration runs from the first command to the last final reply.
	Duration time.Duration
	// Protection says how the data connection was protected.
	Protection string
}

// SideError is the failure of one server of a third-party transfer.
type SideError struct {
	Side Side           // which server failed
	Addr netip.AddrPort // its control address
	Err  error          // why, usually a *ReplyError carrying its reply
}

// Error names the side, its address and the cause.
func (e *SideError) Error() string {
	return fmt.Sprintf("%s server %s failed: %v", e.Side, e.Addr, e.Err)
}

// Unwrap gives the cause, usually a *ReplyError.
func (e *SideError) Unwrap() error { return e.Err }

// leg is one server's part in a transfer.
type leg struct {
	side    Side
	c       *Client
	path    string
	cmd     string // transfer command sent
	final   Reply
	err     error
	done    bool
	aborted bool // sent ABOR because the other leg failed
	broken  bool // its connection failed: replies may be lost
}

func (l *leg) fail(err error) error {
	return &SideError{Side: l.side, Addr: l.c.remote, Err: err}
}

// Transfer copies srcPath on src's server to dstPath on dst's server over a
// data connection between the two servers (RFC 959 §5.2, RFC 478). Both
// clients must be logged in. The source file is checked first (SIZE, or
// MLST where SIZE is not implemented): when it is missing, nothing is sent
// to the destination, which would create or truncate its file for STOR. When one server fails, the error is a
// *SideError naming the one that failed, and the other is sent ABOR if its
// transfer is still under way. A server whose final reply came first is
// not, as ABOR would be moot. That happens when a destination refuses STOR
// but keeps its passive socket open (ours does; RFC 959 does not say): the
// source's connection completes in the listen backlog, a small file fits in
// the socket buffers, and the source reports 226 for data nobody will read.
func Transfer(ctx context.Context, src *Client, srcPath string, dst *Client, dstPath string, opts TransferOptions) (Result, error) {
	if src == nil || dst == nil || src == dst {
		return Result{}, errors.New("third-party transfer: need two distinct clients")
	}
	start := time.Now()
	legs := [2]*leg{
		{side: Source, c: src, path: srcPath},
		{side: Destination, c: dst, path: dstPath},
	}
	pas, act := legs[1], legs[0]
	if opts.Passive == Source {
		pas, act = legs[0], legs[1]
	}
	for _, l := range legs {
		if err := l.c.Type(ctx, "I"); err != nil {
			return Result{}, l.fail(err)
		}
	}
	if err := checkSource(ctx, legs[0]); err != nil {
		return Result{}, err
	}
	var res Result
	undo, err := secureLegs(ctx, pas, act, opts, &res)
	defer undo()
	if err != nil {
		return Result{}, err
	}
	// Transfer commands: the passive side first (it listens already),
	// then the active side, which connects on receipt.
	for _, l := range []*leg{pas, act} {
		l.cmd = "STOR " + l.path
		if l.side == Source {
			l.cmd = "RETR " + l.path
			if opts.Dialect == RFC478 {
				l.cmd = "RTRV " + l.path
			}
		}
		if err := l.c.Send(ctx, l.cmd); err != nil {
			if l == act {
				pas.c.abortWith(ctx, 2)
			}
			return Result{}, l.fail(err)
		}
	}
	if err := run(ctx, legs, opts); err != nil {
		return Result{}, err
	}
	res.SourceReply, res.DestinationReply = legs[0].final, legs[1].final
	res.Duration = time.Since(start)
	res.Bytes = movedBytes(ctx, legs)
	return res, nil
}

// checkSource asks the source server whether the file exists, with SIZE
// or, where SIZE is not implemented (500, 502), MLST. Any other refusal
// fails the source leg; a server that implements neither cannot tell, and
// RETR will.
func checkSource(ctx context.Context, src *leg) error {
	_, err := src.c.Size(ctx, src.path)
	if notImplemented(err) {
		_, err = src.c.expect(ctx, 250, "MLST %s", src.path)
		if notImplemented(err) {
			return nil
		}
	}
	if err != nil {
		return src.fail(err)
	}
	return nil
}

// notImplemented reports whether err is a reply saying the command is
// unknown or not implemented.
func notImplemented(err error) bool {
	return IsReply(err, 500) || IsReply(err, 502)
}

// connect959 is fig. 3 of RFC 959: PASV (EPSV; CPSV with cpsv) to the
// passive side, PORT (EPRT) with its address to the active side.
func connect959(ctx context.Context, pas, act *leg, cpsv bool) error {
	extended := pas.c.remote.Addr().Is6() || act.c.remote.Addr().Is6()
	get, put := pas.c.PASV, act.c.PORT
	if extended {
		get, put = pas.c.EPSV, act.c.EPRT
	}
	if cpsv {
		get = pas.c.CPSV
	}
	ap, err := get(ctx)
	if err != nil {
		return pas.fail(err)
	}
	if err := put(ctx, ap); err != nil {
		pas.c.abortWith(ctx, 1)
		return act.fail(err)
	}
	return nil
}

// connect478 is RFC 478: each server is told the other's default data
// socket with SOCK, then the passive side gets PASV (CPSV with cpsv).
func connect478(ctx context.Context, pas, act *leg, cpsv bool) error {
	for _, l := range []*leg{pas, act} {
		if !l.c.remote.Addr().Is4() {
			return l.fail(fmt.Errorf("rfc478 dialect: SOCK carries IPv4 addresses only, server is at %s", l.c.remote))
		}
	}
	defaultSocket := func(l *leg) netip.AddrPort {
		return netip.AddrPortFrom(l.c.remote.Addr(), l.c.remote.Port()-1)
	}
	if err := pas.c.SOCK(ctx, defaultSocket(act)); err != nil {
		return pas.fail(err)
	}
	if err := act.c.SOCK(ctx, defaultSocket(pas)); err != nil {
		return act.fail(err)
	}
	get := pas.c.PASV
	if cpsv {
		get = pas.c.CPSV
	}
	if _, err := get(ctx); err != nil {
		return pas.fail(err)
	}
	return nil
}

// abortWith sends ABOR and reads n final replies, bounded by abortWait. It
// is best effort: the caller is already reporting a failure.
func (c *Client) abortWith(ctx context.Context, n int) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortWait)
	defer cancel()
	if err := c.sendAbort(actx); err != nil {
		c.log.Debug("ABOR failed", "err", err)
		return
	}
	if err := c.drainFinals(actx, n); err != nil {
		c.log.Debug("no reply to ABOR", "err", err)
	}
}

// movedBytes reads the byte count from a final reply, else from SIZE.
func movedBytes(ctx context.Context, legs [2]*leg) int64 {
	for _, l := range []*leg{legs[1], legs[0]} {
		if n, ok := proto.ParseByteCount(l.final.Msg); ok {
			return n
		}
	}
	if n, err := legs[1].c.Size(ctx, legs[1].path); err == nil {
		return n
	}
	return -1
}
