package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var built struct {
	once sync.Once
	path string
	err  error
}

// binary builds the ftplab command once per test run, for tests of what
// only a real process shows (signals, a closed stdout).
func binary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "ftplab-bin")
		if err != nil {
			built.err = err
			return
		}
		built.path = filepath.Join(dir, "ftplab")
		out, err := exec.Command("go", "build", "-o", built.path, ".").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	require.NoError(t, built.err)
	return built.path
}

// TestValidateGrammar: "1 switch", not "1 switches".
func TestValidateGrammar(t *testing.T) {
	out, _, err := execCmd(t, newValidateCmd(), "rfc478")
	require.NoError(t, err)
	assert.Contains(t, out, "3 hosts, 1 switch, 3 links, 2 servers, 3 steps")
}

// TestExitStatusDocumented: the help says what an invalid lab exits with,
// and it does.
func TestExitStatusDocumented(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("hosts: !!binary aGk=\n"), 0o644))
	for _, tc := range []struct {
		cmd  string
		code int
		help string
	}{
		{"run", 2, "2 when the lab file\nis invalid"},
		{"validate", 1, "1 for an invalid one"},
	} {
		c, _, err := root.Find([]string{tc.cmd})
		require.NoError(t, err)
		assert.Contains(t, c.Long, tc.help, "%s --help", tc.cmd)
		fresh := newValidateCmd
		if tc.cmd == "run" {
			fresh = newRunCmd
		}
		_, errOut, err := execCmd(t, fresh(), bad)
		require.Error(t, err)
		assert.Equal(t, tc.code, exitCode(err), "%s of an invalid lab", tc.cmd)
		assert.Contains(t, errOut, bad+":1:8: YAML tag !!binary is not supported")
	}
}

// TestValidateInterrupted: SIGINT and SIGTERM stop a long validate at once.
func TestValidateInterrupted(t *testing.T) {
	bin := binary(t)
	big := filepath.Join(t.TempDir(), "big.yaml")
	var b strings.Builder
	b.WriteString("hosts:\n")
	for i := 0; b.Len() < 7<<20; i++ {
		fmt.Fprintf(&b, "  - {name: h%d, addresses: [%d.%d.%d.1/32]}\n", i, 10+i>>16, i>>8&255, i&255)
	}
	require.NoError(t, os.WriteFile(big, []byte(b.String()), 0o644))
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(bin, "validate", big)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			require.NoError(t, cmd.Start())
			time.Sleep(200 * time.Millisecond)
			require.NoError(t, cmd.Process.Signal(sig))
			err := cmd.Wait()
			var ee *exec.ExitError
			require.True(t, errors.As(err, &ee), "validate exits with an error status: %v\n%s", err, stderr.String())
			assert.Equal(t, 1, ee.ExitCode())
			assert.Contains(t, stderr.String(), "interrupted while loading")
		})
	}
}

// TestRunLiveReaderGoesAway: `ftplab run --live | head -c 100`: when the
// reader closes, streaming stops, the lab runs to the end and the capture
// file is complete (no death by SIGPIPE, exit status 0).
func TestRunLiveReaderGoesAway(t *testing.T) {
	bin := binary(t)
	capture := filepath.Join(t.TempDir(), "live.pcapng")
	cmd := exec.Command(bin, "run", "rfc478", "--live", "--capture", capture)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	head := make([]byte, 100)
	_, err = io.ReadFull(stdout, head)
	require.NoError(t, err)
	require.NoError(t, stdout.Close()) // the reader goes away
	err = cmd.Wait()
	require.NoError(t, err, "ftplab run: %s", stderr.String())
	assert.Equal(t, "\x0a\x0d\x0d\x0a", string(head[:4]))
	assert.Contains(t, stderr.String(), "all 3 steps ok")
	assert.Contains(t, stderr.String(), "C⇒B  data 262144 bytes", "the ladder was read back from the complete file")
}
