package stack

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// pipe is one direction of a link. Senders (a host NIC or a switch) call
// send; frames are impaired (down, MTU, loss, rate/queue, delay/jitter) at
// once and scheduled for delivery, and the pipe's goroutine hands them to dst
// when due. A transparent pipe (no delay, no rate) delivers frames from a
// switch inline; frames from a host always cross the goroutine so that a
// stack never re-enters itself (ARP request -> reply -> pending packets).
type pipe struct {
	dst receiver
	dir uint64

	mu         sync.Mutex
	p          LinkParams
	seed       int64
	rng        *rand.Rand
	q          []qframe
	nextFree   time.Time // rate limiter: when the wire is free again
	lastArrive time.Time // keeps jittered frames in order
	waiting    bool      // goroutine is parked and needs a wake-up
	stopped    bool

	wake chan struct{}
	quit chan struct{}

	frames, bytes                                     atomic.Uint64
	dropLoss, dropQueue, dropDown, dropBig, dropStopd atomic.Uint64
}

type qframe struct {
	f  frame
	at time.Time
}

func newPipe(p LinkParams, dir uint64, dst receiver) *pipe {
	pp := &pipe{dst: dst, dir: dir, wake: make(chan struct{}, 1), quit: make(chan struct{})}
	pp.set(p)
	return pp
}

func (pp *pipe) set(p LinkParams) {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if pp.rng == nil || p.Seed != pp.seed {
		pp.seed = p.Seed
		pp.rng = rand.New(rand.NewPCG(uint64(p.Seed), 0x9e3779b97f4a7c15^pp.dir))
	}
	if p.Down && !pp.p.Down {
		for _, q := range pp.q {
			n, _ := q.f.segments()
			pp.dropDown.Add(uint64(n))
			q.f.v.Release()
		}
		pp.q = pp.q[:0]
	}
	if p.Rate != pp.p.Rate {
		pp.nextFree = time.Time{}
	}
	pp.p = p
	pp.signalLocked()
}

// transparentLocked reports whether frames pass without any schedule.
func (pp *pipe) transparentLocked() bool {
	return pp.p.Rate == 0 && pp.p.Delay == 0 && pp.p.Jitter == 0 && len(pp.q) == 0
}

// impairedLocked reports whether the link treats frames one by one (any
// impairment), so super-segments must be cut before they enter it.
func (pp *pipe) impairedLocked() bool {
	p := pp.p
	return p.Rate > 0 || p.Delay > 0 || p.Jitter > 0 || p.Loss > 0 || p.Down
}

// send takes ownership of frames. inline allows delivery on the caller's
// goroutine when the pipe is transparent.
func (pp *pipe) send(frames []frame, now time.Time, inline bool) {
	pp.mu.Lock()
	if pp.impairedLocked() && hasSuper(frames) {
		pp.mu.Unlock()
		frames = cutAll(frames)
		pp.mu.Lock()
	}
	if pp.stopped {
		pp.mu.Unlock()
		for _, f := range frames {
			n, _ := f.segments()
			pp.dropStopd.Add(uint64(n))
		}
		releaseFrames(frames)
		return
	}
	if inline && pp.transparentLocked() {
		kept := frames[:0]
		for _, f := range frames {
			if pp.admitLocked(f) {
				kept = append(kept, f)
			}
		}
		pp.mu.Unlock()
		pp.deliver(kept)
		return
	}
	for _, f := range frames {
		if !pp.admitLocked(f) {
			continue
		}
		v := f.v
		at := now
		if p := pp.p; p.Rate > 0 {
			start := now
			if pp.nextFree.After(now) {
				start = pp.nextFree
			}
			backlog := start.Sub(now).Seconds() * float64(p.Rate) / 8
			if backlog+float64(v.Size()) > float64(p.Queue) {
				pp.dropQueue.Add(1)
				v.Release()
				continue
			}
			pp.nextFree = start.Add(time.Duration(int64(v.Size()) * 8 * int64(time.Second) / p.Rate))
			at = pp.nextFree
		}
		if d := pp.p.Delay; d > 0 || pp.p.Jitter > 0 {
			if j := pp.p.Jitter; j > 0 {
				d += time.Duration(pp.rng.Int64N(int64(2*j)+1)) - j
			}
			at = at.Add(max(d, 0))
		}
		if at.Before(pp.lastArrive) {
			at = pp.lastArrive
		}
		pp.lastArrive = at
		pp.q = append(pp.q, qframe{f: f, at: at})
	}
	pp.signalLocked()
	pp.mu.Unlock()
}

// admitLocked applies down, MTU and loss; it releases and counts a dropped
// frame (a super-segment's segments, for MTU: it only meets loss and down
// cut).
func (pp *pipe) admitLocked(f frame) bool {
	n, _ := f.segments()
	switch {
	case pp.p.Down:
		pp.dropDown.Add(uint64(n))
	case f.wireSize() > pp.p.MTU+ethHeaderLen:
		pp.dropBig.Add(uint64(n))
	case pp.p.Loss > 0 && pp.rng.Float64() < pp.p.Loss:
		pp.dropLoss.Add(uint64(n))
	default:
		return true
	}
	f.v.Release()
	return false
}

func (pp *pipe) signalLocked() {
	if pp.waiting && len(pp.q) > 0 {
		pp.waiting = false
		select {
		case pp.wake <- struct{}{}:
		default:
		}
	}
}

func (pp *pipe) deliver(frames []frame) {
	if len(frames) == 0 {
		return
	}
	var segs, bytes uint64
	for _, f := range frames {
		n, b := f.segments()
		segs, bytes = segs+uint64(n), bytes+uint64(b)
	}
	pp.frames.Add(segs)
	pp.bytes.Add(bytes)
	pp.dst.receive(frames)
}

func (pp *pipe) start(wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		pp.run()
	}()
}

func (pp *pipe) run() {
	var timer *time.Timer
	var batch []frame
	for {
		pp.mu.Lock()
		now := time.Now()
		i := 0
		for i < len(pp.q) && !pp.q[i].at.After(now) {
			batch = append(batch, pp.q[i].f)
			i++
		}
		if i > 0 {
			n := copy(pp.q, pp.q[i:])
			clear(pp.q[n:])
			pp.q = pp.q[:n]
			pp.mu.Unlock()
			pp.deliver(batch)
			clear(batch)
			batch = batch[:0]
			continue
		}
		var timeout <-chan time.Time
		if len(pp.q) > 0 {
			d := pp.q[0].at.Sub(now)
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			timeout = timer.C
		}
		pp.waiting = true
		pp.mu.Unlock()
		select {
		case <-pp.wake:
		case <-timeout:
		case <-pp.quit:
			if timer != nil {
				timer.Stop()
			}
			return
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// stop ends the goroutine and drops whatever is still queued.
func (pp *pipe) stop() {
	pp.mu.Lock()
	if pp.stopped {
		pp.mu.Unlock()
		return
	}
	pp.stopped = true
	close(pp.quit)
	for _, q := range pp.q {
		n, _ := q.f.segments()
		pp.dropStopd.Add(uint64(n))
		q.f.v.Release()
	}
	pp.q = nil
	pp.mu.Unlock()
}

func (pp *pipe) stats() DirStats {
	return DirStats{
		Frames:      pp.frames.Load(),
		Bytes:       pp.bytes.Load(),
		DropLoss:    pp.dropLoss.Load(),
		DropQueue:   pp.dropQueue.Load(),
		DropDown:    pp.dropDown.Load(),
		DropTooBig:  pp.dropBig.Load(),
		DropStopped: pp.dropStopd.Load(),
	}
}

// hasSuper reports whether any of frames is a super-segment.
func hasSuper(frames []frame) bool {
	for _, f := range frames {
		if f.mss != 0 {
			return true
		}
	}
	return false
}
