package labs

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/ftplab/ftplab/labs/internal/yamlx"
	"github.com/goccy/go-yaml/ast"

	"github.com/ftplab/ftplab/ftp/server"
	"github.com/ftplab/ftplab/stack"
)

// NAT is a router's network address translation (IPv4): connections
// leaving by the outside NIC get its address (masquerade) or SNAT; port
// forwards send connections to the router's outside address on to inside
// hosts.
type NAT struct {
	// Outside is the NIC that faces the outside network, e.g. "eth1".
	Outside string `yaml:"outside"`
	// SNAT is the source address to give instead of the outside NIC's own.
	SNAT Addr `yaml:"snat"`
	// Forward lists port forwards.
	Forward []PortForward `yaml:"forward"`
}

// PortForward sends connections to the router's outside address for a
// port (or a range, such as a server's passive ports) to an inside host.
type PortForward struct {
	// Port is the outside port or range, "21" or "50000-50099".
	Port PortRange `yaml:"port"`
	// To is the inside host, "10.1.0.2" (same port) or "10.1.0.2:2121"
	// (a single port only).
	To Endpoint `yaml:"to"`
}

// Firewall is a router's stateful packet filter: packets of connections
// it let through pass both ways, and so do data connections its FTP helper
// expects; a packet that opens anything else passes only if an allow rule
// matches it, otherwise it is dropped and counted. What the router itself
// sends and receives is not filtered.
type Firewall struct {
	// Allow lists the rules for new connections.
	Allow []FirewallRule `yaml:"allow"`
}

// FirewallRule allows new connections; an empty field matches anything.
type FirewallRule struct {
	// In and Out are the NICs the packet arrives by and leaves by.
	In  string `yaml:"in"`
	Out string `yaml:"out"`
	// To is the destination address or prefix (after any port forward).
	To Dest `yaml:"to"`
	// Proto is tcp, udp or icmp.
	Proto string `yaml:"proto"`
	// Port is the destination port or range.
	Port PortRange `yaml:"port"`
}

// FTPHelper is a router's FTP connection-tracking helper. It reads PORT,
// EPRT, 227 and 229 at the start of a line on control connections, lets
// the announced data connection through the firewall as related, and under
// NAT rewrites the address and port and shifts TCP sequence numbers.
type FTPHelper struct {
	// Ports are the control ports it watches; default [21].
	Ports []Port `yaml:"ports"`
	// Loose also expects data connections to an address other than the
	// control connection's own ends, which third-party transfers need
	// (Linux's nf_conntrack_ftp loose=1; off by default, as in Linux).
	Loose bool `yaml:"loose"`
}

// Endpoint is an address with an optional port, "10.1.0.2" or
// "10.1.0.2:2121".
type Endpoint netip.AddrPort

// UnmarshalYAML implements goccy/go-yaml's NodeUnmarshaler: it decodes the
// node as Load would.
func (e *Endpoint) UnmarshalYAML(node ast.Node) error { return fromAST(node, e) }

func (e *Endpoint) decodeYAML(node *yamlx.Node) error {
	return decodeScalar(node, "address", parseEndpoint, (*netip.AddrPort)(e))
}

func parseEndpoint(s string) (netip.AddrPort, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a, 0), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Port() == 0 {
		return netip.AddrPort{}, fmt.Errorf("address %q: want an address, or address:port like 10.1.0.2:21", s)
	}
	return ap, nil
}

// Port is a TCP or UDP port, 1-65535.
type Port uint16

// UnmarshalYAML implements goccy/go-yaml's NodeUnmarshaler: it decodes the
// node as Load would.
func (p *Port) UnmarshalYAML(node ast.Node) error { return fromAST(node, p) }

func (p *Port) decodeYAML(node *yamlx.Node) error {
	return decodeScalar(node, "port", func(s string) (Port, error) {
		n, err := strconv.ParseUint(s, 10, 16)
		if err != nil || n == 0 {
			return 0, fmt.Errorf("port %q: want a number 1-65535", s)
		}
		return Port(n), nil
	}, p)
}

// Dest is a destination address ("10.1.0.2") or prefix ("10.1.0.0/24").
type Dest netip.Prefix

// UnmarshalYAML implements goccy/go-yaml's NodeUnmarshaler: it decodes the
// node as Load would.
func (d *Dest) UnmarshalYAML(node ast.Node) error { return fromAST(node, d) }

func (d *Dest) decodeYAML(node *yamlx.Node) error {
	return decodeScalar(node, "destination", server.ParseTrustedPeer, (*netip.Prefix)(d))
}

// stackRoles fills a host config's router roles from the lab's host.
func (h *Host) stackRoles(hc *stack.HostConfig) {
	if n := h.NAT; n != nil {
		nc := &stack.NATConfig{Outside: n.Outside, SNAT: n.SNAT.A()}
		for _, f := range n.Forward {
			to := netip.AddrPort(f.To)
			nc.Forwards = append(nc.Forwards, stack.PortForward{
				Ports: stackPorts(f.Port), To: to.Addr(), ToPort: to.Port(),
			})
		}
		hc.NAT = nc
	}
	if fw := h.Firewall; fw != nil {
		fc := &stack.FirewallConfig{}
		for _, r := range fw.Allow {
			fc.Allow = append(fc.Allow, stack.FirewallRule{
				In: r.In, Out: r.Out, Dst: netip.Prefix(r.To), Proto: r.Proto, Ports: stackPorts(r.Port),
			})
		}
		hc.Firewall = fc
	}
	if hl := h.FTPHelper; hl != nil {
		c := &stack.FTPHelperConfig{Loose: hl.Loose}
		for _, p := range hl.Ports {
			c.Ports = append(c.Ports, uint16(p))
		}
		hc.FTPHelper = c
	}
}

func stackPorts(r PortRange) stack.PortRange {
	if r.Hi == r.Lo {
		return stack.PortRange{First: r.Lo}
	}
	return stack.PortRange{First: r.Lo, Last: r.Hi}
}

// rolePath is the YAML path of a router role item (see network.path).
func rolePath(host string, it stack.Item) string {
	var base string
	switch it.Kind {
	case stack.NATItem:
		base = host + ".nat"
		if it.Sub >= 0 {
			base += ".forward[" + strconv.Itoa(it.Sub) + "]"
		}
	case stack.FirewallItem:
		base = host + ".firewall"
		if it.Sub >= 0 {
			base += ".allow[" + strconv.Itoa(it.Sub) + "]"
		}
	case stack.FTPHelperItem:
		base = host + ".ftp-helper"
		if it.Field == "Ports" && it.Elem >= 0 {
			return base + ".ports[" + strconv.Itoa(it.Elem) + "]"
		}
	}
	field := map[string]string{
		"Outside": "outside", "SNAT": "snat", "Ports": "port", "To": "to", "ToPort": "to",
		"In": "in", "Out": "out", "Dst": "to", "Proto": "proto",
	}[it.Field]
	if field == "" {
		return base
	}
	return base + "." + field
}
