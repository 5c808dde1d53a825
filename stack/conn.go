package stack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	gvstack "gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

const (
	listenBacklog = 128
	tupleWait     = time.Second
)

// Dial connects to address ("ip:port" or "hostname:port", where hostname is
// a host of this network) over "tcp", "tcp4", "tcp6", "udp", "udp4" or "udp6".
func (h *Host) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	if err := h.errIfClosed(); err != nil {
		return nil, err
	}
	remote, err := h.resolve(network, address)
	if err != nil {
		return nil, err
	}
	if isUDP(network) {
		return h.DialUDP(netip.AddrPort{}, remote)
	}
	return h.dialTCP(ctx, network, netip.AddrPort{}, remote)
}

// DialFrom connects from local (its port may be fixed, e.g. FTP's port 20)
// to remote over TCP. The local address may be unspecified. The socket has
// SO_REUSEADDR set so a port can be reused at once, as FTP active mode does.
func (h *Host) DialFrom(ctx context.Context, network string, local, remote netip.AddrPort) (net.Conn, error) {
	if err := h.errIfClosed(); err != nil {
		return nil, err
	}
	if err := checkFamily(network, remote.Addr()); err != nil {
		return nil, err
	}
	if isUDP(network) {
		return h.DialUDP(local, remote)
	}
	return h.dialTCP(ctx, network, local, remote)
}

func (h *Host) dialTCP(ctx context.Context, network string, local, remote netip.AddrPort) (net.Conn, error) {
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	opErr := func(err error) error {
		oe := &net.OpError{Op: "dial", Net: network, Addr: net.TCPAddrFromAddrPort(remote), Err: err}
		if local.IsValid() {
			oe.Source = net.TCPAddrFromAddrPort(local)
		}
		return fmt.Errorf("host %q: %w", h.name, oe)
	}
	proto := protoOf(remote.Addr())
	var wq waiter.Queue
	ep, terr := h.s.NewEndpoint(tcp.ProtocolNumber, proto, &wq)
	if terr != nil {
		return nil, opErr(tcpipError(terr))
	}
	if local.IsValid() && (local.Port() != 0 || !local.Addr().IsUnspecified()) {
		ep.SocketOptions().SetReuseAddress(true)
		ep.SocketOptions().SetReusePort(true)
		la := fullAddr(local)
		if terr := ep.Bind(la); terr != nil {
			ep.Close()
			return nil, opErr(tcpipError(terr))
		}
		if local.Port() != 0 {
			h.recycleTimeWait(ctx, proto, la, remote)
		}
	}
	entry, notify := waiter.NewChannelEntry(waiter.WritableEvents)
	wq.EventRegister(&entry)
	defer wq.EventUnregister(&entry)
	terr = ep.Connect(fullAddr(remote))
	if _, started := terr.(*tcpip.ErrConnectStarted); started {
		select {
		case <-ctx.Done():
			ep.Close()
			return nil, opErr(ctx.Err())
		case <-notify:
		}
		terr = ep.LastError()
	}
	if terr != nil {
		ep.Close()
		return nil, opErr(tcpipError(terr))
	}
	return newTCPConn(&wq, ep), nil
}

// recycleTimeWait lets FTP's default data connection (L-1 -> U: the same
// four-tuple for every transfer) be reopened at once. If this host still
// holds an endpoint on the tuple that it has closed (FIN-WAIT, CLOSING), it
// waits up to tupleWait for it to reach TIME-WAIT, then aborts the TIME-WAIT
// endpoint, as Linux's tcp_tw_reuse and RFC 6191 allow. Without this gVisor
// fails Connect with "bad local address".
func (h *Host) recycleTimeWait(ctx context.Context, proto tcpip.NetworkProtocolNumber, local tcpip.FullAddress, remote netip.AddrPort) {
	ra := tcpip.AddrFromSlice(remote.Addr().AsSlice())
	if local.Addr.Len() == 0 {
		r, err := h.s.FindRoute(0, tcpip.Address{}, ra, proto, false)
		if err != nil {
			return
		}
		local.Addr = r.LocalAddress()
		r.Release()
	}
	id := gvstack.TransportEndpointID{LocalPort: local.Port, LocalAddress: local.Addr, RemotePort: remote.Port(), RemoteAddress: ra}
	deadline := time.Now().Add(tupleWait)
	for {
		ep, ok := h.s.FindTransportEndpoint(proto, tcp.ProtocolNumber, id, 0).(*tcp.Endpoint)
		if !ok {
			return
		}
		switch ep.EndpointState() {
		case tcp.StateTimeWait:
			ep.Abort()
			return
		case tcp.StateFinWait1, tcp.StateFinWait2, tcp.StateClosing, tcp.StateLastAck:
			if time.Now().After(deadline) || ctx.Err() != nil {
				return
			}
			time.Sleep(2 * time.Millisecond)
		default:
			return
		}
	}
}

// DialUDP opens a UDP socket from local (zero: any) to remote.
func (h *Host) DialUDP(local, remote netip.AddrPort) (net.Conn, error) {
	var la *tcpip.FullAddress
	if local.IsValid() {
		a := fullAddr(local)
		la = &a
	}
	ra := fullAddr(remote)
	c, err := h.udp("dial", remote, la, &ra)
	if err != nil {
		return nil, err // not a typed nil in an interface
	}
	return c, nil
}

// ListenPacket opens a UDP socket bound to address ("ip:port"; empty ip:
// any address of the family network names, IPv4 for "udp").
func (h *Host) ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	ap, err := h.listenAddr(network, address)
	if err != nil {
		return nil, err
	}
	la := fullAddr(ap)
	c, err := h.udp("listen", ap, &la, nil)
	if err != nil {
		return nil, err // not a typed nil in an interface
	}
	return c, nil
}

// udp opens a gVisor UDP socket; at names the address for errors.
func (h *Host) udp(op string, at netip.AddrPort, la, ra *tcpip.FullAddress) (*gonet.UDPConn, error) {
	c, err := gonet.DialUDP(h.s, la, ra, protoOf(at.Addr()))
	if err != nil {
		return nil, fmt.Errorf("host %q: %s udp %s: %w", h.name, op, at, err)
	}
	return c, nil
}

// Listen opens a TCP listener on address ("ip:port", ":port" or
// "hostname:port"; port 0 picks one). With an empty or unspecified IP and
// network "tcp", the listener accepts IPv4 and IPv6 if the host has
// addresses of both families. SO_REUSEADDR is set.
func (h *Host) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	if err := h.errIfClosed(); err != nil {
		return nil, err
	}
	ap, err := h.listenAddr(network, address)
	if err != nil {
		return nil, err
	}
	fail := func(err error) error {
		return fmt.Errorf("host %q: %w", h.name, &net.OpError{Op: "listen", Net: network, Addr: net.TCPAddrFromAddrPort(ap), Err: err})
	}
	var wq waiter.Queue
	ep, terr := h.s.NewEndpoint(tcp.ProtocolNumber, protoOf(ap.Addr()), &wq)
	if terr != nil {
		return nil, fail(tcpipError(terr))
	}
	ep.SocketOptions().SetReuseAddress(true)
	if ap.Addr().Is6() && ap.Addr().IsUnspecified() && network == "tcp" {
		ep.SocketOptions().SetV6Only(false)
	}
	if terr := ep.Bind(fullAddr(ap)); terr != nil {
		ep.Close()
		return nil, fail(tcpipError(terr))
	}
	if terr := ep.Listen(listenBacklog); terr != nil {
		ep.Close()
		return nil, fail(tcpipError(terr))
	}
	return &Listener{ep: ep, wq: &wq, ip: ap.Addr(), host: h, done: make(chan struct{})}, nil
}

// listenAddr parses a listen address; an empty or unspecified IP becomes the
// any-address of the right family.
func (h *Host) listenAddr(network, address string) (netip.AddrPort, error) {
	host, port, err := splitHostPort(address)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("host %q: listen %s: %w", h.name, address, err)
	}
	var ip netip.Addr
	switch {
	case host == "" || host == "0.0.0.0" || host == "::":
		ip = netip.IPv4Unspecified()
		if network == "tcp6" || network == "udp6" || host == "::" || (network == "tcp" && h.hasFamily(false)) {
			ip = netip.IPv6Unspecified()
		}
	default:
		if ip, err = h.lookup(host, network); err != nil {
			return netip.AddrPort{}, fmt.Errorf("host %q: listen %s: %w", h.name, address, err)
		}
	}
	if err := checkFamily(network, ip); err != nil {
		return netip.AddrPort{}, fmt.Errorf("host %q: listen %s: %w", h.name, address, err)
	}
	return netip.AddrPortFrom(ip, port), nil
}

// resolve parses a dial address.
func (h *Host) resolve(network, address string) (netip.AddrPort, error) {
	host, port, err := splitHostPort(address)
	if err == nil && host == "" {
		err = errors.New("missing host")
	}
	var ip netip.Addr
	if err == nil {
		ip, err = h.lookup(host, network)
	}
	if err == nil {
		err = checkFamily(network, ip)
	}
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("host %q: dial %s %s: %w", h.name, network, address, err)
	}
	return netip.AddrPortFrom(ip, port), nil
}

// lookup parses an IP or finds a host of the network by name and returns its
// first address of the family network asks for.
func (h *Host) lookup(name, network string) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(name); err == nil {
		return ip.Unmap(), nil
	}
	other := h.net.Host(name)
	if other == nil {
		return netip.Addr{}, fmt.Errorf("%q is neither an IP address nor a host of this network", name)
	}
	for _, a := range other.Addrs() {
		if checkFamily(network, a.Addr()) == nil {
			return a.Addr(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("host %q has no address for %s", name, network)
}

func (h *Host) hasFamily(v4 bool) bool {
	for _, a := range h.Addrs() {
		if a.Addr().Is4() == v4 {
			return true
		}
	}
	return false
}

// fullAddr converts ap; an unspecified address becomes gVisor's "any".
func fullAddr(ap netip.AddrPort) tcpip.FullAddress {
	fa := tcpip.FullAddress{Port: ap.Port()}
	if ip := ap.Addr().Unmap(); !ip.IsUnspecified() {
		fa.Addr = tcpip.AddrFromSlice(ip.AsSlice())
	}
	return fa
}

func splitHostPort(address string) (string, uint16, error) {
	host, ps, err := net.SplitHostPort(address)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.ParseUint(ps, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("bad port %q", ps)
	}
	return host, uint16(port), nil
}

func isUDP(network string) bool {
	return network == "udp" || network == "udp4" || network == "udp6"
}

func checkFamily(network string, ip netip.Addr) error {
	switch network {
	case "tcp", "udp":
	case "tcp4", "udp4":
		if !ip.Unmap().Is4() {
			return fmt.Errorf("%s is not an IPv4 address", ip)
		}
	case "tcp6", "udp6":
		if !ip.Is6() || ip.Is4In6() {
			return fmt.Errorf("%s is not an IPv6 address", ip)
		}
	default:
		return fmt.Errorf("unsupported network %q", network)
	}
	return nil
}

// TCPConn is a TCP connection on a virtual host. Addresses are reported
// without IPv4-in-IPv6 mapping even on dual-stack listeners.
type TCPConn struct {
	*gonet.TCPConn
	ep tcpip.Endpoint
}

func newTCPConn(wq *waiter.Queue, ep tcpip.Endpoint) *TCPConn {
	return &TCPConn{TCPConn: gonet.NewTCPConn(wq, ep), ep: ep}
}

// SetLinger is net.TCPConn's: with sec 0, Close resets the connection
// (RST) instead of closing it with FIN, as a server refusing a data
// connection must, so the other end cannot take it for a complete
// transfer. A negative sec restores the default.
func (c *TCPConn) SetLinger(sec int) error {
	c.ep.SocketOptions().SetLinger(tcpip.LingerOption{Enabled: sec >= 0, Timeout: time.Duration(max(sec, 0)) * time.Second})
	return nil
}

// LocalAddr returns the local address.
func (c *TCPConn) LocalAddr() net.Addr { return unmap(c.TCPConn.LocalAddr()) }

// RemoteAddr returns the remote address.
func (c *TCPConn) RemoteAddr() net.Addr { return unmap(c.TCPConn.RemoteAddr()) }

func unmap(a net.Addr) net.Addr {
	t, ok := a.(*net.TCPAddr)
	if !ok || t == nil {
		return a
	}
	ap := t.AddrPort()
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
}

// Listener is a TCP listener on a virtual host. After Close (of the listener
// or of the whole network), Accept returns an error wrapping net.ErrClosed.
type Listener struct {
	ep        tcpip.Endpoint
	wq        *waiter.Queue
	ip        netip.Addr // the address bound (maybe unspecified)
	host      *Host
	closed    atomic.Bool
	done      chan struct{} // closed by Close
	closeOnce sync.Once
}

// Accept waits for the next connection. (It is gonet's Accept, kept here
// so that the connection keeps its endpoint, for SetLinger.)
func (l *Listener) Accept() (net.Conn, error) {
	entry, notify := waiter.NewChannelEntry(waiter.ReadableEvents)
	l.wq.EventRegister(&entry)
	defer l.wq.EventUnregister(&entry)
	for {
		ep, wq, terr := l.ep.Accept(nil)
		if terr == nil {
			return newTCPConn(wq, ep), nil
		}
		if _, wait := terr.(*tcpip.ErrWouldBlock); !wait {
			if l.closed.Load() || l.host.closed.Load() {
				return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
			}
			return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: tcpipError(terr)}
		}
		select {
		case <-notify:
		case <-l.done:
			return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
		}
	}
}

// Close stops listening; blocked Accept calls return net.ErrClosed.
func (l *Listener) Close() error {
	l.closed.Store(true)
	l.closeOnce.Do(func() { close(l.done) })
	l.ep.Close()
	return nil
}

// Addr returns the listening address; an any-address listener reports
// 0.0.0.0 or [::] with the port.
func (l *Listener) Addr() net.Addr {
	var a net.Addr = &net.TCPAddr{}
	if fa, err := l.ep.GetLocalAddress(); err == nil {
		a = unmap(&net.TCPAddr{IP: net.IP(fa.Addr.AsSlice()), Port: int(fa.Port)})
	}
	if t, ok := a.(*net.TCPAddr); ok && (t.IP == nil || t.IP.IsUnspecified()) {
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(l.ip, uint16(t.Port)))
	}
	return a
}

// tcpipError maps a gVisor error to the matching errno where there is one,
// keeping gVisor's text.
func tcpipError(e tcpip.Error) error {
	var errno syscall.Errno
	switch e.(type) {
	case *tcpip.ErrConnectionRefused:
		errno = syscall.ECONNREFUSED
	case *tcpip.ErrConnectionReset:
		errno = syscall.ECONNRESET
	case *tcpip.ErrTimeout:
		errno = syscall.ETIMEDOUT
	case *tcpip.ErrPortInUse:
		errno = syscall.EADDRINUSE
	case *tcpip.ErrBadLocalAddress:
		errno = syscall.EADDRNOTAVAIL
	case *tcpip.ErrNetworkUnreachable:
		errno = syscall.ENETUNREACH
	case *tcpip.ErrHostUnreachable:
		errno = syscall.EHOSTUNREACH
	case *tcpip.ErrAborted, *tcpip.ErrClosedForSend, *tcpip.ErrClosedForReceive:
		return fmt.Errorf("%s: %w", e, net.ErrClosed)
	default:
		return errors.New(e.String())
	}
	return fmt.Errorf("%s: %w", e, errno)
}
