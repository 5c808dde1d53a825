package client

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/ftp/server"
)

func TestDataModes(t *testing.T) {
	ctx := testCtx(t)
	s := startServer(t, "127.0.0.1:0", server.Config{})
	data := payload(1<<20 + 123)
	require.NoError(t, s.mem.WriteFile("/f.bin", data))
	require.NoError(t, s.mem.Mkdir("/dir"))
	for _, mode := range []Mode{ModeAuto, ModeEPSV, ModePASV, ModeEPRT, ModePORT} {
		t.Run(mode.String(), func(t *testing.T) {
			c := dialUser(t, ctx, s.addr, Options{Mode: mode})

			var got bytes.Buffer
			var calls int
			var last int64
			n, err := c.Retr(ctx, "f.bin", &got, WithProgress(func(n int64) {
				assert.Greater(t, n, last, "progress must grow")
				last = n
				calls++
			}))
			require.NoError(t, err)
			assert.Equal(t, int64(len(data)), n)
			assert.True(t, bytes.Equal(data, got.Bytes()), "RETR content differs")
			assert.Equal(t, n, last, "last progress is the byte count")
			assert.Positive(t, calls)

			got.Reset()
			n, err = c.Retr(ctx, "/f.bin", &got, WithOffset(4096))
			require.NoError(t, err)
			assert.Equal(t, int64(len(data)-4096), n)
			assert.True(t, bytes.Equal(data[4096:], got.Bytes()), "REST+RETR content differs")

			name := "/dir/up-" + mode.String()
			n, err = c.Stor(ctx, name, bytes.NewReader(data[:7000]))
			require.NoError(t, err)
			assert.Equal(t, int64(7000), n)
			_, err = c.Appe(ctx, name, bytes.NewReader(data[7000:9000]))
			require.NoError(t, err)
			_, err = c.Stor(ctx, name, bytes.NewReader(data[8000:10000]), WithOffset(8000))
			require.NoError(t, err)
			stored, err := s.mem.ReadFile(name)
			require.NoError(t, err)
			assert.Equal(t, data[:10000], stored, "STOR, APPE, REST+STOR")

			size, err := c.Size(ctx, name)
			require.NoError(t, err)
			assert.Equal(t, int64(10000), size)
			mt, err := c.ModTime(ctx, name)
			require.NoError(t, err)
			assert.WithinDuration(t, time.Now(), mt, time.Minute)

			entries, err := c.MLSD(ctx, "/dir")
			require.NoError(t, err)
			found := false
			for _, e := range entries {
				if e.Name == "up-"+mode.String() {
					found = true
					assert.Equal(t, "file", e.Type)
					assert.Equal(t, int64(10000), e.Size)
					assert.WithinDuration(t, mt, e.Modify, time.Second)
				}
			}
			assert.True(t, found, "MLSD lists the uploaded file: %+v", entries)

			names, err := c.NameList(ctx, "/")
			require.NoError(t, err)
			assert.Contains(t, names, "f.bin")
			lines, err := c.List(ctx, "/")
			require.NoError(t, err)
			assert.True(t, containsSubstr(lines, "f.bin"), "LIST mentions f.bin: %q", lines)
			require.NoError(t, c.Quit(ctx))
		})
	}
}

func containsSubstr(lines []string, s string) bool {
	for _, l := range lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

func TestReplyErrors(t *testing.T) {
	ctx := testCtx(t)
	s := startServer(t, "127.0.0.1:0", server.Config{})
	require.NoError(t, s.mem.WriteFile("/f.bin", payload(1000)))

	c, err := Dial(ctx, osNet, s.addr.String(), Options{})
	require.NoError(t, err)
	defer c.Close()
	err = c.Login(ctx, testUser, "wrong")
	require.Error(t, err)
	assert.True(t, IsReply(err, 530), "bad password: %v", err)
	assert.NotContains(t, err.Error(), "wrong", "the password never shows")
	require.NoError(t, c.Login(ctx, testUser, testPass))

	code, _, err := c.Cmd(ctx, "NOSUCHCOMMAND")
	require.NoError(t, err)
	assert.Equal(t, 5, code/100)

	_, err = c.Retr(ctx, "missing", io.Discard)
	var re *ReplyError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "RETR missing", re.Command)
	assert.Equal(t, 550, re.Code)

	_, err = c.Size(ctx, "missing")
	assert.True(t, IsReply(err, 550), "SIZE of a missing file: %v", err)
	_, err = c.MLSD(ctx, "/f.bin/x")
	assert.Error(t, err)

	err = c.Send(ctx, "NOOP\r\nDELE f.bin")
	assert.Error(t, err, "a command with CR LF is refused before it is sent")

	// A failing local writer aborts the download; the session stays in
	// step: the next command gets its own reply.
	_, err = c.Retr(ctx, "f.bin", failWriter{})
	require.Error(t, err)
	assert.ErrorIs(t, err, errDiskFull)
	code, _, err = c.Cmd(ctx, "NOOP")
	require.NoError(t, err)
	assert.Equal(t, 200, code)
	require.NoError(t, c.Quit(ctx))
}

var errDiskFull = errors.New("disk full")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errDiskFull }

func TestParseModeSideDialect(t *testing.T) {
	for _, m := range []Mode{ModeAuto, ModeEPSV, ModePASV, ModeEPRT, ModePORT} {
		got, err := ParseMode(strings.ToUpper(m.String()))
		require.NoError(t, err)
		assert.Equal(t, m, got)
	}
	_, err := ParseMode("active")
	assert.ErrorContains(t, err, `"active"`)
	for _, s := range []Side{Source, Destination} {
		got, err := ParseSide(s.String())
		require.NoError(t, err)
		assert.Equal(t, s, got)
	}
	_, err = ParseSide("middle")
	assert.ErrorContains(t, err, `"middle"`)
	for _, d := range []Dialect{RFC959, RFC478} {
		got, err := ParseDialect(d.String())
		require.NoError(t, err)
		assert.Equal(t, d, got)
	}
	_, err = ParseDialect("rfc2428")
	assert.ErrorContains(t, err, `"rfc2428"`)
}
