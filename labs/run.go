package labs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/ftplab/ftplab/ftp/client"
	"github.com/ftplab/ftplab/labs/ladder"
	"github.com/ftplab/ftplab/stack"
)

// Options are a run's runtime choices.
type Options struct {
	// CaptureFile is where the pcapng goes; "" means the lab's capture.file
	// (default "<lab>.pcapng"). Run reads it back to draw the ladder.
	CaptureFile string
	// Live, when set, also receives the pcapng stream as it is written
	// (e.g. stdout piped to `wireshark -k -i -`).
	Live io.Writer
	// Out receives a line per step as it finishes; nil discards.
	Out io.Writer
	// Progress draws a progress bar on Out for transfers that take longer
	// than about a second (set it when Out is a terminal).
	Progress bool
	// Logger receives the network's and servers' diagnostics; nil discards.
	Logger *slog.Logger
}

// runner is the state of one run.
type runner struct {
	lab     *Lab
	opts    Options
	net     *stack.Network
	servers map[string]*runningServer
	results []*StepResult
	byName  map[string]*StepResult
	memory  map[string]map[string][]byte // client host -> path -> bytes
	memMu   sync.Mutex
	session map[string]*client.Client // "client/server" -> cmd session
	bg      sync.WaitGroup
	bgStop  context.CancelFunc
	outMu   sync.Mutex
}

// Run builds the lab's network, starts its servers, runs its steps, closes
// the network (completing the capture) and reads the capture back for the
// ladder. The error is for a run that could not happen (bad capture path,
// a network that would not build); failed steps and expectations are in the
// Report (see Report.OK).
func Run(ctx context.Context, lab *Lab, opts Options) (*Report, error) {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	capPath := opts.CaptureFile
	if capPath == "" {
		capPath = lab.Capture.File
	}
	if capPath == "" {
		capPath = lab.Name + ".pcapng"
	}
	f, err := os.Create(capPath)
	if err != nil {
		return nil, fmt.Errorf("lab %s: capture file: %w", lab.Name, err)
	}
	var w io.Writer = f
	if opts.Live != nil {
		w = io.MultiWriter(f, opts.Live)
	}
	start := time.Now()
	n, err := stack.New(ctx, lab.StackConfig(), stack.Options{Capture: w, Logger: opts.Logger})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lab %s: %w", lab.Name, err)
	}
	r := &runner{lab: lab, opts: opts, net: n, servers: map[string]*runningServer{},
		byName: map[string]*StepResult{}, memory: map[string]map[string][]byte{}, session: map[string]*client.Client{}}
	runErr := r.run(ctx)
	closeErr := n.Close()
	if err := f.Close(); err != nil && closeErr == nil {
		closeErr = err
	}
	rep := &Report{Lab: lab.Name, Steps: derefs(r.results), CaptureFile: capPath, Duration: time.Since(start),
		Names: map[netip.Addr]string{}, Stats: n.CaptureStats()}
	for _, h := range lab.Hosts {
		rep.Order = append(rep.Order, h.Name)
		for _, p := range h.prefixes() {
			rep.Names[p.Addr()] = h.Name
		}
	}
	if runErr != nil {
		return rep, runErr
	}
	if closeErr != nil {
		return rep, fmt.Errorf("lab %s: capture %s: %w", lab.Name, capPath, closeErr)
	}
	if rep.Ladder, err = ladder.ReadFile(capPath); err != nil {
		return rep, fmt.Errorf("lab %s: reading the capture back: %w", lab.Name, err)
	}
	return rep, nil
}

func derefs(rs []*StepResult) []StepResult {
	out := make([]StepResult, len(rs))
	for i, r := range rs {
		out[i] = *r
	}
	return out
}

// run starts the servers and runs the steps; it stops everything it
// started before returning.
func (r *runner) run(ctx context.Context) error {
	for i := range r.lab.Servers {
		s := &r.lab.Servers[i]
		rs, err := r.lab.startServer(ctx, s, r.net.Host(s.Host), r.opts.Logger)
		if err != nil {
			r.stopServers()
			return fmt.Errorf("lab %s: %w", r.lab.Name, err)
		}
		r.servers[s.Name] = rs
	}
	defer r.stopServers()
	mayFail := map[string]bool{}
	for _, s := range r.lab.Steps {
		if e := s.Expect; e != nil && e.OK != nil && !*e.OK {
			mayFail[e.Step] = true
		}
	}
	bgCtx, stop := context.WithCancel(ctx)
	r.bgStop = stop
	defer stop()
	for i := range r.lab.Steps {
		if err := ctx.Err(); err != nil {
			r.finishBackground()
			return fmt.Errorf("lab %s: interrupted: %w", r.lab.Name, err)
		}
		s := &r.lab.Steps[i]
		res := &StepResult{Name: s.Name, Action: s.Action(), Detail: s.describe(), MayFail: mayFail[s.Name], done: make(chan struct{})}
		r.results = append(r.results, res)
		r.byName[s.Name] = res
		if s.Background {
			// Listeners and thieves run until the lab ends; background
			// transfers are waited for.
			sctx := ctx
			if s.Listen != nil || s.Steal != nil {
				sctx = bgCtx
			}
			r.bg.Add(1)
			go func() {
				defer r.bg.Done()
				r.exec(sctx, s, res)
			}()
			continue
		}
		r.exec(ctx, s, res)
	}
	r.finishBackground()
	r.closeSessions(ctx)
	return nil
}

// finishBackground stops the steps that run until the lab ends (listen,
// steal) and waits for every background step, transfers included.
func (r *runner) finishBackground() {
	r.bgStop()
	r.bg.Wait()
}

func (r *runner) stopServers() {
	for _, rs := range r.servers {
		rs.stop()
	}
}

func (r *runner) closeSessions(ctx context.Context) {
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for _, c := range r.session {
		if err := c.Quit(qctx); err != nil {
			c.Close()
		}
	}
}

// exec runs one step with its timeout and records the outcome.
func (r *runner) exec(ctx context.Context, s *Step, res *StepResult) {
	defer close(res.done)
	timeout := s.Timeout.D()
	if timeout == 0 && s.Listen == nil { // a listener lasts as long as the lab
		timeout = DefaultStepTimeout
	}
	sctx, cancel := ctx, context.CancelFunc(func() {})
	if timeout > 0 {
		sctx, cancel = context.WithTimeout(ctx, timeout)
	}
	defer cancel()
	t0 := time.Now()
	err := r.do(sctx, s, res)
	res.Duration = time.Since(t0)
	if err != nil {
		res.Err = err
		var re *client.ReplyError
		if res.Code == 0 && errors.As(err, &re) {
			res.Code = re.Code
		}
	} else {
		res.OK = true
	}
	r.printStep(res)
}

// do dispatches on the step's action.
func (r *runner) do(ctx context.Context, s *Step, res *StepResult) error {
	switch {
	case s.FXP != nil:
		return r.fxp(ctx, s.FXP, res)
	case s.Get != nil:
		return r.get(ctx, s.Get, res)
	case s.Put != nil:
		return r.put(ctx, s.Put, res)
	case s.Relay != nil:
		return r.relay(ctx, s.Relay, res)
	case s.Cmd != nil:
		return r.cmd(ctx, s.Cmd, res)
	case s.Link != nil:
		return r.link(s.Link)
	case s.Wait != nil:
		return r.wait(ctx, s.Wait)
	case s.Steal != nil:
		return r.steal(ctx, s.Steal, res)
	case s.Listen != nil:
		return r.listen(ctx, s.Listen, res)
	case s.Expect != nil:
		res.Expectation = true
		return r.expect(ctx, s.Expect, res)
	}
	return fmt.Errorf("step %s: no action", s.Name)
}
