package labs

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunNamesTheImpairedLink: a connection that fails because of a link
// says which link and why, not just "no route to host".
func TestRunNamesTheImpairedLink(t *testing.T) {
	for _, tc := range []struct{ param, want string }{
		{"loss: 100%", `link "A-lan" loses 100% of frames`},
		{"rate: 1", `link "A-lan" sends 1 bit/s`},
		{"delay: 1000h", `link "A-lan" delays frames 1000h0m0s`},
		{"down: true", `link "A-lan" is down`},
	} {
		t.Run(tc.param, func(t *testing.T) {
			t.Parallel()
			src := strings.Replace(base, "  - ends: [A, lan]\n", "  - ends: [A, lan]\n    "+tc.param+"\n", 1) +
				"steps:\n  - cmd: {client: A, server: B, send: NOOP}\n"
			lab, err := Load("t.yaml", []byte(src))
			require.NoError(t, err)
			rep, err := Run(context.Background(), lab, Options{CaptureFile: t.TempDir() + "/x.pcapng"})
			require.NoError(t, err)
			require.Len(t, rep.Steps, 1)
			require.Error(t, rep.Steps[0].Err)
			msg := rep.Steps[0].Err.Error()
			assert.Contains(t, msg, tc.want)
			assert.Contains(t, msg, "the network, not the server")
		})
	}
}

func TestLabPath(t *testing.T) {
	lab, err := Embedded("routed")
	require.NoError(t, err)
	assert.Equal(t, []string{"A-net1", "R:eth0-net1", "wan", "C-net2"}, lab.path("A", "C"))
	assert.Equal(t, []string{"A-net1", "B-net1"}, lab.path("A", "B"))
	assert.Empty(t, lab.path("A", "nowhere"))
}
