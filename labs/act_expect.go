package labs

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"sync/atomic"
)

// ExpectStep checks an outcome; a failed expectation fails the run.
type ExpectStep struct {
	// Same lists "SERVER:/path" or "CLIENT:/path" (client memory) files
	// that must all have the same SHA-256.
	Same []string `yaml:"same"`
	// Step is the earlier step the following checks are about.
	Step string `yaml:"step"`
	// OK requires that Step succeeded (true) or failed (false).
	OK *bool `yaml:"ok"`
	// Code requires Step's last reply code (or a failed transfer's) to
	// match this ("504" or "5xx").
	Code string `yaml:"code"`
	// MaxBytes requires a steal or listen step to have received at most
	// this many bytes.
	MaxBytes *int64 `yaml:"max-bytes"`
	// MinBytes requires a steal or listen step to have received at least
	// this many bytes.
	MinBytes *int64 `yaml:"min-bytes"`
	// FasterThan requires Step to have taken less time than this step.
	FasterThan string `yaml:"faster-than"`
}

func init() { register("expect", func() Action { return new(ExpectStep) }) }

func (e *ExpectStep) kind() stepKind { return control }

// excuses names the step an expectation requires to fail.
func (e *ExpectStep) excuses() []string {
	if e.OK != nil && !*e.OK {
		return []string{e.Step}
	}
	return nil
}

// perStep reports whether the expectation checks an earlier step.
func (e *ExpectStep) perStep() bool {
	return e.OK != nil || e.Code != "" || e.MaxBytes != nil || e.MinBytes != nil || e.FasterThan != ""
}

func (e *ExpectStep) check(c *checker, at string) {
	for j, ref := range e.Same {
		name, file, ok := strings.Cut(ref, ":")
		if !ok || !strings.HasPrefix(file, "/") || (c.servers[name] == nil && c.hosts[name] == nil) {
			c.errorf(fmt.Sprintf("%s.same[%d]", at, j), "expect same %q: want SERVER:/path or CLIENT:/path of a known server or host", ref)
		}
	}
	if len(e.Same) == 1 {
		c.errorf(at+".same", "expect same: list at least two files")
	}
	if len(e.Same) == 0 && !e.perStep() {
		c.errorf(at, "expect: nothing to check: give same, or step with ok, code, min-bytes, max-bytes or faster-than")
		return
	}
	if !e.perStep() {
		return
	}
	target := c.earlier(e.Step)
	if target == nil {
		c.errorf(at+".step", "expect: step %q is not an earlier step", e.Step)
		return
	}
	if _, ok := target.Action.(receiver); (e.MaxBytes != nil || e.MinBytes != nil) && !ok {
		c.errorf(at, "expect: min-bytes/max-bytes need a steal or listen step; %q is a %s step", e.Step, target.Key())
	}
	if e.Code != "" && !validCode(e.Code) {
		c.errorf(at+".code", "expect: code %q is not an FTP reply code like 504 or a class like 5xx", e.Code)
	}
	if e.FasterThan != "" && c.earlier(e.FasterThan) == nil {
		c.errorf(at+".faster-than", "expect: faster-than %q is not an earlier step", e.FasterThan)
	}
}

func (e *ExpectStep) describe() string {
	var parts []string
	if len(e.Same) > 0 {
		parts = append(parts, "same "+strings.Join(e.Same, " = "))
	}
	if e.OK != nil {
		parts = append(parts, fmt.Sprintf("%s ok=%v", e.Step, *e.OK))
	}
	if e.Code != "" {
		parts = append(parts, fmt.Sprintf("%s reply %s", e.Step, e.Code))
	}
	if e.MinBytes != nil {
		parts = append(parts, fmt.Sprintf("%s received ≥ %d bytes", e.Step, *e.MinBytes))
	}
	if e.MaxBytes != nil {
		parts = append(parts, fmt.Sprintf("%s received ≤ %d bytes", e.Step, *e.MaxBytes))
	}
	if e.FasterThan != "" {
		parts = append(parts, fmt.Sprintf("%s faster than %s", e.Step, e.FasterThan))
	}
	return "expect " + strings.Join(parts, ", ")
}

// run evaluates the expectation.
func (e *ExpectStep) run(ctx context.Context, r *runner, res *StepResult) error {
	res.Expectation = true
	if len(e.Same) > 0 {
		var sums []string
		for _, ref := range e.Same {
			d, err := r.sum(ref)
			if err != nil {
				return err
			}
			sums = append(sums, hex.EncodeToString(d[:]))
		}
		res.SHA256 = sums[0]
		for i, s := range sums[1:] {
			if s != sums[0] {
				return fmt.Errorf("%s (sha256 %.12s…) differs from %s (sha256 %.12s…)", e.Same[i+1], s, e.Same[0], sums[0])
			}
		}
	}
	if !e.perStep() {
		return nil
	}
	t := r.byName[e.Step]
	live := (e.MinBytes != nil || e.MaxBytes != nil) && kindOf(r.steps[e.Step].Action) == service
	if !live { // the outcome of a background step is known when it ends
		select {
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
