package labs

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ftplab/ftplab/labs/internal/yamlx"
	"github.com/goccy/go-yaml/ast"
)

// WaitStep pauses: for a duration ("wait: 500ms") or until background
// steps finish ("wait: {for: [copy]}").
type WaitStep struct {
	// Time is how long to wait.
	Time Duration `yaml:"time"`
	// For lists background steps to wait for.
	For Names `yaml:"for"`
}

func init() { register("wait", func() Action { return new(WaitStep) }) }

// UnmarshalYAML implements goccy/go-yaml's NodeUnmarshaler: it decodes the
// node as Load would.
func (a *WaitStep) UnmarshalYAML(node ast.Node) error { return fromAST(node, a) }

// decodeYAML: "wait: 500ms" is a time, a mapping has the keys time and
// for.
func (a *WaitStep) decodeYAML(node *yamlx.Node) error {
	if node.Kind != yamlx.Mapping {
		return a.Time.decodeYAML(node)
	}
	type plain WaitStep
	var p plain
	if err := decodeNode(node, &p); err != nil {
		return err
	}
	*a = WaitStep(p)
	return nil
}

func (a *WaitStep) kind() stepKind { return control }

func (a *WaitStep) check(c *checker, at string) {
	for j, n := range a.For {
		if s := c.earlier(n); s == nil || !s.Background {
			c.errorf(fmt.Sprintf("%s.for[%d]", at, j), "wait for %q: no earlier background step of that name", n)
		}
	}
	if a.Time == 0 && len(a.For) == 0 {
		c.errorf(at, "wait: give a time (wait: 500ms) or steps (wait: {for: [name]})")
	}
}

func (a *WaitStep) describe() string {
	if len(a.For) > 0 {
		return "wait for " + strings.Join(a.For, ", ")
	}
	return fmt.Sprintf("wait %s", a.Time.D())
}

func (a *WaitStep) run(ctx context.Context, r *runner, _ *StepResult) error {
	for _, name := range a.For {
		select {
		case <-r.byName[name].done:
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w", name, ctx.Err())
		}
	}
	if a.Time > 0 {
		t := time.NewTimer(a.Time.D())
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("wait %s: %w", a.Time.D(), ctx.Err())
		}
	}
	return nil
}
