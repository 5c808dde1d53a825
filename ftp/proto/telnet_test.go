package proto

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// decodeAll feeds raw through a LineDecoder and returns its lines, a line
// too long as "ERR".
func decodeAll(max int, raw string) []string {
	d := LineDecoder{Max: max}
	var out []string
	for i := 0; i < len(raw); i++ {
		if !d.Feed(raw[i]) {
			continue
		}
		l, err := d.Line()
		if err != nil {
			l = "ERR"
		}
		out = append(out, l)
	}
	return out
}

func TestLineDecoder(t *testing.T) {
	cases := []struct {
		name, raw string
		want      []string
	}{
		{"plain", "ABOR\r\nNOOP\n", []string{"ABOR", "NOOP"}},
		{"synch in line", "\xff\xf4\xff\xf2ABOR\r\n", []string{"ABOR"}},
		{"lftp: urgent DM lost", "\xff\xf4\xffSTAT\r\n", []string{"STAT"}},
		{"tnftp: urgent IAC lost", "\xff\xf4\xf2ABOR\r\n", []string{"ABOR"}},
		{"option negotiation", "\xff\xfb\x01\xff\xfe\x03NOOP\r\n", []string{"NOOP"}},
		{"IAC IAC is a 255 byte", "RETR a\xff\xffb\r\n", []string{"RETR a\xffb"}},
		{"a DM without Telnet before it is data", "\xf2ABOR\r\n", []string{"\xf2ABOR"}},
		{"a DM inside a line is data", "RETR \xf2\r\n", []string{"RETR \xf2"}},
		{"the Telnet flag ends with the line", "\xff\xf4\r\n\xf2X\r\n", []string{"", "\xf2X"}},
		{"only the final CR goes", "a\rb\r\r\n", []string{"a\rb\r"}},
		{"IAC before LF", "NOOP\xff\n", []string{"NOOP"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, decodeAll(0, tc.raw))
		})
	}
}

func TestLineDecoderMax(t *testing.T) {
	assert.Equal(t, []string{"abcd", "ERR", "ok"}, decodeAll(4, "abcd\r\nabcde\r\nok\n"))
	long := strings.Repeat("x", 100)
	assert.Equal(t, []string{"ERR", "NOOP"}, decodeAll(10, long+"\r\nNOOP\r\n"))
	d := LineDecoder{Max: 2}
	for _, b := range []byte("abc\n") {
		if d.Feed(b) {
			_, err := d.Line()
			require.ErrorIs(t, err, ErrLineTooLong)
		}
	}
	assert.Equal(t, []string{long}, decodeAll(0, long+"\n"), "no limit by default")
}
