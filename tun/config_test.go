package tun

import (
	"context"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConfigErrors: bad configurations are refused before anything touches
// the kernel, with a message naming what is wrong.
func TestConfigErrors(t *testing.T) {
	p := netip.MustParsePrefix
	ok := testConfig("ftplab0", nil)
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"empty name", func(c *Config) { c.Name = "" }, "name is empty"},
		{"long name", func(c *Config) { c.Name = "ftplab0123456789" }, "longer than 15"},
		{"slash", func(c *Config) { c.Name = "a/b" }, `"a/b" contains`},
		{"small MTU", func(c *Config) { c.MTU = 500 }, "MTU 500"},
		{"no kernel address", func(c *Config) { c.Kernel = nil }, "no kernel-side address"},
		{"gateway off-link", func(c *Config) { c.Gateway = []netip.Prefix{p("10.7.0.2/24")} }, "gateway 10.7.0.2/24 is in no kernel-side subnet"},
		{"gateway equals kernel", func(c *Config) { c.Gateway = []netip.Prefix{p("10.99.0.1/24")} }, "same address"},
		{"route without gateway", func(c *Config) { c.Gateway = []netip.Prefix{gw4} }, "route fd00:100::/64 has no gateway"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.change(&cfg)
			_, err := Open(context.Background(), cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	require.NoError(t, ok.validate())
}

// TestRoutesSkipLinkSubnet: the TUN link's own subnets are not routed via
// the gateway, and duplicates are dropped.
func TestRoutesSkipLinkSubnet(t *testing.T) {
	cfg := testConfig("x", nil)
	cfg.Routes = append(cfg.Routes, netip.MustParsePrefix("10.100.0.7/24"), netip.MustParsePrefix("fd99::/64"))
	assert.Equal(t, []netip.Prefix{lab4.Masked(), lab6.Masked()}, cfg.routes())
}

// TestNoTUNDevice: without the TUN clone device Open says so (ErrNoTUN,
// naming the path) before touching anything.
func TestNoTUNDevice(t *testing.T) {
	old := tunPath
	tunPath = "/nonexistent/net/tun"
	defer func() { tunPath = old }()
	_, err := Open(context.Background(), testConfig("ftplab0", nil))
	require.ErrorIs(t, err, ErrNoTUN)
	assert.Contains(t, err.Error(), "/nonexistent/net/tun")
}
