package labs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// ListenStep opens a TCP listener on a host that records every byte it is
// sent, e.g. a stand-in mail server on port 25 for the bounce attack. It runs
// until the lab ends.
type ListenStep struct {
	// Host is where to listen.
	Host string `yaml:"host"`
	// Port is the TCP port.
	Port int `yaml:"port"`
}

func init() { register("listen", func() Action { return new(ListenStep) }) }

func (a *ListenStep) kind() stepKind { return service }

func (a *ListenStep) receives() {}

func (a *ListenStep) check(c *checker, at string) {
	c.host(at+".host", a.Host, "listen")
	if a.Port < 1 || a.Port > 65535 {
		c.errorf(at+".port", "listen: port %d out of range 1-65535", a.Port)
	}
}

func (a *ListenStep) describe() string {
	return fmt.Sprintf("%s listens on port %d", a.Host, a.Port)
}

func (a *ListenStep) outcome(res *StepResult) string {
	return fmt.Sprintf("%d connections, %d bytes received", res.Connected, atomic.LoadInt64(&res.Received))
}

// run is a TCP sink on a host until the lab ends, counting every byte it
// is sent (res.Received, updated live for expect steps).
func (a *ListenStep) run(ctx context.Context, r *runner, res *StepResult) error {
	ln, err := r.net.Host(a.Host).Listen(ctx, "tcp", fmt.Sprintf(":%d", a.Port))
	if err != nil {
		return fmt.Errorf("listen on %s port %d: %w", a.Host, a.Port, err)
	}
	res.markReady()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			wg.Wait()
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("listen on %s port %d: %w", a.Host, a.Port, err)
		}
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		res.Connected++
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = io.Copy(counter{&res.Received}, c)
		}()
	}
}

// counter is a writer that adds the bytes written to *n atomically, so an
// expect step can read the total while the copy runs.
type counter struct{ n *int64 }

// Write counts p.
func (c counter) Write(p []byte) (int, error) {
	atomic.AddInt64(c.n, int64(len(p)))
	return len(p), nil
}
