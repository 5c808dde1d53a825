package tun

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/fdbased"
	"gvisor.dev/gvisor/pkg/tcpip/link/nested"
	gvstack "gvisor.dev/gvisor/pkg/tcpip/stack"
)

// Stats counts the packets that crossed a device. Nothing is dropped
// silently: a packet that could not be written is counted in WriteDrops,
// and one the kernel could not queue for us in KernelDrops.
type Stats struct {
	// ToKernel counts packets (and their bytes) written to the kernel.
	ToKernelPackets, ToKernelBytes uint64
	// FromKernel counts packets (and their bytes) read from the kernel.
	FromKernelPackets, FromKernelBytes uint64
	// ChecksumsFixed counts outbound packets whose checksums gVisor had left
	// to offload and the bridge filled in.
	ChecksumsFixed uint64
	// WriteDrops counts outbound packets the kernel refused (write error).
	WriteDrops uint64
	// KernelDrops is the device's tx_dropped plus rx_dropped: packets the
	// kernel dropped because its queue towards us was full, or that it
	// could not take from us (receive backlog full).
	KernelDrops uint64
}

// endpoint is the gVisor link endpoint of a device: fdbased reads from the
// TUN file descriptor; writes go through WritePackets here, which fixes
// checksums, captures, and writes each packet with one write(2), waiting
// (backpressure) while the descriptor is not writable.
type endpoint struct {
	nested.Endpoint
	child   gvstack.LinkEndpoint
	fd      int
	capture func(time.Time, []byte)

	// mu guards fd against Close: writers hold it shared.
	mu     sync.RWMutex
	closed atomic.Bool

	toPkts, toBytes, fromPkts, fromBytes, fixed, writeDrops atomic.Uint64
}

var _ gvstack.LinkEndpoint = (*endpoint)(nil)

// bufPool holds flat packet buffers for the write path.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 65536); return &b }}

func newEndpoint(fd int, mtu uint32, capture func(time.Time, []byte)) (*endpoint, error) {
	child, err := fdbased.New(&fdbased.Options{
		FDs:                []int{fd},
		MTU:                mtu,
		EthernetHeader:     false,
		PacketDispatchMode: fdbased.Readv, // a TUN fd is no socket: readv is the only mode
		// Packets from the kernel carry valid checksums: skip verifying.
		RXChecksumOffload: true,
		// Deliver in the reading goroutine: when the stack is slow, reading
		// stops and the kernel queue fills (backpressure) instead of an
		// unbounded queue growing here. GRO stays off so captures show the
		// packets as they crossed.
		ProcessorsPerChannel: 1,
	})
	if err != nil {
		return nil, err
	}
	e := &endpoint{child: child, fd: fd, capture: capture}
	e.Endpoint.Init(child, e)
	return e, nil
}

// DeliverNetworkPacket counts and captures a packet from the kernel and
// hands it to the stack.
func (e *endpoint) DeliverNetworkPacket(proto tcpip.NetworkProtocolNumber, pkt *gvstack.PacketBuffer) {
	n := pkt.Data().Size()
	e.fromPkts.Add(1)
	e.fromBytes.Add(uint64(n))
	if e.capture != nil {
		v := pkt.Data().ToBuffer()
		e.capture(time.Now(), v.Flatten())
		v.Release()
	}
	e.Endpoint.DeliverNetworkPacket(proto, pkt)
}

// WritePackets writes packets to the kernel one by one.
func (e *endpoint) WritePackets(pkts gvstack.PacketBufferList) (int, tcpip.Error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	for i, pkt := range pkts.AsSlice() {
		if e.closed.Load() {
			e.writeDrops.Add(uint64(pkts.Len() - i))
			return i, &tcpip.ErrClosedForSend{}
		}
		b := (*bp)[:0]
		for _, s := range pkt.AsSlices() {
			b = append(b, s...)
		}
		*bp = b
		if fixChecksums(b) {
			e.fixed.Add(1)
		}
		if err := e.write(b); err != nil {
			e.writeDrops.Add(uint64(pkts.Len() - i))
			return i, err
		}
		e.toPkts.Add(1)
		e.toBytes.Add(uint64(len(b)))
		if e.capture != nil {
			e.capture(time.Now(), b)
		}
	}
	return pkts.Len(), nil
}

// write writes one packet, polling for writability while the kernel
// pushes back.
func (e *endpoint) write(b []byte) tcpip.Error {
	for {
		_, err := unix.Write(e.fd, b)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			if e.closed.Load() {
				return &tcpip.ErrClosedForSend{}
			}
			fds := []unix.PollFd{{Fd: int32(e.fd), Events: unix.POLLOUT}}
			_, _ = unix.Poll(fds, 50)
			continue
		}
		var errno unix.Errno
		if errors.As(err, &errno) {
			return tcpip.TranslateErrno(errno)
		}
		return &tcpip.ErrClosedForSend{}
	}
}

// stop stops reading from the fd and makes later writes fail; after it
// returns the fd may be closed.
func (e *endpoint) stop() {
	e.closed.Store(true)
	e.mu.Lock() // wait for writers in flight
	e.child.Attach(nil)
	e.mu.Unlock()
	e.child.Wait()
}

func (e *endpoint) stats() Stats {
	return Stats{
		ToKernelPackets:   e.toPkts.Load(),
		ToKernelBytes:     e.toBytes.Load(),
		FromKernelPackets: e.fromPkts.Load(),
		FromKernelBytes:   e.fromBytes.Load(),
		ChecksumsFixed:    e.fixed.Load(),
		WriteDrops:        e.writeDrops.Load(),
	}
}
