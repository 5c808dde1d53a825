package labs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/ftplab/ftplab/ftp/store"
)

// storeOf returns the store that holds ref's file, "SERVER:/path" (a
// server's store) or "HOST:/path" (what a client host downloaded, kept in
// that host's own in-memory store), and the path in it.
func (r *runner) storeOf(ref string) (*store.Mem, string) {
	name, path := splitRef(ref)
	if rs := r.servers[name]; rs != nil {
		return rs.mem, path
	}
	return r.clientStore(name), path
}

// clientStore is a client host's memory: what its get steps downloaded.
// Like a server's store it keeps a generated file's bytes as its generator,
// so a download costs no memory however large.
func (r *runner) clientStore(host string) *store.Mem {
	r.memMu.Lock()
	defer r.memMu.Unlock()
	m := r.memory[host]
	if m == nil {
		m = store.NewMem()
		r.memory[host] = m
	}
	return m
}

// sum returns the SHA-256 of ref's file.
func (r *runner) sum(ref string) ([sha256.Size]byte, error) {
	m, path := r.storeOf(ref)
	d, err := m.Sum(path)
	if err != nil {
		return d, fmt.Errorf("file %s: %w", ref, err)
	}
	return d, nil
}

// checksum compares the SHA-256 of a transfer's source and destination.
func (r *runner) checksum(res *StepResult, from, to string) error {
	t0 := time.Now()
	src, err := r.sum(from)
	if err != nil {
		return err
	}
	return r.checksumSum(res, src, to, t0)
}

// checksumSum compares src, the digest of what was sent, with the
// destination's; the time since t0 is the step's verification time.
func (r *runner) checksumSum(res *StepResult, src [sha256.Size]byte, to string, t0 time.Time) error {
	dst, err := r.sum(to)
	res.VerifyTime = time.Since(t0)
	if err != nil {
		return err
	}
	res.SHA256 = hex.EncodeToString(dst[:])
	res.Match = dst == src
	if !res.Match {
		return fmt.Errorf("%s differs from its source: sha256 %.12s…, want %x", to, res.SHA256, src[:6])
	}
	return nil
}
