package tun

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

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
// TUN file descriptor; WritePackets here queues a reference to each packet
// for the writer goroutine, which checks its checksums, writes it with one
// writev(2) straight from the packet's views, captures and counts it. A
// packet whose checksums need fixing, or that is captured, is first copied
// into one flat buffer. The queue is bounded: while it is full
// WritePackets waits (backpressure), so nothing is dropped silently, and
// the stack's goroutines (forwarding on the gateway) and the writer, inside
// whose write the kernel's receive path runs, use both CPUs; the copy and
// the checksum pass stay off the forwarding goroutine.
type endpoint struct {
	nested.Endpoint
	child   gvstack.LinkEndpoint
	fd      int
	capture func(time.Time, []byte)

	// mu guards out against stop: senders hold it shared.
	mu       sync.RWMutex
	closed   atomic.Bool
	stopping chan struct{}              // closed by stop: wakes blocked senders
	out      chan *gvstack.PacketBuffer // packets for the writer, at most queueLen
	done     chan struct{}              // closed when the writer has drained out

	toPkts, toBytes, fromPkts, fromBytes, fixed, writeDrops atomic.Uint64
}

var _ gvstack.LinkEndpoint = (*endpoint)(nil)

// queueLen bounds the packets waiting for the writer.
const queueLen = 256

// bufPool holds flat packet buffers for the write path.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

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
	e := &endpoint{child: child, fd: fd, capture: capture,
		stopping: make(chan struct{}), out: make(chan *gvstack.PacketBuffer, queueLen), done: make(chan struct{})}
	e.Endpoint.Init(child, e)
	go e.writer()
	return e, nil
}

// Capabilities implements gvstack.LinkEndpoint: fdbased's, plus TX
// checksum offload. The writer checks every packet's checksums anyway and
// fills in those gVisor leaves to "hardware" (the gateway's own packets,
// counted in ChecksumsFixed); without the flag the gateway would recompute
// the transport checksum of every packet it forwards to the kernel, a
// second full pass over each packet on the forwarding goroutine.
func (e *endpoint) Capabilities() gvstack.LinkEndpointCapabilities {
	return e.Endpoint.Capabilities() | gvstack.CapabilityTXChecksumOffload
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

// WritePackets queues packets for the writer, waiting while the queue is full.
func (e *endpoint) WritePackets(pkts gvstack.PacketBufferList) (int, tcpip.Error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	for i, pkt := range pkts.AsSlice() {
		if e.closed.Load() {
			e.writeDrops.Add(uint64(pkts.Len() - i))
			return i, &tcpip.ErrClosedForSend{}
		}
		pkt.IncRef()
		select {
		case e.out <- pkt:
		case <-e.stopping:
			pkt.DecRef()
			e.writeDrops.Add(uint64(pkts.Len() - i))
			return i, &tcpip.ErrClosedForSend{}
		}
	}
	return pkts.Len(), nil
}

// writer writes queued packets until stop closes the queue.
func (e *endpoint) writer() {
	defer close(e.done)
	var iov []unix.Iovec
	for pkt := range e.out {
		parts := pkt.AsSlices()
		var err tcpip.Error
		n := 0
		if e.capture == nil && checksumsOK(parts) && pkt.Size() > 0 {
			iov = iov[:0]
			for _, p := range parts {
				if len(p) > 0 {
					iov = append(iov, unix.Iovec{Base: &p[0]})
					iov[len(iov)-1].SetLen(len(p))
					n += len(p)
				}
			}
			err = e.write(func() error { return writev(e.fd, iov) })
		} else {
			n, err = e.writeFlat(parts)
		}
		if err != nil {
			e.writeDrops.Add(1)
		} else {
			e.toPkts.Add(1)
			e.toBytes.Add(uint64(n))
		}
		pkt.DecRef()
	}
}

// writeFlat copies a packet into one buffer, fixes its checksums, writes
// and captures it.
func (e *endpoint) writeFlat(parts [][]byte) (int, tcpip.Error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	b := (*bp)[:0]
	for _, p := range parts {
		b = append(b, p...)
	}
	*bp = b
	if fixChecksums(b) {
		e.fixed.Add(1)
	}
	if err := e.write(func() error { _, err := unix.Write(e.fd, b); return err }); err != nil {
		return 0, err
	}
	if e.capture != nil {
		e.capture(time.Now(), b)
	}
	return len(b), nil
}

// writev writes one packet from iov with writev(2).
func writev(fd int, iov []unix.Iovec) error {
	_, _, errno := unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
	if errno != 0 {
		return errno
	}
	return nil
}

// write runs one write of a packet, polling for writability while the
// kernel pushes back.
func (e *endpoint) write(do func() error) tcpip.Error {
	for {
		err := do()
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

// stop makes later writes fail, lets the writer drain the queue and stops
// reading from the fd; after it returns the fd may be closed.
func (e *endpoint) stop() {
	e.closed.Store(true)
	close(e.stopping)
	e.mu.Lock()
	close(e.out)
	e.mu.Unlock()
	<-e.done
	e.child.Attach(nil)
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
