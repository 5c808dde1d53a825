package labs

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ftplab/ftplab/ftp/store"
)

// PutStep uploads a file from the client host's memory (or generated).
type PutStep struct {
	// Client is the user host.
	Client string `yaml:"client"`
	// From is a path in the client's memory (an earlier get's To).
	From string `yaml:"from"`
	// Content uploads this text instead of From.
	Content *string `yaml:"content"`
	// Size uploads this many seeded pseudo-random bytes instead of From.
	Size Size `yaml:"size"`
	// Seed seeds Size's bytes.
	Seed int64 `yaml:"seed"`
	// To is "SERVER:/path".
	To string `yaml:"to"`
	// TLS is "explicit" or "implicit" for FTPS (the server's tls: mode),
	// default off.
	TLS TLSMode `yaml:"tls"`
	// Mode is how the data connection is opened, as for get.
	Mode DataMode `yaml:"mode"`
}

func init() { register("put", func() Action { return new(PutStep) }) }

func (a *PutStep) check(c *checker, at string) {
	c.host(at+".client", a.Client, "put client")
	c.serverPath(at+".to", a.To, "put to")
	name, _ := splitRef(a.To)
	c.clientTLS(at+".tls", a.TLS, name, "put")
	n := 0
	for _, set := range []bool{a.From != "", a.Content != nil, a.Size > 0} {
		if set {
			n++
		}
	}
	if n != 1 {
		c.errorf(at, "put: give exactly one of from, content or size")
	}
	c.sizeAtMost(at+".size", a.Size, MaxPutSize, "put")
}

func (a *PutStep) describe() string { return fmt.Sprintf("%s: put %s", a.Client, a.To) }

// source is what the step uploads, its size and its SHA-256 (generated
// bytes are made as they are sent, never held).
func (a *PutStep) source(r *runner) (io.Reader, int64, [sha256.Size]byte, error) {
	switch {
	case a.Content != nil:
		return strings.NewReader(*a.Content), int64(len(*a.Content)), sha256.Sum256([]byte(*a.Content)), nil
	case a.Size > 0:
		n := int64(a.Size)
		return store.GeneratedReader(uint64(a.Seed), n), n, store.GeneratedSum(uint64(a.Seed), n), nil
	}
	ref := a.Client + ":" + a.From
	m, path := r.storeOf(ref)
	d, err := r.sum(ref)
	if err != nil {
		return nil, 0, d, err
	}
	fi, err := m.Stat(path)
	if err != nil {
		return nil, 0, d, fmt.Errorf("file %s: %w", ref, err)
	}
	rc, err := m.Open(path, 0)
	if err != nil {
		return nil, 0, d, fmt.Errorf("file %s: %w", ref, err)
	}
	return rc, fi.Size, d, nil
}

func (a *PutStep) run(ctx context.Context, r *runner, res *StepResult) error {
	res.Transfer = true
	data, size, sum, err := a.source(r)
	if err != nil {
		return err
	}
	if err := r.stor(ctx, a.Client, a.To, dialOpts{tls: a.TLS, data: a.Mode}, data, size, res); err != nil {
		return err
	}
	return r.checksumSum(res, sum, a.To, time.Now())
}
