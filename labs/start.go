package labs

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"

	"github.com/ftplab/ftplab/labs/ladder"
	"github.com/ftplab/ftplab/stack"
)

// env is a lab's network with its capture and FTP servers running: what
// Run and Up both start, the one way a lab is started.
type env struct {
	lab         *Lab
	net         *stack.Network
	servers     map[string]*runningServer
	data        CaptureData
	captureFile string        // "" with CaptureNone
	file        *os.File      // the capture file, or nil
	mem         *bytes.Buffer // the in-memory capture of CaptureNone
}

// startOptions are the choices start needs.
type startOptions struct {
	capture string      // pcapng path; "" means the lab's (default "<lab>.pcapng")
	data    CaptureData // "" means the lab's (default full)
	live    io.Writer   // also receives the pcapng stream, or nil
	logger  *slog.Logger
}

// start creates the capture file, builds the network and starts every
// server. On error it has stopped whatever it started.
func start(ctx context.Context, lab *Lab, o startOptions) (*env, error) {
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	e := &env{lab: lab, servers: map[string]*runningServer{}, data: cmp.Or(o.data, lab.Capture.Data, CaptureFull)}
	var w io.Writer
	if e.data == CaptureNone {
		e.mem = &bytes.Buffer{}
		w = e.mem
	} else {
		e.captureFile = cmp.Or(o.capture, lab.Capture.File, lab.Name+".pcapng")
		f, err := os.Create(e.captureFile)
		if err != nil {
			return nil, fmt.Errorf("lab %s: capture file: %w", lab.Name, err)
		}
		e.file, w = f, f
	}
	if o.live != nil {
		w = io.MultiWriter(w, o.live)
	}
	var err error
	e.net, err = stack.New(ctx, lab.StackConfig(), stack.Options{
		Capture: w, Logger: o.logger, CaptureData: e.data.stack(), ControlPorts: lab.controlPorts(),
	})
	if err != nil {
		if e.file != nil {
			e.file.Close()
		}
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
	if e.file != nil {
		if err := e.file.Close(); err != nil && netErr == nil {
			netErr = err
		}
	}
	if netErr != nil {
		return fmt.Errorf("lab %s: capture %s: %w", e.lab.Name, e.captureName(), netErr)
	}
	return nil
}

// captureName says where the capture is, for messages.
func (e *env) captureName() string {
	if e.captureFile == "" {
		return "in memory (capture data: none)"
	}
	return e.captureFile
}

// ladder reads the completed capture back.
func (e *env) ladder() (*ladder.Ladder, error) {
	if e.mem != nil {
		return ladder.Read(bytes.NewReader(e.mem.Bytes()))
	}
	return ladder.ReadFile(e.captureFile)
}

// controlPorts are the lab's FTP control ports, whose connections a
// capture keeps whole.
func (l *Lab) controlPorts() []uint16 {
	var out []uint16
	for _, s := range l.Servers {
		if !slices.Contains(out, uint16(s.Port)) {
			out = append(out, uint16(s.Port))
		}
	}
	return out
}
