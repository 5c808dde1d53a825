package stack

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// plan is a validated Config with every default filled in.
type plan struct {
	hosts       []hostPlan
	switches    []string
	links       []linkPlan
	hostIndex   map[string]int // host name -> index into hosts
	switchIndex map[string]int // switch name -> index into switches
}

type hostPlan struct {
	name   string
	router bool
	ipv6   bool
	nics   []nicPlan
	routes []routePlan
	roles  roles // NAT, firewall, FTP helper (router.go)
}

type nicPlan struct {
	name  string
	mac   net.HardwareAddr
	addrs []netip.Prefix
	link  int // index into plan.links, -1 if unplugged
}

type routePlan struct {
	dst netip.Prefix
	via netip.Addr
	nic int
}

// end is one end of a link: a host NIC (sw < 0) or a switch (sw >= 0).
type end struct {
	host, nic, sw int
}

type linkPlan struct {
	name   string
	a, b   end
	params LinkParams
}

// Validate checks cfg without building anything: it returns nil or every
// problem New would refuse, each a *ConfigError naming the item and field it
// concerns (use errors.As, or ConfigErrors to list them).
func (cfg Config) Validate() error {
	_, err := compile(cfg)
	return err
}

// compile validates cfg and fills in defaults. Errors name the offending item.
// Its cost is linear in the size of cfg: containers are sized up front and
// the words of an error are only put together for an error.
func compile(cfg Config) (*plan, error) {
	nics := 0
	for _, hc := range cfg.Hosts {
		nics += len(hc.NICs)
	}
	p := &plan{
		hosts:       make([]hostPlan, 0, len(cfg.Hosts)),
		switches:    make([]string, 0, len(cfg.Switches)),
		links:       make([]linkPlan, 0, len(cfg.Links)),
		hostIndex:   make(map[string]int, len(cfg.Hosts)),
		switchIndex: make(map[string]int, len(cfg.Switches)),
	}
	var errs configErrors
	macs := map[string]string{} // MAC -> "host:nic"
	addrs := make(map[netip.Addr]nicRef, nics)

	for hi, hc := range cfg.Hosts {
		hp := hostPlan{name: hc.Name, router: hc.Router, ipv6: hc.IPv6, nics: make([]nicPlan, 0, len(hc.NICs))}
		host := Item{Kind: HostItem, Index: hi, Elem: -1}
		where := func() string { return fmt.Sprintf("host %q", hc.Name) }
		if err := CheckName(hc.Name); err != nil {
			errs.add(host.field("Name"), fmt.Sprintf("host #%d", hi+1), err)
		} else if kind := p.nameUse(hc.Name); kind != "" {
			errs.add(host.field("Name"), where(), fmt.Errorf("name already used by a %s", kind))
		} else {
			p.hostIndex[hc.Name] = hi
		}
		if len(hc.NICs) == 0 {
			errs.add(host, where(), errors.New("no NICs"))
		}
		for ni, nc := range hc.NICs {
			np := nicPlan{name: nc.Name, mac: nc.MAC, link: -1}
			if np.name == "" {
				np.name = fmt.Sprintf("eth%d", ni)
			}
			nic := Item{Kind: NICItem, Index: hi, Sub: ni, Elem: -1}
			self := nicRef{hc.Name, np.name}
			nwhere := func() string { return fmt.Sprintf("NIC %q", self.String()) }
			if strings.ContainsAny(np.name, ": ") {
				errs.add(nic.field("Name"), nwhere(), errors.New("name must not contain ':' or spaces"))
			}
			if slices.ContainsFunc(hp.nics, func(o nicPlan) bool { return o.name == np.name }) {
				errs.add(nic.field("Name"), nwhere(), errors.New("duplicate NIC name"))
			}
			if np.mac != nil {
				if err := checkMAC(np.mac); err != nil {
					errs.add(nic.field("MAC"), nwhere(), fmt.Errorf("MAC %s: %w", np.mac, err))
				} else if o, dup := macs[np.mac.String()]; dup {
					errs.add(nic.field("MAC"), nwhere(), fmt.Errorf("MAC %s already used by %s", np.mac, o))
				}
				macs[np.mac.String()] = self.String()
			}
			np.addrs = make([]netip.Prefix, 0, len(nc.Addrs))
			for ai, a := range nc.Addrs {
				at := nic.field("Addrs")
				at.Elem = ai
				if err := checkAddr(a); err != nil {
					errs.add(at, nwhere(), fmt.Errorf("address %s: %w", a, err))
					continue
				}
				if o, dup := addrs[a.Addr()]; dup {
					errs.add(at, nwhere(), fmt.Errorf("duplicate address %s (also on %s)", a.Addr(), o))
				}
				addrs[a.Addr()] = self
				np.addrs = append(np.addrs, a)
				hp.ipv6 = hp.ipv6 || a.Addr().Is6()
			}
			hp.nics = append(hp.nics, np)
		}
		p.hosts = append(p.hosts, hp)
	}
	// Deterministic default MACs, skipping any a user chose; they share
	// one backing array.
	pool := make([]byte, 0, 6*nics)
	next := 1
	for hi := range p.hosts {
		for ni := range p.hosts[hi].nics {
			np := &p.hosts[hi].nics[ni]
			if np.mac != nil {
				continue
			}
			for {
				pool = append(pool, 0x02, 0, 0, byte(next>>16), byte(next>>8), byte(next))
				m := net.HardwareAddr(pool[len(pool)-6 : len(pool) : len(pool)])
				next++
				if len(macs) == 0 || macs[m.String()] == "" {
					np.mac = m
					break
				}
				pool = pool[:len(pool)-6]
			}
		}
	}
	for hi, hc := range cfg.Hosts {
		for ri, rc := range hc.Routes {
			rp, field, err := p.hosts[hi].route(rc)
			if err != nil {
				at := Item{Kind: RouteItem, Index: hi, Sub: ri, Field: field, Elem: -1}
				errs.add(at, fmt.Sprintf("host %q: route #%d (%s via %s)", hc.Name, ri+1, rc.Dst, rc.Via), err)
				continue
			}
			p.hosts[hi].routes = append(p.hosts[hi].routes, rp)
		}
	}

	for hi, hc := range cfg.Hosts {
		p.hosts[hi].roles = checkRoles(hi, hc, &p.hosts[hi], &errs)
	}

	for si, sc := range cfg.Switches {
		sw := Item{Kind: SwitchItem, Index: si, Field: "Name", Elem: -1}
		if err := CheckName(sc.Name); err != nil {
			errs.add(sw, fmt.Sprintf("switch #%d", si+1), err)
		} else if kind := p.nameUse(sc.Name); kind != "" {
			errs.add(sw, fmt.Sprintf("switch %q", sc.Name), fmt.Errorf("name already used by a %s", kind))
		} else {
			p.switchIndex[sc.Name] = si
		}
		p.switches = append(p.switches, sc.Name)
	}

	linkNames := make(map[string]bool, len(cfg.Links))
	for li, lc := range cfg.Links {
		lp, err := p.link(li, lc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if linkNames[lp.name] {
			errs.add(Item{Kind: LinkItem, Index: li, Field: "Name", Elem: -1}, fmt.Sprintf("link %q", lp.name), errors.New("duplicate link name"))
			continue
		}
		linkNames[lp.name] = true
		p.links = append(p.links, lp)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return p, nil
}

// nameUse says what already has the name: "host", "switch" or "".
func (p *plan) nameUse(name string) string {
	if _, ok := p.hostIndex[name]; ok {
		return "host"
	}
	if _, ok := p.switchIndex[name]; ok {
		return "switch"
	}
	return ""
}

// nicRef names a NIC as host:nic, put together when it is printed.
type nicRef struct{ host, nic string }

func (n nicRef) String() string { return n.host + ":" + n.nic }

// link resolves and checks the li-th link config.
func (p *plan) link(li int, lc LinkConfig) (linkPlan, *ConfigError) {
	fail := func(field string, err error) (linkPlan, *ConfigError) {
		label := fmt.Sprintf("link %q", lc.Name)
		if lc.Name == "" {
			label = fmt.Sprintf("link #%d (%s-%s)", li+1, lc.A, lc.B)
		}
		return linkPlan{}, &ConfigError{Item: Item{Kind: LinkItem, Index: li, Field: field, Elem: -1}, What: label, Err: err}
	}
	a, err := p.resolveEnd(lc.A)
	if err != nil {
		return fail("A", fmt.Errorf("end A: %w", err))
	}
	b, err := p.resolveEnd(lc.B)
	if err != nil {
		return fail("B", fmt.Errorf("end B: %w", err))
	}
	if a.sw >= 0 && b.sw >= 0 {
		return fail("", errors.New("switch-to-switch links are not supported; join a host to a switch or two hosts"))
	}
	if a == b {
		return fail("B", fmt.Errorf("both ends are %s", lc.A))
	}
	lp := linkPlan{name: lc.Name, a: a, b: b, params: lc.Params.withDefaults()}
	if lp.name == "" {
		lp.name = p.endName(a) + "-" + p.endName(b)
	}
	if field, err := lp.params.validate(); err != nil {
		return fail(field, err)
	}
	for i, e := range []end{a, b} {
		if e.sw >= 0 {
			continue
		}
		np := &p.hosts[e.host].nics[e.nic]
		if np.link >= 0 {
			return fail(string(rune('A'+i)), fmt.Errorf("NIC %s is already on link %q", p.endName(e), p.links[np.link].name))
		}
		if err := checkIPv6MTU(lp.params.MTU, p.endName(e), np.addrs); err != nil {
			return fail("MTU", err)
		}
	}
	for _, e := range []end{a, b} {
		if e.sw < 0 {
			p.hosts[e.host].nics[e.nic].link = len(p.links)
		}
	}
	return lp, nil
}

// resolveEnd finds "host:nic", "host" (single NIC) or a switch name.
func (p *plan) resolveEnd(s string) (end, error) {
	hostName, nicName, hasNIC := strings.Cut(s, ":")
	if !hasNIC {
		if i, ok := p.switchIndex[s]; ok {
			return end{host: -1, nic: -1, sw: i}, nil
		}
	}
	hi, ok := p.hostIndex[hostName]
	if !ok {
		return end{}, fmt.Errorf("unknown host or switch %q", s)
	}
	h := p.hosts[hi]
	if !hasNIC {
		if len(h.nics) != 1 {
			return end{}, fmt.Errorf("host %q has %d NICs: name one as %q", hostName, len(h.nics), hostName+":eth0")
		}
		return end{host: hi, nic: 0, sw: -1}, nil
	}
	ni := slices.IndexFunc(h.nics, func(n nicPlan) bool { return n.name == nicName })
	if ni < 0 {
		return end{}, fmt.Errorf("host %q has no NIC %q", hostName, nicName)
	}
	return end{host: hi, nic: ni, sw: -1}, nil
}

func (p *plan) endName(e end) string {
	if e.sw >= 0 {
		return p.switches[e.sw]
	}
	h := p.hosts[e.host]
	return h.name + ":" + h.nics[e.nic].name
}

// route resolves a route's outgoing NIC; on error, field names the
// RouteConfig field at fault.
func (h *hostPlan) route(rc RouteConfig) (routePlan, string, error) {
	if !rc.Dst.IsValid() {
		return routePlan{}, "Dst", errors.New("invalid destination prefix")
	}
	if rc.Dst != rc.Dst.Masked() {
		return routePlan{}, "Dst", fmt.Errorf("destination %s has host bits set (did you mean %s?)", rc.Dst, rc.Dst.Masked())
	}
	if rc.Via.IsValid() && rc.Via.Is4() != rc.Dst.Addr().Is4() {
		return routePlan{}, "Via", errors.New("gateway and destination are of different IP versions")
	}
	if rc.Dst.Addr().Is6() && !h.ipv6 {
		return routePlan{}, "Dst", errors.New("IPv6 route on a host without IPv6 (no IPv6 address and IPv6 not set)")
	}
	rp := routePlan{dst: rc.Dst, via: rc.Via, nic: -1}
	if rc.NIC != "" {
		rp.nic = slices.IndexFunc(h.nics, func(n nicPlan) bool { return n.name == rc.NIC })
		if rp.nic < 0 {
			return routePlan{}, "NIC", fmt.Errorf("unknown NIC %q", rc.NIC)
		}
		return rp, "", nil
	}
	if rc.Via.IsValid() {
		for ni, n := range h.nics {
			if slices.ContainsFunc(n.addrs, func(a netip.Prefix) bool { return a.Masked().Contains(rc.Via) }) {
				rp.nic = ni
				return rp, "", nil
			}
		}
		return routePlan{}, "Via", fmt.Errorf("gateway %s is not in the subnet of any NIC", rc.Via)
	}
	if len(h.nics) == 1 {
		rp.nic = 0
		return rp, "", nil
	}
	return routePlan{}, "NIC", errors.New("on-link route on a multi-NIC host needs a NIC")
}

// CheckName is the rule for the names of hosts and switches (and of
// anything that is written beside them, such as lab servers): not empty,
// no ':' (it separates host and NIC) and no spaces.
func CheckName(name string) error {
	switch {
	case name == "":
		return errors.New("empty name")
	case strings.ContainsAny(name, ": \t\n"):
		return fmt.Errorf("name %q must not contain ':' or spaces", name)
	}
	return nil
}

func checkMAC(m net.HardwareAddr) error {
	switch {
	case len(m) != 6:
		return fmt.Errorf("length %d, want 6", len(m))
	case m[0]&1 != 0:
		return errors.New("multicast MAC cannot be a NIC address")
	case string(m) == "\x00\x00\x00\x00\x00\x00":
		return errors.New("all-zero MAC")
	}
	return nil
}

func checkAddr(a netip.Prefix) error {
	ip := a.Addr()
	switch {
	case !a.IsValid():
		return errors.New("invalid prefix")
	case ip.Zone() != "":
		return errors.New("zones are not supported")
	case ip.Is4In6():
		return errors.New("IPv4-mapped IPv6 addresses are not supported")
	case ip.IsUnspecified(), ip.IsMulticast(), ip.IsLoopback():
		return errors.New("not a unicast host address")
	case ip.Is4() && a.Bits() < 31 && ip == a.Masked().Addr():
		return fmt.Errorf("is the network address of %s", a.Masked())
	case ip.Is4() && a.Bits() < 31 && ip == broadcast(a):
		return fmt.Errorf("is the broadcast address of %s", a.Masked())
	}
	return nil
}

// broadcast returns the IPv4 broadcast address of prefix p.
func broadcast(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(b)
}
