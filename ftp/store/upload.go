package store

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"sync"
)

// memUpload collects an upload aside; Commit links it in.
//
// An upload whose bytes are, so far, exactly the stream of a generated file
// (Generate, for a seed some Mem in this process added with AddGenerated)
// is not stored at all: it is compared with the stream as it arrives and
// committed as a generated file of that seed. This is what keeps a lab's
// copy of a 4 GiB generated file in constant memory, and it is exact: the
// committed file reads back, lists and hashes as the bytes received. At the
// first byte that differs the upload falls back to chunks, regenerating
// the prefix it skipped.
type memUpload struct {
	m     *Mem
	name  string
	data  *chunks
	track bool     // still comparing with generated streams
	cands []uint64 // the seeds whose stream the bytes so far equal
	off   int64    // bytes received while tracking
	done  bool
}

// Write appends p to the upload.
func (u *memUpload) Write(p []byte) (int, error) {
	if u.track {
		if u.follow(p) {
			return len(p), nil
		}
		u.materialise()
	}
	return u.data.Write(p)
}

// ReadFrom lets io.Copy read a data connection straight into memory (or,
// while tracking, through one pooled buffer).
func (u *memUpload) ReadFrom(r io.Reader) (int64, error) {
	if !u.track {
		return u.data.ReadFrom(r)
	}
	bp := genBufs.Get().(*[]byte)
	defer genBufs.Put(bp)
	var total int64
	for u.track {
		n, err := r.Read(*bp)
		if n > 0 {
			_, _ = u.Write((*bp)[:n])
			total += int64(n)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
	n, err := u.data.ReadFrom(r)
	return total + n, err
}

// follow reports whether p continues the stream of at least one candidate
// seed, keeping those it does.
func (u *memUpload) follow(p []byte) bool {
	if u.off == 0 && u.cands == nil {
		u.cands = knownSeeds.list()
	}
	bp := genBufs.Get().(*[]byte)
	defer genBufs.Put(bp)
	var kept []uint64
	head := p[:min(len(p), 64)] // rule most candidates out cheaply
	for _, seed := range u.cands {
		if streamEqual(head, seed, u.off, *bp) && streamEqual(p[len(head):], seed, u.off+int64(len(head)), *bp) {
			kept = append(kept, seed)
		}
	}
	if len(kept) == 0 {
		return false // u.cands still says what the bytes so far were
	}
	u.cands = kept
	u.off += int64(len(p))
	return true
}

// streamEqual reports whether p equals the stream of seed at off, using
// scratch to generate it.
func streamEqual(p []byte, seed uint64, off int64, scratch []byte) bool {
	for len(p) > 0 {
		n := min(len(p), len(scratch))
		Generate(scratch[:n], seed, off)
		if !bytes.Equal(p[:n], scratch[:n]) {
			return false
		}
		p, off = p[n:], off+int64(n)
	}
	return true
}

// materialise stops tracking: the bytes received so far (the stream of the
// first candidate, if there was one) go into chunks.
func (u *memUpload) materialise() {
	u.track = false
	if u.off > 0 && len(u.cands) > 0 {
		_ = u.data.copyPrefix(&generated{seed: u.cands[0], n: u.off}, u.off)
	}
	u.cands = nil
}

// content is what the upload committed holds.
func (u *memUpload) content() content {
	if u.track && u.off > 0 {
		return &generated{seed: u.cands[0], n: u.off}
	}
	return u.data.seal()
}

// Commit puts the upload in place of the target.
func (u *memUpload) Commit() error {
	if u.done {
		return fmt.Errorf("upload of %s: already finished", u.name)
	}
	u.done = true
	u.m.mu.Lock()
	defer u.m.mu.Unlock()
	d, base, err := u.m.parent(u.name)
	if err != nil {
		return fmt.Errorf("commit upload: %w", err)
	}
	if old, ok := d.children[base]; ok && old.dir {
		return fmt.Errorf("commit upload: %s: %w", u.name, ErrIsDir)
	}
	now := u.m.now()
	d.children[base] = &memNode{data: u.content(), mod: now}
	d.mod = now
	return nil
}

// Abort drops the upload.
func (u *memUpload) Abort() error {
	u.done = true
	u.data, u.track, u.cands = newChunks(), false, nil
	return nil
}

// knownSeeds are the seeds of the generated files added in this process,
// the streams an upload is compared with (a bounded set: the most recent).
var knownSeeds seedSet

const maxKnownSeeds = 16

type seedSet struct {
	mu    sync.Mutex
	seeds []uint64
}

func (s *seedSet) add(seed uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, v := range s.seeds {
		if v == seed {
			s.seeds = append(s.seeds[:i], s.seeds[i+1:]...)
			break
		}
	}
	s.seeds = append(s.seeds, seed)
	if len(s.seeds) > maxKnownSeeds {
		s.seeds = s.seeds[1:]
	}
}

func (s *seedSet) list() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint64{}, s.seeds...)
}

// sums remembers the digests of generated streams, by seed and size.
var sums struct {
	sync.Mutex
	m map[[2]uint64][sha256.Size]byte
}

// GeneratedSum is the SHA-256 of the first n bytes of seed's stream (what
// a file added with Mem.AddGenerated(name, n, seed) hashes to), computed
// streaming once and remembered (a few entries).
func GeneratedSum(seed uint64, n int64) [sha256.Size]byte {
	key := [2]uint64{seed, uint64(n)}
	sums.Lock()
	d, ok := sums.m[key]
	sums.Unlock()
	if ok {
		return d
	}
	h := sha256.New()
	_, _ = (&generated{seed: seed, n: n}).writeTo(h, 0)
	h.Sum(d[:0])
	sums.Lock()
	defer sums.Unlock()
	if sums.m == nil || len(sums.m) >= 64 {
		sums.m = map[[2]uint64][sha256.Size]byte{}
	}
	sums.m[key] = d
	return d
}

// SumReader returns the SHA-256 of what r yields, streaming.
func SumReader(r io.Reader) ([sha256.Size]byte, error) {
	var d [sha256.Size]byte
	h := sha256.New()
	_, err := io.Copy(h, r)
	h.Sum(d[:0])
	return d, err
}
