package stack

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"time"
)

// Config is the plain description of a network: what the user wrote. New turns
// it into running hosts, switches and links.
type Config struct {
	Hosts    []HostConfig
	Switches []SwitchConfig
	Links    []LinkConfig
}

// HostConfig describes one virtual host.
type HostConfig struct {
	// Name identifies the host; it must be unique among hosts and switches
	// and must not contain ':'.
	Name string
	// NICs are the host's Ethernet interfaces.
	NICs []NICConfig
	// Routes are static routes; Dst 0.0.0.0/0 or ::/0 is the default gateway.
	// On-link routes for every NIC address are added automatically.
	Routes []RouteConfig
	// Router turns on IP forwarding between the host's NICs.
	Router bool
	// IPv6 enables the IPv6 protocol even if no NIC has an IPv6 address
	// (e.g. for addresses added later with AddNIC). Hosts with an IPv6
	// address always have it; hosts without neither answer nor send IPv6,
	// which saves about 40 KiB (an NDP neighbour table) per host.
	IPv6 bool
	// NAT translates the addresses of what the host forwards (router.go);
	// it needs Router.
	NAT *NATConfig
	// Firewall filters what the host forwards, statefully; it needs Router.
	Firewall *FirewallConfig
	// FTPHelper watches the FTP control connections the host forwards and
	// lets their data connections through NAT and Firewall (helper.go); it
	// needs Router.
	FTPHelper *FTPHelperConfig
}

// NATConfig is network address translation on a router, built on gVisor's
// netfilter (its NAT table and connection tracking).
type NATConfig struct {
	// Outside names the NIC facing the outside: connections leaving by it
	// get its address as their source (masquerade), or SNAT if set.
	Outside string
	// SNAT, if valid, is the source address connections leaving by Outside
	// get instead of the NIC's own address.
	SNAT netip.Addr
	// Forwards are port forwards: connections arriving at Outside for one of
	// their ports go to an inside host.
	Forwards []PortForward
}

// PortForward sends connections that arrive at a NAT's outside NIC for
// Ports on to To (destination NAT).
type PortForward struct {
	// Ports is the outside port range.
	Ports PortRange
	// To is the inside host's address.
	To netip.Addr
	// ToPort is the inside port for a single outside port; 0 keeps the
	// port. A range always keeps its ports.
	ToPort uint16
}

// PortRange is the TCP or UDP ports First..Last; Last 0 means First alone.
type PortRange struct {
	First, Last uint16
}

// Contains reports whether port is in r.
func (r PortRange) Contains(port uint16) bool {
	return port >= r.First && port <= max(r.Last, r.First)
}

// String renders "21" or "50000-50100".
func (r PortRange) String() string {
	if r.Last == 0 || r.Last == r.First {
		return fmt.Sprint(r.First)
	}
	return fmt.Sprintf("%d-%d", r.First, r.Last)
}

// FirewallConfig is a stateful packet filter on what a router forwards:
// packets of connections it has let through (in either direction), and of
// data connections an FTPHelper expects, pass; a packet that starts
// anything else passes only if an Allow rule matches it, and is otherwise
// dropped and counted (Host.FirewallDropped). Traffic to and from the
// router itself is not filtered.
type FirewallConfig struct {
	// Allow are the rules for new connections, tried in order.
	Allow []FirewallRule
}

// FirewallRule matches the first packet of a connection; empty fields
// match anything.
type FirewallRule struct {
	// In and Out name the NIC the packet arrives by and the NIC it leaves by.
	In, Out string
	// Dst is the destination prefix (after any port forward).
	Dst netip.Prefix
	// Proto is "tcp", "udp" or "icmp"; "" matches any.
	Proto string
	// Ports is the destination port range (tcp or udp); zero matches any.
	Ports PortRange
}

// FTPHelperConfig is an FTP connection-tracking helper with the semantics
// of Linux's nf_conntrack_ftp and nf_nat_ftp.
type FTPHelperConfig struct {
	// Ports are the control connection ports it watches; empty means 21.
	Ports []uint16
	// Loose lets it expect a data connection to an address other than the
	// control connection's own ends (as nf_conntrack_ftp's loose=1): what a
	// third-party transfer needs, and a hole anyone who can reach a server
	// can open towards any host.
	Loose bool
}

// NICConfig describes one Ethernet interface of a host.
type NICConfig struct {
	// Name defaults to "eth<i>".
	Name string
	// MAC is optional; the default is a deterministic locally administered
	// address (02:00:00:xx:xx:xx) derived from the NIC's position.
	MAC net.HardwareAddr
	// Addrs are the interface addresses with their prefix length, e.g.
	// 10.0.0.1/24 or 2001:db8::1/64.
	Addrs []netip.Prefix
}

// RouteConfig is one static route.
type RouteConfig struct {
	// Dst is the destination prefix; 0.0.0.0/0 or ::/0 is the default route.
	Dst netip.Prefix
	// Via is the gateway; the zero Addr means the destination is on-link.
	Via netip.Addr
	// NIC names the outgoing interface; optional when Via lies in a NIC's
	// subnet or the host has a single NIC.
	NIC string
}

// SwitchConfig describes a learning L2 switch.
type SwitchConfig struct {
	// Name identifies the switch; unique among hosts and switches.
	Name string
}

// LinkConfig describes one cable: host-host or host-switch.
type LinkConfig struct {
	// Name is optional; the default is derived from the ends, e.g. "A:eth0-sw1".
	Name string
	// A and B are the ends: "host:nic", "host" (a host with a single NIC) or
	// a switch name.
	A, B string
	// Params are the link's properties and impairments.
	Params LinkParams
}

// LinkParams are the properties of a link. All of them can be changed while
// the network runs (Link.Set). They apply to each direction independently.
type LinkParams struct {
	// MTU is the largest IP packet the link carries; 0 means 1500.
	MTU int
	// Delay is the one-way propagation delay.
	Delay time.Duration
	// Jitter adds a uniformly distributed extra delay in [-Jitter, +Jitter]
	// (never below zero and never reordering frames).
	Jitter time.Duration
	// Loss is the probability (0..1) that a frame is lost, drawn from a PRNG
	// seeded with Seed, so a run is reproducible.
	Loss float64
	// Rate limits each direction to this many bit/s; 0 means unlimited.
	Rate int64
	// Queue is the number of bytes that may wait for transmission when the
	// link is rate-limited before frames are tail-dropped; 0 means a default
	// of 100 ms worth of Rate (at least 64 KiB).
	Queue int
	// Seed seeds the loss and jitter PRNG.
	Seed int64
	// Down cuts the link: every frame is dropped.
	Down bool
}

// Options are the runtime choices of a network that are not part of its
// description.
type Options struct {
	// Capture receives a pcapng stream of every frame the host NICs send; nil
	// disables capture. Writes are buffered and flushed on Close.
	Capture io.Writer
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
	// CaptureFlush is how often buffered capture data is flushed to Capture
	// (useful for live viewing); 0 means 200 ms.
	CaptureFlush time.Duration
	// CaptureData says how much of each frame the capture keeps (default
	// CaptureFull).
	CaptureData CaptureData
	// ControlPorts are the TCP ports of control connections, whose frames
	// CaptureHeaders and CaptureControl keep whole; empty means
	// DefaultControlPorts.
	ControlPorts []uint16
	// CaptureEveryHop records a frame a router forwards unchanged on every
	// NIC that sends it, as capturing on every interface would. By default
	// such a copy (same IP packet but for TTL or hop limit and checksum) is
	// left out: each packet is in the file once, where it was first sent,
	// so Wireshark's TCP analysis of the whole file does not take the
	// copies for retransmissions. A packet a router changes (NAT,
	// fragmentation) is recorded on each side either way.
	CaptureEveryHop bool
}

const (
	defaultMTU   = 1500
	minMTUv4     = 68
	minMTUv6     = 1280
	maxMTU       = 65535 - ethHeaderLen
	ethHeaderLen = 14
)

func (p LinkParams) withDefaults() LinkParams {
	if p.MTU == 0 {
		p.MTU = defaultMTU
	}
	if p.Queue == 0 {
		p.Queue = max(64<<10, int(p.Rate/8/10))
	}
	return p
}

// validate checks a (defaulted) parameter set; field names the offending
// LinkParams field.
func (p LinkParams) validate() (field string, err error) {
	switch {
	case p.MTU < minMTUv4 || p.MTU > maxMTU:
		return "MTU", fmt.Errorf("mtu %d out of range %d..%d", p.MTU, minMTUv4, maxMTU)
	case p.Delay < 0:
		return "Delay", fmt.Errorf("negative delay %v", p.Delay)
	case p.Jitter < 0:
		return "Jitter", fmt.Errorf("negative jitter %v", p.Jitter)
	case p.Jitter > 0 && p.Delay == 0:
		return "Jitter", fmt.Errorf("jitter %v without delay: set a delay too", p.Jitter)
	case !(p.Loss >= 0 && p.Loss <= 1):
		return "Loss", fmt.Errorf("loss %v outside 0..1", p.Loss)
	case p.Rate < 0:
		return "Rate", fmt.Errorf("negative rate %d", p.Rate)
	case p.Queue < 0:
		return "Queue", fmt.Errorf("negative queue %d", p.Queue)
	}
	return "", nil
}

// Validate checks p as Link.Set would (a zero MTU or Queue takes its
// default). The IPv6 minimum MTU depends on the link's NICs and is checked
// by Config.Validate and Link.Set.
func (p LinkParams) Validate() error {
	_, err := p.withDefaults().validate()
	return err
}
