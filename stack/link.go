package stack

import (
	"fmt"
	"log/slog"
	"sync"
)

// Link is a cable between two ends (host NIC or switch). Its parameters
// apply to each direction independently and can be changed at any time.
type Link struct {
	name   string
	log    *slog.Logger
	mu     sync.Mutex
	params LinkParams
	ab, ba *pipe
	nics   []*nic // host ends, for MTU changes
}

// LinkStats counts frames per direction: AB is from end A to end B.
type LinkStats struct {
	AB, BA DirStats
}

// DirStats counts the frames of one link direction.
type DirStats struct {
	Frames      uint64 // frames delivered
	Bytes       uint64 // bytes delivered (Ethernet frames without FCS)
	DropLoss    uint64 // dropped by random loss
	DropQueue   uint64 // tail-dropped because the rate-limit queue was full
	DropDown    uint64 // dropped because the link was down
	DropTooBig  uint64 // dropped because larger than the link MTU
	DropStopped uint64 // dropped because the network was closing
}

// Dropped is the total of all drop counters.
func (d DirStats) Dropped() uint64 {
	return d.DropLoss + d.DropQueue + d.DropDown + d.DropTooBig + d.DropStopped
}

// Total adds both directions.
func (s LinkStats) Total() DirStats {
	return DirStats{
		Frames:      s.AB.Frames + s.BA.Frames,
		Bytes:       s.AB.Bytes + s.BA.Bytes,
		DropLoss:    s.AB.DropLoss + s.BA.DropLoss,
		DropQueue:   s.AB.DropQueue + s.BA.DropQueue,
		DropDown:    s.AB.DropDown + s.BA.DropDown,
		DropTooBig:  s.AB.DropTooBig + s.BA.DropTooBig,
		DropStopped: s.AB.DropStopped + s.BA.DropStopped,
	}
}

func newLink(name string, p LinkParams, a, b receiver, log *slog.Logger) *Link {
	l := &Link{name: name, params: p, log: log}
	l.ab = newPipe(p, 0, b)
	l.ba = newPipe(p, 1, a)
	return l
}

// Name returns the link's name.
func (l *Link) Name() string { return l.name }

// Params returns the current parameters (with defaults filled in).
func (l *Link) Params() LinkParams {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.params
}

// Set changes the link's parameters while traffic flows. Zero MTU and Queue
// take their defaults. Frames already in flight keep their schedule. An MTU
// change applies to the NICs at the link's ends; open TCP connections keep
// their MSS, so their larger frames are then dropped (DropTooBig).
func (l *Link) Set(p LinkParams) error {
	p = p.withDefaults()
	if _, err := p.validate(); err != nil {
		return fmt.Errorf("link %q: %w", l.name, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.nics {
		if err := checkIPv6MTU(p.MTU, n.label, n.host.Addrs()); err != nil {
			return fmt.Errorf("link %q: %w", l.name, err)
		}
	}
	l.params = p
	for _, n := range l.nics {
		n.mtu.Store(uint32(p.MTU))
	}
	l.ab.set(p)
	l.ba.set(p)
	l.log.Info("link changed", "link", l.name, "mtu", p.MTU, "delay", p.Delay, "jitter", p.Jitter,
		"loss", p.Loss, "rate", p.Rate, "queue", p.Queue, "seed", p.Seed, "down", p.Down)
	return nil
}

// SetDown cuts (true) or restores (false) the link. Frames in flight are lost.
func (l *Link) SetDown(down bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.params.Down = down
	l.ab.set(l.params)
	l.ba.set(l.params)
	l.log.Info("link state", "link", l.name, "down", down)
}

// Stats returns the frame counters of both directions.
func (l *Link) Stats() LinkStats {
	return LinkStats{AB: l.ab.stats(), BA: l.ba.stats()}
}

func (l *Link) start(wg *sync.WaitGroup) {
	l.ab.start(wg)
	l.ba.start(wg)
}

func (l *Link) stop() {
	l.ab.stop()
	l.ba.stop()
}
