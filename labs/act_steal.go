package labs

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"
)

// stealInterval paces a thief's connection attempts.
const stealInterval = 5 * time.Millisecond

// StealStep makes a host race for a server's data port, as a port thief
// would (RFC 2577 §8): it connects again and again to Ports on Server's
// host, and on each connection sends Send and records what comes back.
type StealStep struct {
	// Host is the thief.
	Host string `yaml:"host"`
	// Server is the victim server's name.
	Server string `yaml:"server"`
	// Ports are the ports to try, e.g. "20" or "50000-50009"; default the
	// server's default data port (control port - 1).
	Ports PortRange `yaml:"ports"`
	// Send is written on every stolen connection.
	Send string `yaml:"send"`
	// For is how long to keep trying; default 5s (the lab's end stops it).
	For Duration `yaml:"for"`
}

func init() { register("steal", func() Action { return new(StealStep) }) }

func (a *StealStep) kind() stepKind { return watcher }

func (a *StealStep) receives() {}

func (a *StealStep) check(c *checker, at string) {
	c.host(at+".host", a.Host, "steal")
	c.server(at+".server", a.Server, "steal")
}

func (a *StealStep) describe() string {
	return fmt.Sprintf("%s races for %s's data port", a.Host, a.Server)
}

func (a *StealStep) outcome(res *StepResult) string {
	return fmt.Sprintf("%d attempts, %d connected, %d bytes stolen", res.Attempts, res.Connected, atomic.LoadInt64(&res.Received))
}

// run races for the port: it connects again and again until one
// connection is established, sends its payload, and records what the
// server sends back before closing the connection.
func (a *StealStep) run(ctx context.Context, r *runner, res *StepResult) error {
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
