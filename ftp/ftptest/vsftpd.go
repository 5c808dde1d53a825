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

// Vsftpd is a vsftpd server started for a test inside its namespace.
type Vsftpd struct {
	Addr netip.AddrPort // where it listens
	Root string         // its anonymous root
	// Cert is its TLS certificate (self-signed) with VsftpdConfig.TLS:
	// clients may trust Cert.Leaf.
	Cert tls.Certificate
}

// VsftpdConfig is how StartVsftpdWith sets vsftpd up.
type VsftpdConfig struct {
	Addr     netip.AddrPort
	Root     string // a new temporary directory when empty
	Writable bool   // see StartVsftpd
	// TLS turns FTPS on (ssl_enable, with a self-signed certificate and
	// key it writes): logins and data must then be protected
	// (force_anon_*_ssl). RequireReuse sets require_ssl_reuse: data
	// connections must resume the control connection's TLS session.
	TLS, RequireReuse bool
}

// URL is the ftp:// URL of path on v (anonymous).
func (v Vsftpd) URL(path string) string { return "ftp://" + v.Addr.String() + path }

// StartVsftpd runs vsftpd on addr with anonymous access to root (a new
// temporary directory when empty) and kills it at cleanup. With writable,
// anonymous users may upload and make directories, and PORT/PASV to other
// hosts are allowed (pasv_promiscuous, port_promiscuous) so vsftpd can take
// part in third-party copies. It must run inside a namespace of Run or Bench.
func StartVsftpd(tb testing.TB, addr netip.AddrPort, root string, writable bool) Vsftpd {
	tb.Helper()
	return StartVsftpdIn(tb, nil, addr, root, writable)
}

// StartVsftpdIn is StartVsftpd inside ns (one of Bridged's namespaces), or
// in the test's own namespace when ns is nil.
func StartVsftpdIn(tb testing.TB, ns *Netns, addr netip.AddrPort, root string, writable bool) Vsftpd {
	tb.Helper()
	return StartVsftpdWith(tb, ns, VsftpdConfig{Addr: addr, Root: root, Writable: writable})
}

// StartVsftpdWith starts vsftpd as cfg says, inside ns (nil: the test's
// own namespace).
func StartVsftpdWith(tb testing.TB, ns *Netns, cfg VsftpdConfig) Vsftpd {
	tb.Helper()
	addr, writable := cfg.Addr, cfg.Writable
	if !Inside() {
		tb.Fatal("StartVsftpd outside a test network namespace")
	}
	Tool(tb, "vsftpd", "")
	dir := tb.TempDir()
	root := serverRoot(tb, dir, cfg.Root, writable)
	conf := fmt.Sprintf(`listen=YES
listen_ipv6=NO
listen_address=%s
listen_port=%d
background=NO
anonymous_enable=YES
local_enable=NO
anon_root=%s
write_enable=%[4]s
anon_upload_enable=%[4]s
anon_mkdir_write_enable=%[4]s
anon_other_write_enable=%[4]s
pasv_promiscuous=%[4]s
port_promiscuous=%[4]s
anon_umask=022
no_anon_password=YES
seccomp_sandbox=NO
allow_writeable_chroot=YES
secure_chroot_dir=/var/run/vsftpd/empty
run_as_launching_user=YES
connect_from_port_20=NO
xferlog_enable=NO
vsftpd_log_file=%s
`, addr.Addr(), addr.Port(), root, yesNo(writable), filepath.Join(dir, "vsftpd.log"))
	var cert tls.Certificate
	if cfg.TLS {
		var certFile, keyFile string
		cert, certFile, keyFile = writeCert(tb, dir, "vsftpd", addr.Addr())
		conf += fmt.Sprintf(`ssl_enable=YES
allow_anon_ssl=YES
force_anon_logins_ssl=YES
force_anon_data_ssl=YES
ssl_tlsv1=YES
ssl_sslv2=NO
ssl_sslv3=NO
ssl_ciphers=HIGH
require_ssl_reuse=%s
rsa_cert_file=%s
rsa_private_key_file=%s
`, yesNo(cfg.RequireReuse), certFile, keyFile)
	}
	path := filepath.Join(dir, "vsftpd.conf")
	require.NoError(tb, os.WriteFile(path, []byte(conf), 0o600))
	require.NoError(tb, os.MkdirAll("/var/run/vsftpd/empty", 0o755))
	startDaemon(tb, ns, addr, "vsftpd", path)
	return Vsftpd{Addr: addr, Root: root, Cert: cert}
}

// CurlMode is one of curl's ways to open an FTP data connection.
type CurlMode struct {
	Name string   // the command it makes curl use: EPSV, PASV, PORT, EPRT
	Args []string // curl's options for it
}

// CurlModes lists curl's four data-connection modes; the active ones (PORT,
// EPRT) listen on activeAddr.
func CurlModes(activeAddr string) []CurlMode {
	return []CurlMode{
		{"EPSV", nil},
		{"PASV", []string{"--disable-epsv"}},
		{"PORT", []string{"-P", activeAddr, "--disable-eprt"}},
		{"EPRT", []string{"-P", activeAddr}},
	}
}

// TmpfsDir makes a directory on tmpfs (/dev/shm) where there is one, so
// that disk speed does not limit a benchmark; it is removed at cleanup.
func TmpfsDir(tb testing.TB) string {
	tb.Helper()
	base := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		base = "/dev/shm"
	}
	dir, err := os.MkdirTemp(base, "ftplab-test-")
	require.NoError(tb, err)
	tb.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
