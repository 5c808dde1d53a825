package server

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/ftplab/ftplab/ftp/proto"
	"github.com/ftplab/ftplab/ftp/store"
)

// lineFormat renders one listing entry.
type lineFormat func(s *session, fi store.FileInfo) string

// longLine is LIST's "ls -l" format, which clients parse.
func longLine(_ *session, fi store.FileInfo) string {
	mode := "-rw-r--r--"
	if fi.IsDir {
		mode = "drwxr-xr-x"
	}
	when := fi.ModTime.Format("Jan _2 15:04")
	if age := time.Since(fi.ModTime); age > 180*24*time.Hour || age < -time.Hour {
		when = fi.ModTime.Format("Jan _2  2006")
	}
	return fmt.Sprintf("%s 1 ftp ftp %12d %s %s", mode, fi.Size, when, fi.Name)
}

func nameLine(_ *session, fi store.FileInfo) string { return fi.Name }

func mlsdLine(s *session, fi store.FileInfo) string { return proto.FormatEntry(s.entry(fi), s.facts) }

// listArg drops ls-style options ("-la") that clients put before a path.
func listArg(arg string) string {
	for strings.HasPrefix(arg, "-") {
		_, rest, _ := strings.Cut(arg, " ")
		arg = rest
	}
	return arg
}

// listing renders the entries of directory p (arg as the client wrote
// it), or p itself when it is a file; dir reports which. With glob, a p
// that names nothing but whose last element holds wildcards (*, ?, [...],
// path.Match) lists the entries of its directory that match, each named
// as arg's directory part plus its name, as a shell's "ls" would show them
// (so that "mget *.bin" can RETR each name); a leading "." must be matched
// explicitly.
func (s *session) listing(arg, p string, f lineFormat, glob bool) (lines []string, dir bool, err error) {
	fi, err := s.fs.Stat(p)
	if errors.Is(err, fs.ErrNotExist) && glob {
		lines, gerr := s.glob(arg, p, f)
		if gerr == nil {
			return lines, false, nil
		}
	}
	if err != nil {
		return nil, false, err
	}
	if !fi.IsDir {
		return []string{f(s, fi)}, false, nil
	}
	ents, err := s.fs.ReadDir(p)
	if err != nil {
		return nil, true, err
	}
	for _, e := range ents {
		lines = append(lines, f(s, e))
	}
	return lines, true, nil
}

// glob lists what the pattern in p's last element matches (see listing).
func (s *session) glob(arg, p string, f lineFormat) ([]string, error) {
	pattern := path.Base(p)
	if !strings.ContainsAny(pattern, "*?[") {
		return nil, fs.ErrNotExist
	}
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("pattern %q: %w", pattern, err)
	}
	ents, err := s.fs.ReadDir(path.Dir(p))
	if err != nil {
		return nil, err
	}
	prefix := ""
	if i := strings.LastIndex(strings.TrimRight(arg, "/"), "/"); i >= 0 {
		prefix = arg[:i+1]
	}
	var lines []string
	for _, e := range ents {
		if ok, _ := path.Match(pattern, e.Name); !ok || (strings.HasPrefix(e.Name, ".") && !strings.HasPrefix(pattern, ".")) {
			continue
		}
		e.Name = prefix + e.Name
		lines = append(lines, f(s, e))
	}
	if len(lines) == 0 {
		return nil, fs.ErrNotExist
	}
	return lines, nil
}

func (s *session) cmdLIST(c command) { s.list(c, listArg(c.arg), longLine, false) }
func (s *session) cmdNLST(c command) { s.list(c, listArg(c.arg), nameLine, false) }
func (s *session) cmdMLSD(c command) { s.list(c, c.arg, mlsdLine, true) }

// list sends a listing over a data connection, each line ended by CR LF.
// MLSD (mlsd) lists a directory only, without wildcards (RFC 3659 §7.1).
func (s *session) list(c command, arg string, f lineFormat, mlsd bool) {
	p, ok := s.path(arg)
	if !ok {
		return
	}
	lines, dir, err := s.listing(arg, p, f, !mlsd)
	if err == nil && mlsd && !dir {
		err = store.ErrNotDir
	}
	if err != nil {
		s.fail(c.verb, p, err)
		return
	}
	var buf bytes.Buffer
	for _, l := range lines {
		buf.WriteString(l + "\r\n")
	}
	x := &transfer{verb: c.verb, path: p, size: int64(buf.Len())}
	s.startTransfer(x, func(dc *dataConn) (int, string) {
		if _, err := buf.WriteTo(dc); err != nil {
			return dc.failure(err, "listing "+p)
		}
		return 226, fmt.Sprintf("Transfer complete: %d entries.", len(lines))
	}, func() {})
}
