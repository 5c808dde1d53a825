package client

import (
	"context"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// dialAnon connects to addr as anonymous and closes the client at cleanup.
func dialAnon(tb testing.TB, ctx context.Context, addr netip.AddrPort, opts Options) *Client {
	tb.Helper()
	c, err := Dial(ctx, osNet, addr.String(), opts)
	require.NoError(tb, err)
	tb.Cleanup(func() { c.Close() })
	require.NoError(tb, c.Login(ctx, "anonymous", "test@"))
	return c
}
