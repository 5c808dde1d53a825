package stack

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	gvstack "gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// Protocol factories shared by all hosts. ipv4.NewProtocol would build a
// fresh 2048-entry IP ID table (about 26 KiB) per stack; sharing one keeps
// idle hosts cheap. Zero IPv6 options mean no DAD, no router solicitations
// and no MLD: an idle host sends nothing and its addresses work at once.
var (
	ipv4Factory = ipv4.NewProtocolWithOptions(ipv4.Options{})
	ipv6Factory = ipv6.NewProtocolWithOptions(ipv6.Options{})
)

// randSource is a small, goroutine-safe math/rand.Source (gVisor's default
// is a 4.9 KiB lagged Fibonacci generator per stack).
type randSource struct {
	mu  sync.Mutex
	pcg *rand.PCG
}

func newRandSource() *randSource {
	return &randSource{pcg: rand.NewPCG(rand.Uint64(), rand.Uint64())}
}

// Int63 implements math/rand.Source.
func (r *randSource) Int63() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return int64(r.pcg.Uint64() >> 1)
}

// Seed implements math/rand.Source.
func (r *randSource) Seed(seed int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pcg.Seed(uint64(seed), uint64(seed)^0x5851f42d4c957f2d)
}

// Host is a virtual host: its own gVisor stack with Ethernet NICs. It is safe
// for use by many goroutines.
type Host struct {
	name  string
	net   *Network
	s     *gvstack.Stack
	guard *forwardGuard

	mu      sync.Mutex
	nics    []*nic                 // config NICs, NIC ID = index+1
	nicIDs  map[string]tcpip.NICID // every NIC by name, incl. AddNIC ones
	addrs   []netip.Prefix
	forward atomic.Bool // IP forwarding on (a router: it gets super-segments cut)
	ipv6    bool        // IPv6 protocol present
	closed  atomic.Bool

	router *routerState // NAT, firewall and FTP helper (router.go); nil if none
	notes  notes        // capture comments on frames the router changed (helper.go)
}

func newHost(n *Network, hp hostPlan) (*Host, error) {
	protos := []gvstack.NetworkProtocolFactory{ipv4Factory, arp.NewProtocol}
	if hp.ipv6 {
		protos = append(protos, ipv6Factory)
	}
	guard := &forwardGuard{}
	s := gvstack.New(gvstack.Options{
		NetworkProtocols: protos,
		TransportProtocols: []gvstack.TransportProtocolFactory{
			tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6,
		},
		HandleLocal: true,
		RandSource:  newRandSource(),
		NFTables:    guard,
	})
	h := &Host{name: hp.name, net: n, s: s, guard: guard, ipv6: hp.ipv6, nicIDs: map[string]tcpip.NICID{}}
	sack := tcpip.TCPSACKEnabled(true)
	moderate := tcpip.TCPModerateReceiveBufferOption(true)
	recovery := tcpip.TCPRecovery(0)
	for _, opt := range []tcpip.SettableTransportProtocolOption{&sack, &moderate, &recovery} {
		if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, opt); err != nil {
			s.Destroy()
			return nil, fmt.Errorf("host %q: tcp option %T: %s", hp.name, opt, err)
		}
	}
	for _, np := range hp.nics {
		mtu := defaultMTU
		if np.link >= 0 {
			mtu = n.plan.links[np.link].params.MTU
		}
		nc := newNIC(h, np.name, np.mac, mtu)
		h.nics = append(h.nics, nc)
		if err := h.attach(np.name, ethernet.New(nc), np.addrs); err != nil {
			s.Destroy()
			return nil, err
		}
	}
	for _, rp := range hp.routes {
		h.addRoute(rp.dst, rp.via, tcpip.NICID(rp.nic+1))
	}
	h.installRoles(hp.roles)
	if hp.router {
		if err := h.SetForwarding(true); err != nil {
			s.Destroy()
			return nil, err
		}
	}
	return h, nil
}

// attach creates a NIC on the stack (delivering through the host's
// forwardGuard) with its addresses and on-link routes. The caller installs
// routes afterwards.
func (h *Host) attach(name string, ep gvstack.LinkEndpoint, addrs []netip.Prefix) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, dup := h.nicIDs[name]; dup {
		return fmt.Errorf("host %q: NIC %q already exists", h.name, name)
	}
	id := tcpip.NICID(len(h.nicIDs) + 1)
	if err := h.s.CreateNICWithOptions(id, newGuardedEndpoint(ep, h.guard), gvstack.NICOptions{Name: name}); err != nil {
		return fmt.Errorf("host %q: create NIC %q: %s", h.name, name, err)
	}
	for _, a := range addrs {
		pa := tcpip.ProtocolAddress{
			Protocol: protoOf(a.Addr()),
			AddressWithPrefix: tcpip.AddressWithPrefix{
				Address:   tcpip.AddrFromSlice(a.Addr().AsSlice()),
				PrefixLen: a.Bits(),
			},
		}
		if err := h.s.AddProtocolAddress(id, pa, gvstack.AddressProperties{}); err != nil {
			return fmt.Errorf("host %q: NIC %q: add address %s: %s", h.name, name, a, err)
		}
		h.s.AddRoute(tcpip.Route{
			Destination: subnet(a.Masked()),
			NIC:         id,
			SourceHint:  pa.AddressWithPrefix.Address,
		})
	}
	h.nicIDs[name] = id
	h.addrs = append(h.addrs, addrs...)
	return nil
}

// addRoute inserts a route. gVisor keeps the table sorted, longest prefix
// first, a new route after existing ones of the same length (so on-link
// routes, added first, win ties), and uses the first match.
func (h *Host) addRoute(dst netip.Prefix, via netip.Addr, nic tcpip.NICID) {
	r := tcpip.Route{Destination: subnet(dst), NIC: nic}
	if via.IsValid() {
		r.Gateway = tcpip.AddrFromSlice(via.AsSlice())
	}
	h.s.AddRoute(r)
}

// AddRoute adds a static route at run time, resolved as in HostConfig.Routes
// (the NIC may be one added with AddNIC).
func (h *Host) AddRoute(rc RouteConfig) error {
	h.mu.Lock()
	hp := hostPlan{name: h.name, ipv6: h.ipv6}
	ids := make([]tcpip.NICID, 0, len(h.nicIDs))
	for name, id := range h.nicIDs {
		var addrs []netip.Prefix
		for _, info := range h.s.NICInfo()[id].ProtocolAddresses {
			if a, ok := netip.AddrFromSlice(info.AddressWithPrefix.Address.AsSlice()); ok {
				addrs = append(addrs, netip.PrefixFrom(a, info.AddressWithPrefix.PrefixLen))
			}
		}
		hp.nics = append(hp.nics, nicPlan{name: name, addrs: addrs})
		ids = append(ids, id)
	}
	h.mu.Unlock()
	rp, _, err := hp.route(rc)
	if err != nil {
		return fmt.Errorf("host %q: route %s via %s: %w", h.name, rc.Dst, rc.Via, err)
	}
	h.addRoute(rp.dst, rp.via, ids[rp.nic])
	return nil
}

// hasAddr reports whether a is one of the host's addresses.
func (h *Host) hasAddr(a netip.Addr) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.ContainsFunc(h.addrs, func(p netip.Prefix) bool { return p.Addr() == a })
}

// Name returns the host's name.
func (h *Host) Name() string { return h.name }

// Addrs returns the addresses of all NICs, in config order.
func (h *Host) Addrs() []netip.Prefix {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.addrs)
}

// NICStats returns the counters of the named config NIC; ok is false if the
// host has no such NIC (NICs added with AddNIC have no counters here).
func (h *Host) NICStats(name string) (NICStats, bool) {
	for _, n := range h.nics {
		if n.name == name {
			return n.stats(), true
		}
	}
	return NICStats{}, false
}

// AddNIC attaches an extra link endpoint (e.g. a TUN device) to the host,
// assigns addrs and adds their on-link routes.
func (h *Host) AddNIC(name string, ep gvstack.LinkEndpoint, addrs []netip.Prefix) error {
	if err := CheckName(name); err != nil {
		return fmt.Errorf("host %q: NIC: %w", h.name, err)
	}
	for _, a := range addrs {
		if err := checkAddr(a); err != nil {
			return fmt.Errorf("host %q: NIC %q: address %s: %w", h.name, name, a, err)
		}
		if a.Addr().Is6() && !h.ipv6 {
			return fmt.Errorf("host %q: NIC %q: address %s: host has no IPv6 (give it an IPv6 address or set HostConfig.IPv6)", h.name, name, a)
		}
	}
	if err := h.attach(name, ep, addrs); err != nil {
		return err
	}
	h.mu.Lock()
	fwd := h.forward.Load()
	h.mu.Unlock()
	if fwd {
		return h.SetForwarding(true)
	}
	return nil
}

// SetForwarding turns IPv4 and IPv6 forwarding between the host's NICs on or off.
func (h *Host) SetForwarding(on bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	protos := []tcpip.NetworkProtocolNumber{ipv4.ProtocolNumber}
	if h.ipv6 {
		protos = append(protos, ipv6.ProtocolNumber)
	}
	for _, p := range protos {
		if err := h.s.SetForwardingDefaultAndAllNICs(p, on); err != nil {
			return fmt.Errorf("host %q: set forwarding for protocol %#x: %s", h.name, p, err)
		}
	}
	h.s.SetNFTablesConfigured(on) // forwardGuard's hooks
	h.forward.Store(on)
	return nil
}

func protoOf(a netip.Addr) tcpip.NetworkProtocolNumber {
	if a.Is4() {
		return ipv4.ProtocolNumber
	}
	return ipv6.ProtocolNumber
}

func subnet(p netip.Prefix) tcpip.Subnet {
	return tcpip.AddressWithPrefix{
		Address:   tcpip.AddrFromSlice(p.Addr().AsSlice()),
		PrefixLen: p.Bits(),
	}.Subnet()
}

// close destroys the host's stack: endpoints are aborted, goroutines stopped.
func (h *Host) close() {
	h.closed.Store(true)
	h.s.Destroy()
	h.guard.release(nil)
}

// errIfClosed reports use of a host whose network was closed.
func (h *Host) errIfClosed() error {
	if h.closed.Load() {
		return fmt.Errorf("host %q: network closed: %w", h.name, net.ErrClosed)
	}
	return nil
}
