// Package ftp holds what the FTP server and client share: the Network seam
// through which they listen and dial. The server (ftp/server), client
// (ftp/client), storage (ftp/store) and wire encodings (ftp/proto) live in
// sub-packages. Nothing under ftp imports gVisor: a virtual host of package
// stack satisfies Network, and so does OS, the operating system's network.
package ftp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// Network is where a server listens and a client dials: a virtual host, or
// the operating system's network.
type Network interface {
	// Dial connects to address ("host:port") over network ("tcp", "tcp4", "tcp6").
	Dial(ctx context.Context, network, address string) (net.Conn, error)
	// DialFrom connects from a chosen local address and port to remote. FTP's
	// active mode uses it to connect from the default data port L-1.
	DialFrom(ctx context.Context, network string, local, remote netip.AddrPort) (net.Conn, error)
	// Listen opens a stream listener on address ("host:port"; port 0 picks one).
	Listen(ctx context.Context, network, address string) (net.Listener, error)
}

// OS is the operating system's network. Its DialFrom sets SO_REUSEADDR so an
// active-mode data connection can reuse port L-1 right after the last one.
type OS struct{}

var _ Network = OS{}

// Dial connects through the kernel.
func (OS) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

// DialFrom connects from local to remote through the kernel.
func (OS) DialFrom(ctx context.Context, network string, local, remote netip.AddrPort) (net.Conn, error) {
	d := net.Dialer{
		LocalAddr: net.TCPAddrFromAddrPort(local),
		Control:   reuseAddr,
	}
	c, err := d.DialContext(ctx, network, remote.String())
	if err != nil {
		return nil, fmt.Errorf("dial %s from %s: %w", remote, local, err)
	}
	return c, nil
}

// Listen listens through the kernel.
func (OS) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	lc := net.ListenConfig{Control: reuseAddr}
	return lc.Listen(ctx, network, address)
}

func reuseAddr(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
