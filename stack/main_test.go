package stack_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/ftplab/ftplab/ftp"
	"github.com/ftplab/ftplab/stack"
)

// A virtual host is a place FTP servers listen and clients dial.
var _ ftp.Network = (*stack.Host)(nil)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
