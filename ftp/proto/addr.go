// Package proto holds FTP's wire encodings that server and client share:
// host-port arguments of PORT and SOCK (RFC 959, RFC 478), EPRT (RFC 2428),
// the replies to PASV and EPSV, and MLST/MLSD fact lines (RFC 3659).
package proto

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// ParsePORT parses a PORT (or RFC 478 SOCK) argument "h1,h2,h3,h4,p1,p2".
func ParsePORT(arg string) (netip.AddrPort, error) {
	parts := strings.Split(strings.TrimSpace(arg), ",")
	if len(parts) != 6 {
		return netip.AddrPort{}, fmt.Errorf("host-port %q: want 6 comma-separated numbers, got %d", arg, len(parts))
	}
	var b [6]byte
	for i, p := range parts {
		n, err := strconv.ParseUint(strings.TrimSpace(p), 10, 8)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("host-port %q: field %d (%q) is not a number 0-255", arg, i+1, p)
		}
		b[i] = byte(n)
	}
	addr := netip.AddrFrom4([4]byte{b[0], b[1], b[2], b[3]})
	return netip.AddrPortFrom(addr, uint16(b[4])<<8|uint16(b[5])), nil
}

// FormatPORT renders ap as PORT's "h1,h2,h3,h4,p1,p2". Only IPv4 (or
// IPv4-mapped IPv6) addresses can be written this way.
func FormatPORT(ap netip.AddrPort) (string, error) {
	a := ap.Addr().Unmap()
	if !a.Is4() {
		return "", fmt.Errorf("address %s is not IPv4: PORT and PASV carry IPv4 only, use EPRT/EPSV", a)
	}
	b := a.As4()
	p := ap.Port()
	return fmt.Sprintf("%d,%d,%d,%d,%d,%d", b[0], b[1], b[2], b[3], p>>8, p&0xff), nil
}

// ParseEPRT parses an EPRT argument "<d>proto<d>addr<d>port<d>" (RFC 2428 §2).
func ParseEPRT(arg string) (netip.AddrPort, error) {
	arg = strings.TrimSpace(arg)
	if len(arg) < 2 || arg[0] < 33 || arg[0] > 126 {
		return netip.AddrPort{}, fmt.Errorf("EPRT argument %q: must start with a printable delimiter", arg)
	}
	d := string(arg[0])
	f := strings.Split(arg, d)
	if len(f) != 5 || f[0] != "" || f[4] != "" {
		return netip.AddrPort{}, fmt.Errorf("EPRT argument %q: want <d>proto<d>addr<d>port<d>", arg)
	}
	addr, err := netip.ParseAddr(f[2])
	if err != nil || addr.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("EPRT argument %q: bad address %q", arg, f[2])
	}
	switch f[1] {
	case "1":
		if !addr.Is4() {
			return netip.AddrPort{}, fmt.Errorf("EPRT argument %q: protocol 1 needs an IPv4 address", arg)
		}
	case "2":
		if !addr.Is6() || addr.Is4In6() {
			return netip.AddrPort{}, fmt.Errorf("EPRT argument %q: protocol 2 needs an IPv6 address", arg)
		}
	default:
		return netip.AddrPort{}, fmt.Errorf("EPRT argument %q: unknown network protocol %q: %w", arg, f[1], ErrNetworkProtocol)
	}
	port, err := strconv.ParseUint(f[3], 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, fmt.Errorf("EPRT argument %q: bad port %q", arg, f[3])
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// ErrNetworkProtocol is wrapped by ParseEPRT for a protocol number other than
// 1 or 2; a server answers it with 522 (RFC 2428 §2).
var ErrNetworkProtocol = errors.New("network protocol not supported")

// FormatEPRT renders ap as an EPRT argument with "|" as delimiter.
func FormatEPRT(ap netip.AddrPort) string {
	a := ap.Addr()
	proto := "2"
	if a.Is4() || a.Is4In6() {
		a, proto = a.Unmap(), "1"
	}
	return fmt.Sprintf("|%s|%s|%d|", proto, a.WithZone(""), ap.Port())
}

// FormatPASVReply is the text of a 227 reply announcing ap.
func FormatPASVReply(ap netip.AddrPort) (string, error) {
	hp, err := FormatPORT(ap)
	if err != nil {
		return "", err
	}
	return "Entering Passive Mode (" + hp + ").", nil
}

// ParsePASVReply finds the host-port in the text of a 227 reply. Like most
// clients (RFC 1123 §4.1.2.6) it scans for the first run of six
// comma-separated numbers, with or without parentheses.
func ParsePASVReply(msg string) (netip.AddrPort, error) {
	for i := 0; i < len(msg); i++ {
		if !isDigit(msg[i]) || (i > 0 && isDigit(msg[i-1])) {
			continue
		}
		j := i
		for j < len(msg) && (isDigit(msg[j]) || msg[j] == ',' || msg[j] == ' ') {
			j++
		}
		cand := strings.TrimRight(msg[i:j], ", ")
		if strings.Count(cand, ",") != 5 {
			continue
		}
		if ap, err := ParsePORT(cand); err == nil {
			return ap, nil
		}
	}
	return netip.AddrPort{}, fmt.Errorf("227 reply %q: no h1,h2,h3,h4,p1,p2 found", msg)
}

// FormatEPSVReply is the text of a 229 reply announcing port (RFC 2428 §3).
func FormatEPSVReply(port uint16) string {
	return fmt.Sprintf("Entering Extended Passive Mode (|||%d|)", port)
}

// ParseEPSVReply finds the port in the text of a 229 reply: "(<d><d><d>port<d>)".
func ParseEPSVReply(msg string) (uint16, error) {
	open := strings.IndexByte(msg, '(')
	end := strings.LastIndexByte(msg, ')')
	if open < 0 || end < open+6 {
		return 0, fmt.Errorf("229 reply %q: no (|||port|) found", msg)
	}
	in := msg[open+1 : end]
	d := in[0]
	if d < 33 || d > 126 || in[1] != d || in[2] != d || in[len(in)-1] != d {
		return 0, fmt.Errorf("229 reply %q: malformed (|||port|)", msg)
	}
	port, err := strconv.ParseUint(in[3:len(in)-1], 10, 16)
	if err != nil || port == 0 {
		return 0, fmt.Errorf("229 reply %q: bad port %q", msg, in[3:len(in)-1])
	}
	return uint16(port), nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// AddrPortOf returns the address and port of a (TCP) net.Addr, an
// IPv4-mapped IPv6 address unmapped, so that a dual-stack socket's peers
// compare equal to the IPv4 addresses of PORT and PASV. It is the zero
// AddrPort for nil or an address without a port.
func AddrPortOf(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch t := a.(type) {
	case nil:
		return netip.AddrPort{}
	case *net.TCPAddr:
		if t == nil {
			return netip.AddrPort{}
		}
		ap = t.AddrPort()
	default:
		var err error
		if ap, err = netip.ParseAddrPort(a.String()); err != nil {
			return netip.AddrPort{}
		}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
