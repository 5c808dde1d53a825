package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"

	"github.com/ftplab/ftplab/ftp"
	"github.com/ftplab/ftplab/ftp/proto"
)

// PASV asks the server to listen (RFC 959) and returns the address from its
// 227 reply. An unspecified address in the reply means the control address.
func (c *Client) PASV(ctx context.Context) (netip.AddrPort, error) {
	return c.passive(ctx, "PASV")
}

// passive sends PASV or CPSV and reads the address of the 227 reply.
func (c *Client) passive(ctx context.Context, verb string) (netip.AddrPort, error) {
	msg, err := c.expect(ctx, 227, "%s", verb)
	if err != nil {
		return netip.AddrPort{}, err
	}
	ap, err := proto.ParsePASVReply(msg)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("ftp server %s: %s: %w", c.remote, verb, err)
	}
	if ap.Addr().IsUnspecified() {
		ap = netip.AddrPortFrom(c.remote.Addr(), ap.Port())
	}
	return ap, nil
}

// EPSV asks the server to listen (RFC 2428 §3) and returns the control
// connection's server address with the port from the 229 reply.
func (c *Client) EPSV(ctx context.Context) (netip.AddrPort, error) {
	msg, err := c.expect(ctx, 229, "EPSV")
	if err != nil {
		return netip.AddrPort{}, err
	}
	port, err := proto.ParseEPSVReply(msg)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("ftp server %s: EPSV: %w", c.remote, err)
	}
	return netip.AddrPortFrom(c.remote.Addr(), port), nil
}

// PORT tells the server to connect to ap for the next transfer (IPv4 only).
func (c *Client) PORT(ctx context.Context, ap netip.AddrPort) error {
	return c.hostPort(ctx, "PORT", ap)
}

// SOCK is RFC 478's PORT: it names the data socket of the other end.
func (c *Client) SOCK(ctx context.Context, ap netip.AddrPort) error {
	return c.hostPort(ctx, "SOCK", ap)
}

func (c *Client) hostPort(ctx context.Context, verb string, ap netip.AddrPort) error {
	arg, err := proto.FormatPORT(ap)
	if err != nil {
		return fmt.Errorf("%s to %s: %w", verb, c.remote, err)
	}
	_, err = c.expect(ctx, 2, "%s %s", verb, arg)
	return err
}

// EPRT tells the server to connect to ap for the next transfer (RFC 2428 §2).
func (c *Client) EPRT(ctx context.Context, ap netip.AddrPort) error {
	_, err := c.expect(ctx, 2, "EPRT %s", proto.FormatEPRT(ap))
	return err
}

// pending is a data connection being set up: dialled already (passive
// modes) or a listener the server will connect to (active modes).
type pending struct {
	conn net.Conn
	ln   net.Listener
}

func (p *pending) close() {
	if p.conn != nil {
		p.conn.Close()
	}
	if p.ln != nil {
		p.ln.Close()
	}
}

// prepare sets up the data connection for the next transfer command.
func (c *Client) prepare(ctx context.Context) (*pending, error) {
	mode := c.opts.Mode
	if mode == ModeAuto {
		mode = ModeEPSV
		if c.noEPSV && c.remote.Addr().Is4() {
			mode = ModePASV
		}
	}
	switch mode {
	case ModeEPSV, ModePASV:
		get := c.EPSV
		if mode == ModePASV {
			get = c.PASV
		}
		ap, err := get(ctx)
		var re *ReplyError
		if c.opts.Mode == ModeAuto && mode == ModeEPSV && errors.As(err, &re) && re.Code/100 == 5 && c.remote.Addr().Is4() {
			c.log.Debug("EPSV refused, falling back to PASV", "reply", re.Code)
			c.noEPSV = true
			ap, err = c.PASV(ctx)
		}
		if err != nil {
			return nil, err
		}
		dctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
		defer cancel()
		conn, err := c.net.Dial(dctx, "tcp", ap.String())
		if err != nil {
			return nil, fmt.Errorf("ftp server %s: data connection to %s: %w", c.remote, ap, err)
		}
		return &pending{conn: conn}, nil
	default:
		ln, err := c.net.Listen(ctx, "tcp", netip.AddrPortFrom(c.local.Addr(), 0).String())
		if err != nil {
			return nil, fmt.Errorf("listen for data connection on %s: %w", c.local.Addr(), err)
		}
		ap := netip.AddrPortFrom(c.local.Addr(), proto.AddrPortOf(ln.Addr()).Port())
		if mode == ModePORT {
			err = c.PORT(ctx, ap)
		} else {
			err = c.EPRT(ctx, ap)
		}
		if err != nil {
			ln.Close()
			return nil, err
		}
		return &pending{ln: ln}, nil
	}
}

// open returns the data connection, waiting for the server in active mode.
func (p *pending) open(ctx context.Context, c *Client) (net.Conn, error) {
	if p.conn != nil {
		return p.conn, nil
	}
	actx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	stop := context.AfterFunc(actx, func() { p.ln.Close() })
	conn, err := p.ln.Accept()
	stop()
	p.ln.Close()
	if err != nil {
		if actx.Err() != nil {
			err = fmt.Errorf("%w (%w)", actx.Err(), err)
		}
		return nil, fmt.Errorf("ftp server %s: waiting for its data connection on %s: %w", c.remote, p.ln.Addr(), err)
	}
	p.conn = conn
	return conn, nil
}

// xfer holds the per-call options of a transfer.
type xfer struct {
	offset   int64
	progress func(int64)
}

// Option tunes one transfer call.
type Option func(*xfer)

// WithOffset sends REST n before the transfer command: RETR starts at byte
// n, STOR writes from byte n on.
func WithOffset(n int64) Option { return func(x *xfer) { x.offset = n } }

// WithProgress calls fn with the number of bytes moved on the data
// connection so far (not counting a REST offset) after every chunk.
func WithProgress(fn func(n int64)) Option { return func(x *xfer) { x.progress = fn } }

// transfer runs one data-connection command: cmd ("RETR path", "LIST", ...)
// and move copying data over the connection.
func (c *Client) transfer(ctx context.Context, cmd string, opts []Option, move func(net.Conn, *xfer) (int64, error)) (int64, error) {
	var x xfer
	for _, o := range opts {
		o(&x)
	}
	if err := c.Type(ctx, "I"); err != nil {
		return 0, err
	}
	p, err := c.prepare(ctx)
	if err != nil {
		return 0, err
	}
	defer p.close()
	if x.offset > 0 {
		if _, err := c.expect(ctx, 350, "REST %d", x.offset); err != nil {
			return 0, err
		}
	}
	if _, err := c.expect(ctx, 1, "%s", cmd); err != nil {
		return 0, err
	}
	conn, err := p.open(ctx, c)
	if err == nil && c.protect {
		conn, err = c.secureData(ctx, conn)
	}
	if err != nil {
		return 0, errors.Join(err, c.abort(ctx))
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	n, merr := move(conn, &x)
	stop()
	var cerr error
	if merr == nil {
		cerr = ftp.CloseData(conn, c.opts.Timeout)
	} else {
		conn.Close()
	}
	if merr == nil && ctx.Err() == nil {
		merr = cerr
	}
	if merr != nil {
		if ctx.Err() != nil {
			merr = fmt.Errorf("%w (%w)", ctx.Err(), merr)
		}
		return n, errors.Join(fmt.Errorf("%s: data connection: %w", cmd, merr), c.abort(context.WithoutCancel(ctx)))
	}
	if _, err := c.expectReply(ctx, cmd, 2); err != nil {
		return n, err
	}
	return n, nil
}

// progressWriter counts bytes and reports them.
type progressWriter struct {
	w  io.Writer
	n  int64
	fn func(int64)
}

// Write passes b on and reports the running total.
func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n += int64(n)
	if p.fn != nil && n > 0 {
		p.fn(p.n)
	}
	return n, err
}

// copyData copies src to dst with progress, returning the byte count.
func copyData(dst io.Writer, src io.Reader, x *xfer) (int64, error) {
	pw := &progressWriter{w: dst, fn: x.progress}
	buf := make([]byte, 256<<10)
	_, err := io.CopyBuffer(struct{ io.Writer }{pw}, struct{ io.Reader }{src}, buf)
	return pw.n, err
}
