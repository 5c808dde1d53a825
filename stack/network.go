package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// Network is a running virtual network: hosts, switches, links and the
// capture. Close (or cancelling the context given to New) stops it.
type Network struct {
	plan     *plan
	log      *slog.Logger
	hosts    []*Host
	byName   map[string]*Host
	switches []*Switch
	links    []*Link
	cap      *capture
	wg       sync.WaitGroup // pipe goroutines

	stopCtx   func() bool
	closeOnce sync.Once
	closeErr  error
}

// New builds and starts the network described by cfg. Bad input yields an
// error naming every offending item. Cancelling ctx has the same effect as
// Close (the capture is flushed).
func New(ctx context.Context, cfg Config, opts Options) (*Network, error) {
	p, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	n := &Network{plan: p, log: opts.Logger, byName: map[string]*Host{}}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if opts.Capture != nil {
		ports := opts.ControlPorts
		if len(ports) == 0 {
			ports = DefaultControlPorts
		}
		n.cap = newCapture(opts.Capture, opts.CaptureFlush, capturePolicy{data: opts.CaptureData, ports: ports})
	}
	for _, name := range p.switches {
		n.switches = append(n.switches, newSwitch(name))
	}
	for _, hp := range p.hosts {
		h, err := newHost(n, hp)
		if err != nil {
			n.teardown()
			return nil, err
		}
		n.hosts = append(n.hosts, h)
		n.byName[h.name] = h
		if n.cap != nil {
			for i, nc := range h.nics {
				desc := fmt.Sprintf("host %s NIC %s MAC %s addresses %v", h.name, nc.name, net.HardwareAddr(nc.mac), hp.nics[i].addrs)
				if nc.capIf, err = n.cap.addInterface(nc.label, desc, layers.LinkTypeEthernet); err != nil {
					n.teardown()
					return nil, fmt.Errorf("capture interface %s: %w", nc.label, err)
				}
				nc.cap = n.cap
				if hp.router && !opts.CaptureEveryHop {
					n.cap.forwarding(nc.capIf)
				}
			}
		}
	}
	for _, lp := range p.links {
		a, aNIC := n.receiverFor(lp.a)
		b, bNIC := n.receiverFor(lp.b)
		l := newLink(lp.name, lp.params, a, b, n.log)
		// Whatever an end transmits enters the pipe towards the other end.
		n.plug(lp.a, aNIC, l.ab)
		n.plug(lp.b, bNIC, l.ba)
		for _, nc := range []*nic{aNIC, bNIC} {
			if nc != nil {
				l.nics = append(l.nics, nc)
			}
		}
		n.links = append(n.links, l)
		l.start(&n.wg)
	}
	n.stopCtx = context.AfterFunc(ctx, func() {
		if err := n.Close(); err != nil {
			n.log.Error("closing network after context end", "err", err)
		}
	})
	n.log.Debug("network up", "hosts", len(n.hosts), "switches", len(n.switches), "links", len(n.links))
	return n, nil
}

// receiverFor returns what receives frames at end e (and its NIC, if a host).
func (n *Network) receiverFor(e end) (receiver, *nic) {
	if e.sw >= 0 {
		return n.switches[e.sw].addPort(), nil
	}
	nc := n.hosts[e.host].nics[e.nic]
	return nc, nc
}

// plug makes end e transmit into out.
func (n *Network) plug(e end, nc *nic, out *pipe) {
	if nc != nil {
		nc.out.Store(out)
		return
	}
	sw := n.switches[e.sw]
	sw.mu.Lock()
	defer sw.mu.Unlock()
	// The port just added by receiverFor for this link's end.
	for _, p := range sw.ports {
		if p.out == nil {
			p.out = out
			return
		}
	}
}

// Host returns the named host, or nil.
func (n *Network) Host(name string) *Host { return n.byName[name] }

// Hosts returns every host in config order.
func (n *Network) Hosts() []*Host { return append([]*Host(nil), n.hosts...) }

// Switch returns the named switch, or nil.
func (n *Network) Switch(name string) *Switch {
	for _, s := range n.switches {
		if s.name == name {
			return s
		}
	}
	return nil
}

// Link returns the named link, or nil.
func (n *Network) Link(name string) *Link {
	for _, l := range n.links {
		if l.name == name {
			return l
		}
	}
	return nil
}

// Links returns every link in config order.
func (n *Network) Links() []*Link { return append([]*Link(nil), n.links...) }

// CaptureInterface adds another interface (IDB) to the capture, e.g.
// ("tun:ftplab0", layers.LinkTypeRaw), and returns a goroutine-safe function
// that records one frame on it. It fails if the network has no capture.
func (n *Network) CaptureInterface(name string, linkType layers.LinkType) (func(ts time.Time, frame []byte), error) {
	if n.cap == nil {
		return nil, fmt.Errorf("capture interface %q: network has no capture", name)
	}
	id, err := n.cap.addInterface(name, "", linkType)
	if err != nil {
		return nil, fmt.Errorf("capture interface %q: %w", name, err)
	}
	c := n.cap
	return func(ts time.Time, frame []byte) {
		c.record(id, ts, func(add func(hdr, payload []byte)) { add(frame, nil) })
	}, nil
}

// CaptureSecrets writes TLS secrets, NSS key log lines (SSLKEYLOGFILE's
// format), into the capture as a pcapng Decryption Secrets Block, so that
// Wireshark and tshark decrypt the TLS connections of the capture with no
// setup. The block goes after the frames captured before the call and
// before those captured after it: give the secrets as crypto/tls logs them
// (a tls.Config's KeyLogWriter), before the records they protect are sent.
// It fails if the network has no capture or it is closed.
func (n *Network) CaptureSecrets(nssKeyLog []byte) error {
	if n.cap == nil {
		return errors.New("capture secrets: network has no capture")
	}
	if err := n.cap.addSecrets(nssKeyLog); err != nil {
		return fmt.Errorf("capture secrets: %w", err)
	}
	return nil
}

// CaptureStats returns the capture's counters (zero without capture).
func (n *Network) CaptureStats() CaptureStats {
	if n.cap == nil {
		return CaptureStats{}
	}
	return n.cap.stats()
}

// Close stops every link, stack and goroutine and flushes the capture. It is
// idempotent and returns the capture's write error, if any.
func (n *Network) Close() error {
	n.closeOnce.Do(func() {
		if n.stopCtx != nil {
			n.stopCtx()
		}
		n.closeErr = n.teardown()
	})
	return n.closeErr
}

func (n *Network) teardown() error {
	if n.cap != nil {
		n.cap.stop() // what the teardown sends is no part of the lab
	}
	for _, l := range n.links {
		l.stop()
	}
	n.wg.Wait()
	var wg sync.WaitGroup
	for _, h := range n.hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.close()
		}()
	}
	wg.Wait()
	var errs []error
	if n.cap != nil {
		if err := n.cap.close(); err != nil {
			errs = append(errs, err)
		}
		if st := n.cap.stats(); st.Dropped > 0 {
			n.log.Warn("capture dropped frames: writer too slow", "dropped", st.Dropped, "written", st.Frames)
		}
	}
	return errors.Join(errs...)
}
