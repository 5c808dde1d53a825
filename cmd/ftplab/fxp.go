package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ftplab/ftplab/ftp"
	"github.com/ftplab/ftplab/ftp/client"
	"github.com/ftplab/ftplab/labs"
)

func init() { root.AddCommand(newFXPCmd()) }

func newFXPCmd() *cobra.Command {
	var passive, dialect string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "fxp [flags] SRC_URL DST_URL",
		Short: "Copy a file from one FTP server to another, server to server",
		Long: `Copy a file from one FTP server straight to another (a third-party or
"FXP" transfer, RFC 959 §5.2 and RFC 478): ftplab logs in to both, opens a
data connection between the two servers and never sees the data itself.

URLs are ftp://[user[:pass]@]host[:port]/path (user defaults to anonymous,
port to 21; the path is relative to the login directory, %2F starts an
absolute one). A destination path ending in "/" takes the source's name.

The exchange is printed as it happens (PASS masked). The destination is
polled with STAT for progress: a bar on a terminal, plain lines otherwise.
Both servers must allow the transfer: ftplab serve needs --trust naming the
other server.`,
		Example: `  # Two ftplab servers on loopback that trust each other
  ftplab serve --listen 127.0.0.2:2121 --root /tmp/a --anonymous --trust 127.0.0.3 &
  ftplab serve --listen 127.0.0.3:2121 --root /tmp/b --anonymous --trust 127.0.0.2 &
  ftplab fxp ftp://127.0.0.2:2121/big.iso ftp://127.0.0.3:2121/copy.iso

  # RFC 478's SOCK/PASV/RTRV, the source listening
  ftplab fxp --dialect rfc478 --passive source \
      ftp://alice:secret@127.0.0.2:2121/f ftp://127.0.0.3:2121/`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			side, err := client.ParseSide(passive)
			if err != nil {
				return usageError("fxp: --passive: %w", err)
			}
			d, err := client.ParseDialect(dialect)
			if err != nil {
				return usageError("fxp: --dialect: %w", err)
			}
			src, err := parseFTPURL(args[0])
			if err != nil {
				return usageError("fxp: source: %w", err)
			}
			if src.path == "" || strings.HasSuffix(src.path, "/") {
				return usageError("fxp: source: URL %q: no file name in the path", args[0])
			}
			dst, err := parseFTPURL(args[1])
			if err != nil {
				return usageError("fxp: destination: %w", err)
			}
			if strings.HasSuffix(dst.path, "/") || dst.path == "" {
				dst.path += path.Base(src.path)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return runFXP(ctx, cmd.OutOrStdout(), ftp.OS{}, src, dst, client.TransferOptions{Passive: side, Dialect: d})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&passive, "passive", "destination", "which server listens: source or destination")
	fl.StringVar(&dialect, "dialect", "rfc959", "command sequence: rfc959 (PASV/PORT, EPSV/EPRT on IPv6) or rfc478 (SOCK/PASV/RTRV)")
	fl.DurationVar(&timeout, "timeout", time.Hour, "give up after this long")
	return cmd
}

// ftpURL is a parsed ftp://user:pass@host:port/path.
type ftpURL struct {
	user, pass string
	addr       string // host:port
	path       string
}

// parseFTPURL parses and checks an ftp URL. The path may be empty or name
// a directory ("dir/"): the caller decides whether that is allowed.
func parseFTPURL(s string) (ftpURL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return ftpURL{}, fmt.Errorf("URL %q: %w", s, err)
	}
	if u.Scheme != "ftp" {
		return ftpURL{}, fmt.Errorf("URL %q: scheme must be ftp://", s)
	}
	if u.Hostname() == "" {
		return ftpURL{}, fmt.Errorf("URL %q: no host", s)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return ftpURL{}, fmt.Errorf("URL %q: FTP URLs take no ?query or #fragment", s)
	}
	port := u.Port()
	if port == "" {
		port = "21"
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return ftpURL{}, fmt.Errorf("URL %q: port %q is not 1-65535", s, port)
	}
	out := ftpURL{user: "anonymous", pass: "ftplab@", addr: net.JoinHostPort(u.Hostname(), port)}
	if u.User != nil {
		out.user = u.User.Username()
		out.pass, _ = u.User.Password()
	}
	out.path = strings.TrimPrefix(u.Path, "/")
	return out, nil
}

// runFXP logs in to both servers and copies src to dst, printing the
// exchange and progress to out.
func runFXP(ctx context.Context, out io.Writer, network ftp.Network, src, dst ftpURL, opts client.TransferOptions) error {
	var mu sync.Mutex
	printf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, format, args...)
	}
	tty := false
	if f, ok := out.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	dial := func(label string, u ftpURL) (*client.Client, error) {
		printf("%s: connecting to %s\n", label, u.addr)
		c, err := client.Dial(ctx, network, u.addr, client.Options{Trace: func(outgoing bool, line string) {
			arrow := "<"
			if outgoing {
				arrow = ">"
			}
			if tty {
				printf("\r\033[K")
			}
			printf("%s %s %s\n", label, arrow, line)
		}})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", label, err)
		}
		if err := c.Login(ctx, u.user, u.pass); err != nil {
			c.Close()
			return nil, fmt.Errorf("%s %s: login as %s: %w", label, u.addr, u.user, err)
		}
		return c, nil
	}
	sc, err := dial("src", src)
	if err != nil {
		return err
	}
	defer sc.Close()
	dc, err := dial("dst", dst)
	if err != nil {
		return err
	}
	defer dc.Close()
	total, err := sc.Size(ctx, src.path)
	if err != nil {
		total = -1 // unknown: progress without a percentage
	}
	start := time.Now()
	opts.Progress = func(n int64) {
		if tty {
			printf("\r\033[K%s", labs.DrawProgress(n, total, time.Since(start)))
			return
		}
		printf("progress: %s\n", labs.DrawProgress(n, total, time.Since(start)))
	}
	res, err := client.Transfer(ctx, sc, src.path, dc, dst.path, opts)
	if tty {
		printf("\r\033[K")
	}
	if err != nil {
		return fmt.Errorf("fxp %s/%s -> %s/%s: %w", src.addr, src.path, dst.addr, dst.path, err)
	}
	rate := float64(res.Bytes) / res.Duration.Seconds() / 1e6
	printf("copied %d bytes in %v (%.1f MB/s)\n", res.Bytes, res.Duration.Round(time.Millisecond), rate)
	_ = sc.Quit(ctx)
	_ = dc.Quit(ctx)
	return nil
}
