package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGraphCommand(t *testing.T) {
	for format, want := range map[string]string{"svg": "<svg ", "dot": "graph lab {", "mermaid": "flowchart TB"} {
		out, _, err := execCmd(t, newGraphCmd(), "routed", "--format", format)
		require.NoError(t, err, format)
		assert.True(t, strings.HasPrefix(out, want), "%s: %.40q", format, out)
		assert.Contains(t, out, "router", format)
	}
	_, _, err := execCmd(t, newGraphCmd(), "routed", "--format", "png")
	require.Error(t, err)
	assert.Equal(t, 2, exitCode(err))
}

func TestReportCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "r.html")
	stdout, _, err := execCmd(t, newReportCmd(), "../../labs/ladder/testdata/lo.pcap", "-o", out)
	require.NoError(t, err)
	assert.Contains(t, stdout, out)
	html, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Contains(t, string(html), "RETR hello.txt")
	_, _, err = execCmd(t, newReportCmd(), "../../labs/ladder/testdata/lo.pcap")
	assert.Equal(t, 2, exitCode(err), "-o is required")
}
