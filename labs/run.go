package labs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/ftplab/ftplab/ftp/client"
	"github.com/ftplab/ftplab/ftp/store"
)

// Options are a run's runtime choices.
type Options struct {
	// CaptureFile is where the pcapng goes; "" means the lab's capture.file
	// (default "<lab>.pcapng"). Run reads it back to draw the ladder.
	CaptureFile string
	// CaptureData is how much of each frame the capture keeps; "" means
	// the lab's capture.data (default full). With CaptureNone no file is
	// written.
	CaptureData CaptureData
	// Live, when set, also receives the pcapng stream as it is written
	// (e.g. stdout piped to `wireshark -k -i -`); if it fails (the reader
	// went away) the stream stops and the run and the file go on.
	Live io.Writer
	// Force replaces a file at the capture path that is not a capture
	// (without it, that is an error wrapping ErrNotCapture).
	Force bool
	// EveryHop records a frame a router forwards on every NIC that sends
	// it (stack.Options.CaptureEveryHop).
	EveryHop bool
	// Out receives a line per step as it finishes; nil discards.
	Out io.Writer
	// Progress draws a progress bar on Out for transfers that take longer
	// than about a second (set it when Out is a terminal).
	Progress bool
	// Logger receives the network's and servers' diagnostics; nil discards.
	Logger *slog.Logger
	// KeyLog, when set, also receives every TLS secret of the run, of
	// servers and clients, as NSS key log lines (SSLKEYLOGFILE's format).
	// The capture holds them anyway, as Decryption Secrets Blocks.
	KeyLog io.Writer
}

// runner is the state of one run: the started lab and its steps' results.
type runner struct {
	*env
	opts     Options
	steps    map[string]*Step
	results  []*StepResult
	byName   map[string]*StepResult
	memory   map[string]*store.Mem // client host -> what it downloaded
	memMu    sync.Mutex
	sessions map[string]*keptSession // "client/server" -> cmd session
	sessMu   sync.Mutex
	bg       sync.WaitGroup
	bgStop   context.CancelFunc
	outMu    sync.Mutex
}

// Run starts the lab (network, capture, servers), runs its steps, stops it
// (completing the capture) and reads the capture back for the ladder. The
// error is for a run that could not happen (bad capture path, a network
// that would not build); failed steps and expectations are in the Report
// (see Report.OK).
func Run(ctx context.Context, lab *Lab, opts Options) (*Report, error) {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	t0 := time.Now()
	e, err := start(ctx, lab, startOptions{capture: opts.CaptureFile, data: opts.CaptureData, live: opts.Live, force: opts.Force, everyHop: opts.EveryHop, keyLog: opts.KeyLog, logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	r := &runner{env: e, opts: opts, steps: map[string]*Step{}, byName: map[string]*StepResult{},
		memory: map[string]*store.Mem{}, sessions: map[string]*keptSession{}}
	runErr := r.run(ctx)
	routers := routerReports(lab, e.net)
	closeErr := e.close()
	rep := &Report{Lab: lab.Name, Steps: derefs(r.results), CaptureFile: e.captureFile, CaptureData: e.data, Duration: time.Since(t0),
		Names: map[netip.Addr]string{}, Stats: e.net.CaptureStats(), Routers: routers}
	for _, h := range lab.Hosts {
		rep.Order = append(rep.Order, h.Name)
		for _, p := range h.prefixes() {
			rep.Names[p.Addr()] = h.Name
		}
	}
	if err := errors.Join(runErr, closeErr); err != nil {
		return rep, err
	}
	if rep.Ladder, err = e.ladder(); err != nil {
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

// run runs the steps in order, background ones alongside, and waits for
// them all.
func (r *runner) run(ctx context.Context) error {
	mayFail := map[string]bool{}
	for _, s := range r.lab.Steps {
		if ex, ok := s.Action.(excuser); ok {
			for _, name := range ex.excuses() {
				mayFail[name] = true
			}
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
		res := &StepResult{Name: s.Name, Action: s.Key(), Detail: s.Action.describe(), MayFail: mayFail[s.Name], done: make(chan struct{}), ready: make(chan struct{})}
		res.markReady = sync.OnceFunc(func() { close(res.ready) })
		r.results = append(r.results, res)
		r.byName[s.Name] = res
		r.steps[s.Name] = s
		if !s.Background {
			r.exec(ctx, s, res)
			continue
		}
		// Listeners and thieves run until the lab ends; background
		// transfers are waited for.
		sctx := ctx
		if k := kindOf(s.Action); k == watcher || k == service {
			sctx = bgCtx
		}
		r.bg.Add(1)
		go func() {
			defer r.bg.Done()
			r.exec(sctx, s, res)
		}()
		if kindOf(s.Action) == service {
			<-res.ready // a listener is up before the steps that use it
		}
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

// exec runs one step with its timeout and records the outcome.
func (r *runner) exec(ctx context.Context, s *Step, res *StepResult) {
	defer close(res.done)
	defer res.markReady()
	timeout := s.Timeout.D()
	if timeout == 0 && kindOf(s.Action) != service { // a service lasts as long as the lab
		timeout = DefaultStepTimeout
	}
	sctx, cancel := ctx, context.CancelFunc(func() {})
	if timeout > 0 {
		sctx, cancel = context.WithTimeout(ctx, timeout)
	}
	defer cancel()
	t0 := time.Now()
	res.Start = t0
	dropped := r.firewallDrops()
	err := s.Action.run(sctx, r, res)
	res.Duration = time.Since(t0)
	if err != nil {
		res.Err = r.explainFirewalls(err, dropped)
		var re *client.ReplyError
		if res.Code == 0 && errors.As(err, &re) {
			res.Code = re.Code
		}
	} else {
		res.OK = true
	}
	if o, ok := s.Action.(outcomer); ok {
		res.Summary = o.outcome(res)
	}
	r.printStep(res)
}
