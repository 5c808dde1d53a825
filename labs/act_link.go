package labs

import (
	"context"
	"fmt"

	"github.com/ftplab/ftplab/stack"
)

// LinkStep changes a link while the lab runs; unset fields keep their value.
type LinkStep struct {
	// Name is the link's name.
	Name string `yaml:"name"`
	// Delay sets the one-way delay.
	Delay *Duration `yaml:"delay"`
	// Jitter sets the jitter.
	Jitter *Duration `yaml:"jitter"`
	// Loss sets the loss rate.
	Loss *Percent `yaml:"loss"`
	// Rate sets the bandwidth ("0" for unlimited).
	Rate *Rate `yaml:"rate"`
	// Down cuts (true) or restores (false) the link.
	Down *bool `yaml:"down"`
}

func init() { register("link", func() Action { return new(LinkStep) }) }

// apply returns p with the step's changes.
func (a *LinkStep) apply(p stack.LinkParams) stack.LinkParams {
	if a.Delay != nil {
		p.Delay = a.Delay.D()
	}
	if a.Jitter != nil {
		p.Jitter = a.Jitter.D()
	}
	if a.Loss != nil {
		p.Loss = float64(*a.Loss)
	}
	if a.Rate != nil {
		p.Rate = int64(*a.Rate)
	}
	if a.Down != nil {
		p.Down = *a.Down
	}
	return p
}

// check has stack check the parameters the link will have after this step
// (and the link steps before it), so a change run would refuse is refused
// here.
func (a *LinkStep) check(c *checker, at string) {
	p, ok := c.linkParams(a.Name)
	if !ok {
		c.errorf(at+".name", "link step: no link named %q (links are named by name: or END1-END2)", a.Name)
		return
	}
	p = a.apply(p)
	if err := p.Validate(); err != nil {
		c.errorf(at, "link %q: %v", a.Name, err)
		return
	}
	c.links[a.Name] = p
}

func (a *LinkStep) describe() string { return fmt.Sprintf("link %s changed", a.Name) }

func (a *LinkStep) run(_ context.Context, r *runner, _ *StepResult) error {
	l := r.net.Link(a.Name)
	if l == nil {
		return fmt.Errorf("link %q: no such link", a.Name)
	}
	return l.Set(a.apply(l.Params()))
}
