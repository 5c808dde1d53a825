package ftptest

import (
	"crypto/tls"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// ProftpdProgram is the program StartProftpd runs: .ci/install-deps
// unpacks Debian's proftpd-core and proftpd-mod-crypto (which conflict
// with vsftpd as packages) into a directory of its choosing and links this
// name on PATH to the proftpd there. The modules (mod_tls) are found
// beside it, in ../lib/proftpd.
const ProftpdProgram = "ftplab-proftpd"

// Proftpd is a ProFTPD server started for a test inside its namespace.
type Proftpd struct {
	Addr netip.AddrPort // where it listens
	Root string         // its anonymous root
	// Cert is its TLS certificate (self-signed) with ProftpdConfig.TLS:
	// clients may trust Cert.Leaf.
	Cert tls.Certificate
	out  *SyncBuffer // its output: the system log with --nodaemon
	tls  string      // its TLS log
}

// ProftpdConfig is how StartProftpd sets ProFTPD up: anonymous logins
// (anonymous or ftp, any password) to Root.
type ProftpdConfig struct {
	Addr netip.AddrPort
	Root string // a new temporary directory when empty
	// Writable lets anonymous users upload, overwrite and make
	// directories. PORT and PASV may always involve other hosts
	// (AllowForeignAddress), so ProFTPD can take part in third-party
	// copies.
	Writable bool
	// TLS loads mod_tls: AUTH TLS, PBSZ, PROT, SSCN (ProFTPD has no CPSV)
	// and CCC, TLS 1.2 and 1.3, a self-signed ECDSA certificate it writes;
	// logins and data must be protected (TLSRequired on). ProFTPD, like
	// vsftpd, wants every protected data connection to resume the control
	// connection's TLS session (also from the other server of a
	// third-party copy): ReuseOptional turns that off (TLSOptions
	// NoSessionReuseRequired). AllowCCC accepts CCC after login
	// (TLSRequired auth+data); otherwise ProFTPD answers it 534.
	TLS, ReuseOptional, AllowCCC bool
}

// URL is the ftp:// URL of path on p (anonymous).
func (p Proftpd) URL(path string) string { return "ftp://" + p.Addr.String() + path }

// Log is what ProFTPD has logged so far: its system log, then its TLS
// log.
func (p Proftpd) Log(tb testing.TB) string {
	tb.Helper()
	data, err := os.ReadFile(p.tls)
	if !os.IsNotExist(err) {
		require.NoError(tb, err)
	}
	return p.out.String() + string(data)
}

// StartProftpd starts ProFTPD (ProftpdProgram) as cfg says inside ns (nil:
// the test's own namespace, which must be one of Run or Bench), and kills
// it at cleanup. A missing ProftpdProgram skips the test, or fails it
// under CI.
func StartProftpd(tb testing.TB, ns *Netns, cfg ProftpdConfig) Proftpd {
	tb.Helper()
	if !Inside() {
		tb.Fatal("StartProftpd outside a test network namespace")
	}
	prog := Tool(tb, ProftpdProgram, "ProFTPD unpacked by .ci/install-deps")
	real, err := filepath.EvalSymlinks(prog)
	require.NoError(tb, err)
	modules := filepath.Join(filepath.Dir(filepath.Dir(real)), "lib", "proftpd")
	dir := tb.TempDir()
	root := serverRoot(tb, dir, cfg.Root, cfg.Writable)
	// The anonymous user, ftp, and its group exist only in these files
	// (mod_auth_file): ProFTPD chroots to root and runs as nobody there.
	passwd, group := filepath.Join(dir, "passwd"), filepath.Join(dir, "group")
	require.NoError(tb, os.WriteFile(passwd, fmt.Appendf(nil, "ftp:*:65534:65534::%s:/bin/false\n", root), 0o600))
	require.NoError(tb, os.WriteFile(group, []byte("nogroup:*:65534:\n"), 0o600))
	write := "DenyAll"
	if cfg.Writable {
		write = "AllowAll"
	}
	// ProFTPD resolves root as nobody.
	traversable(tb, root)
	p := Proftpd{Addr: cfg.Addr, Root: root, tls: filepath.Join(dir, "tls.log")}
	conf := fmt.Sprintf(`ServerType standalone
ServerName "ftplab test ProFTPD"
DefaultAddress %s
SocketBindTight on
Port %d
UseIPv6 off
User nobody
Group nogroup
PidFile %[3]s/proftpd.pid
ScoreboardFile %[3]s/proftpd.scoreboard
DelayTable none
WtmpLog off
UseReverseDNS off
DebugLevel 0
AuthOrder mod_auth_file.c
AuthUserFile %[4]s
AuthGroupFile %[5]s
RequireValidShell off
AllowForeignAddress on
AllowOverwrite on
Umask 022
TimeoutNoTransfer 60
<Anonymous %[6]s>
  User ftp
  Group nogroup
  UserAlias anonymous ftp
  AnonRequirePassword off
  <Limit WRITE>
    %[7]s
  </Limit>
</Anonymous>
`, cfg.Addr.Addr(), cfg.Addr.Port(), dir, passwd, group, root, write)
	if cfg.TLS {
		var certFile, keyFile string
		p.Cert, certFile, keyFile = writeCert(tb, dir, "proftpd", cfg.Addr.Addr())
		required, options := "on", ""
		if cfg.AllowCCC {
			required = "auth+data"
		}
		if cfg.ReuseOptional {
			options = "TLSOptions NoSessionReuseRequired"
		}
		// TLSVerifyServer off: as the TLS client of a secure third-party
		// copy (SSCN ON) ProFTPD cannot check the other server's
		// self-signed certificate.
		conf += fmt.Sprintf(`ModulePath %s
LoadModule mod_tls.c
<IfModule mod_tls.c>
  TLSEngine on
  TLSLog %s
  TLSProtocol TLSv1.2 TLSv1.3
  TLSECCertificateFile %s
  TLSECCertificateKeyFile %s
  TLSRequired %s
  TLSVerifyClient off
  TLSVerifyServer off
  TLSRenegotiate none
  TLSTimeoutHandshake 5
  %s
</IfModule>
`, modules, p.tls, certFile, keyFile, required, options)
	}
	path := filepath.Join(dir, "proftpd.conf")
	require.NoError(tb, os.WriteFile(path, []byte(conf), 0o600))
	p.out = startDaemon(tb, ns, cfg.Addr, prog, "--nodaemon", "--config", path)
	return p
}
