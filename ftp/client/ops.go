package client

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/ftplab/ftplab/ftp/proto"
)

// Retr downloads path into w in binary mode and returns the bytes received.
// WithOffset resumes at a byte offset (REST); WithProgress reports progress.
func (c *Client) Retr(ctx context.Context, path string, w io.Writer, opts ...Option) (int64, error) {
	return c.transfer(ctx, "RETR "+path, opts, func(conn net.Conn, x *xfer) (int64, error) {
		return copyData(w, conn, x)
	})
}

// Stor uploads r to path in binary mode and returns the bytes sent. With
// WithOffset the server writes from that offset on (REST then STOR).
func (c *Client) Stor(ctx context.Context, path string, r io.Reader, opts ...Option) (int64, error) {
	return c.upload(ctx, "STOR "+path, r, opts)
}

// Appe appends r to path in binary mode and returns the bytes sent.
func (c *Client) Appe(ctx context.Context, path string, r io.Reader, opts ...Option) (int64, error) {
	return c.upload(ctx, "APPE "+path, r, opts)
}

func (c *Client) upload(ctx context.Context, cmd string, r io.Reader, opts []Option) (int64, error) {
	return c.transfer(ctx, cmd, opts, func(conn net.Conn, x *xfer) (int64, error) {
		n, err := copyData(conn, r, x)
		if err != nil {
			return n, err
		}
		// A half-close tells the server the file is complete while the
		// connection stays readable for its FIN.
		if cw, ok := conn.(interface{ CloseWrite() error }); ok {
			return n, cw.CloseWrite()
		}
		return n, nil
	})
}

// lines runs a listing command and returns its non-empty lines, CR
// stripped.
func (c *Client) lines(ctx context.Context, cmd string) ([]string, error) {
	var out []string
	_, err := c.transfer(ctx, cmd, nil, func(conn net.Conn, _ *xfer) (int64, error) {
		sc := bufio.NewScanner(conn)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var n int64
		for sc.Scan() {
			n += int64(len(sc.Bytes())) + 1
			if l := strings.TrimRight(sc.Text(), "\r"); l != "" {
				out = append(out, l)
			}
		}
		return n, sc.Err()
	})
	return out, err
}

// withArg appends a path argument to a command when it is not empty.
func withArg(cmd, path string) string {
	if path == "" {
		return cmd
	}
	return cmd + " " + path
}

// List returns the lines of LIST (the server's human-readable listing).
func (c *Client) List(ctx context.Context, path string) ([]string, error) {
	return c.lines(ctx, withArg("LIST", path))
}

// NameList returns the names NLST sends.
func (c *Client) NameList(ctx context.Context, path string) ([]string, error) {
	return c.lines(ctx, withArg("NLST", path))
}

// MLSD lists a directory in RFC 3659's machine format, parsed.
func (c *Client) MLSD(ctx context.Context, path string) ([]proto.Entry, error) {
	cmd := withArg("MLSD", path)
	ls, err := c.lines(ctx, cmd)
	if err != nil {
		return nil, err
	}
	out := make([]proto.Entry, 0, len(ls))
	for _, l := range ls {
		e, err := proto.ParseEntry(l)
		if err != nil {
			return nil, fmt.Errorf("ftp server %s: %s: %w", c.remote, cmd, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// Size returns the size of path in bytes (SIZE, RFC 3659 §4). It sets
// TYPE I first, as the size depends on the representation type.
func (c *Client) Size(ctx context.Context, path string) (int64, error) {
	if err := c.Type(ctx, "I"); err != nil {
		return 0, err
	}
	msg, err := c.expect(ctx, 213, "SIZE %s", path)
	if err != nil {
		return 0, err
	}
	n, err := proto.ParseSizeReply(msg)
	if err != nil {
		return 0, fmt.Errorf("ftp server %s: SIZE %s: %w", c.remote, path, err)
	}
	return n, nil
}

// ModTime returns the modification time of path (MDTM, RFC 3659 §3), UTC.
func (c *Client) ModTime(ctx context.Context, path string) (time.Time, error) {
	msg, err := c.expect(ctx, 213, "MDTM %s", path)
	if err != nil {
		return time.Time{}, err
	}
	t, err := proto.ParseTime(strings.TrimSpace(msg))
	if err != nil {
		return time.Time{}, fmt.Errorf("ftp server %s: MDTM %s: %w", c.remote, path, err)
	}
	return t, nil
}
