package labs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/ftplab/ftplab/stack"
)

// env is a lab's network with its capture and FTP servers running: what
// Run and Up both start, the one way a lab is started.
type env struct {
	lab         *Lab
	net         *stack.Network
	servers     map[string]*runningServer
	captureFile string
	file        *os.File
}

// startOptions are the choices start needs.
type startOptions struct {
	capture string    // pcapng path; "" means the lab's (default "<lab>.pcapng")
	live    io.Writer // also receives the pcapng stream, or nil
	logger  *slog.Logger
}

// start creates the capture file, builds the network and starts every
// server. On error it has stopped whatever it started.
func start(ctx context.Context, lab *Lab, o startOptions) (*env, error) {
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	e := &env{lab: lab, servers: map[string]*runningServer{},
		captureFile: cmp.Or(o.capture, lab.Capture.File, lab.Name+".pcapng")}
	f, err := os.Create(e.captureFile)
	if err != nil {
		return nil, fmt.Errorf("lab %s: capture file: %w", lab.Name, err)
	}
	e.file = f
	var w io.Writer = f
	if o.live != nil {
		w = io.MultiWriter(f, o.live)
	}
	if e.net, err = stack.New(ctx, lab.StackConfig(), stack.Options{Capture: w, Logger: o.logger}); err != nil {
		f.Close()
		return nil, fmt.Errorf("lab %s: %w", lab.Name, err)
	}
	for i := range lab.Servers {
		s := &lab.Servers[i]
		rs, err := lab.startServer(ctx, s, e.net.Host(s.Host), o.logger)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("lab %s: %w", lab.Name, err), e.close())
		}
		e.servers[s.Name] = rs
	}
	return e, nil
}

// close stops the servers and the network and completes the capture file.
func (e *env) close() error {
	for _, rs := range e.servers {
		rs.stop()
	}
	netErr := e.net.Close()
	if err := e.file.Close(); err != nil && netErr == nil {
		netErr = err
	}
	if netErr != nil {
		return fmt.Errorf("lab %s: capture %s: %w", e.lab.Name, e.captureFile, netErr)
	}
	return nil
}
