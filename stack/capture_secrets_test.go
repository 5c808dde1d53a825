package stack_test

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/stack"
)

// block is one pcapng block: its type and body (after type and length).
type block struct {
	typ  uint32
	body []byte
}

// blocks splits a little-endian pcapng stream into its blocks.
func blocks(t *testing.T, b []byte) []block {
	var out []block
	for len(b) > 0 {
		require.GreaterOrEqual(t, len(b), 12, "truncated block")
		typ, n := binary.LittleEndian.Uint32(b), int(binary.LittleEndian.Uint32(b[4:]))
		require.True(t, n >= 12 && n%4 == 0 && n <= len(b), "block length %d", n)
		require.Equal(t, uint32(n), binary.LittleEndian.Uint32(b[n-4:]), "trailing length")
		out = append(out, block{typ, b[8 : n-4]})
		b = b[n:]
	}
	return out
}

// TestCaptureSecrets: the secrets are a Decryption Secrets Block of TLS
// key log text between the frames captured before and after them, and
// pcapgo still reads every frame.
func TestCaptureSecrets(t *testing.T) {
	keys := "CLIENT_RANDOM 0102 0304\n" // 24 bytes + padding in the block
	more := "SERVER_TRAFFIC_SECRET_0 05 06\n"
	var before int
	b := capturedRun(t, func(n *stack.Network) {
		require.NoError(t, n.CaptureSecrets([]byte(keys)))
		before = int(n.CaptureStats().Frames)
		_, err := n.Host("A").Ping(testCtx(t, 10*time.Second), addr("10.0.0.2"))
		require.NoError(t, err)
		require.NoError(t, n.CaptureSecrets([]byte(more)))
	})
	var epbs, epbsBefore int
	var secrets []string
	for _, bl := range blocks(t, b) {
		switch bl.typ {
		case 6: // enhanced packet
			epbs++
		case 0x0A:
			require.GreaterOrEqual(t, len(bl.body), 8)
			assert.Equal(t, uint32(0x544c534b), binary.LittleEndian.Uint32(bl.body), "secrets type TLSK")
			n := int(binary.LittleEndian.Uint32(bl.body[4:]))
			assert.Equal(t, (n+3)&^3, len(bl.body)-8, "secrets padded to 32 bits, no options")
			secrets = append(secrets, string(bl.body[8:8+n]))
			if len(secrets) == 1 {
				epbsBefore = epbs
			}
		}
	}
	assert.Equal(t, []string{keys, more}, secrets)
	assert.Greater(t, epbsBefore, 0, "frames of the pings before the secrets come first")
	assert.GreaterOrEqual(t, epbsBefore, before, "every frame recorded before the secrets is written before them")
	assert.Greater(t, epbs, epbsBefore, "frames after the secrets")
	frames, _ := readCapture(t, b)
	assert.Len(t, frames, epbs, "pcapgo reads past the secrets")

	n := newNet(t, lanConfig(stack.LinkParams{}, "A"), stack.Options{})
	assert.ErrorContains(t, n.CaptureSecrets([]byte(keys)), "no capture")
}
