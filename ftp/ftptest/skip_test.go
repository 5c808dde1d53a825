package ftptest

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestToolMissing: a missing program skips the test with the reason, and
// under CI fails it with the same reason.
func TestToolMissing(t *testing.T) {
	if os.Getenv("FTPTEST_TOOL_CHILD") == "1" {
		Tool(t, "no-such-program-ftplab", "cannot test")
		t.Fatal("Tool returned for a missing program")
	}
	for _, tc := range []struct{ ci, want string }{
		{"", "--- SKIP"},
		{"false", "--- SKIP"},
		{"true", "--- FAIL"},
		{"1", "--- FAIL"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestToolMissing$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "FTPTEST_TOOL_CHILD=1", "CI="+tc.ci)
		out, _ := cmd.CombinedOutput()
		assert.Contains(t, string(out), tc.want+": TestToolMissing", "CI=%q:\n%s", tc.ci, out)
		assert.Contains(t, string(out), "no-such-program-ftplab not installed: cannot test", "CI=%q", tc.ci)
	}
}
