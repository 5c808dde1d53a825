package labs

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"

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
	captureFile string        // where the capture ends up ("" with CaptureNone)
	file        *os.File      // the capture being written, beside captureFile, or nil
	mem         *bytes.Buffer // the in-memory capture of CaptureNone
	tls         *labTLS       // the servers' certificates, every TLS secret
}

// startOptions are the choices start needs.
type startOptions struct {
	capture  string      // pcapng path; "" means the lab's (see capturePath)
	data     CaptureData // "" means the lab's (default full)
	live     io.Writer   // also receives the pcapng stream, or nil
	force    bool        // replace a capture path that holds something else
	everyHop bool        // stack.Options.CaptureEveryHop
	keyLog   io.Writer   // also receives every TLS secret (NSS key log), or nil
	logger   *slog.Logger
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
		e.captureFile = lab.capturePath(o.capture)
		f, err := createCapture(e.captureFile, o.force)
		if err != nil {
			return nil, fmt.Errorf("lab %s: %w", lab.Name, err)
		}
		e.file, w = f, f
	}
	if o.live != nil {
		w = &liveTee{file: w, live: o.live, logger: o.logger}
	}
	var err error
	e.net, err = stack.New(ctx, lab.StackConfig(), stack.Options{
		Capture: w, Logger: o.logger, CaptureEveryHop: o.everyHop,
		CaptureData: e.data.stack(), ControlPorts: lab.controlPorts(),
	})
	if err != nil {
		if e.file != nil {
			e.file.Close()
			os.Remove(e.file.Name())
		}
		return nil, fmt.Errorf("lab %s: %w", lab.Name, err)
	}
	e.tls = newLabTLS(e.net, o.keyLog, o.logger)
	for i := range lab.Servers {
		s := &lab.Servers[i]
		rs, err := lab.startServer(ctx, s, e.net.Host(s.Host), e.tls, o.logger)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("lab %s: %w", lab.Name, err), e.stop(false))
		}
		e.servers[s.Name] = rs
	}
	return e, nil
}

// close stops the servers and the network and completes the capture
// file: only a complete capture replaces what was at its path.
func (e *env) close() error { return e.stop(true) }

// stop stops the servers and the network; with keep, the capture replaces
// what was at its path, else (a lab that did not start) it is removed.
func (e *env) stop(keep bool) error {
	for _, rs := range e.servers {
		rs.stop()
	}
	err := e.net.Close()
	if e.file == nil {
		if err != nil {
			return fmt.Errorf("lab %s: capture %s: %w", e.lab.Name, e.captureName(), err)
		}
		return nil
	}
	if cerr := e.file.Close(); err == nil {
		err = cerr
	}
	if err == nil && !keep {
		return os.Remove(e.file.Name())
	}
	if err == nil {
		err = os.Rename(e.file.Name(), e.captureFile)
	}
	if err != nil {
		os.Remove(e.file.Name())
		return fmt.Errorf("lab %s: capture %s: %w", e.lab.Name, e.captureFile, err)
	}
	return nil
}

// capturePath is where the lab's capture goes: flag (a command line path,
// as given) if set, else the lab's capture.file, which like files' from: is
// relative to the lab file's directory (the current directory for an
// embedded lab), else "<lab name>.pcapng" in the current directory.
func (l *Lab) capturePath(flag string) string {
	switch {
	case flag != "":
		return flag
	case l.Capture.File == "":
		return l.Name + ".pcapng"
	case filepath.IsAbs(l.Capture.File) || l.Dir == "":
		return l.Capture.File
	}
	return filepath.Join(l.Dir, l.Capture.File)
}

// ErrNotCapture is returned when a capture would replace a file that is
// not a pcap or pcapng capture (Options.Force replaces it anyway).
var ErrNotCapture = errors.New("exists and is not a pcap or pcapng capture (not replacing it; --force would)")

// createCapture opens a temporary file beside path for the capture; close
// renames it over path once the capture is complete, so a run that fails
// never leaves a half-written capture in place of a good one. Unless force
// is set, an existing path must be empty or a capture (pcap or pcapng
// magic bytes): a lab file from someone else cannot make a run overwrite
// other files.
func createCapture(path string, force bool) (*os.File, error) {
	if !force {
		if err := checkReplaceable(path); err != nil {
			return nil, err
		}
	}
	// Not os.CreateTemp: its files are 0600, a capture is as readable as
	// any file the user creates (0666 less the umask).
	dir, base := filepath.Split(path)
	for {
		name := filepath.Join(dir, fmt.Sprintf(".%s.%08x.partial", base, rand.Uint32()))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("capture file: %w", err)
		}
		return f, nil
	}
}

// checkReplaceable returns nil if path does not exist, is empty, or holds
// a pcap or pcapng capture.
func checkReplaceable(path string) error {
	st, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("capture file: %w", err)
	case !st.Mode().IsRegular():
		return fmt.Errorf("capture file %s: %w", path, ErrNotCapture)
	case st.Size() == 0:
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("capture file: %w", err)
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil || !isCaptureMagic(magic) {
		return fmt.Errorf("capture file %s: %w", path, ErrNotCapture)
	}
	return nil
}

// isCaptureMagic reports whether a file starting with m is a pcapng
// (section header block) or pcap (either byte order, µs or ns) capture.
func isCaptureMagic(m [4]byte) bool {
	switch binary.BigEndian.Uint32(m[:]) {
	case 0x0a0d0d0a, 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1:
		return true
	}
	return false
}

// liveTee writes the capture to its file and to a live stream (stdout piped
// to Wireshark). When the live reader goes away, only the live stream
// stops: the file and the run go on.
type liveTee struct {
	file   io.Writer
	mu     sync.Mutex
	live   io.Writer // nil once it failed
	logger *slog.Logger
}

// Write implements io.Writer.
func (t *liveTee) Write(p []byte) (int, error) {
	n, err := t.file.Write(p)
	if err != nil {
		return n, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.live != nil {
		if _, err := t.live.Write(p); err != nil {
			t.logger.Info("live capture stream closed; the capture file goes on", "err", err)
			t.live = nil
		}
	}
	return n, nil
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
