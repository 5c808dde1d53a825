package labs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// stealInterval paces a thief's connection attempts.
const stealInterval = 5 * time.Millisecond

// steal races for a server's data port: it connects again and again until
// one connection is established, sends its payload, and records what the
// server sends back before closing the connection.
func (r *runner) steal(ctx context.Context, a *StealStep, res *StepResult) error {
	rs := r.servers[a.Server]
	addr, err := r.serverAddr(a.Host, rs)
	if err != nil {
		return err
	}
	ports := a.Ports
	if ports.IsZero() {
		p := uint16(rs.cfg.Port - 1)
		ports = PortRange{p, p}
	}
	window := a.For.D()
	if window == 0 {
		window = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, window)
	defer cancel()
	host := r.net.Host(a.Host)
	tick := time.NewTicker(stealInterval)
	defer tick.Stop()
	for {
		for p := int(ports.Lo); p <= int(ports.Hi); p++ {
			res.Attempts++
			dctx, dcancel := context.WithTimeout(ctx, time.Second)
			c, err := host.Dial(dctx, "tcp", net.JoinHostPort(addr.Addr().String(), fmt.Sprint(p)))
			dcancel()
			if err != nil {
				continue
			}
			res.Connected++
			res.Received = robbed(c, a.Send)
			return nil
		}
		select {
		case <-ctx.Done():
			return nil // nobody to steal from within the window: nothing stolen
		case <-tick.C:
		}
	}
}

// robbed writes payload on a stolen connection and counts the bytes that
// come back until the server closes it (or a second passes in silence).
func robbed(c net.Conn, payload string) int64 {
	defer c.Close()
	if payload != "" {
		_, _ = io.WriteString(c, payload)
	}
	var n int64
	buf := make([]byte, 32<<10)
	for {
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		k, err := c.Read(buf)
		n += int64(k)
		if err != nil {
			return n
		}
	}
}

// listen runs a TCP sink on a host until the lab ends, counting every byte
// it is sent (res.Received, updated live for expect steps).
func (r *runner) listen(ctx context.Context, a *ListenStep, res *StepResult) error {
	ln, err := r.net.Host(a.Host).Listen(ctx, "tcp", fmt.Sprintf(":%d", a.Port))
	if err != nil {
		return fmt.Errorf("listen on %s port %d: %w", a.Host, a.Port, err)
	}
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
