package server

import (
	"net"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// sendOOB sends b as TCP urgent data (MSG_OOB), as a Telnet Synch does.
func sendOOB(t *testing.T, c net.Conn, b byte) {
	t.Helper()
	rc, err := c.(*net.TCPConn).SyscallConn()
	require.NoError(t, err)
	var serr error
	require.NoError(t, rc.Write(func(fd uintptr) bool {
		serr = syscall.Sendto(int(fd), []byte{b}, syscall.MSG_OOB, nil)
		return serr != syscall.EAGAIN
	}))
	require.NoError(t, serr)
}
