package ftptest

import (
	"bytes"
	"crypto/tls"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/ftp"
)

// startDaemon runs a server program (args[0]) in the foreground inside ns
// (nil: the test's own namespace), in a process group of its own that is
// killed at cleanup, and waits until it accepts connections on addr. It
// returns what the program writes to stdout and stderr.
func startDaemon(tb testing.TB, ns *Netns, addr netip.AddrPort, args ...string) *SyncBuffer {
	tb.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	if ns != nil {
		cmd = ns.Command(args[0], args[1:]...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := new(SyncBuffer)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(tb, cmd.Start(), "start %s", args[0])
	tb.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr.String(), time.Second)
		if err == nil {
			c.Close()
			return out
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s on %s did not start: %v; its output: %s", filepath.Base(args[0]), addr, err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SyncBuffer is a bytes.Buffer that a writer (a program's output, a
// server's log) and the test may use at once.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// traversable lets every user pass through dir and the directories above
// it (execute permission), as a server that resolves paths after dropping
// root's privileges needs: a test's temporary directories are private.
func traversable(tb testing.TB, dir string) {
	tb.Helper()
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		require.NoError(tb, err)
		if fi.Mode().Perm()&0o001 == 0 {
			require.NoError(tb, os.Chmod(d, fi.Mode().Perm()|0o111))
		}
		if d == filepath.Dir(d) {
			return
		}
	}
}

// writeCert makes a self-signed certificate for addr and writes it and
// its key as PEM files name.pem and name.key in dir.
func writeCert(tb testing.TB, dir, name string, addr netip.Addr) (cert tls.Certificate, certFile, keyFile string) {
	tb.Helper()
	cert, err := ftp.SelfSigned(addr.String())
	require.NoError(tb, err)
	key, err := ftp.KeyPEM(cert)
	require.NoError(tb, err)
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	require.NoError(tb, os.WriteFile(certFile, ftp.CertPEM(cert), 0o600))
	require.NoError(tb, os.WriteFile(keyFile, key, 0o600))
	return cert, certFile, keyFile
}

// serverRoot is root, or a new directory under dir when it is empty;
// writable makes it writable by everyone (the servers run their
// anonymous users as nobody or ftp).
func serverRoot(tb testing.TB, dir, root string, writable bool) string {
	tb.Helper()
	if root == "" {
		root = filepath.Join(dir, "root")
		require.NoError(tb, os.Mkdir(root, 0o755))
	}
	if writable {
		require.NoError(tb, os.Chmod(root, 0o777))
	}
	return root
}

// yesNo is vsftpd's spelling of a boolean.
func yesNo(b bool) string {
	if b {
		return "YES"
	}
	return "NO"
}
