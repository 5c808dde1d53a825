package ftptest

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// CI reports whether the tests run in continuous integration (environment
// CI=true), where every program and kernel feature the tests need is
// installed on purpose.
func CI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

// Skip skips the calling test because something it needs is missing (a
// program, network namespaces, /dev/net/tun). Under CI it fails the test
// with the same reason instead: there a missing tool is a broken machine,
// and a skipped test would hide it.
func Skip(tb testing.TB, reason string) {
	tb.Helper()
	if CI() {
		tb.Fatal(reason + " (CI=true: failing instead of skipping)")
	}
	tb.Skip(reason)
}

// Tool returns the path of the installed program name, or Skips the test
// with "name not installed" and why (what the test cannot do without it).
func Tool(tb testing.TB, name, why string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		reason := name + " not installed"
		if why != "" {
			reason += ": " + why
		}
		Skip(tb, reason)
	}
	return path
}
