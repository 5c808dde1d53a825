package server

import (
	"net"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// sendOOB sends b with MSG_OOB, as a Telnet Synch does: its last byte is
// TCP urgent data, which a receiver without SO_OOBINLINE takes out of the
// stream.
func sendOOB(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	rc, err := c.(*net.TCPConn).SyscallConn()
	require.NoError(t, err)
	var serr error
	require.NoError(t, rc.Write(func(fd uintptr) bool {
		serr = syscall.Sendto(int(fd), b, syscall.MSG_OOB, nil)
		return serr != syscall.EAGAIN
	}))
	require.NoError(t, serr)
}
