package labs

import (
	"bytes"
	"context"
	"fmt"

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
}

func init() { register("put", func() Action { return new(PutStep) }) }

func (a *PutStep) check(c *checker, at string) {
	c.host(at+".client", a.Client, "put client")
	c.serverPath(at+".to", a.To, "put to")
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

func (a *PutStep) run(ctx context.Context, r *runner, res *StepResult) error {
	res.Transfer = true
	var data []byte
	switch {
	case a.Content != nil:
		data = []byte(*a.Content)
	case a.Size > 0:
		data = make([]byte, a.Size)
		store.Generate(data, uint64(a.Seed), 0)
	default:
		var err error
		if data, err = r.fileBytes(a.Client + ":" + a.From); err != nil {
			return err
		}
	}
	if err := r.stor(ctx, a.Client, a.To, bytes.NewReader(data), int64(len(data)), res); err != nil {
		return err
	}
	return r.checksumBytes(res, data, a.To)
}
