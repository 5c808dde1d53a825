package ftptest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netns"

	"github.com/ftplab/ftplab/ftp"
)

// Network is an ftp.Network whose sockets live in a named network
// namespace (one of AddNetns or Bridged), so the project's own FTP server
// and client can run in-process on a kernel network the test built, one
// namespace per host.
//
// A socket belongs to the namespace of the thread that creates it, and
// stays there: Listen, Dial and DialFrom each run on a goroutine of their
// own, locked to an OS thread that has entered the namespace (setns) and
// that ends with the goroutine, so no other goroutine ever runs in the
// namespace. The sockets they return work from any goroutine. Each call
// has its own thread, so a dial that waits for a dropped SYN holds up no
// other call.
type Network struct {
	name string
	mu   sync.RWMutex // held to read ns; Close takes it to write
	ns   netns.NsHandle
}

var _ ftp.Network = (*Network)(nil)

// OpenNetwork opens the named namespace (ip netns) as a Network; Close
// releases it.
func OpenNetwork(name string) (*Network, error) {
	h, err := netns.GetFromName(name)
	if err != nil {
		return nil, fmt.Errorf("network namespace %q: %w", name, err)
	}
	return &Network{name: name, ns: h}, nil
}

// Network opens the namespace as a Network, closed at the test's cleanup.
func (ns Netns) Network(tb testing.TB) *Network {
	tb.Helper()
	n, err := OpenNetwork(ns.Name)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = n.Close() })
	return n
}

// Close releases the namespace; later calls fail. Sockets made before
// (and calls under way) keep working.
func (n *Network) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.ns.IsOpen() {
		return nil
	}
	return n.ns.Close()
}

// String names the namespace.
func (n *Network) String() string { return "netns " + n.name }

// Do runs fn on an OS thread inside the namespace and waits for it: for
// what no program does for a namespace, such as writing its
// /proc/sys/net. Sockets fn makes stay in the namespace.
func (n *Network) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread, now in the namespace, ends with
		// this goroutine instead of going back to the scheduler.
		runtime.LockOSThread()
		if err := n.enter(); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	if err := <-errc; err != nil {
		return fmt.Errorf("%s: %w", n, err)
	}
	return nil
}

// enter moves the calling thread into the namespace.
func (n *Network) enter() error {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if !n.ns.IsOpen() {
		return errors.New("closed")
	}
	if err := netns.Set(n.ns); err != nil {
		return fmt.Errorf("enter: %w", err)
	}
	return nil
}

// literal checks that address is "IP:port": a host name would be looked
// up by resolver goroutines outside the namespace.
func literal(address string) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("address %q: %w", address, err)
	}
	if _, err := netip.ParseAddr(host); err != nil && host != "" {
		return fmt.Errorf("address %q: want an IP address, not a name (names are resolved outside the namespace)", address)
	}
	return nil
}

// Dial connects from inside the namespace.
func (n *Network) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	if err := literal(address); err != nil {
		return nil, err
	}
	var c net.Conn
	err := n.Do(func() (err error) { c, err = ftp.OS{}.Dial(ctx, network, address); return err })
	return c, err
}

// DialFrom connects from local to remote inside the namespace
// (SO_REUSEADDR set, as ftp.OS does).
func (n *Network) DialFrom(ctx context.Context, network string, local, remote netip.AddrPort) (net.Conn, error) {
	var c net.Conn
	err := n.Do(func() (err error) { c, err = ftp.OS{}.DialFrom(ctx, network, local, remote); return err })
	return c, err
}

// Listen listens inside the namespace.
func (n *Network) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	if err := literal(address); err != nil {
		return nil, err
	}
	var ln net.Listener
	err := n.Do(func() (err error) { ln, err = ftp.OS{}.Listen(ctx, network, address); return err })
	return ln, err
}
