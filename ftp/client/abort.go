package client

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/ftplab/ftplab/ftp/proto"
)

// abortWait bounds how long an abort waits for the server's replies.
const abortWait = 10 * time.Second

// Telnet bytes of RFC 959 §4.1.3: IAC IP IAC in band, then the DM as
// urgent data (lftp's form of the Synch; proto.LineDecoder reads it back).
var (
	telnetIP = []byte{proto.TelnetIAC, proto.TelnetIP, proto.TelnetIAC}
	telnetDM = []byte{proto.TelnetDM}
)

// sendAbort sends ABOR, preceded by Telnet IP and Synch when the control
// connection is a kernel socket that can send urgent data (servers such as
// vsftpd look at the control connection during a transfer only then).
func (c *Client) sendAbort(ctx context.Context) error {
	if sc, ok := c.conn.(syscall.Conn); ok {
		if err := c.synch(sc); err != nil {
			c.log.Debug("telnet synch before ABOR failed", "err", err)
		}
	}
	return c.Send(ctx, "ABOR")
}

// synch writes IAC IP IAC in band and DM out of band.
func (c *Client) synch(sc syscall.Conn) error {
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	if err := c.text.W.Flush(); err != nil {
		return err
	}
	for _, part := range []struct {
		b     []byte
		flags int
	}{{telnetIP, 0}, {telnetDM, syscall.MSG_OOB}} {
		var serr error
		werr := raw.Write(func(fd uintptr) bool {
			serr = syscall.Sendto(int(fd), part.b, part.flags, nil)
			return !errors.Is(serr, syscall.EAGAIN)
		})
		if err := errors.Join(werr, serr); err != nil {
			return fmt.Errorf("send telnet synch: %w", err)
		}
	}
	return nil
}

// abort ABORs the transfer whose final reply is still unread: it reads that
// reply (426 or 226) and then ABOR's own (226 or 225).
func (c *Client) abort(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, abortWait)
	defer cancel()
	if err := c.sendAbort(ctx); err != nil {
		return err
	}
	return c.drainFinals(ctx, 2)
}

// drainFinals reads replies until n final (non-1xx) replies have come.
func (c *Client) drainFinals(ctx context.Context, n int) error {
	if err := c.drain(ctx, nil, n); err != nil {
		return fmt.Errorf("after ABOR: %w", err)
	}
	return nil
}
