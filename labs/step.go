package labs

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// Step is one thing the lab does: exactly one action (fxp, get, put, relay,
// cmd, link, wait, steal, listen, expect) and the keys that apply to any
// action.
type Step struct {
	// Name identifies the step for wait and expect; default "step<N>"
	// (1-based).
	Name string
	// Background runs the step alongside the following ones; `wait: {for:}`
	// or the end of the lab waits for it.
	Background bool
	// Timeout bounds the step; default DefaultStepTimeout.
	Timeout Duration
	// Action is what the step does: one of the registered action types
	// (*FXPStep, *GetStep, ...), written under its key.
	Action Action

	keys []string // the action keys the step was written with (validate wants one)
}

// Action is what a step does. Each action key of a lab file has one type
// implementing Action, in a file of its own that registers it (register);
// nothing else in the package knows the list. The methods are unexported:
// the set of actions is the package's.
type Action interface {
	// check validates the action's values and its references to hosts,
	// servers, links and earlier steps; at is the YAML path of the action
	// ("$.steps[2].fxp"), for error positions.
	check(c *checker, at string)
	// run performs the action, recording what happened in res.
	run(ctx context.Context, r *runner, res *StepResult) error
	// describe says in one line what the action does, e.g. "A: get B:/f".
	describe() string
}

// stepKind says how an action's step lives beside the others.
type stepKind int

const (
	// task runs to completion; in the background, the lab's end waits
	// for it.
	task stepKind = iota
	// watcher runs until it is done or the lab ends, which stops it (a
	// port thief).
	watcher
	// service always runs in the background, without a timeout, until the
	// lab ends; expectations read its counters while it runs (a listener).
	service
	// control is about other steps (wait, expect) and never runs in the
	// background.
	control
)

// kinded is implemented by actions that are not plain tasks.
type kinded interface{ kind() stepKind }

// outcomer is implemented by actions whose result says more than ok/FAIL
// (and than a transfer's bytes and checksum).
type outcomer interface{ outcome(res *StepResult) string }

// excuser is implemented by actions that require other steps to fail (an
// expectation with ok: false): those steps' failures do not fail the run.
type excuser interface{ excuses() []string }

// receiver is implemented by actions that count the bytes they receive
// (steal, listen), which an expectation's min-bytes and max-bytes check.
type receiver interface{ receives() }

// kindOf returns a's kind (task unless it says otherwise).
func kindOf(a Action) stepKind {
	if k, ok := a.(kinded); ok {
		return k.kind()
	}
	return task
}

// registration is one action key and the type written under it.
type registration struct {
	key string
	typ reflect.Type // the action's struct type (the Action is a pointer to it)
}

var registry struct {
	sync.Mutex
	actions []registration
}

// register adds an action type under its YAML key; each action's file calls
// it from init. newAction returns a pointer to a zero value of the type.
func register(key string, newAction func() Action) {
	registry.Lock()
	defer registry.Unlock()
	registry.actions = append(registry.actions, registration{key: key, typ: reflect.TypeOf(newAction()).Elem()})
}

// ActionKeys lists the action keys a step can use, in the order the
// package registered them.
func ActionKeys() []string {
	var out []string
	for _, r := range actions() {
		out = append(out, r.key)
	}
	return out
}

func actions() []registration {
	registry.Lock()
	defer registry.Unlock()
	return registry.actions
}

// stepShape is the YAML shape of a step, built once from the registry: the
// common keys, then one pointer field per action key. Decoding into it lets
// the YAML decoder do all the work (strict keys, anchors, positions).
var stepShape = sync.OnceValue(func() reflect.Type {
	fields := []reflect.StructField{
		{Name: "Name", Type: reflect.TypeFor[string](), Tag: `yaml:"name"`},
		{Name: "Background", Type: reflect.TypeFor[bool](), Tag: `yaml:"background"`},
		{Name: "Timeout", Type: reflect.TypeFor[Duration](), Tag: `yaml:"timeout"`},
	}
	for i, r := range actions() {
		fields = append(fields, reflect.StructField{
			Name: fmt.Sprintf("Action%d", i),
			Type: reflect.PointerTo(r.typ),
			Tag:  reflect.StructTag(fmt.Sprintf(`yaml:"%s"`, r.key)),
		})
	}
	return reflect.StructOf(fields)
})

// UnmarshalYAML implements yaml.InterfaceUnmarshaler: the common keys and
// the action keys of the registry.
func (s *Step) UnmarshalYAML(unmarshal func(any) error) error {
	v := reflect.New(stepShape())
	if err := unmarshal(v.Interface()); err != nil {
		return err
	}
	e := v.Elem()
	*s = Step{Name: e.Field(0).String(), Background: e.Field(1).Bool(), Timeout: e.Field(2).Interface().(Duration)}
	for i, r := range actions() {
		f := e.Field(3 + i)
		if f.IsNil() {
			continue
		}
		s.keys = append(s.keys, r.key)
		if s.Action == nil {
			s.Action = f.Interface().(Action)
		}
	}
	return nil
}

// Key is the YAML key of the step's action ("fxp", "get", ...), or "".
func (s *Step) Key() string {
	if len(s.keys) > 0 {
		return s.keys[0]
	}
	return ""
}

// check validates the step's shape and its action.
func (s *Step) check(c *checker, at string) {
	switch len(s.keys) {
	case 0:
		c.errorf(at, "step %q: give one action: %s", s.Name, strings.Join(ActionKeys(), ", "))
		return
	case 1:
	default:
		c.errorf(at, "step %q: one action per step, got %s", s.Name, strings.Join(s.keys, " and "))
		return
	}
	switch kindOf(s.Action) {
	case service:
		s.Background = true
	case control:
		if s.Background {
			c.errorf(at+".background", "step %q: a %s step cannot run in the background", s.Name, s.Key())
		}
	}
	s.Action.check(c, at+"."+s.Key())
}
