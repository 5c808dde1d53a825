package labs

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeLab writes base with extra appended to dir/sub/lab.yaml and loads it.
func writeLab(t *testing.T, dir, extra string) *Lab {
	t.Helper()
	sub := filepath.Join(dir, "sub")
	require.NoError(t, os.MkdirAll(sub, 0o755))
	path := filepath.Join(sub, "lab.yaml")
	require.NoError(t, os.WriteFile(path, []byte(base+extra), 0o644))
	lab, err := LoadFile(path)
	require.NoError(t, err)
	return lab
}

// leftovers lists the partial captures left in dir.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".*.partial"))
	require.NoError(t, err)
	return m
}

// TestCaptureFileRelativeToLab: capture.file is resolved like from:,
// against the lab file's directory, not the current one.
func TestCaptureFileRelativeToLab(t *testing.T) {
	dir := t.TempDir()
	lab := writeLab(t, dir, "capture: {file: out.pcapng}\n")
	rep, err := Run(context.Background(), lab, Options{})
	require.NoError(t, err)
	want := filepath.Join(dir, "sub", "out.pcapng")
	assert.Equal(t, want, rep.CaptureFile)
	assert.FileExists(t, want)
	assert.NoFileExists(t, "out.pcapng", "not in the current directory")
	assert.Empty(t, leftovers(t, filepath.Join(dir, "sub")))

	// A capture already there is replaced.
	_, err = Run(context.Background(), lab, Options{})
	require.NoError(t, err)
}

// TestCaptureNeverReplacesOtherFiles: a lab someone sends cannot make a
// run overwrite a file that is not a capture, unless Force is set.
func TestCaptureNeverReplacesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim.txt")
	require.NoError(t, os.WriteFile(victim, []byte("precious"), 0o644))
	lab := writeLab(t, dir, "capture: {file: ../victim.txt}\n")

	_, err := Run(context.Background(), lab, Options{})
	require.ErrorIs(t, err, ErrNotCapture)
	assert.Contains(t, err.Error(), victim)
	got, err := os.ReadFile(victim)
	require.NoError(t, err)
	assert.Equal(t, "precious", string(got))
	assert.Empty(t, leftovers(t, dir))

	_, err = Run(context.Background(), lab, Options{Force: true})
	require.NoError(t, err)
	got, err = os.ReadFile(victim)
	require.NoError(t, err)
	assert.Equal(t, "\x0a\x0d\x0d\x0a", string(got[:4]), "replaced by a pcapng when forced")
}

// TestCaptureFailedRunKeepsOldCapture: a run that fails after its capture
// was started leaves the previous capture in place and no partial file.
func TestCaptureFailedRunKeepsOldCapture(t *testing.T) {
	dir := t.TempDir()
	capture := filepath.Join(dir, "keep.pcapng")
	old := []byte("\x0a\x0d\x0d\x0a an older capture")
	require.NoError(t, os.WriteFile(capture, old, 0o644))
	// The network starts, then the server's files cannot be read.
	lab := writeLab(t, dir, "")
	lab.Servers[0].Files = []File{{From: filepath.Join(dir, "no-such-dir")}}
	_, err := Run(context.Background(), lab, Options{CaptureFile: capture})
	require.Error(t, err)
	got, err := os.ReadFile(capture)
	require.NoError(t, err)
	assert.Equal(t, old, got)
	assert.Empty(t, leftovers(t, dir))
}
