package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/textproto"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/ftp"
	"github.com/ftplab/ftplab/ftp/proto"
	"github.com/ftplab/ftplab/ftp/store"
)

// step is one command and the reply code it must get.
type step struct {
	cmd  string
	code int
	has  string // the reply must contain this, if set
}

func runSteps(t *testing.T, c *client, steps []step) {
	t.Helper()
	for _, s := range steps {
		msg := c.cmd(s.code, "%s", s.cmd)
		if s.has != "" {
			assert.Contains(t, msg, s.has, "reply to %q", s.cmd)
		}
	}
}

func TestCommands(t *testing.T) {
	cases := []struct {
		name  string
		login string // "" for no login
		steps []step
	}{
		{"before login", "", []step{
			{"NOOP", 200, ""}, {"SYST", 215, "UNIX"}, {"PWD", 530, "log in"}, {"RETR x", 530, ""},
			{"PASV", 530, ""}, {"PASS p", 503, "USER"}, {"STAT", 211, "not logged in"},
		}},
		{"bad login", "", []step{
			{"USER u", 331, ""}, {"PASS wrong", 530, "incorrect"}, {"PWD", 530, ""},
			{"USER nobody", 331, ""}, {"PASS p", 530, ""},
			{"USER u", 331, ""}, {"PASS p", 230, ""}, {"PASS p", 503, ""},
		}},
		{"anonymous is read-only", "", []step{
			{"USER anonymous", 331, "Anonymous"}, {"PASS me@example.org", 230, ""},
			{"MKD d", 550, "read-only"}, {"STOR f", 550, "read-only"}, {"DELE f", 550, ""},
			{"RETR hello.txt", 425, ""},
		}},
		{"read-only user", "ro", []step{
			{"MKD d", 550, "read-only"}, {"APPE f", 550, ""}, {"RNFR hello.txt", 550, ""}, {"SIZE hello.txt", 213, "6"},
		}},
		{"syntax and unknown", "u", []step{
			{"XYZZ", 500, "Unknown"}, {"X", 500, "Syntax"}, {"TOOLONGVERB a", 500, "Syntax"}, {"R3TR a", 500, "Syntax"},
			{"ACCT x", 502, "not implemented"}, {"REIN", 502, ""}, {"SMNT /", 502, ""},
			{"ALLO 100", 202, ""}, {"rEtR", 501, "needs a path"},
		}},
		{"parameters", "u", []step{
			{"TYPE A", 200, "A"}, {"TYPE A N", 200, ""}, {"TYPE I", 200, "I"}, {"TYPE L 8", 200, ""}, {"TYPE E", 504, ""}, {"TYPE", 501, ""},
			{"MODE S", 200, ""}, {"MODE B", 504, ""}, {"STRU F", 200, ""}, {"STRU R", 504, ""},
			{"REST 10", 350, "10"}, {"REST -1", 501, ""}, {"REST x", 501, ""},
			{"OPTS UTF8 ON", 200, ""}, {"OPTS UTF8 OFF", 504, ""}, {"OPTS FOO", 501, ""},
			{"EPSV 3", 501, ""}, {"EPSV 2", 522, "(1)"}, {"EPRT |3|1.2.3.4|5000|", 522, "(1,2)"}, {"EPRT garbage", 501, ""},
			{"PORT 1,2,3", 501, ""}, {"PORT 0,0,0,0,100,1", 504, "cannot be"}, {"EPRT |1|224.0.0.1|5000|", 504, "cannot be"},
		}},
		{"directories", "u", []step{
			{"PWD", 257, `"/"`}, {"MKD d", 257, `"/d"`}, {"MKD d", 550, "exists"}, {"CWD d", 250, ""}, {"PWD", 257, `"/d"`},
			{"XPWD", 257, `"/d"`}, {"MKD /d/e", 257, ""}, {"CDUP", 250, ""}, {"PWD", 257, `"/"`},
			{"CWD nowhere", 550, "no such"}, {"CWD hello.txt", 550, "not a directory"}, {"RMD d", 550, "not empty"},
			{"RMD d/e", 250, ""}, {"RMD hello.txt", 550, "not a directory"}, {"DELE d", 550, "is a directory"},
			{"RMD d", 250, ""}, {"CWD ../../..", 250, ""}, {"PWD", 257, `"/"`}, {`MKD a"b`, 257, `"/a""b"`},
		}},
		{"rename", "u", []step{
			{"RNTO x", 503, "RNFR"}, {"RNFR nothere", 550, ""}, {"RNFR hello.txt", 350, ""}, {"NOOP", 200, ""},
			{"RNTO x", 503, ""}, {"RNFR hello.txt", 350, ""}, {"RNTO bye.txt", 250, ""},
			{"SIZE bye.txt", 213, "6"}, {"SIZE hello.txt", 550, ""},
		}},
		{"file facts", "u", []step{
			{"SIZE hello.txt", 213, "6"}, {"TYPE A", 200, ""}, {"SIZE hello.txt", 213, "7"}, {"TYPE I", 200, ""},
			{"SIZE /", 550, "directory"}, {"SIZE", 501, ""}, {"MDTM hello.txt", 213, time.Now().UTC().Format("2006")},
			{"MDTM nothere", 550, ""}, {"MLST hello.txt", 250, "type=file;size=6;"}, {"MLST /", 250, "type=dir"},
			{"OPTS MLST size;", 200, "size;"}, {"MLST hello.txt", 250, " size=6; /hello.txt"},
			{"STAT hello.txt", 213, "hello.txt"}, {"STAT /", 212, "hello.txt"}, {"STAT nothere", 550, ""},
			{"STAT", 211, "logged in as u"},
		}},
		{"transfers need a data connection", "u", []step{
			{"RETR hello.txt", 425, "PASV"}, {"STOR new.txt", 425, ""}, {"LIST", 425, ""}, {"RETR /", 550, "directory"},
			{"RETR nothere", 550, "no such"}, {"STOR /", 550, ""}, {"MLSD hello.txt", 550, "not a directory"},
			{"ABOR", 226, "No transfer"},
		}},
		{"EPSV ALL", "u", []step{
			{"EPSV ALL", 200, ""}, {"PASV", 501, "EPSV ALL"}, {"PORT 127,0,0,1,200,10", 501, ""}, {"EPRT |1|127.0.0.1|5000|", 501, ""},
			{"EPSV", 229, "|||"},
		}},
		{"help and features", "", []step{
			{"HELP", 214, "SOCK"}, {"HELP", 214, "RTRV"}, {"HELP RTRV", 214, "RFC 478"}, {"HELP NOPE", 502, ""},
			{"FEAT", 211, "REST STREAM"}, {"FEAT", 211, "MLST type*;size*;modify*;perm*;"}, {"FEAT", 211, "EPSV"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, "127.0.0.2", nil)
			require.NoError(t, ts.fs.WriteFile("/hello.txt", []byte("hello\n")))
			c := dial(t, ts, "127.0.0.2")
			if tc.login != "" {
				c.login(tc.login, "p")
			}
			runSteps(t, c, tc.steps)
			c.cmd(221, "QUIT")
		})
	}
}

func TestHelpIsMultiLine(t *testing.T) {
	ts := startServer(t, "127.0.0.2", nil)
	c := dial(t, ts, "127.0.0.2")
	c.send("HELP")
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	first, err := c.tp.ReadLine()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(first, "214-"), first)
	for {
		l, err := c.tp.ReadLine()
		require.NoError(t, err)
		if strings.HasPrefix(l, "214 ") {
			break
		}
		require.True(t, strings.HasPrefix(l, " "), "middle line %q must not look like a reply", l)
	}
}

func TestTransfers(t *testing.T) {
	ts := startServer(t, "127.0.0.2", nil)
	text := []byte("line one\nline two\n\nlast\n")
	require.NoError(t, ts.fs.WriteFile("/t.txt", text))
	c := dial(t, ts, "127.0.0.2")
	c.login("u", "p")

	t.Run("RETR and RTRV", func(t *testing.T) {
		assert.Equal(t, text, c.retr("t.txt"))
		assert.Equal(t, text, c.retr("/t.txt"))
		dc := c.epsv()
		c.cmd(150, "RTRV t.txt")
		assert.Equal(t, text, c.readData(dc))
		c.expect(226)
	})
	t.Run("REST then RETR resumes", func(t *testing.T) {
		c.cmd(350, "REST 5")
		assert.Equal(t, text[5:], c.retr("t.txt"))
		assert.Equal(t, text, c.retr("t.txt"), "REST applies to one transfer only")
		c.cmd(350, "REST 1000")
		c.pasv().Close()
		c.cmd(550, "RETR t.txt")
	})
	t.Run("REST then STOR resumes an upload", func(t *testing.T) {
		c.stor("STOR", "r.bin", []byte("0123456789"))
		c.cmd(350, "REST 4")
		c.stor("STOR", "r.bin", []byte("abc"))
		got, err := ts.fs.ReadFile("/r.bin")
		require.NoError(t, err)
		assert.Equal(t, "0123abc", string(got))
	})
	t.Run("APPE", func(t *testing.T) {
		c.stor("APPE", "a.bin", []byte("first "))
		c.stor("APPE", "a.bin", []byte("second"))
		got, err := ts.fs.ReadFile("/a.bin")
		require.NoError(t, err)
		assert.Equal(t, "first second", string(got))
	})
	t.Run("TYPE A sends CRLF", func(t *testing.T) {
		c.cmd(200, "TYPE A")
		defer c.cmd(200, "TYPE I")
		assert.Equal(t, "line one\r\nline two\r\n\r\nlast\r\n", string(c.retr("t.txt")))
	})
	t.Run("TYPE A stores LF", func(t *testing.T) {
		c.cmd(200, "TYPE A")
		defer c.cmd(200, "TYPE I")
		c.stor("STOR", "up.txt", []byte("a\r\nb\r\nc\rd\r\n\r"))
		got, err := ts.fs.ReadFile("/up.txt")
		require.NoError(t, err)
		assert.Equal(t, "a\nb\nc\rd\n\r", string(got))
	})
	t.Run("STOU", func(t *testing.T) {
		c.cmd(257, "MKD stou")
		dc := c.pasv()
		msg := c.cmd(150, "STOU stou")
		require.True(t, strings.HasPrefix(msg, "FILE: /stou/"), msg)
		dc.Close()
		c.expect(226)
		dc = c.pasv()
		msg = c.cmd(150, "STOU")
		require.True(t, strings.HasPrefix(msg, "FILE: /"), msg)
		_, err := dc.Write([]byte("unique"))
		require.NoError(t, err)
		dc.Close()
		c.expect(226)
		got, err := ts.fs.ReadFile(strings.TrimPrefix(msg, "FILE: "))
		require.NoError(t, err)
		assert.Equal(t, "unique", string(got))
	})
	t.Run("listings", func(t *testing.T) {
		require.NoError(t, ts.fs.WriteFile("/sub/x.bin", []byte("xx")))
		assert.Equal(t, []string{"x.bin"}, c.list("NLST sub"))
		long := c.list("LIST -la /sub")
		require.Len(t, long, 1)
		assert.Regexp(t, `^-rw-r--r-- 1 ftp ftp +2 \w{3} [ \d]\d [ \d]\d:\d\d x\.bin$`, long[0])
		ml := c.list("MLSD sub")
		require.Len(t, ml, 1)
		e, err := proto.ParseEntry(ml[0])
		require.NoError(t, err)
		assert.Equal(t, proto.Entry{Name: "x.bin", Type: "file", Size: 2, Modify: e.Modify, Perm: "adfrw"}, e)
		assert.WithinDuration(t, time.Now(), e.Modify, time.Minute)
		c.cmd(550, "LIST nothere")
	})
	t.Run("active PORT and EPRT", func(t *testing.T) {
		for _, verb := range []string{"PORT", "EPRT"} {
			got, from := c.activeRETR("127.0.0.2", verb, "RETR", "t.txt")
			assert.Equal(t, text, got, verb)
			// RFC 959 §3.2: the server connects from its port L-1.
			assert.Equal(t, ts.addr.Port()-1, from.Port(), "%s data connection from L-1", verb)
		}
	})
}

func TestUploadFailureKeepsFile(t *testing.T) {
	ts := startServer(t, "127.0.0.2", func(c *Config) { c.DataTimeout = time.Second })
	old := []byte("precious contents")
	require.NoError(t, ts.fs.WriteFile("/keep.txt", old))
	c := dial(t, ts, "127.0.0.2")
	c.login("u", "p")

	t.Run("no data connection comes", func(t *testing.T) {
		c.cmd(227, "PASV")
		c.cmd(425, "STOR keep.txt")
	})
	t.Run("aborted", func(t *testing.T) {
		dc := c.pasv()
		c.cmd(150, "STOR keep.txt")
		_, err := dc.Write([]byte("half of a new"))
		require.NoError(t, err)
		c.cmd(426, "ABOR")
		c.expect(226)
		dc.Close()
	})
	t.Run("data connection reset", func(t *testing.T) {
		dc := c.pasv()
		c.cmd(150, "STOR keep.txt")
		_, err := dc.Write([]byte("the start of a new version"))
		require.NoError(t, err)
		require.NoError(t, dc.(*net.TCPConn).SetLinger(0))
		dc.Close() // RST, not FIN: the upload did not end well
		assert.Contains(t, c.expect(426), "reset")
	})
	t.Run("data connection stalls", func(t *testing.T) {
		dc := c.pasv()
		defer dc.Close()
		c.cmd(150, "APPE keep.txt")
		_, err := dc.Write([]byte("more"))
		require.NoError(t, err)
		msg := c.expect(426)
		assert.Contains(t, msg, "stalled")
	})
	got, err := ts.fs.ReadFile("/keep.txt")
	require.NoError(t, err)
	assert.Equal(t, old, got)
	ents, err := ts.fs.ReadDir("/")
	require.NoError(t, err)
	assert.Len(t, ents, 1, "nothing left behind")
}

// startLongRETR starts a RETR of a file far bigger than socket buffers and
// returns the data connection, not yet read.
func startLongRETR(t *testing.T, ts *testServer, c *client) io.ReadCloser {
	t.Helper()
	require.NoError(t, ts.fs.AddGenerated("/huge.bin", 1<<30, 7))
	dc := c.pasv()
	c.cmd(150, "RETR huge.bin")
	return dc
}

func TestAbortDuringRETR(t *testing.T) {
	ts := startServer(t, "127.0.0.2", nil)
	c := dial(t, ts, "127.0.0.2")
	c.login("u", "p")
	dc := startLongRETR(t, ts, c)
	defer dc.Close()
	_, err := io.CopyN(io.Discard, dc, 1<<20)
	require.NoError(t, err)
	c.cmd(426, "ABOR")
	c.expect(226)
	c.cmd(200, "NOOP")
	// The session goes on.
	require.NoError(t, ts.fs.WriteFile("/small", []byte("ok")))
	assert.Equal(t, "ok", string(c.retr("small")))
}

// synchForms are the ways clients send a command with Telnet IP and Synch
// (RFC 959 §4.1.3) before it, as a server without SO_OOBINLINE reads them.
var synchForms = []struct {
	name string
	send func(t *testing.T, c *client, cmd string)
}{
	{"plain", func(t *testing.T, c *client, cmd string) { c.send("%s", cmd) }},
	{"in-line", func(t *testing.T, c *client, cmd string) {
		_, err := c.conn.Write([]byte("\xff\xf4\xff\xf2" + cmd + "\r\n"))
		require.NoError(t, err)
	}},
	// lftp: IAC IP IAC in band, DM as urgent data (the kernel drops it).
	{"lftp", func(t *testing.T, c *client, cmd string) {
		_, err := c.conn.Write([]byte("\xff\xf4\xff"))
		require.NoError(t, err)
		sendOOB(t, c.conn, []byte{0xf2})
		_, err = c.conn.Write([]byte(cmd + "\r\n"))
		require.NoError(t, err)
	}},
	// tnftp: "IAC IP IAC" sent with MSG_OOB (its last IAC is the urgent
	// byte the kernel drops), then "DM cmd" in band.
	{"tnftp", func(t *testing.T, c *client, cmd string) {
		sendOOB(t, c.conn, []byte("\xff\xf4\xff"))
		_, err := c.conn.Write([]byte("\xf2" + cmd + "\r\n"))
		require.NoError(t, err)
	}},
}

func TestTelnetSynchBeforeSTATAndABOR(t *testing.T) {
	for _, form := range synchForms {
		t.Run(form.name, func(t *testing.T) {
			ts := startServer(t, "127.0.0.2", nil)
			c := dial(t, ts, "127.0.0.2")
			c.login("u", "p")
			form.send(t, c, "STAT")
			c.expect(211) // no transfer: server status
			dc := startLongRETR(t, ts, c)
			defer dc.Close()
			_, err := io.CopyN(io.Discard, dc, 3<<20)
			require.NoError(t, err)
			form.send(t, c, "STAT")
			msg := c.expect(213)
			var n int64
			_, err = fmt.Sscanf(msg[strings.LastIndex(msg, "Status: "):], "Status: %d of", &n)
			require.NoError(t, err, msg)
			// progress counts what was written; one write (at most 1 MiB) may
			// be under way, read in part by the client
			assert.GreaterOrEqual(t, n, int64(2<<20), "progress counts what was sent")
			assert.Contains(t, msg, "Sending file /huge.bin (")
			// the transfer was not disturbed
			_, err = io.CopyN(io.Discard, dc, 1<<20)
			require.NoError(t, err)
			form.send(t, c, "ABOR")
			c.expect(426)
			c.expect(226)
			c.cmd(200, "NOOP")
			assert.NotContains(t, ts.logs.String(), "Unknown command")
			assert.NotContains(t, ts.logs.String(), "Syntax error")
		})
	}
}

func TestCommandsDuringTransfer(t *testing.T) {
	ts := startServer(t, "127.0.0.2", nil)
	data := bytes.Repeat([]byte("z"), 16<<20)
	require.NoError(t, ts.fs.WriteFile("/z", data))
	c := dial(t, ts, "127.0.0.2")
	c.login("u", "p")
	dc := c.pasv()
	c.cmd(150, "RETR z")
	c.cmd(200, "NOOP") // answered at once
	c.send("PWD")      // these wait for the transfer's 226, in order
	c.send("STAT /z")  // STAT with a path is not a progress report
	c.send("NOOP")     // and a NOOP after them waits its turn
	got, err := io.ReadAll(dc)
	require.NoError(t, err)
	dc.Close()
	c.expect(226)
	c.expect(257)
	c.expect(213)
	c.expect(200)
	assert.Equal(t, len(data), len(got))
}

func TestListenAndServe(t *testing.T) {
	srv, err := New(Config{Network: ftp.OS{}, Store: store.NewMem(), Anonymous: true})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe(context.Background(), ftp.OS{}, addr) }()
	var conn net.Conn
	require.Eventually(t, func() bool {
		conn, err = net.Dial("tcp", addr)
		return err == nil
	}, 5*time.Second, 10*time.Millisecond)
	tp := textproto.NewConn(conn)
	_, _, err = tp.ReadResponse(220)
	require.NoError(t, err)
	tp.Close()
	require.NoError(t, srv.Close())
	require.ErrorIs(t, <-done, ErrServerClosed)
	require.Error(t, srv.ListenAndServe(context.Background(), ftp.OS{}, "127.0.0.2:-1"))
}

func TestAbortBeforeDataConnection(t *testing.T) {
	ts := startServer(t, "127.0.0.2", nil)
	require.NoError(t, ts.fs.WriteFile("/f", []byte("x")))
	c := dial(t, ts, "127.0.0.2")
	c.login("u", "p")
	ap, err := proto.ParsePASVReply(c.cmd(227, "PASV"))
	require.NoError(t, err)
	c.send("RETR f")
	c.cmd(426, "ABOR")
	c.expect(226)
	// the passive socket is gone
	_, err = dialFrom(t, netipAddrPort("127.0.0.2", 0), ap)
	require.Error(t, err)
}

// preLogin are the commands a client may send before it logs in.
var preLogin = []string{"ACCT", "AUTH", "CCC", "FEAT", "HELP", "NOOP", "OPTS", "PASS", "PBSZ", "PROT", "QUIT", "STAT", "SYST", "USER"}

// Every command of the table but the few open ones needs a login: a new
// command is closed until someone opens it on purpose.
func TestCommandsNeedLogin(t *testing.T) {
	ts := startServer(t, "127.0.0.2", nil)
	require.NoError(t, ts.fs.WriteFile("/hello.txt", []byte("hello\n")))
	c := dial(t, ts, "127.0.0.2")
	var open []string
	for _, verb := range slices.Sorted(maps.Keys(commands)) {
		if slices.Contains(preLogin, verb) {
			open = append(open, verb)
			continue
		}
		c.cmd(530, "%s hello.txt", verb)
	}
	assert.Equal(t, preLogin, open, "the commands open before login")
	runSteps(t, c, []step{
		{"STAT /", 530, "log in"}, {"OPTS UTF8 ON", 200, ""}, {"FEAT", 211, ""}, {"SYST", 215, ""},
		{"HELP", 214, ""}, {"NOOP", 200, ""}, {"ACCT x", 502, ""}, {"STAT", 211, "not logged in"},
		{"USER u", 331, ""}, {"PASS p", 230, ""}, {"MODE S", 200, ""}, {"SIZE hello.txt", 213, "6"},
	})
	c.cmd(221, "QUIT")
}

// NLST, LIST and STAT expand shell wildcards in the last path element, as
// vsftpd does: "mget *.bin" sends "NLST *.bin" and RETRs each name.
func TestWildcardListings(t *testing.T) {
	ts := startServer(t, "127.0.0.2", nil)
	for _, f := range []string{"/a.bin", "/b.bin", "/c.txt", "/.hidden.bin", "/sub/x.bin", "/sub/y.txt", "/*.lit"} {
		require.NoError(t, ts.fs.WriteFile(f, []byte(f)))
	}
	c := dial(t, ts, "127.0.0.2")
	c.login("u", "p")
	for _, tc := range []struct {
		cmd  string
		want []string
	}{
		{"NLST *.bin", []string{"a.bin", "b.bin"}},
		{"NLST sub/*.bin", []string{"sub/x.bin"}},
		{"NLST /sub/?.txt", []string{"/sub/y.txt"}},
		{"NLST [ab].bin", []string{"a.bin", "b.bin"}},
		{"NLST .*.bin", []string{".hidden.bin"}},
		{"NLST *.lit", []string{"*.lit"}}, // a name that exists is no pattern
		{"NLST sub", []string{"x.bin", "y.txt"}},
	} {
		assert.Equal(t, tc.want, c.list(tc.cmd), tc.cmd)
	}
	long := c.list("LIST -l *.txt")
	require.Len(t, long, 1)
	assert.True(t, strings.HasSuffix(long[0], " c.txt"), long[0])
	runSteps(t, c, []step{
		{"NLST *.none", 550, "no such file"}, {"NLST [", 550, ""}, {"LIST nodir/*.bin", 550, ""},
		{"MLSD *.bin", 550, ""}, {"STAT *.bin", 213, "b.bin"},
	})
}

// On a directory store, RMD of a directory with files is refused as not
// empty (the OS's ENOTEMPTY matches fs.ErrExist too).
func TestRMDNotEmptyOnDisk(t *testing.T) {
	dir, err := store.NewDir(t.TempDir())
	require.NoError(t, err)
	defer dir.Close()
	ts := startServer(t, "127.0.0.2", func(c *Config) { c.Store = dir })
	c := dial(t, ts, "127.0.0.2")
	c.login("u", "p")
	c.cmd(257, "MKD d")
	c.stor("STOR", "d/f", []byte("x"))
	runSteps(t, c, []step{
		{"RMD d", 550, "directory not empty"}, {"MKD d", 550, "already exists"},
		{"DELE d/f", 250, ""}, {"RMD d", 250, ""},
	})
}

// openCounter is an in-memory store that counts Open calls.
type openCounter struct {
	*store.Mem
	opens atomic.Int32
}

func (o *openCounter) Open(name string, offset int64) (io.ReadCloser, error) {
	o.opens.Add(1)
	return o.Mem.Open(name, offset)
}

// SIZE in TYPE A counts a file once per version, for every session.
func TestASCIISizeCountedOnce(t *testing.T) {
	oc := &openCounter{Mem: store.NewMem()}
	ts := startServer(t, "127.0.0.2", func(c *Config) { c.Store = oc })
	require.NoError(t, oc.WriteFile("/t.txt", []byte("a\nb\n")))
	a, b := dial(t, ts, "127.0.0.2"), dial(t, ts, "127.0.0.2")
	a.login("u", "p")
	b.login("anonymous", "me@")
	for _, c := range []*client{a, a, b} {
		c.cmd(200, "TYPE A")
		assert.Equal(t, "6", c.cmd(213, "SIZE t.txt"))
	}
	assert.Equal(t, int32(1), oc.opens.Load(), "counted once")
	a.cmd(200, "TYPE I")
	a.stor("STOR", "t.txt", []byte("ab\nc")) // as long as before, one LF fewer
	assert.Equal(t, "5", b.cmd(213, "SIZE t.txt"), "a new version is counted again")
	assert.Equal(t, int32(2), oc.opens.Load())
}
