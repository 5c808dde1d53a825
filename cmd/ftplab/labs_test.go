package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ftplab/ftplab/labs"
	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// execCmd runs a freshly built command with args and returns its output.
func execCmd(t *testing.T, cmd *cobra.Command, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err = cmd.Execute()
	return out.String(), errb.String(), err
}

func TestLabsCommand(t *testing.T) {
	out, _, err := execCmd(t, newLabsCmd())
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 12)
	assert.True(t, strings.HasPrefix(lines[0], "rfc478 (default)"), lines[0])
	for i, name := range []string{"rfc478", "rfc959", "bounce", "port-steal", "slow-client", "routed", "ipv6", "ftps", "secure-fxp", "nat-active", "nat-server", "fxp-firewall"} {
		assert.True(t, strings.HasPrefix(lines[i], name), "line %d: %q", i, lines[i])
		assert.Greater(t, len(strings.Fields(lines[i])), 3, "has a description: %q", lines[i])
	}
	_, _, err = execCmd(t, newLabsCmd(), "extra")
	assert.Error(t, err)
	assert.Equal(t, 2, exitCode(err))
}

// TestLabsSource: `ftplab labs NAME` prints the embedded lab's source, with
// the comments that explain it.
func TestLabsSource(t *testing.T) {
	out, _, err := execCmd(t, newLabsCmd(), "port-steal")
	require.NoError(t, err)
	src, err := labs.EmbeddedSource("port-steal")
	require.NoError(t, err)
	assert.Equal(t, string(src), out)
	assert.Contains(t, out, "# Port stealing (RFC 2577 section 8)")
}

func TestValidateCommand(t *testing.T) {
	out, _, err := execCmd(t, newValidateCmd(), "port-steal")
	require.NoError(t, err)
	assert.Contains(t, out, `ok: lab "port-steal", 4 hosts`)

	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("name: x\nhosts:\n  - name: A\n    addresses: [10.0.0.1/24]\nlinks:\n  - ends: [A, nowhere]\n"), 0o644))
	_, errOut, err := execCmd(t, newValidateCmd(), bad)
	require.Error(t, err)
	assert.Equal(t, 1, exitCode(err))
	assert.Contains(t, errOut, bad+`:6:15: link "A-nowhere": end B: unknown host or switch "nowhere"`)
	assert.Contains(t, errOut, ">  6 |   - ends: [A, nowhere]", "source snippet")

	_, _, err = execCmd(t, newValidateCmd(), "no-such-lab")
	require.Error(t, err)
}

func TestLadderCommand(t *testing.T) {
	out, _, err := execCmd(t, newLadderCmd(), "../../labs/ladder/testdata/lo.pcap", "--name", "127.0.0.1=A", "--name", "127.0.0.2=B", "--name", "127.0.0.3=C")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(out, strings.Repeat(" ", 14)+"A"), "header starts with A: %q", out[:40])
	assert.Contains(t, out, "A→C  PASV")
	assert.Contains(t, out, "B⇒C  data 1600 bytes, FIN")

	_, _, err = execCmd(t, newLadderCmd(), "x.pcap", "--name", "A")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `--name "A": want ADDR=NAME`)

	notCapture := filepath.Join(t.TempDir(), "notes.txt")
	require.NoError(t, os.WriteFile(notCapture, []byte("hello"), 0o644))
	_, _, err = execCmd(t, newLadderCmd(), notCapture)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not a pcap or pcapng file")
}

func TestRunCommand(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // every lab goroutine is stopped
	dir := t.TempDir()
	capture := filepath.Join(dir, "demo.pcapng")
	out, _, err := execCmd(t, newRunCmd(), "--capture", capture)
	require.NoError(t, err)
	for _, want := range []string{
		"Lab rfc478:",
		"A→B  SOCK 10,0,0,3,0,20",
		"A→B  PASV",
		"A→C  RTRV /rfc478.txt",
		"C⇒B  data 262144 bytes, FIN",
		"wireshark " + capture,
		"all 3 steps ok",
	} {
		assert.Contains(t, out, want)
	}
	st, err := os.Stat(capture)
	require.NoError(t, err)
	assert.Positive(t, st.Size())

	// --live: the pcapng goes to stdout, the text to stderr.
	live, text, err := execCmd(t, newRunCmd(), "rfc478", "--live", "--capture", filepath.Join(dir, "live.pcapng"))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(live, "\x0a\x0d\x0d\x0a"), "stdout is a pcapng stream")
	assert.Contains(t, text, "C⇒B  data 262144 bytes")

	// A failed expectation: exit status 1.
	bad := filepath.Join(dir, "bad.yaml")
	lab := strings.Replace(mustEmbedded(t, "rfc478"), "same: [C:/rfc478.txt, B:/rfc478.txt]", "same: [C:/rfc478.txt, C:/nothing.txt]", 1)
	require.NoError(t, os.WriteFile(bad, []byte(lab), 0o644))
	out, _, err = execCmd(t, newRunCmd(), bad, "--capture", filepath.Join(dir, "bad.pcapng"))
	require.Error(t, err)
	assert.Equal(t, 1, exitCode(err))
	assert.Contains(t, out, "FAIL")

	_, _, err = execCmd(t, newRunCmd(), "no-such-lab")
	require.Error(t, err)
	assert.Equal(t, 2, exitCode(err))
}

// run --keylog: the run's TLS secrets go to the file too (they are in the
// capture anyway).
func TestRunKeylog(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.txt")
	out, _, err := execCmd(t, newRunCmd(), "ftps", "--capture", filepath.Join(dir, "ftps.pcapng"), "--keylog", keys)
	require.NoError(t, err)
	assert.Contains(t, out, "TLS handshake (A is the TLS client)")
	logged, err := os.ReadFile(keys)
	require.NoError(t, err)
	// TLS 1.3: the control and the data connection each log their secrets.
	assert.Equal(t, 2, strings.Count(string(logged), "CLIENT_TRAFFIC_SECRET_0 "), "each secret once")

	_, _, err = execCmd(t, newRunCmd(), "ftps", "--capture", filepath.Join(dir, "x.pcapng"), "--keylog", filepath.Join(dir, "no", "such", "dir"))
	assert.Equal(t, 2, exitCode(err))
}

func mustEmbedded(t *testing.T, name string) string {
	t.Helper()
	data, err := labs.EmbeddedSource(name)
	require.NoError(t, err)
	return string(data)
}
