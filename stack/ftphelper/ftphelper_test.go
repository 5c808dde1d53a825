package ftphelper

import (
	"fmt"
	"net/netip"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFind(t *testing.T) {
	for _, c := range []struct {
		seg  string
		dir  Dir
		v6   bool
		res  Result
		kind Kind
		span string
		ap   string // addr:port, or ":port" for 229
	}{
		{"PORT 10,0,0,2,4,1\r\n", Original, false, Found, PORT, "10,0,0,2,4,1", "10.0.0.2:1025"},
		{"port 10,0,0,2,4,1\r\n", Original, false, Found, PORT, "10,0,0,2,4,1", "10.0.0.2:1025"},
		{"EPRT |1|10.0.0.2|1025|\r\n", Original, false, Found, EPRT, "|1|10.0.0.2|1025|", "10.0.0.2:1025"},
		{"EPRT |2|fd00::2|1025|\r\n", Original, true, Found, EPRT, "|2|fd00::2|1025|", "[fd00::2]:1025"},
		{"227 Entering Passive Mode (192,0,2,10,195,80).\r\n", Reply, false, Found, PASV, "192,0,2,10,195,80", "192.0.2.10:50000"},
		{"227 =192,0,2,10,195,80\r\n", Reply, false, Found, PASV, "192,0,2,10,195,80", "192.0.2.10:50000"},
		{"229 Entering Extended Passive Mode (|||50000|)\r\n", Reply, false, Found, EPSV, "|||50000|", ":50000"},
		// Not announcements.
		{"USER anonymous\r\n", Original, false, None, 0, "", ""},
		{"200 PORT command successful\r\n", Reply, false, None, 0, "", ""},
		{"PORT 10,0,0,2,4,1\r\n", Reply, false, None, 0, "", ""}, // wrong direction
		{"227 Entering Passive Mode (192,0,2,10,195,80).\r\n", Original, false, None, 0, "", ""},
		{"NOOP PORT 1,2,3,4,5,6\r\n", Original, false, None, 0, "", ""}, // only at the start
		// Announcements that cannot be read: Linux drops them.
		{"PORT 10,0,0,2,4\r\n", Original, false, Malformed, 0, "", ""},
		{"PORT 10,0,0,2,4,1", Original, false, Malformed, 0, "", ""}, // no CR
		{"PORT 300,0,0,2,4,1\r\n", Original, false, Malformed, 0, "", ""},
		{"POR", Original, false, Malformed, 0, "", ""},
		{"EPRT |2|fd00::2|1025|\r\n", Original, false, Malformed, 0, "", ""}, // family of the other connection
		{"229 Entering Extended Passive Mode (|||0|)\r\n", Reply, false, Malformed, 0, "", ""},
		{"229 no parenthesis\r\n", Reply, false, Malformed, 0, "", ""},
	} {
		m, res := Find([]byte(c.seg), c.dir, c.v6)
		require.Equal(t, c.res, res, "%q", c.seg)
		if res != Found {
			continue
		}
		assert.Equal(t, c.kind, m.Kind, "%q", c.seg)
		assert.Equal(t, c.span, c.seg[m.Off:m.Off+m.Len], "%q", c.seg)
		if c.kind == EPSV {
			assert.False(t, m.Addr.IsValid())
			assert.Equal(t, c.ap, ":"+strconv.Itoa(int(m.Port)))
		} else {
			assert.Equal(t, netip.MustParseAddrPort(c.ap), netip.AddrPortFrom(m.Addr, m.Port), "%q", c.seg)
		}
	}
}

func TestFormatRoundTrip(t *testing.T) {
	for _, c := range []struct {
		kind Kind
		dir  Dir
		line string
	}{
		{PORT, Original, "PORT %s\r\n"},
		{EPRT, Original, "EPRT %s\r\n"},
		{PASV, Reply, "227 Entering Passive Mode (%s).\r\n"},
	} {
		ap := netip.MustParseAddrPort("192.0.2.1:4100")
		text, err := Format(c.kind, ap)
		require.NoError(t, err)
		seg := fmt.Appendf(nil, c.line, text)
		m, res := Find(seg, c.dir, false)
		require.Equal(t, Found, res, "%s", seg)
		assert.Equal(t, ap, netip.AddrPortFrom(m.Addr, m.Port))
	}
	_, err := Format(PORT, netip.MustParseAddrPort("[fd00::1]:21"))
	assert.Error(t, err, "PORT cannot carry IPv6")
}

func TestLines(t *testing.T) {
	var l Lines
	assert.False(t, l.AtLineStart(Original, 1000), "nothing is known of the first segment")
	l.Segment(Original, 1000, 10, true) // "USER x\r\n.."
	assert.True(t, l.AtLineStart(Original, 1010))
	assert.False(t, l.AtLineStart(Reply, 1010), "directions are apart")
	l.Segment(Original, 1010, 5, false) // a line cut in two
	assert.False(t, l.AtLineStart(Original, 1015), "the middle of a line")
	l.Segment(Original, 1015, 5, true)
	assert.True(t, l.AtLineStart(Original, 1020))
	assert.True(t, l.AtLineStart(Original, 1010), "the previous line start is remembered (retransmission)")
	l.Segment(Original, 1020, 5, true)
	assert.True(t, l.AtLineStart(Original, 1025))
	assert.False(t, l.AtLineStart(Original, 1010), "only the two latest are kept")
}

func FuzzFind(f *testing.F) {
	for _, s := range []string{"PORT 10,0,0,2,4,1\r\n", "EPRT |1|1.2.3.4|5|\r\n", "227 (1,2,3,4,5,6)\r\n", "229 (|||5|)\r\n", "229 (", "PORT"} {
		f.Add([]byte(s), false, false)
	}
	f.Fuzz(func(t *testing.T, seg []byte, reply, v6 bool) {
		dir := Original
		if reply {
			dir = Reply
		}
		m, res := Find(seg, dir, v6)
		if res != Found {
			return
		}
		if m.Off < 0 || m.Len <= 0 || m.Off+m.Len > len(seg) {
			t.Fatalf("span %d+%d outside %d bytes", m.Off, m.Len, len(seg))
		}
		if m.Kind != EPSV {
			ap := netip.AddrPortFrom(m.Addr, m.Port)
			if _, err := Format(m.Kind, ap); err != nil {
				t.Fatalf("found %v that cannot be written back: %v", ap, err)
			}
		}
	})
}
