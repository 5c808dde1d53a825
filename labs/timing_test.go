package labs

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/labs/ladder"
)

// TestTransferFiguresMatchCapture: the throughput a run prints (step line,
// transfer table, Report) is the data connection's, as the capture timed
// it, within 10%; verification is timed apart.
func TestTransferFiguresMatchCapture(t *testing.T) {
	src := strings.Replace(fxpLabYAML(16<<20, CaptureHeaders), "  - ends: [B, lan]\n", "  - ends: [B, lan]\n    rate: 50Mbit\n    queue: 1MiB\n", 1)
	lab, err := Load("timing.yaml", []byte(src))
	require.NoError(t, err)
	rep := runLab(t, lab)
	require.True(t, rep.OK(), "%v", rep.Failures())
	step := rep.Steps[0]
	var open, closeEv *ladder.Event
	for i, e := range rep.Ladder.Events {
		switch {
		case e.Kind == ladder.DataOpen && open == nil:
			open = &rep.Ladder.Events[i]
		case e.Kind == ladder.DataClose && closeEv == nil:
			closeEv = &rep.Ladder.Events[i]
		}
	}
	require.NotNil(t, open)
	require.NotNil(t, closeEv)
	require.Equal(t, step.Bytes, closeEv.Bytes)
	wire := float64(closeEv.Bytes) * 8 / closeEv.Time.Sub(open.Time).Seconds()
	assert.InEpsilon(t, wire, step.Throughput(), 0.10, "step %.1f Mbit/s, capture %.1f Mbit/s", step.Throughput()/1e6, wire/1e6)
	assert.Less(t, step.TransferTime, step.Duration, "the step's time holds more than the transfer")
	assert.Positive(t, step.VerifyTime)

	var out bytes.Buffer
	require.NoError(t, rep.Print(&out, PrintOptions{}))
	assert.Contains(t, out.String(), FormatRate(step.Throughput()), "the transfer table prints the same figure")
}
