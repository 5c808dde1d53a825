package stack

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	gvstack "gvisor.dev/gvisor/pkg/tcpip/stack"
)

// Router roles are built on gVisor's netfilter (its IPTables: the nat,
// mangle and filter tables, connection tracking, and the DNAT, SNAT and
// MASQUERADE targets), with matchers and targets of ours where gVisor has
// none: the NIC and port matches, the firewall's state match and counting
// drop, and the FTP helper (helper.go).
//
// Packets go through a router's tables as in Linux: prerouting (nat: port
// forwards and expected data connections get their destination), forward
// (filter: the firewall), postrouting (mangle: the FTP helper reads and
// rewrites control connections; nat: masquerade or SNAT, and the source
// an expected data connection gets).

// roles is a host's validated router roles.
type roles struct {
	nat      *natPlan
	firewall *FirewallConfig
	helper   *FTPHelperConfig
}

type natPlan struct {
	outside  string
	snat     netip.Addr
	forwards []PortForward
}

func (r roles) any() bool { return r.nat != nil || r.firewall != nil || r.helper != nil }

// checkRoles validates the router roles of host hi.
func checkRoles(hi int, hc HostConfig, hp *hostPlan, errs *configErrors) roles {
	var r roles
	where := fmt.Sprintf("host %q", hc.Name)
	nicIndex := func(name string) int {
		return slices.IndexFunc(hp.nics, func(n nicPlan) bool { return n.name == name })
	}
	needRouter := func(it Item, role string) bool {
		if !hc.Router {
			errs.add(it, where, fmt.Errorf("%s needs a router: set router on the host", role))
			return false
		}
		return true
	}
	if nc := hc.NAT; nc != nil {
		nat := Item{Kind: NATItem, Index: hi, Sub: -1, Elem: -1}
		ok := needRouter(nat, "NAT")
		out := nicIndex(nc.Outside)
		switch {
		case nc.Outside == "":
			errs.add(nat.field("Outside"), where, errors.New("NAT needs its outside NIC"))
			ok = false
		case out < 0:
			errs.add(nat.field("Outside"), where, fmt.Errorf("NAT outside NIC %q: the host has no such NIC", nc.Outside))
			ok = false
		case nc.SNAT.IsValid() && !nc.SNAT.Is4():
			errs.add(nat.field("SNAT"), where, fmt.Errorf("SNAT address %s: NAT is IPv4 only", nc.SNAT))
			ok = false
		case !nc.SNAT.IsValid() && !slices.ContainsFunc(hp.nics[out].addrs, func(a netip.Prefix) bool { return a.Addr().Is4() }):
			errs.add(nat.field("Outside"), where, fmt.Errorf("NAT outside NIC %q has no IPv4 address to masquerade with", nc.Outside))
			ok = false
		}
		for fi, f := range nc.Forwards {
			it := Item{Kind: NATItem, Index: hi, Sub: fi, Elem: -1}
			fwhere := fmt.Sprintf("%s: port forward #%d", where, fi+1)
			if err := checkForward(f, out, hp); err != nil {
				errs.add(it.field(err.field), fwhere, err.err)
				ok = false
				continue
			}
			for gi, g := range nc.Forwards[:fi] {
				if overlap(f.Ports, g.Ports) {
					errs.add(it.field("Ports"), fwhere, fmt.Errorf("ports %s overlap port forward #%d (%s)", f.Ports, gi+1, g.Ports))
					ok = false
				}
			}
		}
		if ok {
			r.nat = &natPlan{outside: nc.Outside, snat: nc.SNAT, forwards: slices.Clone(nc.Forwards)}
		}
	}
	if fc := hc.Firewall; fc != nil {
		fw := Item{Kind: FirewallItem, Index: hi, Sub: -1, Elem: -1}
		ok := needRouter(fw, "a firewall")
		for ri, rule := range fc.Allow {
			it := Item{Kind: FirewallItem, Index: hi, Sub: ri, Elem: -1}
			rwhere := fmt.Sprintf("%s: firewall rule #%d", where, ri+1)
			for _, nic := range []struct{ field, name string }{{"In", rule.In}, {"Out", rule.Out}} {
				if nic.name != "" && nicIndex(nic.name) < 0 {
					errs.add(it.field(nic.field), rwhere, fmt.Errorf("the host has no NIC %q", nic.name))
					ok = false
				}
			}
			switch {
			case rule.Dst.IsValid() && rule.Dst != rule.Dst.Masked():
				errs.add(it.field("Dst"), rwhere, fmt.Errorf("destination %s has host bits set (did you mean %s?)", rule.Dst, rule.Dst.Masked()))
				ok = false
			case !slices.Contains([]string{"", "tcp", "udp", "icmp"}, rule.Proto):
				errs.add(it.field("Proto"), rwhere, fmt.Errorf("protocol %q: want tcp, udp or icmp", rule.Proto))
				ok = false
			case rule.Ports != PortRange{} && rule.Proto == "icmp":
				errs.add(it.field("Ports"), rwhere, errors.New("icmp has no ports"))
				ok = false
			case rule.Ports != PortRange{}:
				if err := rule.Ports.check(); err != nil {
					errs.add(it.field("Ports"), rwhere, err)
					ok = false
				}
			}
		}
		if ok {
			c := *fc
			c.Allow = slices.Clone(fc.Allow)
			r.firewall = &c
		}
	}
	if hc := hc.FTPHelper; hc != nil {
		it := Item{Kind: FTPHelperItem, Index: hi, Sub: -1, Elem: -1}
		ok := needRouter(it, "an FTP helper")
		for pi, port := range hc.Ports {
			pt := it.field("Ports")
			pt.Elem = pi
			if port == 0 {
				errs.add(pt, where, errors.New("FTP helper port 0 is not a port"))
				ok = false
			} else if slices.Contains(hc.Ports[:pi], port) {
				errs.add(pt, where, fmt.Errorf("FTP helper port %d listed twice", port))
				ok = false
			}
		}
		if ok {
			c := *hc
			c.Ports = slices.Clone(hc.Ports)
			if len(c.Ports) == 0 {
				c.Ports = []uint16{21}
			}
			r.helper = &c
		}
	}
	return r
}

type fieldError struct {
	field string
	err   error
}

// checkForward checks a port forward of a NAT whose outside NIC is out.
func checkForward(f PortForward, out int, hp *hostPlan) *fieldError {
	if err := f.Ports.check(); err != nil {
		return &fieldError{"Ports", err}
	}
	if f.ToPort != 0 && f.Ports.Last > f.Ports.First {
		return &fieldError{"ToPort", fmt.Errorf("ports %s: a range keeps its ports, so forward it to an address without a port", f.Ports)}
	}
	if !f.To.IsValid() || !f.To.Is4() {
		return &fieldError{"To", fmt.Errorf("forward to %v: want an IPv4 address (NAT is IPv4 only)", f.To)}
	}
	for ni, n := range hp.nics {
		for _, a := range n.addrs {
			if a.Addr() == f.To {
				return &fieldError{"To", fmt.Errorf("forward to %s: that is the router's own address", f.To)}
			}
			if ni != out && a.Masked().Contains(f.To) {
				return nil
			}
		}
	}
	return &fieldError{"To", fmt.Errorf("forward to %s: the address is in none of the router's inside subnets", f.To)}
}

func (r PortRange) check() error {
	switch {
	case r.First == 0:
		return errors.New("port 0 is not a port")
	case r.Last != 0 && r.Last < r.First:
		return fmt.Errorf("port range %d-%d ends before it starts", r.First, r.Last)
	}
	return nil
}

func overlap(a, b PortRange) bool {
	return a.First <= max(b.Last, b.First) && b.First <= max(a.Last, a.First)
}

// RouterStats counts what a router's roles did.
type RouterStats struct {
	// FirewallDropped counts packets the firewall refused.
	FirewallDropped uint64
	// Expectations counts data connections the FTP helper announced it
	// would let through; Related counts those that came.
	Expectations, Related uint64
	// Rewritten counts control lines the helper rewrote under NAT.
	Rewritten uint64
	// Refused counts announcements the helper would not expect (an address
	// other than the sender's own, without Loose).
	Refused uint64
	// Malformed counts segments the helper dropped because an announcement
	// in them could not be read (as Linux does).
	Malformed uint64
}

// routerState is a router's live netfilter state.
type routerState struct {
	roles   roles
	helper  *helper
	dropped atomic.Uint64
}

// RouterStats returns what the host's router roles did so far.
func (h *Host) RouterStats() RouterStats {
	rs := h.router
	if rs == nil {
		return RouterStats{}
	}
	st := RouterStats{FirewallDropped: rs.dropped.Load()}
	if hl := rs.helper; hl != nil {
		st.Expectations = hl.expectations.Load()
		st.Related = hl.relatedN.Load()
		st.Rewritten = hl.rewritten.Load()
		st.Refused = hl.refused.Load()
		st.Malformed = hl.malformed.Load()
	}
	return st
}

// installRoles builds the host's netfilter tables for its roles.
func (h *Host) installRoles(r roles) {
	if !r.any() {
		return
	}
	rs := &routerState{roles: r}
	h.router = rs
	if r.helper != nil {
		rs.helper = newHelper(h, r.helper)
	}
	it := h.s.IPTables()
	for _, v6 := range []bool{false, true} {
		if v6 && !h.ipv6 {
			continue
		}
		proto := header.IPv4ProtocolNumber
		if v6 {
			proto = header.IPv6ProtocolNumber
		}
		filter := func() gvstack.IPHeaderFilter {
			if v6 {
				return gvstack.EmptyFilter6()
			}
			return gvstack.EmptyFilter4()
		}
		var nat, mangle, fil tableBuilder
		if hl := rs.helper; hl != nil {
			nat.add(gvstack.Prerouting, gvstack.Rule{Filter: filter(), Matchers: []gvstack.Matcher{expectMatcher{hl}}, Target: &expectTarget{hl: hl, proto: proto}})
			nat.add(gvstack.Postrouting, gvstack.Rule{Filter: filter(), Matchers: []gvstack.Matcher{sourceMatcher{hl}}, Target: &expectTarget{hl: hl, proto: proto}})
			mangle.add(gvstack.Postrouting, gvstack.Rule{Filter: filter(), Matchers: []gvstack.Matcher{controlMatcher{hl}}, Target: &helperTarget{hl: hl}})
		}
		if n := r.nat; n != nil && !v6 {
			for _, f := range n.forwards {
				nat.add(gvstack.Prerouting, gvstack.Rule{
					Filter:   filter(),
					Matchers: []gvstack.Matcher{forwardMatcher{in: n.outside, ports: f.Ports}, ownAddrMatcher{h}},
					Target: &gvstack.DNATTarget{
						Addr: tcpip.AddrFrom4(f.To.As4()), Port: f.ToPort, NetworkProtocol: proto,
						ChangeAddress: true, ChangePort: f.ToPort != 0,
					},
				})
			}
			var t gvstack.Target = &gvstack.MasqueradeTarget{NetworkProtocol: proto}
			if n.snat.IsValid() {
				t = &gvstack.SNATTarget{Addr: tcpip.AddrFrom4(n.snat.As4()), NetworkProtocol: proto, ChangeAddress: true, ChangePort: true}
			}
			nat.add(gvstack.Postrouting, gvstack.Rule{Filter: filter(), Matchers: []gvstack.Matcher{nicMatcher{out: n.outside}}, Target: t})
		}
		if fw := r.firewall; fw != nil {
			fil.add(gvstack.Forward, gvstack.Rule{Filter: filter(), Matchers: []gvstack.Matcher{stateMatcher{rs.helper}}, Target: &gvstack.AcceptTarget{NetworkProtocol: proto}})
			for _, rule := range fw.Allow {
				fil.add(gvstack.Forward, gvstack.Rule{Filter: filter(), Matchers: []gvstack.Matcher{ruleMatcher(rule)}, Target: &gvstack.AcceptTarget{NetworkProtocol: proto}})
			}
		}
		accept := func() gvstack.Rule {
			return gvstack.Rule{Filter: filter(), Target: &gvstack.AcceptTarget{NetworkProtocol: proto}}
		}
		drop := accept()
		if r.firewall != nil {
			drop = gvstack.Rule{Filter: filter(), Target: &countingDrop{n: &rs.dropped}}
		}
		natHooks := []gvstack.Hook{gvstack.Prerouting, gvstack.Input, gvstack.Output, gvstack.Postrouting}
		mangleHooks := []gvstack.Hook{gvstack.Prerouting, gvstack.Input, gvstack.Forward, gvstack.Output, gvstack.Postrouting}
		filterHooks := []gvstack.Hook{gvstack.Input, gvstack.Forward, gvstack.Output}
		// The nat table is installed even when empty: it is what makes
		// gVisor track connections at all.
		it.ForceReplaceTable(gvstack.NATID, nat.table(natHooks, accept, nil), v6)
		if len(mangle.rules) > 0 {
			it.ReplaceTable(gvstack.MangleID, mangle.table(mangleHooks, accept, nil), v6)
		}
		if len(fil.rules) > 0 {
			it.ReplaceTable(gvstack.FilterID, fil.table(filterHooks, accept, map[gvstack.Hook]gvstack.Rule{gvstack.Forward: drop}), v6)
		}
	}
}

// tableBuilder collects rules per hook and lays them out as a gVisor
// Table: each hook's rules, then its underflow.
type tableBuilder struct {
	rules map[gvstack.Hook][]gvstack.Rule
}

func (b *tableBuilder) add(hook gvstack.Hook, r gvstack.Rule) {
	if b.rules == nil {
		b.rules = map[gvstack.Hook][]gvstack.Rule{}
	}
	b.rules[hook] = append(b.rules[hook], r)
}

// table builds a table with the given hooks; a hook's underflow is
// underflow[hook] or else accept().
func (b *tableBuilder) table(hooks []gvstack.Hook, accept func() gvstack.Rule, underflow map[gvstack.Hook]gvstack.Rule) gvstack.Table {
	var t gvstack.Table
	for i := range t.BuiltinChains {
		t.BuiltinChains[i] = gvstack.HookUnset
		t.Underflows[i] = gvstack.HookUnset
	}
	for _, hook := range hooks {
		t.BuiltinChains[hook] = len(t.Rules)
		t.Rules = append(t.Rules, b.rules[hook]...)
		t.Underflows[hook] = len(t.Rules)
		u, ok := underflow[hook]
		if !ok {
			u = accept()
		}
		t.Rules = append(t.Rules, u)
	}
	return t
}

// countingDrop drops a packet and counts it.
type countingDrop struct{ n *atomic.Uint64 }

// Action implements gvstack.Target.
func (d *countingDrop) Action(*gvstack.PacketBuffer, gvstack.Hook, *gvstack.Route, gvstack.AddressableEndpoint) (gvstack.RuleVerdict, int) {
	d.n.Add(1)
	return gvstack.RuleDrop, 0
}

// transport returns a packet's protocol and ports (ok false if it has no
// TCP or UDP header).
func transport(pkt *gvstack.PacketBuffer) (proto tcpip.TransportProtocolNumber, src, dst uint16, ok bool) {
	proto = pkt.TransportProtocolNumber
	b := pkt.TransportHeader().Slice()
	switch proto {
	case header.TCPProtocolNumber:
		if len(b) < header.TCPMinimumSize {
			return proto, 0, 0, false
		}
		t := header.TCP(b)
		return proto, t.SourcePort(), t.DestinationPort(), true
	case header.UDPProtocolNumber:
		if len(b) < header.UDPMinimumSize {
			return proto, 0, 0, false
		}
		u := header.UDP(b)
		return proto, u.SourcePort(), u.DestinationPort(), true
	}
	return proto, 0, 0, false
}

// nicMatcher matches the NICs a packet comes in by or goes out by.
type nicMatcher struct{ in, out string }

// Match implements gvstack.Matcher.
func (m nicMatcher) Match(_ gvstack.Hook, _ *gvstack.PacketBuffer, in, out string) (bool, bool) {
	return (m.in == "" || m.in == in) && (m.out == "" || m.out == out), false
}

// forwardMatcher matches TCP and UDP packets arriving by NIC in for ports.
type forwardMatcher struct {
	in    string
	ports PortRange
}

// Match implements gvstack.Matcher.
func (m forwardMatcher) Match(_ gvstack.Hook, pkt *gvstack.PacketBuffer, in, _ string) (bool, bool) {
	if in != m.in {
		return false, false
	}
	_, _, dst, ok := transport(pkt)
	return ok && m.ports.Contains(dst), false
}

// ownAddrMatcher matches packets addressed to the router itself (a port
// forward applies to connections to the router, not through it).
type ownAddrMatcher struct{ h *Host }

// Match implements gvstack.Matcher.
func (m ownAddrMatcher) Match(_ gvstack.Hook, pkt *gvstack.PacketBuffer, _, _ string) (bool, bool) {
	return m.h.hasAddr(addrOf(pkt.Network().DestinationAddress())), false
}

// ruleMatcher is a firewall rule.
type ruleMatcher FirewallRule

// Match implements gvstack.Matcher.
func (m ruleMatcher) Match(_ gvstack.Hook, pkt *gvstack.PacketBuffer, in, out string) (bool, bool) {
	if (m.In != "" && m.In != in) || (m.Out != "" && m.Out != out) {
		return false, false
	}
	if m.Dst.IsValid() {
		if !m.Dst.Contains(addrOf(pkt.Network().DestinationAddress())) {
			return false, false
		}
	}
	proto := pkt.TransportProtocolNumber
	switch m.Proto {
	case "tcp":
		if proto != header.TCPProtocolNumber {
			return false, false
		}
	case "udp":
		if proto != header.UDPProtocolNumber {
			return false, false
		}
	case "icmp":
		if proto != header.ICMPv4ProtocolNumber && proto != header.ICMPv6ProtocolNumber {
			return false, false
		}
	}
	if m.Ports != (PortRange{}) {
		_, _, dst, ok := transport(pkt)
		if !ok || !m.Ports.Contains(dst) {
			return false, false
		}
	}
	return true, false
}

// stateMatcher matches packets of connections the firewall already let
// through (either direction), and the first packets of data connections
// the FTP helper expects (hl may be nil).
type stateMatcher struct{ hl *helper }

// Match implements gvstack.Matcher.
func (m stateMatcher) Match(_ gvstack.Hook, pkt *gvstack.PacketBuffer, _, _ string) (bool, bool) {
	var info gvstack.ConnTrackInfo
	if !pkt.FillConnTrackInfo(gvstack.ConnTrackInfoOpts{FillState: true}, &info) {
		return false, false
	}
	switch {
	case pkt.IsReplyPacket():
		return true, false
	case info.State == gvstack.ConnTrackStateEstablished:
		return true, false
	case info.State == gvstack.ConnTrackStateNew && m.hl != nil:
		return m.hl.isRelated(tupleOf(&info)), false
	}
	return false, false
}

// addrOf converts a gVisor address.
func addrOf(a tcpip.Address) netip.Addr {
	ip, _ := netip.AddrFromSlice(a.AsSlice())
	return ip
}
