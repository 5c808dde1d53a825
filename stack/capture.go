package stack

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
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
	recordHeader  = 24      // iface(4) + caplen(4) + origlen(4) + unix nanos(8) + note length(4)
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
	policy  capturePolicy
	mu      sync.Mutex
	slab    []byte
	nframes int // frames in slab
	nifaces int
	links   []layers.LinkType // per interface
	closed  bool
	stopped bool   // stop: frames are no longer recorded
	last    int64  // the latest timestamp recorded
	note    string // comment for the next frame added (set by an emit under mu)
	fwd     forwardedCopies
	timer   *time.Timer

	ch   chan capMsg
	pool sync.Pool
	wg   sync.WaitGroup

	// writer side (owned by the writer goroutine)
	out     *bufio.Writer
	w       *pcapgo.NgWriter
	err     error
	secrets [][]byte // secrets that came before the section header

	frames, dropped, bytes, copies atomic.Uint64
}

type capMsg struct {
	slab    []byte
	nframes int
	iface   *pcapgo.NgInterface
	secrets []byte // NSS key log lines, for a Decryption Secrets Block
}

func newCapture(out io.Writer, flush time.Duration, policy capturePolicy) *capture {
	if flush <= 0 {
		flush = defaultFlush
	}
	c := &capture{
		policy: policy,
		ch:     make(chan capMsg, slabQueue),
		out:    bufio.NewWriterSize(out, captureBufLen),
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
	c.links = append(c.links, lt)
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

// addSecrets queues TLS secrets (NSS key log lines) for a Decryption
// Secrets Block. The frames recorded before go first, the ones recorded
// after follow it: secrets given when crypto/tls logs them, during the
// handshake, come before the records they decrypt, as Wireshark needs.
func (c *capture) addSecrets(nss []byte) error {
	if len(nss) == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errors.New("capture is closed")
	}
	c.handoffLocked(true)
	c.ch <- capMsg{secrets: bytes.Clone(nss)}
	return nil
}

// record appends the frames emit yields, seen on interface iface at ts.
// emit gives each frame as its headers and its payload (nil for a frame
// given whole), so a segment of a super-segment is recorded without being
// put together first; the capture's policy decides how much of it to keep.
// Timestamps never go backwards in the file (within an interface or
// across): senders take ts before they queue here, and a frame stamped
// earlier may be queued later; it gets the latest timestamp instead, so the
// file's order and its times agree.
func (c *capture) record(iface int, ts time.Time, emit func(add func(hdr, payload []byte))) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.stopped {
		return
	}
	nanos := uint64(max(ts.UnixNano(), c.last))
	c.last = int64(nanos)
	lt := c.links[iface]
	emit(func(hdr, payload []byte) {
		note := c.note
		c.note = ""
		// A copy a router forwards unchanged is left out, unless the router
		// has something to say about it.
		if c.fwd.on.Load() && c.fwd.isCopy(iface, packetKey(c.fwd.seed, hdr, payload)) && note == "" {
			c.copies.Add(1)
			return
		}
		orig := len(hdr) + len(payload)
		keep, ok := c.policy.keep(lt, hdr, orig)
		if !ok {
			return
		}
		if len(c.slab)+recordHeader+keep+len(note) > cap(c.slab) && len(c.slab) > 0 {
			c.handoffLocked(false)
		}
		var h [recordHeader]byte
		binary.LittleEndian.PutUint32(h[0:], uint32(iface))
		binary.LittleEndian.PutUint32(h[4:], uint32(keep))
		binary.LittleEndian.PutUint32(h[8:], uint32(orig))
		binary.LittleEndian.PutUint64(h[12:], nanos)
		binary.LittleEndian.PutUint32(h[20:], uint32(len(note)))
		c.slab = append(c.slab, h[:]...)
		if keep <= len(hdr) {
			c.slab = append(c.slab, hdr[:keep]...)
		} else {
			c.slab = append(c.slab, hdr...)
			c.slab = append(c.slab, payload[:keep-len(hdr)]...)
		}
		c.slab = append(c.slab, note...)
		c.nframes++
	})
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
	if m.secrets != nil {
		c.writeSecrets(m.secrets)
		return
	}
	defer c.putSlab(m.slab)
	b := m.slab
	for len(b) >= recordHeader {
		iface := int(binary.LittleEndian.Uint32(b[0:]))
		n := int(binary.LittleEndian.Uint32(b[4:]))
		orig := int(binary.LittleEndian.Uint32(b[8:]))
		ts := int64(binary.LittleEndian.Uint64(b[12:]))
		nl := int(binary.LittleEndian.Uint32(b[20:]))
		data := b[recordHeader : recordHeader+n]
		note := b[recordHeader+n : recordHeader+n+nl]
		b = b[recordHeader+n+nl:]
		if c.err != nil || c.w == nil {
			c.dropped.Add(1)
			continue
		}
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, ts), CaptureLength: n, Length: orig, InterfaceIndex: iface}
		var err error
		if nl == 0 {
			err = c.w.WritePacket(ci, data)
		} else {
			err = c.w.WritePacketWithOptions(ci, data, pcapgo.NgPacketOptions{Comments: []string{string(note)}})
		}
		if err != nil {
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
		for _, s := range c.secrets {
			c.writeSecrets(s)
		}
		c.secrets = nil
		return
	}
	if _, err := c.w.AddInterface(intf); err != nil {
		c.err = fmt.Errorf("write capture interface %q: %w", intf.Name, err)
	}
}

// pcapng Decryption Secrets Block (pcapng §4.7): block type, secrets type
// TLS key log.
const (
	blockTypeDSB   = 0x0000000A
	secretsTypeTLS = 0x544c534b // "TLSK": NSS key log text
)

// writeSecrets writes a Decryption Secrets Block between the packet
// blocks: pcapgo's NgWriter has no such block, so its buffer is flushed
// into out first and the block follows it there. Before the section
// header (no interface yet) the secrets wait for it.
func (c *capture) writeSecrets(nss []byte) {
	if c.err != nil {
		return
	}
	if c.w == nil {
		c.secrets = append(c.secrets, nss)
		return
	}
	if err := c.w.Flush(); err != nil {
		c.err = fmt.Errorf("write capture secrets: %w", err)
		return
	}
	if _, err := c.out.Write(secretsBlock(nss)); err != nil {
		c.err = fmt.Errorf("write capture secrets: %w", err)
	}
}

// secretsBlock encodes a Decryption Secrets Block of TLS key log text
// (little-endian, as pcapgo writes the section).
func secretsBlock(nss []byte) []byte {
	padded := (len(nss) + 3) &^ 3
	total := 4 + 4 + 4 + 4 + padded + 4
	b := make([]byte, total)
	binary.LittleEndian.PutUint32(b[0:], blockTypeDSB)
	binary.LittleEndian.PutUint32(b[4:], uint32(total))
	binary.LittleEndian.PutUint32(b[8:], secretsTypeTLS)
	binary.LittleEndian.PutUint32(b[12:], uint32(len(nss)))
	copy(b[16:], nss)
	binary.LittleEndian.PutUint32(b[total-4:], uint32(total))
	return b
}

func (c *capture) flush() {
	if c.err != nil || c.w == nil {
		return
	}
	if err := c.w.Flush(); err != nil {
		c.err = fmt.Errorf("flush capture: %w", err)
	}
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

// stop stops recording (frames sent later are not captured); close still
// writes what was recorded. A network stops recording before it tears its
// stacks down, whose last gasps (resets of connections still open or in
// TIME-WAIT) no lab sends.
func (c *capture) stop() {
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
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
