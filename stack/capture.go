package stack

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

const (
	slabSize      = 1 << 20 // bytes of records handed to the writer at once
	slabQueue     = 32      // slabs that may wait for the writer
	recordHeader  = 16      // iface(4) + len(4) + unix nanos(8)
	captureWait   = 100 * time.Millisecond
	defaultFlush  = 200 * time.Millisecond
	captureBufLen = 1 << 20
)

// CaptureStats counts what the capture wrote and what it had to drop because
// the writer could not keep up for longer than a short grace period.
type CaptureStats struct {
	Frames  uint64 // frames written
	Dropped uint64 // frames dropped (writer too slow)
	Bytes   uint64 // frame bytes written
	Copies  uint64 // forwarded copies left out (see Options.CaptureEveryHop)
}

// capture is one pcapng stream fed by many goroutines. Producers append
// records to a slab under a mutex; full slabs go to a writer goroutine that
// encodes them with pcapgo. Producers block at most captureWait when the
// writer is behind; after that the slab's frames are dropped and counted.
type capture struct {
	mu      sync.Mutex
	slab    []byte
	nframes int // frames in slab
	nifaces int
	closed  bool
	stopped bool  // stop: frames are no longer recorded
	last    int64 // the latest timestamp recorded
	fwd     forwardedCopies
	timer   *time.Timer

	ch   chan capMsg
	pool sync.Pool
	wg   sync.WaitGroup

	// writer side (owned by the writer goroutine)
	out *bufio.Writer
	w   *pcapgo.NgWriter
	err error

	frames, dropped, bytes, copies atomic.Uint64
}

type capMsg struct {
	slab    []byte
	nframes int
	iface   *pcapgo.NgInterface
}

func newCapture(out io.Writer, flush time.Duration) *capture {
	if flush <= 0 {
		flush = defaultFlush
	}
	c := &capture{
		ch:  make(chan capMsg, slabQueue),
		out: bufio.NewWriterSize(out, captureBufLen),
	}
	c.pool.New = func() any { b := make([]byte, 0, slabSize); return &b }
	c.slab = c.getSlab()
	c.wg.Add(1)
	go c.run(flush)
	return c
}

func (c *capture) getSlab() []byte { return (*c.pool.Get().(*[]byte))[:0] }

func (c *capture) putSlab(b []byte) {
	if cap(b) == slabSize {
		c.pool.Put(&b)
	}
}

// addInterface registers a pcapng interface and returns its index.
func (c *capture) addInterface(name, desc string, lt layers.LinkType) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, errors.New("capture is closed")
	}
	id := c.nifaces
	c.nifaces++
	c.handoffLocked(true)
	c.ch <- capMsg{iface: &pcapgo.NgInterface{
		Name:                name,
		Description:         desc,
		LinkType:            lt,
		SnapLength:          0,
		TimestampResolution: 9,
		OS:                  "ftplab",
	}}
	return id, nil
}

// record appends frames seen on interface iface at ts. Timestamps never
// go backwards in the file (within an interface or across): senders take ts
// before they queue here, and a frame stamped earlier may be queued later;
// it gets the latest timestamp instead, so the file's order and its times
// agree.
func (c *capture) record(iface int, ts time.Time, frames ...[]byte) {
	var keyArr [8]uint64
	keys := c.fwd.keys(keyArr[:0], frames)
	c.mu.Lock()
	if c.closed || c.stopped {
		c.mu.Unlock()
		return
	}
	nanos := uint64(max(ts.UnixNano(), c.last))
	c.last = int64(nanos)
	for i, f := range frames {
		if keys != nil && c.fwd.isCopy(iface, keys[i]) {
			c.copies.Add(1)
			continue
		}
		if len(c.slab)+recordHeader+len(f) > cap(c.slab) && len(c.slab) > 0 {
			c.handoffLocked(false)
		}
		var h [recordHeader]byte
		binary.LittleEndian.PutUint32(h[0:], uint32(iface))
		binary.LittleEndian.PutUint32(h[4:], uint32(len(f)))
		binary.LittleEndian.PutUint64(h[8:], nanos)
		c.slab = append(c.slab, h[:]...)
		c.slab = append(c.slab, f...)
		c.nframes++
	}
	c.mu.Unlock()
}

// handoffLocked passes the current slab to the writer. Unless block is set it
// waits at most captureWait; if the writer is still behind, the slab's frames
// are dropped and counted.
func (c *capture) handoffLocked(block bool) {
	if c.nframes == 0 {
		return
	}
	m := capMsg{slab: c.slab, nframes: c.nframes}
	select {
	case c.ch <- m:
	default:
		if block {
			c.ch <- m
			break
		}
		if c.timer == nil {
			c.timer = time.NewTimer(captureWait)
		} else {
			c.timer.Reset(captureWait)
		}
		select {
		case c.ch <- m:
			c.timer.Stop()
		case <-c.timer.C:
			c.dropped.Add(uint64(c.nframes))
			c.slab, c.nframes = c.slab[:0], 0
			return
		}
	}
	c.slab, c.nframes = c.getSlab(), 0
}

func (c *capture) run(flush time.Duration) {
	defer c.wg.Done()
	tick := time.NewTicker(flush)
	defer tick.Stop()
	for {
		select {
		case m, ok := <-c.ch:
			if !ok {
				c.flush()
				return
			}
			c.handle(m)
		case <-tick.C:
			// TryLock: a producer holding mu may be waiting for us to drain ch.
			if c.mu.TryLock() {
				// Producers are locked out, so ch cannot fill under us.
				if !c.closed && len(c.ch) < cap(c.ch) {
					c.handoffLocked(false)
				}
				c.mu.Unlock()
			}
			for len(c.ch) > 0 {
				c.handle(<-c.ch)
			}
			c.flush()
		}
	}
}

func (c *capture) handle(m capMsg) {
	if m.iface != nil {
		c.writeInterface(*m.iface)
		return
	}
	defer c.putSlab(m.slab)
	b := m.slab
	for len(b) >= recordHeader {
		iface := int(binary.LittleEndian.Uint32(b[0:]))
		n := int(binary.LittleEndian.Uint32(b[4:]))
		ts := int64(binary.LittleEndian.Uint64(b[8:]))
		data := b[recordHeader : recordHeader+n]
		b = b[recordHeader+n:]
		if c.err != nil || c.w == nil {
			c.dropped.Add(1)
			continue
		}
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, ts), CaptureLength: n, Length: n, InterfaceIndex: iface}
		if err := c.w.WritePacket(ci, data); err != nil {
			c.err = fmt.Errorf("write capture: %w", err)
			c.dropped.Add(1)
			continue
		}
		c.frames.Add(1)
		c.bytes.Add(uint64(n))
	}
}

func (c *capture) writeInterface(intf pcapgo.NgInterface) {
	if c.err != nil {
		return
	}
	if c.w == nil {
		w, err := pcapgo.NewNgWriterInterface(c.out, intf, pcapgo.NgWriterOptions{
			SectionInfo: pcapgo.NgSectionInfo{Application: "ftplab", OS: "gVisor netstack"},
		})
		if err != nil {
			c.err = fmt.Errorf("write capture header: %w", err)
			return
		}
		c.w = w
		return
	}
	if _, err := c.w.AddInterface(intf); err != nil {
		c.err = fmt.Errorf("write capture interface %q: %w", intf.Name, err)
	}
}

func (c *capture) flush() {
	if c.err != nil || c.w == nil {
		return
	}
	if err := c.w.Flush(); err != nil {
		c.err = fmt.Errorf("flush capture: %w", err)
	}
}

// stop stops recording (frames sent later are not captured); close still
// writes what was recorded. A network stops recording before it tears its
// stacks down, whose last gasps (resets of connections still open or in
// TIME-WAIT) no lab sends.
func (c *capture) stop() {
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
}

// close writes everything still buffered and stops the writer.
func (c *capture) close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.handoffLocked(true)
	c.closed = true
	close(c.ch)
	c.mu.Unlock()
	c.wg.Wait()
	if c.err == nil && c.w == nil {
		return errors.New("capture: no interfaces were registered")
	}
	return c.err
}

func (c *capture) stats() CaptureStats {
	return CaptureStats{Frames: c.frames.Load(), Dropped: c.dropped.Load(), Bytes: c.bytes.Load(), Copies: c.copies.Load()}
}

// forwarding marks interface iface as a router's: an IP packet recorded
// on another interface before is a forwarded copy there, and left out.
func (c *capture) forwarding(iface int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fwd.mark(iface)
}

// copyWindow is how many recent packets forwarded copies are looked up
// among.
const copyWindow = 1 << 16

// forwardedCopies finds the copies of IP packets that routers forward: the
// same packet but for its Ethernet header, TTL (hop limit) and IPv4 header
// checksum, recorded first on one interface, then on a router's. It is off
// (and costs nothing) until an interface is marked.
type forwardedCopies struct {
	on     atomic.Bool
	seed   maphash.Seed
	router []bool             // by interface: a router's
	first  map[uint64]int     // packet key -> interface it was first recorded on
	ring   [copyWindow]uint64 // keys in first in the order they came
	next   int
}

func (f *forwardedCopies) mark(iface int) {
	if !f.on.Load() {
		f.seed = maphash.MakeSeed()
		f.first = map[uint64]int{}
	}
	for len(f.router) <= iface {
		f.router = append(f.router, false)
	}
	f.router[iface] = true
	f.on.Store(true)
}

// keys returns each frame's packet key (0 for a frame that is not IP), or
// nil when detection is off; it runs outside the capture's lock.
func (f *forwardedCopies) keys(buf []uint64, frames [][]byte) []uint64 {
	if !f.on.Load() {
		return nil
	}
	for _, fr := range frames {
		buf = append(buf, packetKey(f.seed, fr))
	}
	return buf
}

// isCopy reports whether the packet of key, sent on iface, is a forwarded
// copy; if not, it is remembered. Called with the capture's lock held.
func (f *forwardedCopies) isCopy(iface int, key uint64) bool {
	if key == 0 {
		return false
	}
	if first, seen := f.first[key]; seen {
		return first != iface && iface < len(f.router) && f.router[iface]
	}
	if old := f.ring[f.next]; old != 0 {
		delete(f.first, old)
	}
	f.ring[f.next] = key
	f.next = (f.next + 1) % copyWindow
	f.first[key] = iface
	return false
}

// packetKey hashes an Ethernet frame's IP packet without what a router
// changes as it forwards (TTL or hop limit, IPv4 header checksum); 0 means
// not IP.
func packetKey(seed maphash.Seed, frame []byte) uint64 {
	if len(frame) < 14 {
		return 0
	}
	var h maphash.Hash
	h.SetSeed(seed)
	p := frame[14:]
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case 0x0800: // IPv4: TTL at 8, checksum at 10-11
		if len(p) < 20 {
			return 0
		}
		h.WriteByte(4)
		h.Write(p[:8])
		h.WriteByte(p[9])
		h.Write(p[12:])
	case 0x86dd: // IPv6: hop limit at 7
		if len(p) < 40 {
			return 0
		}
		h.WriteByte(6)
		h.Write(p[:7])
		h.Write(p[8:])
	default:
		return 0
	}
	return h.Sum64() | 1
}
