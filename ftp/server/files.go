package server

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/ftplab/ftplab/ftp/proto"
	"github.com/ftplab/ftplab/ftp/store"
)

// failReasons name the storage errors in 550 replies, the most specific
// first: an operating system's ENOTEMPTY matches fs.ErrExist too.
var failReasons = []struct {
	err error
	why string
}{
	{store.ErrNotEmpty, "directory not empty"},
	{store.ErrIsDir, "is a directory"},
	{store.ErrNotDir, "not a directory"},
	{store.ErrRange, "restart offset beyond end of file"},
	{fs.ErrNotExist, "no such file or directory"},
	{fs.ErrExist, "already exists"},
	{fs.ErrPermission, "permission denied"},
}

// fail answers a storage error: 553 for a bad name, else 550 with what went
// wrong.
func (s *session) fail(verb, p string, err error) {
	if errors.Is(err, store.ErrBadName) {
		s.reply(553, fmt.Sprintf("%s %s: bad file name.", verb, quote(p)))
		return
	}
	why := "failed"
	for _, r := range failReasons {
		if errors.Is(err, r.err) {
			why = r.why
			break
		}
	}
	s.log.Info("ftp file operation failed", "verb", verb, "path", p, "err", err.Error())
	s.reply(550, fmt.Sprintf("%s %s: %s.", verb, quote(p), why))
}

// quote renders a path inside a 257 reply: in double quotes, with any
// quote doubled (RFC 959 appendix II).
func quote(p string) string {
	return `"` + strings.ReplaceAll(p, `"`, `""`) + `"`
}

func (s *session) cmdPWD(command) {
	s.reply(257, quote(s.cwd)+" is the current directory.")
}

func (s *session) cmdCWD(c command) {
	p, ok := s.path(c.arg)
	if !ok {
		return
	}
	fi, err := s.fs.Stat(p)
	if err == nil && !fi.IsDir {
		err = store.ErrNotDir
	}
	if err != nil {
		s.fail("CWD", p, err)
		return
	}
	s.cwd = p
	s.reply(250, fmt.Sprintf("Directory changed to %s.", quote(p)))
}

func (s *session) cmdCDUP(command) {
	s.cmdCWD(command{verb: "CWD", arg: ".."})
}

func (s *session) cmdMKD(c command) {
	p, ok := s.needArg(c)
	if !ok {
		return
	}
	if err := s.fs.Mkdir(p); err != nil {
		s.fail("MKD", p, err)
		return
	}
	s.reply(257, quote(p)+" directory created.")
}

func (s *session) cmdRMD(c command) {
	s.simple(c, s.fs.RemoveDir, "Directory removed.")
}

func (s *session) cmdDELE(c command) {
	s.simple(c, s.fs.Remove, "File deleted.")
}

// simple runs op on the argument's path and answers 250 with ok.
func (s *session) simple(c command, op func(string) error, ok string) {
	p, good := s.needArg(c)
	if !good {
		return
	}
	if err := op(p); err != nil {
		s.fail(c.verb, p, err)
		return
	}
	s.reply(250, ok)
}

// needArg resolves a required path argument (501 when missing).
func (s *session) needArg(c command) (string, bool) {
	if c.arg == "" {
		s.reply(501, c.verb+" needs a path.")
		return "", false
	}
	return s.path(c.arg)
}

func (s *session) cmdRNFR(c command) {
	p, ok := s.needArg(c)
	if !ok {
		return
	}
	if _, err := s.fs.Stat(p); err != nil {
		s.fail("RNFR", p, err)
		return
	}
	s.rnfr = p
	s.reply(350, "Ready for RNTO.")
}

func (s *session) cmdRNTO(c command) {
	from := s.rnfr
	s.rnfr = ""
	if from == "" {
		s.reply(503, "RNTO needs an RNFR first.")
		return
	}
	to, ok := s.needArg(c)
	if !ok {
		return
	}
	if err := s.fs.Rename(from, to); err != nil {
		s.fail("RNTO", to, err)
		return
	}
	s.reply(250, "Rename successful.")
}

// statFile resolves a path argument to an existing regular file.
func (s *session) statFile(c command) (string, store.FileInfo, bool) {
	p, ok := s.needArg(c)
	if !ok {
		return "", store.FileInfo{}, false
	}
	fi, err := s.fs.Stat(p)
	if err == nil && fi.IsDir {
		err = store.ErrIsDir
	}
	if err != nil {
		s.fail(c.verb, p, err)
		return "", store.FileInfo{}, false
	}
	return p, fi, true
}

func (s *session) cmdSIZE(c command) {
	p, fi, ok := s.statFile(c)
	if !ok {
		return
	}
	if !s.ascii {
		s.reply(213, fmt.Sprint(fi.Size))
		return
	}
	n, err := s.asciiSize(p, fi)
	if err != nil {
		s.fail("SIZE", p, err)
		return
	}
	s.reply(213, fmt.Sprint(n))
}

// asciiSize is the size of file p in TYPE A, what goes over the wire: one
// CR more per LF. Counting reads the whole file, so the server keeps the
// count for each version (size and modification time) of a file.
func (s *session) asciiSize(p string, fi store.FileInfo) (int64, error) {
	key := asciiKey{store: s.fsID, path: p}
	ver := asciiVersion{size: fi.Size, mod: fi.ModTime}
	if n, ok := s.srv.asciiSizes.get(key, ver); ok {
		return n, nil
	}
	r, err := s.fs.Open(p, 0)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	var cw countWriter
	if _, err := copyData(&asciiEncoder{w: &cw}, r); err != nil {
		return 0, err
	}
	s.srv.asciiSizes.put(key, ver, cw.n)
	return cw.n, nil
}

// countWriter counts what is written to it.
type countWriter struct{ n int64 }

// Write counts p.
func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*countWriter)(nil)

// asciiKey names a file across the server's stores: store is 0 for
// Config.Store, i+1 for the store of Config.Users[i].
type asciiKey struct {
	store int
	path  string
}

// asciiVersion is the version of a file a TYPE A size was counted for.
type asciiVersion struct {
	size int64
	mod  time.Time
}

// maxASCIISizes bounds the TYPE A sizes kept.
const maxASCIISizes = 1024

// asciiSizes keeps TYPE A sizes of file versions.
type asciiSizes struct {
	mu sync.Mutex
	m  map[asciiKey]asciiSizeEntry
}

type asciiSizeEntry struct {
	ver asciiVersion
	n   int64
}

// get returns the size kept for key at version ver.
func (c *asciiSizes) get(key asciiKey, ver asciiVersion) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || e.ver.size != ver.size || !e.ver.mod.Equal(ver.mod) {
		return 0, false
	}
	return e.n, true
}

// put keeps n for key at version ver, dropping some other entry when full.
func (c *asciiSizes) put(key asciiKey, ver asciiVersion, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[asciiKey]asciiSizeEntry{}
	}
	if _, ok := c.m[key]; !ok && len(c.m) >= maxASCIISizes {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[key] = asciiSizeEntry{ver: ver, n: n}
}

func (s *session) cmdMDTM(c command) {
	if _, fi, ok := s.statFile(c); ok {
		s.reply(213, fi.ModTime.UTC().Format(proto.TimeFormat))
	}
}

func (s *session) cmdMLST(c command) {
	p, ok := s.path(c.arg)
	if !ok {
		return
	}
	fi, err := s.fs.Stat(p)
	if err != nil {
		s.fail("MLST", p, err)
		return
	}
	e := s.entry(fi)
	e.Name = p
	s.reply(250, "Listing "+p, proto.FormatEntry(e, s.facts), "End")
}

// entry turns a FileInfo into MLSx facts.
func (s *session) entry(fi store.FileInfo) proto.Entry {
	e := proto.Entry{Name: fi.Name, Type: "file", Size: fi.Size, Modify: fi.ModTime, Perm: "r"}
	if !s.readOnly {
		e.Perm = "adfrw"
	}
	if fi.IsDir {
		e.Type, e.Size, e.Perm = "dir", -1, "el"
		if !s.readOnly {
			e.Perm = "cdeflmp"
		}
	}
	return e
}

// cmdSTAT answers STAT outside a transfer: the server's status (211), or a
// listing of a file or directory over the control connection (213/212).
func (s *session) cmdSTAT(c command) {
	if c.arg == "" {
		user := "not logged in"
		if s.loggedIn {
			user = "logged in as " + s.user
		}
		mode := map[bool]string{true: "ASCII", false: "BINARY"}[s.ascii]
		s.reply(211, "ftplab FTP server status:",
			fmt.Sprintf("Connected to %s from %s", s.local, s.peer),
			user,
			"TYPE: "+mode+", FORM: Nonprint; STRUcture: File; transfer MODE: Stream",
			"No data connection",
			"End of status")
		return
	}
	if !s.loggedIn {
		s.askLogin()
		return
	}
	arg := listArg(c.arg)
	p, ok := s.path(arg)
	if !ok {
		return
	}
	lines, dir, err := s.listing(arg, p, longLine, true)
	if err != nil {
		s.fail("STAT", p, err)
		return
	}
	code := 213
	if dir {
		code = 212
	}
	s.reply(code, append(append([]string{"Status of " + p + ":"}, lines...), "End of status")...)
}
