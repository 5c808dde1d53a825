package ftptest

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunInOwnNamespace checks that Run moves the test into a fresh network
// namespace: only a loopback device, which is up, and no host addresses.
func TestRunInOwnNamespace(t *testing.T) {
	if !Run(t) {
		return
	}
	require.True(t, Inside())
	ifs, err := net.Interfaces()
	require.NoError(t, err)
	require.Len(t, ifs, 1, "a new namespace has only lo: %v", ifs)
	assert.Equal(t, "lo", ifs[0].Name)
	assert.NotZero(t, ifs[0].Flags&net.FlagUp, "lo is up")
	ln, err := net.Listen("tcp", "127.0.0.9:0")
	require.NoError(t, err, "loopback works inside")
	require.NoError(t, ln.Close())
}

func TestRunPattern(t *testing.T) {
	assert.Equal(t, "^TestX$/^a\\.b$", runPattern("TestX/a.b"))
}

func TestNeedSkipsWithReason(t *testing.T) {
	if Inside() {
		t.Skip("only meaningful in the parent")
	}
	_, why := unshare(collect([]Option{Need("no-such-program-ftplab")}))
	assert.Contains(t, why, "no-such-program-ftplab not installed")
}
