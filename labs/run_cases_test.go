package labs

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// twoServers is a lab with a client A and servers B and C on one switch;
// tests append steps.
const twoServers = `name: case
hosts:
  - {name: A, addresses: [10.0.0.1/24]}
  - {name: B, addresses: [10.0.0.2/24]}
  - {name: C, addresses: [10.0.0.3/24]}
switches: [{name: lan}]
links:
  - {ends: [A, lan], name: a}
  - {ends: [B, lan]}
  - {ends: [C, lan]}
servers:
  - host: B
    users: [{name: u, password: p}]
    trust: [10.0.0.3/32]
    files:
      - {path: /small.txt, content: "hello\n"}
      - {path: /big.bin, size: 768KiB, seed: 1}
  - host: C
    users: [{name: u, password: p}]
`

func load(t *testing.T, steps string) *Lab {
	t.Helper()
	l, err := Load("case.yaml", []byte(twoServers+"steps:\n"+steps))
	require.NoError(t, err)
	return l
}

// TestRunExpectations: failed expectations fail the run and say why; a
// step that must fail may fail.
func TestRunExpectations(t *testing.T) {
	rep := runLab(t, load(t, `
  - name: refused
    fxp: {client: A, from: B:/small.txt, to: C:/small.txt, passive: source}
  - expect: {step: refused, ok: false, code: 5xx}
  - name: wrong
    expect: {same: [B:/small.txt, B:/big.bin]}
  - name: wrong-code
    expect: {step: refused, code: 2xx}
`))
	refused := step(t, rep, "refused")
	assert.False(t, refused.OK, "C does not trust B: the copy is refused")
	assert.True(t, refused.MayFail)
	assert.Contains(t, refused.Err.Error(), "destination")
	assert.GreaterOrEqual(t, refused.Code, 500)
	assert.True(t, step(t, rep, "step2").OK, "expected failure: %v", step(t, rep, "step2").Err)
	assert.False(t, rep.OK())
	var names []string
	for _, f := range rep.Failures() {
		names = append(names, f.Name)
	}
	assert.Equal(t, []string{"wrong", "wrong-code"}, names)
	assert.Contains(t, step(t, rep, "wrong").Err.Error(), "B:/big.bin (sha256")
	assert.Contains(t, step(t, rep, "wrong-code").Err.Error(), "want 2xx")

	var out strings.Builder
	require.NoError(t, rep.Print(&out, PrintOptions{Full: true}))
	assert.Contains(t, out.String(), "2 of 4 steps FAILED")
	assert.Contains(t, out.String(), "wireshark "+rep.CaptureFile)
}

// TestRunGetPutAndMidTransferLinkCut downloads and uploads through the
// client's memory, and cuts A's link in the middle of a background
// download: the download resumes when the link comes back.
func TestRunGetPutAndMidTransferLinkCut(t *testing.T) {
	rep := runLab(t, load(t, `
  - name: slow
    link: {name: a, rate: 8Mbit}
  - name: down
    background: true
    get: {client: A, from: B:/big.bin}
  - wait: 200ms
  - name: cut
    link: {name: a, down: true}
  - wait: 300ms
  - name: restore
    link: {name: a, down: false, rate: 0}
  - wait: {for: down}
  - name: up
    put: {client: A, from: /big.bin, to: C:/copy.bin}
  - name: gen
    put: {client: A, size: 10KiB, seed: 9, to: C:/gen.bin}
  - expect: {same: [B:/big.bin, A:/big.bin, C:/copy.bin]}
  - expect: {step: down, ok: true}
`))
	require.True(t, rep.OK(), "%v", rep.Failures())
	down := step(t, rep, "down")
	assert.Equal(t, int64(768<<10), down.Bytes)
	assert.GreaterOrEqual(t, down.Duration, 500*time.Millisecond, "the cut held the download up")
	assert.True(t, down.Match)
	assert.Equal(t, int64(10<<10), step(t, rep, "gen").Bytes)
}

// TestRunFilesFromDirectory serves a real directory's files.
func TestRunFilesFromDirectory(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "pub", "sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pub", "sub", "f.txt"), []byte("from disk"), 0o644))
	labFile := filepath.Join(dir, "lab.yaml")
	y := strings.Replace(twoServers, `      - {path: /small.txt, content: "hello\n"}`, `      - {path: /small.txt, content: "from disk"}
      - {from: pub, path: /srv}`, 1) + `steps:
  - get: {client: A, from: B:/srv/sub/f.txt, to: /f.txt}
  - expect: {same: [A:/f.txt, B:/small.txt]}
`
	require.NoError(t, os.WriteFile(labFile, []byte(y), 0o644))
	l, err := LoadFile(labFile)
	require.NoError(t, err)
	rep := runLab(t, l)
	assert.True(t, rep.OK(), "%v", rep.Failures())
}

// TestRunErrors: a run that cannot start says why; cancelling stops it
// cleanly (goleak checks the rest).
func TestRunErrors(t *testing.T) {
	l := load(t, "  - wait: 10s\n")
	_, err := Run(context.Background(), l, Options{CaptureFile: filepath.Join(t.TempDir(), "no", "such", "dir", "x.pcapng")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "capture file")

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	rep, err := Run(ctx, l, Options{CaptureFile: filepath.Join(t.TempDir(), "x.pcapng")})
	require.NoError(t, err, "the interrupted wait is a failed step, not a failed run")
	assert.False(t, rep.OK())
	assert.ErrorIs(t, rep.Steps[0].Err, context.DeadlineExceeded)
}

// BenchmarkLabRun measures the wall time of running the default lab, as
// `ftplab run rfc478` does after the build (ladder read-back included).
func BenchmarkLabRun(b *testing.B) {
	lab, err := Embedded(DefaultLab)
	require.NoError(b, err)
	dir := b.TempDir()
	b.ResetTimer()
	for b.Loop() {
		rep, err := Run(context.Background(), lab, Options{CaptureFile: filepath.Join(dir, "rfc478.pcapng")})
		if err != nil || !rep.OK() {
			b.Fatalf("run: %v %v", err, rep.Failures())
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/run")
}

// TestRunBackgroundTransferOutlastsSteps: a background transfer still
// running when the steps end is waited for, not cut short.
func TestRunBackgroundTransferOutlastsSteps(t *testing.T) {
	rep := runLab(t, load(t, `
  - link: {name: a, rate: 20Mbit}
  - name: late
    background: true
    get: {client: A, from: B:/big.bin}
`))
	require.True(t, rep.OK(), "%v", rep.Failures())
	late := step(t, rep, "late")
	assert.Equal(t, int64(768<<10), late.Bytes)
	// 768 KiB at 20 Mbit/s take at least 0.3 s: the run waited for it.
	assert.GreaterOrEqual(t, late.Duration, 300*time.Millisecond)
}

func TestDrawBar(t *testing.T) {
	assert.Equal(t, "[###############...............]  50%  8.00 Mbit/s", DrawProgress(500_000, 1_000_000, 500*time.Millisecond))
	assert.Equal(t, "[##############################] 100%  8.00 Mbit/s", DrawProgress(2_000_000, 1_000_000, 2*time.Second))
	assert.Equal(t, "1000 bytes  8.0 kbit/s", DrawProgress(1000, -1, time.Second))
}

// TestRunProgressBar: a transfer longer than a second draws a bar when
// Options.Progress is set (a terminal), and only then.
func TestRunProgressBar(t *testing.T) {
	for _, progress := range []bool{true, false} {
		l := load(t, "  - link: {name: a, rate: 4Mbit}\n  - name: dl\n    get: {client: A, from: B:/big.bin}\n")
		var out strings.Builder
		rep, err := Run(context.Background(), l, Options{CaptureFile: filepath.Join(t.TempDir(), "p.pcapng"), Out: &out, Progress: progress})
		require.NoError(t, err)
		require.True(t, rep.OK(), "%v", rep.Failures())
		require.Greater(t, step(t, rep, "dl").Duration, barDelay)
		if progress {
			assert.Contains(t, out.String(), "\r\033[Kdl ")
			assert.Regexp(t, `\[#+\.*\]\s+\d+%`, out.String())
		} else {
			assert.NotContains(t, out.String(), "\r", "plain lines when not on a terminal")
		}
		assert.Contains(t, out.String(), "ok   dl")
	}
}
