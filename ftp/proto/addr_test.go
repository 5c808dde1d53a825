package proto

import (
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
)

// otherAddr is a net.Addr that is not a *net.TCPAddr.
type otherAddr string

func (a otherAddr) Network() string { return "tcp" }
func (a otherAddr) String() string  { return string(a) }

func TestAddrPortOf(t *testing.T) {
	mapped := netip.MustParseAddrPort("[::ffff:10.0.0.2]:21")
	cases := []struct {
		name string
		in   net.Addr
		want netip.AddrPort
	}{
		{"nil", nil, netip.AddrPort{}},
		{"nil TCPAddr", (*net.TCPAddr)(nil), netip.AddrPort{}},
		{"TCP IPv4", net.TCPAddrFromAddrPort(netip.MustParseAddrPort("10.0.0.2:21")), netip.MustParseAddrPort("10.0.0.2:21")},
		{"TCP IPv4-mapped is unmapped", net.TCPAddrFromAddrPort(mapped), netip.MustParseAddrPort("10.0.0.2:21")},
		{"TCP IPv6", net.TCPAddrFromAddrPort(netip.MustParseAddrPort("[fd00::1]:2121")), netip.MustParseAddrPort("[fd00::1]:2121")},
		{"other, parsed", otherAddr("[::ffff:127.0.0.3]:20"), netip.MustParseAddrPort("127.0.0.3:20")},
		{"other without a port", otherAddr("pipe"), netip.AddrPort{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, AddrPortOf(tc.in))
		})
	}
}
