package client

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/ftp/proto"
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

			assertRetr(t, ctx, c, "/f.bin", data[4096:], WithOffset(4096))

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
	assertInStep(t, ctx, c)
	require.NoError(t, c.Quit(ctx))
}

var errDiskFull = errors.New("disk full")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errDiskFull }

// roundTrip checks that parse(v.String()) gives v back, in upper case too,
// and that parse names a bad value in its error.
func roundTrip[T interface {
	comparable
	String() string
}](t *testing.T, parse func(string) (T, error), bad string, values ...T) {
	t.Helper()
	for _, v := range values {
		got, err := parse(strings.ToUpper(v.String()))
		require.NoError(t, err)
		assert.Equal(t, v, got)
	}
	_, err := parse(bad)
	assert.ErrorContains(t, err, `"`+bad+`"`)
}

func TestParseModeSideDialect(t *testing.T) {
	roundTrip(t, ParseMode, "active", ModeAuto, ModeEPSV, ModePASV, ModeEPRT, ModePORT)
	roundTrip(t, ParseSide, "middle", Source, Destination)
	roundTrip(t, ParseDialect, "rfc2428", RFC959, RFC478)
}

// A raw TYPE A through Cmd must not leave later transfers in ASCII mode,
// where the server would turn every LF into CR LF.
func TestRawTypeIsNotSticky(t *testing.T) {
	ctx := testCtx(t)
	s := startServer(t, "127.0.0.1:0", server.Config{})
	data := []byte("line one\nline two\n\x00\xff binary\n")
	require.NoError(t, s.mem.WriteFile("/f", data))
	c := dialUser(t, ctx, s.addr, Options{})
	assertRetr(t, ctx, c, "f", data)
	code, _, err := c.Cmd(ctx, "TYPE A")
	require.NoError(t, err)
	require.Equal(t, 200, code)
	assertRetr(t, ctx, c, "f", data)
}

// Replies are read with net/textproto: a multi-line reply is one reply
// (its middle lines may look like replies), a reply of another code or
// class is a *ReplyError carrying all its text, and the session stays in
// step.
func TestExpectedReplies(t *testing.T) {
	ctx := testCtx(t)
	data, err := net.Listen("tcp", "127.0.0.1:0") // where EPSV sends the client
	require.NoError(t, err)
	defer data.Close()
	addr, verbs := scriptedServer(t, map[string]string{
		"USER": "331 password", "PASS": "230 in", "NOOP": "200 ok",
		"TYPE": "200-Type set\r\n 213 not a reply\r\n200 to I",
		"SIZE": "550-No such file:\r\n550-f is missing\r\n550 End",
		"MDTM": "213 20240102030405",
		"RETR": "450 busy",
		"EPSV": "229 " + proto.FormatEPSVReply(proto.AddrPortOf(data.Addr()).Port()),
	})
	c := dialUser(t, ctx, addr, Options{Mode: ModeEPSV})
	_, err = c.Size(ctx, "f") // TYPE I first: multi-line, but a 2xx
	var re *ReplyError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, ReplyError{Command: "SIZE f", Code: 550, Msg: "No such file:\nf is missing\nEnd"}, *re)
	mt, err := c.ModTime(ctx, "f")
	require.NoError(t, err)
	assert.Equal(t, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), mt)
	_, err = c.Retr(ctx, "f", io.Discard)
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "RETR f", re.Command)
	assert.Equal(t, 450, re.Code, "a final reply where a preliminary one was due")
	assertInStep(t, ctx, c)
	assert.Equal(t, []string{"USER", "PASS", "TYPE", "SIZE", "MDTM", "EPSV", "RETR", "NOOP"}, verbs())
}
