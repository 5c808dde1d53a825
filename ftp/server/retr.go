package server

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/ftplab/ftplab/ftp/store"
)

// cmdRETR sends a file (RETR, and RFC 478's RTRV), from the REST offset.
func (s *session) cmdRETR(c command) {
	off := s.rest
	s.rest = 0
	p, fi, ok := s.statFile(c)
	if !ok {
		return
	}
	if s.ascii && off > 0 {
		s.reply(504, "REST with TYPE A is not supported: use TYPE I to resume.")
		return
	}
	r, err := s.fs.Open(p, off)
	if err != nil {
		s.fail(c.verb, p, err)
		return
	}
	ascii := s.ascii
	x := &transfer{verb: c.verb, path: p, size: fi.Size - off}
	if ascii {
		x.size = -1
	}
	s.startTransfer(x, func(dc *dataConn) (int, string) {
		var w io.Writer = dc
		if ascii {
			w = &asciiEncoder{w: dc}
		}
		if _, err := copyData(w, r); err != nil {
			return dc.failure(err, "reading "+p)
		}
		return 226, fmt.Sprintf("Transfer complete: %d bytes sent.", x.n.Load())
	}, func() { r.Close() })
}

func (s *session) cmdSTOR(c command) {
	keep := s.rest
	s.rest = 0
	if p, ok := s.needArg(c); ok {
		s.store(c.verb, p, keep, "")
	}
}

func (s *session) cmdAPPE(c command) {
	s.rest = 0
	if p, ok := s.needArg(c); ok {
		s.store(c.verb, p, store.Append, "")
	}
}

// cmdSTOU stores under a new unique name in the working directory (or the
// directory named), announced as "FILE: name" (RFC 1123 §4.1.2.9).
func (s *session) cmdSTOU(c command) {
	dir := s.cwd
	if c.arg != "" {
		p, ok := s.path(c.arg)
		if !ok {
			return
		}
		if fi, err := s.fs.Stat(p); err == nil && fi.IsDir {
			dir = p
		}
	}
	for range 16 {
		var b [6]byte
		_, _ = rand.Read(b[:])
		p, _ := store.Resolve(dir, "stou-"+hex.EncodeToString(b[:]))
		if _, err := s.fs.Stat(p); err != nil {
			s.store("STOU", p, 0, "FILE: "+p)
			return
		}
	}
	s.reply(452, "STOU: could not find a unique name.")
}

// store receives a file: the upload is written aside and committed only
// when all of it arrived, so a failed or aborted one leaves the old file.
func (s *session) store(verb, p string, keep int64, note string) {
	if s.ascii && keep > 0 {
		s.reply(504, "REST with TYPE A is not supported: use TYPE I to resume.")
		return
	}
	up, err := s.fs.Create(p, keep)
	if err != nil {
		s.fail(verb, p, err)
		return
	}
	ascii := s.ascii
	x := &transfer{verb: verb, path: p, upload: true, size: -1, note: note}
	committed := false
	s.startTransfer(x, func(dc *dataConn) (int, string) {
		var w io.Writer = up
		var dec *asciiDecoder
		if ascii {
			dec = &asciiDecoder{w: up}
			w = dec
		}
		_, err := copyData(w, dc)
		if err == nil && dec != nil {
			err = dec.Flush()
		}
		if err != nil {
			return dc.failure(err, "writing "+p)
		}
		if x.aborted.Load() {
			return 426, "Connection closed; transfer aborted."
		}
		if err := up.Commit(); err != nil {
			return 451, fmt.Sprintf("Local error storing %s: %v.", p, err)
		}
		committed = true
		return 226, fmt.Sprintf("Transfer complete: %d bytes received.", x.n.Load())
	}, func() {
		if !committed {
			_ = up.Abort()
		}
	})
}
