package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// defaultPingTimeout bounds Ping when ctx has no deadline.
const defaultPingTimeout = 5 * time.Second

var pingSeq atomic.Uint32

// Ping sends one ICMP (IPv4) or ICMPv6 echo request to dst and returns the
// round-trip time of the matching reply. Without a deadline on ctx it gives
// up after 5 s.
func (h *Host) Ping(ctx context.Context, dst netip.Addr) (time.Duration, error) {
	if err := h.errIfClosed(); err != nil {
		return 0, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultPingTimeout)
		defer cancel()
	}
	dst = dst.Unmap()
	fail := func(err error) (time.Duration, error) {
		return 0, fmt.Errorf("host %q: ping %s: %w", h.name, dst, err)
	}
	if !dst.IsValid() {
		return fail(errors.New("invalid address"))
	}
	netProto, transProto := ipv4.ProtocolNumber, icmp.ProtocolNumber4
	if dst.Is6() {
		netProto, transProto = ipv6.ProtocolNumber, icmp.ProtocolNumber6
	}
	var wq waiter.Queue
	ep, terr := h.s.NewEndpoint(transProto, netProto, &wq)
	if terr != nil {
		return fail(tcpipError(terr))
	}
	defer ep.Close()
	entry, notify := waiter.NewChannelEntry(waiter.ReadableEvents | waiter.EventErr)
	wq.EventRegister(&entry)
	defer wq.EventUnregister(&entry)

	seq := uint16(pingSeq.Add(1))
	payload := []byte("ftplab ping")
	var req []byte
	if dst.Is4() {
		m := header.ICMPv4(make([]byte, header.ICMPv4MinimumSize+len(payload)))
		m.SetType(header.ICMPv4Echo)
		m.SetSequence(seq)
		copy(m.Payload(), payload)
		req = m
	} else {
		m := header.ICMPv6(make([]byte, header.ICMPv6EchoMinimumSize+len(payload)))
		m.SetType(header.ICMPv6EchoRequest)
		m.SetSequence(seq)
		copy(m[header.ICMPv6EchoMinimumSize:], payload)
		req = m
	}
	to := tcpip.FullAddress{Addr: tcpip.AddrFromSlice(dst.AsSlice())}
	start := time.Now()
	if _, terr := ep.Write(bytes.NewReader(req), tcpip.WriteOptions{To: &to}); terr != nil {
		return fail(tcpipError(terr))
	}
	for {
		var buf bytes.Buffer
		_, terr := ep.Read(&buf, tcpip.ReadOptions{})
		switch terr.(type) {
		case nil:
			if isEchoReply(buf.Bytes(), dst.Is4(), seq) {
				return time.Since(start), nil
			}
			continue
		case *tcpip.ErrWouldBlock:
		default:
			return fail(tcpipError(terr))
		}
		select {
		case <-ctx.Done():
			return fail(ctx.Err())
		case <-notify:
		}
	}
}

func isEchoReply(b []byte, v4 bool, seq uint16) bool {
	if v4 {
		m := header.ICMPv4(b)
		return len(b) >= header.ICMPv4MinimumSize && m.Type() == header.ICMPv4EchoReply && m.Sequence() == seq
	}
	m := header.ICMPv6(b)
	return len(b) >= header.ICMPv6EchoMinimumSize && m.Type() == header.ICMPv6EchoReply && m.Sequence() == seq
}
