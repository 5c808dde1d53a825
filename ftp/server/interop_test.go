package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/ftp/ftptest"
	"github.com/ftplab/ftplab/ftp/store"
)

// tool returns the path of an external program, or skips the test.
func tool(t *testing.T, name string) string {
	t.Helper()
	return ftptest.Tool(t, name, "interop test")
}

// run runs a program with a time limit and returns its combined output.
func run(t *testing.T, limit time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no ~/.lftprc, ~/.netrc
	out, err := cmd.CombinedOutput()
	return string(out), err
}

const lftpPrelude = "set net:max-retries 1; set net:timeout 10; set cmd:fail-exit yes; set ftp:ssl-allow no; "

// lftp runs an lftp script with sane time limits.
func lftp(t *testing.T, script string) (string, error) {
	t.Helper()
	return run(t, 2*time.Minute, tool(t, "lftp"), "-c", lftpPrelude+script)
}

// lftpOnTTY runs an lftp script on a pseudo-terminal (through script(1)),
// as a person would: only then does lftp wake up every second to show
// progress and, during a third-party copy, poll the destination with STAT.
func lftpOnTTY(t *testing.T, script string) (string, error) {
	t.Helper()
	lftp := tool(t, "lftp")
	sh := lftp + " -c '" + strings.ReplaceAll(lftpPrelude+script, "'", `'\''`) + "'"
	return run(t, 2*time.Minute, tool(t, "script"), "-qefc", sh, "/dev/null")
}

func url(ts *testServer, path string) string {
	return fmt.Sprintf("ftp://u:p@%s%s", ts.addr, path)
}

func TestLFTP(t *testing.T) {
	tool(t, "lftp")
	ts := startServer(t, "127.0.0.2", nil)
	lftpGetPut(t, ts, "", "dir", bytes.Repeat([]byte("lftp interop line\n"), 5000), 12345)
}

// lftpGetPut has lftp, in passive and in active mode, run setup, download
// DIR/down.bin (content, stored here) and upload content's first upLen
// bytes, and checks both files and the listing.
func lftpGetPut(t *testing.T, ts *testServer, setup, dir string, content []byte, upLen int) {
	t.Helper()
	remote := path.Join("/", dir, "down.bin")
	require.NoError(t, ts.fs.WriteFile(remote, content))
	tmp := t.TempDir()
	local := filepath.Join(tmp, "up.bin")
	require.NoError(t, os.WriteFile(local, content[:upLen], 0o644))
	for _, passive := range []string{"yes", "no"} {
		t.Run("passive="+passive, func(t *testing.T) {
			got := filepath.Join(tmp, "got-"+passive)
			out, err := lftp(t, setup+fmt.Sprintf("set ftp:passive-mode %s; open %s; get %s -o %s; put %s -o up-%s.bin; cls -l %s",
				passive, url(ts, ""), remote[1:], got, local, passive, dir))
			require.NoError(t, err, out)
			data, err := os.ReadFile(got)
			require.NoError(t, err)
			require.Equal(t, content, data)
			up, err := ts.fs.ReadFile("/up-" + passive + ".bin")
			require.NoError(t, err)
			require.Equal(t, content[:upLen], up)
			require.Contains(t, out, "down.bin")
		})
	}
}

func TestCurl(t *testing.T) {
	curl := tool(t, "curl")
	ts := startServer(t, "127.0.0.2", nil)
	content := bytes.Repeat([]byte{0, 1, 2, 255, '\n', '\r'}, 40000)
	require.NoError(t, ts.fs.WriteFile("/f.bin", content))
	dir := t.TempDir()
	local := filepath.Join(dir, "local.bin")
	require.NoError(t, os.WriteFile(local, content[:99999], 0o644))

	for _, m := range ftptest.CurlModes("127.0.0.1") {
		t.Run(m.Name, func(t *testing.T) {
			got := filepath.Join(dir, "got-"+m.Name)
			args := append([]string{"-sS", "--max-time", "30", "-o", got, url(ts, "/f.bin")}, m.Args...)
			out, err := run(t, time.Minute, curl, args...)
			require.NoError(t, err, out)
			data, err := os.ReadFile(got)
			require.NoError(t, err)
			require.Equal(t, content, data)

			args = append([]string{"-sS", "--max-time", "30", "-T", local, url(ts, "/up-"+m.Name)}, m.Args...)
			out, err = run(t, time.Minute, curl, args...)
			require.NoError(t, err, out)
			up, err := ts.fs.ReadFile("/up-" + m.Name)
			require.NoError(t, err)
			require.Equal(t, content[:99999], up)
		})
	}
}

// fxpPair is two servers that trust each other (or not), the source holding
// a generated file.
// slowDst, if set, is the destination's upload rate in bytes per second.
func fxpPair(t *testing.T, trust bool, size int64, slowDst float64) (src, dst *testServer) {
	t.Helper()
	mod := func(peer string, slow float64) func(*Config) {
		return func(c *Config) {
			if trust {
				c.TrustedPeers = []netip.Prefix{netip.MustParsePrefix(peer + "/32")}
			}
			if slow > 0 {
				c.Store = slowFS{Mem: c.Store.(*store.Mem), rate: slow}
			}
		}
	}
	src = startServer(t, "127.0.0.2", mod("127.0.0.3", 0))
	dst = startServer(t, "127.0.0.3", mod("127.0.0.2", slowDst))
	require.NoError(t, src.fs.AddGenerated("/big.bin", size, 42))
	return src, dst
}

func hashOf(t *testing.T, r io.Reader) [32]byte {
	t.Helper()
	h := sha256.New()
	_, err := io.Copy(h, r)
	require.NoError(t, err)
	return [32]byte(h.Sum(nil))
}

// slowFS slows uploads to a rate, so that a transfer lasts long enough for
// lftp's once-a-second STAT polling.
type slowFS struct {
	*store.Mem
	rate float64 // bytes per second
}

func (f slowFS) Create(name string, keep int64) (store.Upload, error) {
	u, err := f.Mem.Create(name, keep)
	if err != nil {
		return nil, err
	}
	return &slowUpload{Upload: u, rate: f.rate, start: time.Now()}, nil
}

type slowUpload struct {
	store.Upload
	rate  float64
	start time.Time
	n     int64
}

func (u *slowUpload) Write(p []byte) (int, error) {
	u.n += int64(len(p))
	time.Sleep(time.Until(u.start.Add(time.Duration(float64(u.n) / u.rate * float64(time.Second)))))
	return u.Upload.Write(p)
}

func TestLFTPThirdParty(t *testing.T) {
	tool(t, "lftp")
	const size = 64 << 20
	for _, passiveSource := range []string{"yes", "no"} {
		t.Run("fxp-passive-source="+passiveSource, func(t *testing.T) {
			// 5 s: lftp polls 2 s after the 150 reply, then every second
			src, dst := fxpPair(t, true, size, size/5)
			out, err := lftpOnTTY(t, fmt.Sprintf("set ftp:use-fxp yes; set ftp:fxp-force yes; set ftp:fxp-passive-source %s; get %s -o %s",
				passiveSource, url(src, "/big.bin"), url(dst, "/copy.bin")))
			require.NoError(t, err, out)
			r, err := dst.fs.Open("/copy.bin", 0)
			require.NoError(t, err)
			defer r.Close()
			require.Equal(t, hashOf(t, store.GeneratedReader(42, size)), hashOf(t, r))
			// lftp polled the destination with Telnet IP/Synch + STAT; none
			// of it may read as an unknown command, and STAT got progress.
			logs := dst.logs.String() + src.logs.String()
			require.NotContains(t, logs, "Unknown command")
			require.NotContains(t, logs, "Syntax error")
			require.Contains(t, dst.logs.String(), "verb=STAT")
			require.Contains(t, dst.logs.String(), "bytes transferred")
		})
	}
}

func TestLFTPThirdPartyRefusedWithoutTrust(t *testing.T) {
	tool(t, "lftp")
	src, dst := fxpPair(t, false, 1<<20, 0)
	out, err := lftp(t, fmt.Sprintf("set net:timeout 2; set net:reconnect-interval-base 1; set ftp:use-fxp yes; set ftp:fxp-force yes; get %s -o %s",
		url(src, "/big.bin"), url(dst, "/copy.bin")))
	require.Error(t, err, out)
	_, serr := dst.fs.Stat("/copy.bin")
	require.Error(t, serr, "nothing may arrive without trust")
	require.True(t, strings.Contains(src.logs.String()+dst.logs.String(), "refused") ||
		strings.Contains(src.logs.String()+dst.logs.String(), "port stealing"), "a refusal is logged")
}

// tnftpSession is tnftp running on a pseudo-terminal (through script(1)),
// reading commands as typed: ^C there interrupts it as a person's would.
type tnftpSession struct {
	t     *testing.T
	stdin io.WriteCloser
	out   *ftptest.SyncBuffer
	done  chan error
}

// startTnftp starts tnftp without auto-login, connected to ts.
func startTnftp(t *testing.T, ts *testServer, dir string) *tnftpSession {
	t.Helper()
	tnftp := tool(t, "tnftp")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	sh := fmt.Sprintf("cd %s && %s -i -n %s %d", dir, tnftp, ts.addr.Addr(), ts.addr.Port()) // -i: mget asks nothing
	cmd := exec.CommandContext(ctx, tool(t, "script"), "-qefc", sh, "/dev/null")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "TERM=dumb") // no ~/.netrc
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	s := &tnftpSession{t: t, stdin: stdin, out: &ftptest.SyncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = s.out, s.out
	require.NoError(t, cmd.Start())
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() {
		stdin.Close()
		cancel()
		<-s.done
	})
	return s
}

// typeLine types a line (or a control character) at tnftp's terminal.
func (s *tnftpSession) typeLine(line string) {
	s.t.Helper()
	_, err := io.WriteString(s.stdin, line)
	require.NoError(s.t, err)
}

// quit ends tnftp and returns what it printed.
func (s *tnftpSession) quit() string {
	s.t.Helper()
	s.typeLine("quit\n")
	select {
	case err := <-s.done:
		s.done <- err
	case <-time.After(30 * time.Second):
		s.t.Fatalf("tnftp did not quit; it printed:\n%s", s.out.String())
	}
	return s.out.String()
}

// tnftp interrupts a download with ^C: IAC IP IAC as urgent data (the last
// IAC lost to the server's kernel), then DM ABOR in band. The server must
// read ABOR, stop sending and answer 426 then 226.
func TestTnftpAbort(t *testing.T) {
	ts := startServer(t, "127.0.0.2", nil)
	require.NoError(t, ts.fs.AddGenerated("/huge.bin", 1<<30, 9))
	s := startTnftp(t, ts, t.TempDir())
	s.typeLine("user u p\nbinary\nrate get 1000000\nget huge.bin /dev/null\n")
	require.Eventually(t, func() bool { return strings.Contains(ts.logs.String(), "code=150") },
		30*time.Second, 20*time.Millisecond, "the download never started: %s", s.out)
	time.Sleep(300 * time.Millisecond) // well into the transfer
	s.typeLine("\x03")
	require.Eventually(t, func() bool { return strings.Contains(ts.logs.String(), "ABOR successful") },
		30*time.Second, 20*time.Millisecond, "no ABOR seen; tnftp printed:\n%s\nserver:\n%s", s.out, ts.logs)
	s.typeLine("pwd\n")
	out := s.quit()
	logs := ts.logs.String()
	assert.Contains(t, logs, "verb=ABOR")
	assert.Contains(t, logs, "code=426")
	assert.NotContains(t, logs, "Syntax error")
	assert.NotContains(t, logs, "Transfer complete")
	assert.Contains(t, logs, "verb=PWD", "the session went on")
	t.Logf("tnftp:\n%s", out)
}

// tnftp's "mget *.bin" sends NLST *.bin and RETRs every name it gets.
func TestTnftpMget(t *testing.T) {
	ts := startServer(t, "127.0.0.2", nil)
	files := map[string]string{"/a.bin": "first", "/b.bin": "second", "/c.txt": "not me", "/sub/d.bin": "deeper"}
	for p, content := range files {
		require.NoError(t, ts.fs.WriteFile(p, []byte(content)))
	}
	dir := t.TempDir()
	s := startTnftp(t, ts, dir)
	s.typeLine("user u p\nbinary\nmget *.bin\n")
	out := s.quit()
	assert.Contains(t, ts.logs.String(), `verb=NLST arg=*.bin`)
	for _, name := range []string{"a.bin", "b.bin"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err, "%s not fetched; tnftp printed:\n%s", name, out)
		assert.Equal(t, files["/"+name], string(got))
	}
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, ents, 2, "only the *.bin files")
	assert.NotContains(t, out, "550")
}
