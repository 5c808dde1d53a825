package proto

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fuzz targets of the client side: what a client parses out of a
// server's replies and listings. Each checks that parsing never panics and
// that whatever parses survives a format-parse round trip unchanged.

func FuzzParsePASVReply(f *testing.F) {
	for _, s := range []string{
		"Entering Passive Mode (127,0,0,1,200,10).",
		"Entering Passive Mode 10,0,0,2,4,1",
		"=192,168,1,1,255,255",
		"(1,2,3,4,5)",
		"(256,1,1,1,1,1)",
		"Passive 1,2,3,4,5,6,7,8",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		ap, err := ParsePASVReply(msg)
		if err != nil {
			return
		}
		require.True(t, ap.Addr().Is4(), "PASV gave non-IPv4 %s", ap)
		text, err := FormatPASVReply(ap)
		require.NoError(t, err)
		back, err := ParsePASVReply(text)
		require.NoError(t, err)
		assert.Equal(t, ap, back)
	})
}

func FuzzParseEPSVReply(f *testing.F) {
	for _, s := range []string{
		"Entering Extended Passive Mode (|||6446|)",
		"Entering Extended Passive Mode (!!!1!)",
		"(|||0|)",
		"(|||65536|)",
		"(||||)",
		"(|1|2|3|)",
		")(",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		port, err := ParseEPSVReply(msg)
		if err != nil {
			return
		}
		require.NotZero(t, port)
		back, err := ParseEPSVReply(FormatEPSVReply(port))
		require.NoError(t, err)
		assert.Equal(t, port, back)
	})
}

func FuzzParseEntry(f *testing.F) {
	for _, s := range []string{
		"type=file;size=1024;modify=20260101120000;perm=r; a.txt",
		"Type=DIR;Modify=19700101000000.123;Unique=ab12; sub dir",
		"type=cdir; .",
		"UNIX.mode=0644;x.y=a=b; name with  spaces",
		"size=-1; bad",
		"size=1;noequals; bad",
		"modify=2026; bad",
		"; only-name",
		"no-space",
		"type=file;\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		e, err := ParseEntry(line)
		if err != nil {
			return
		}
		require.NotEmpty(t, e.Name)
		back, err := ParseEntry(FormatEntry(e, nil))
		require.NoError(t, err, "re-parse of %q", FormatEntry(e, nil))
		assert.Equal(t, e.Name, back.Name)
		assert.Equal(t, e.Type, back.Type)
		assert.Equal(t, e.Size, back.Size)
		assert.True(t, e.Modify.Truncate(time.Second).Equal(back.Modify), "modify %v became %v", e.Modify, back.Modify)
		assert.Equal(t, e.Perm, back.Perm)
		assert.Equal(t, e.Unique, back.Unique)
		for k, v := range e.Other {
			if v != "" {
				assert.Equal(t, v, back.Other[k], "fact %q", k)
			}
		}
	})
}

func FuzzParseSizeReply(f *testing.F) {
	for _, s := range []string{"1048576", " 12 ", "-1", "+5", "9223372036854775808", "12 bytes", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		n, err := ParseSizeReply(msg)
		if err != nil {
			return
		}
		require.GreaterOrEqual(t, n, int64(0))
	})
}

func FuzzParseByteCount(f *testing.F) {
	for _, s := range []string{
		"Transfer complete (1048576 bytes).",
		"Status: 524288 of 1048576 bytes transferred",
		"Transfer complete. 3 Bytes.",
		"1 byte",
		"-5 bytes",
		"bytes",
		"Transfer complete.",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		n, ok := ParseByteCount(msg)
		if !ok {
			assert.Zero(t, n)
			return
		}
		require.GreaterOrEqual(t, n, int64(0))
	})
}

func TestParseByteCount(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want int64
		ok   bool
	}{
		{"Transfer complete (1048576 bytes).", 1048576, true},
		{"Status: 524288 of 1048576 bytes transferred", 1048576, true},
		{"Transferring: 4096 bytes so far", 4096, true},
		{"1 byte", 1, true},
		{"-5 bytes", 0, false},
		{"Transfer complete.", 0, false},
	} {
		n, ok := ParseByteCount(tc.msg)
		assert.Equal(t, tc.ok, ok, tc.msg)
		assert.Equal(t, tc.want, n, tc.msg)
	}
}

func TestParseSizeReply(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want int64
		bad  bool
	}{
		{"1048576", 1048576, false},
		{" 12\r", 12, false},
		{"-1", 0, true},
		{"+5", 0, true},
		{"12 bytes", 0, true},
		{"", 0, true},
	} {
		n, err := ParseSizeReply(tc.msg)
		if tc.bad {
			assert.Error(t, err, tc.msg)
			continue
		}
		require.NoError(t, err, tc.msg)
		assert.Equal(t, tc.want, n)
	}
}
