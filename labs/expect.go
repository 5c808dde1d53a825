package labs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync/atomic"
)

// fileBytes returns the content of "SERVER:/path" (a server's store) or
// "HOST:/path" (what a client host downloaded).
func (r *runner) fileBytes(ref string) ([]byte, error) {
	name, path := splitRef(ref)
	if rs := r.servers[name]; rs != nil {
		data, err := rs.mem.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("file %s: %w", ref, err)
		}
		return data, nil
	}
	r.memMu.Lock()
	defer r.memMu.Unlock()
	data, ok := r.memory[name][path]
	if !ok {
		return nil, fmt.Errorf("file %s: host %s has not downloaded %s", ref, name, path)
	}
	return data, nil
}

func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// checksum compares the SHA-256 of a transfer's source and destination.
func (r *runner) checksum(res *StepResult, from, to string) error {
	data, err := r.fileBytes(from)
	if err != nil {
		return err
	}
	return r.checksumBytes(res, data, to)
}

func (r *runner) checksumBytes(res *StepResult, src []byte, to string) error {
	dst, err := r.fileBytes(to)
	if err != nil {
		return err
	}
	res.SHA256 = digest(dst)
	res.Match = res.SHA256 == digest(src)
	if !res.Match {
		return fmt.Errorf("%s differs from its source: sha256 %.12s…, want %.12s…", to, res.SHA256, digest(src))
	}
	return nil
}

// expect evaluates an expectation.
func (r *runner) expect(ctx context.Context, e *ExpectStep, res *StepResult) error {
	if len(e.Same) > 0 {
		var sums []string
		for _, ref := range e.Same {
			data, err := r.fileBytes(ref)
			if err != nil {
				return err
			}
			sums = append(sums, digest(data))
		}
		res.SHA256 = sums[0]
		for i, s := range sums[1:] {
			if s != sums[0] {
				return fmt.Errorf("%s (sha256 %.12s…) differs from %s (sha256 %.12s…)", e.Same[i+1], s, e.Same[0], sums[0])
			}
		}
	}
	if e.Step == "" {
		return nil
	}
	t := r.byName[e.Step]
	ongoing := e.MinBytes != nil || e.MaxBytes != nil
	if !ongoing || !r.runsToEnd(e.Step) {
		select { // the outcome of a background step is known when it ends
		case <-t.done:
		case <-ctx.Done():
			return fmt.Errorf("waiting for step %s: %w", e.Step, ctx.Err())
		}
	}
	var problems []string
	if e.OK != nil && t.OK != *e.OK {
		if *e.OK {
			problems = append(problems, fmt.Sprintf("step %s failed: %v", e.Step, t.Err))
		} else {
			problems = append(problems, fmt.Sprintf("step %s succeeded but should have failed", e.Step))
		}
	}
	if e.Code != "" && !MatchCode(e.Code, t.Code) {
		problems = append(problems, fmt.Sprintf("step %s: reply %d, want %s", e.Step, t.Code, e.Code))
	}
	got := atomic.LoadInt64(&t.Received)
	if e.MinBytes != nil && got < *e.MinBytes {
		problems = append(problems, fmt.Sprintf("step %s received %d bytes, want at least %d", e.Step, got, *e.MinBytes))
	}
	if e.MaxBytes != nil && got > *e.MaxBytes {
		problems = append(problems, fmt.Sprintf("step %s received %d bytes, want at most %d", e.Step, got, *e.MaxBytes))
	}
	if e.FasterThan != "" {
		o := r.byName[e.FasterThan]
		if t.Duration >= o.Duration {
			problems = append(problems, fmt.Sprintf("step %s took %s, not less than %s's %s", e.Step, t.Duration.Round(timeRound), e.FasterThan, o.Duration.Round(timeRound)))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// runsToEnd reports whether the named step runs until the lab ends (a
// listener), so an expectation reads its counters live.
func (r *runner) runsToEnd(name string) bool {
	for _, s := range r.lab.Steps {
		if s.Name == name {
			return s.Listen != nil
		}
	}
	return false
}
