package server

import (
	"bytes"
	"fmt"
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

// listing renders the entries of directory p, or p itself when it is a
// file; dir reports which.
func (s *session) listing(p string, f lineFormat) (lines []string, dir bool, err error) {
	fi, err := s.fs.Stat(p)
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

func (s *session) cmdLIST(c command) { s.list(c, listArg(c.arg), longLine, false) }
func (s *session) cmdNLST(c command) { s.list(c, listArg(c.arg), nameLine, false) }
func (s *session) cmdMLSD(c command) { s.list(c, c.arg, mlsdLine, true) }

// list sends a listing over a data connection, each line ended by CR LF.
func (s *session) list(c command, arg string, f lineFormat, needDir bool) {
	p, ok := s.path(arg)
	if !ok {
		return
	}
	lines, dir, err := s.listing(p, f)
	if err == nil && needDir && !dir {
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
