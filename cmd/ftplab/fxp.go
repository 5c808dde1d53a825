package main

import (
	"context"
	"crypto/tls"
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
	var passive, dialect, security, sscnSide, caFile string
	var timeout time.Duration
	var useTLS, insecure bool
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
other server.

FTPS: --tls protects both sessions (AUTH TLS, PBSZ 0, PROT P); ftps:// URLs
use implicit TLS. Server certificates are verified against the system's
roots, or --tls-ca's; --insecure skips that. With both servers on PROT P,
one must be the TLS client of their data connection (RFC 4217 §10):
--secure lists the methods to try in order: sscn (SSCN ON to the passive
side, or the active one with --sscn-side active), cpsv (CPSV instead of
PASV), clear (PROT C: the file crosses in the clear), none (neither: fails).`,
		Example: `  # Two ftplab servers on loopback that trust each other
  ftplab serve --listen 127.0.0.2:2121 --root /tmp/a --anonymous --trust 127.0.0.3 &
  ftplab serve --listen 127.0.0.3:2121 --root /tmp/b --anonymous --trust 127.0.0.2 &
  ftplab fxp ftp://127.0.0.2:2121/big.iso ftp://127.0.0.3:2121/copy.iso

  # RFC 478's SOCK/PASV/RTRV, the source listening
  ftplab fxp --dialect rfc478 --passive source \
      ftp://alice:secret@127.0.0.2:2121/f ftp://127.0.0.3:2121/

  # Secure FXP between two "ftplab serve --tls" servers (self-signed)
  ftplab fxp --tls --insecure --secure sscn,cpsv \
      ftp://127.0.0.2:2121/big.iso ftp://127.0.0.3:2121/copy.iso`,
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
			methods, err := client.ParseFXPSecurity(security)
			if err != nil {
				return usageError("fxp: --secure: %w", err)
			}
			if sscnSide != "passive" && sscnSide != "active" {
				return usageError("fxp: --sscn-side %q: want passive or active", sscnSide)
			}
			base := client.Options{Insecure: insecure}
			if useTLS {
				base.TLS = client.TLSExplicit
			}
			if caFile != "" {
				pool, err := ftp.LoadCertPool(caFile)
				if err != nil {
					return usageError("fxp: --tls-ca: %w", err)
				}
				base.TLSConfig = &tls.Config{RootCAs: pool}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			opts := client.TransferOptions{Passive: side, Dialect: d, Security: methods, SSCNOnActive: sscnSide == "active"}
			return runFXP(ctx, cmd.OutOrStdout(), ftp.OS{}, base, src, dst, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&passive, "passive", "destination", "which server listens: source or destination")
	fl.StringVar(&dialect, "dialect", "rfc959", "command sequence: rfc959 (PASV/PORT, EPSV/EPRT on IPv6) or rfc478 (SOCK/PASV/RTRV)")
	fl.DurationVar(&timeout, "timeout", time.Hour, "give up after this long")
	fl.BoolVar(&useTLS, "tls", false, "FTPS: AUTH TLS and PROT P on both servers (ftps:// URLs: implicit TLS)")
	fl.BoolVar(&insecure, "insecure", false, "do not verify the servers' TLS certificates")
	fl.StringVar(&caFile, "tls-ca", "", "verify the servers' certificates against the PEM CA certificates in FILE")
	fl.StringVar(&security, "secure", "sscn,cpsv", "secure FXP methods to try in order: sscn, cpsv, clear, none")
	fl.StringVar(&sscnSide, "sscn-side", "passive", "which server SSCN ON makes the TLS client: passive or active")
	return cmd
}

// ftpURL is a parsed ftp://user:pass@host:port/path.
type ftpURL struct {
	user, pass string
	addr       string // host:port
	path       string
	implicit   bool // ftps://: implicit TLS
}

// parseFTPURL parses and checks an ftp URL. The path may be empty or name
// a directory ("dir/"): the caller decides whether that is allowed.
func parseFTPURL(s string) (ftpURL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return ftpURL{}, fmt.Errorf("URL %q: %w", s, err)
	}
	if u.Scheme != "ftp" && u.Scheme != "ftps" {
		return ftpURL{}, fmt.Errorf("URL %q: scheme must be ftp:// or ftps://", s)
	}
	if u.Hostname() == "" {
		return ftpURL{}, fmt.Errorf("URL %q: no host", s)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return ftpURL{}, fmt.Errorf("URL %q: FTP URLs take no ?query or #fragment", s)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"ftp": "21", "ftps": "990"}[u.Scheme]
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return ftpURL{}, fmt.Errorf("URL %q: port %q is not 1-65535", s, port)
	}
	out := ftpURL{user: "anonymous", pass: "ftplab@", addr: net.JoinHostPort(u.Hostname(), port), implicit: u.Scheme == "ftps"}
	if u.User != nil {
		out.user = u.User.Username()
		out.pass, _ = u.User.Password()
	}
	out.path = strings.TrimPrefix(u.Path, "/")
	return out, nil
}

// runFXP logs in to both servers with base's TLS options and copies src to
// dst, printing the exchange, the steps of securing the data connection
// and progress to out.
func runFXP(ctx context.Context, out io.Writer, network ftp.Network, base client.Options, src, dst ftpURL, opts client.TransferOptions) error {
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
		o := base
		if u.implicit {
			o.TLS = client.TLSImplicit
		}
		o.Trace = func(outgoing bool, line string) {
			arrow := "<"
			if outgoing {
				arrow = ">"
			}
			if tty {
				printf("\r\033[K")
			}
			printf("%s %s %s\n", label, arrow, line)
		}
		c, err := client.Dial(ctx, network, u.addr, o)
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
	opts.Step = func(msg string) { printf("%s\n", msg) }
	res, err := client.Transfer(ctx, sc, src.path, dc, dst.path, opts)
	if tty {
		printf("\r\033[K")
	}
	if err != nil {
		return fmt.Errorf("fxp %s/%s -> %s/%s: %w", src.addr, src.path, dst.addr, dst.path, err)
	}
	rate := float64(res.Bytes) / res.Duration.Seconds() / 1e6
	printf("copied %d bytes in %v (%.1f MB/s); data connection protection: %s\n", res.Bytes, res.Duration.Round(time.Millisecond), rate, res.Protection)
	_ = sc.Quit(ctx)
	_ = dc.Quit(ctx)
	return nil
}
