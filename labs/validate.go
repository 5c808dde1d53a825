package labs

import (
	"fmt"
	"net"
	"net/netip"
	"path"
	"strings"
	"time"
)

// validator collects every semantic problem of a lab.
type validator struct {
	l        *Lab
	errs     Errors
	hosts    map[string]*Host
	switches map[string]bool
	servers  map[string]*Server
	links    map[string]bool
	steps    map[string]int // name -> index
}

func (v *validator) errorf(path, format string, args ...any) {
	v.errs = append(v.errs, v.l.at(path, format, args...))
}

// validate checks references and values and fills in defaults (names,
// ports). It returns Errors or nil.
func (l *Lab) validate() error {
	v := &validator{l: l, hosts: map[string]*Host{}, switches: map[string]bool{},
		servers: map[string]*Server{}, links: map[string]bool{}, steps: map[string]int{}}
	v.checkHosts()
	v.checkSwitches()
	v.checkLinks()
	v.checkServers()
	v.checkTUN()
	v.checkSteps()
	if len(v.errs) > 0 {
		return v.errs
	}
	return nil
}

// NICs returns the host's interfaces with default names filled in: the
// Addresses shorthand becomes eth0.
func (h *Host) nics() []NIC {
	if len(h.NICs) == 0 {
		return []NIC{{Name: "eth0", Addresses: h.Addresses}}
	}
	out := make([]NIC, len(h.NICs))
	for i, n := range h.NICs {
		out[i] = n
		if out[i].Name == "" {
			out[i].Name = fmt.Sprintf("eth%d", i)
		}
	}
	return out
}

// prefixes returns every address of the host.
func (h *Host) prefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, n := range h.nics() {
		for _, p := range n.Addresses {
			out = append(out, p.P())
		}
	}
	return out
}

func validName(s string) bool {
	return s != "" && !strings.ContainsAny(s, ": \t/")
}

func (v *validator) checkHosts() {
	owner := map[netip.Addr]string{}
	if len(v.l.Hosts) == 0 {
		v.errorf("$.hosts", "a lab needs at least one host")
	}
	for i := range v.l.Hosts {
		h := &v.l.Hosts[i]
		p := fmt.Sprintf("$.hosts[%d]", i)
		if !validName(h.Name) {
			v.errorf(p, "host %d: name %q must be non-empty without ':', '/' or spaces", i+1, h.Name)
			continue
		}
		if v.hosts[h.Name] != nil {
			v.errorf(p+".name", "host %q is defined twice", h.Name)
			continue
		}
		v.hosts[h.Name] = h
		if len(h.Addresses) > 0 && len(h.NICs) > 0 {
			v.errorf(p+".nics", "host %q: use either addresses (one NIC) or nics, not both", h.Name)
		}
		nicNames := map[string]bool{}
		for j, n := range h.nics() {
			np := fmt.Sprintf("%s.nics[%d]", p, j)
			if len(h.NICs) == 0 {
				np = p + ".addresses"
			}
			if nicNames[n.Name] {
				v.errorf(np, "host %q: NIC %q is defined twice", h.Name, n.Name)
			}
			nicNames[n.Name] = true
			if n.MAC != "" {
				if _, err := net.ParseMAC(n.MAC); err != nil {
					v.errorf(np+".mac", "host %q NIC %q: bad MAC %q", h.Name, n.Name, n.MAC)
				}
			}
			for k, a := range n.Addresses {
				ap := fmt.Sprintf("%s.addresses[%d]", np, k)
				if len(h.NICs) == 0 {
					ap = fmt.Sprintf("%s[%d]", np, k)
				}
				if prev, dup := owner[a.P().Addr()]; dup {
					v.errorf(ap, "address %s of host %q is already used by host %q", a.P().Addr(), h.Name, prev)
				}
				owner[a.P().Addr()] = h.Name
			}
		}
		for k, g := range h.Gateway {
			if !onLink(h.prefixes(), g.A()) {
				v.errorf(fmt.Sprintf("%s.gateway[%d]", p, k), "host %q: gateway %s is not in any of its subnets %v", h.Name, g.A(), h.prefixes())
			}
		}
		for k, r := range h.Routes {
			rp := fmt.Sprintf("%s.routes[%d]", p, k)
			if !r.To.P().IsValid() {
				v.errorf(rp, "host %q: route %d needs a destination prefix (to:)", h.Name, k+1)
			}
			if r.Via.A().IsValid() && !onLink(h.prefixes(), r.Via.A()) {
				v.errorf(rp+".via", "host %q: route via %s is not in any of its subnets", h.Name, r.Via.A())
			}
			if r.NIC != "" && !nicNames[r.NIC] {
				v.errorf(rp+".nic", "host %q: route names unknown NIC %q", h.Name, r.NIC)
			}
		}
	}
}

func onLink(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Masked().Contains(a) {
			return true
		}
	}
	return false
}

func (v *validator) checkSwitches() {
	for i, s := range v.l.Switches {
		p := fmt.Sprintf("$.switches[%d]", i)
		switch {
		case !validName(s.Name):
			v.errorf(p, "switch %d: name %q must be non-empty without ':', '/' or spaces", i+1, s.Name)
		case v.switches[s.Name]:
			v.errorf(p+".name", "switch %q is defined twice", s.Name)
		case v.hosts[s.Name] != nil:
			v.errorf(p+".name", "switch %q has the name of a host", s.Name)
		default:
			v.switches[s.Name] = true
		}
	}
}

// resolveEnd turns a link end into "host:nic" or a switch name.
func (l *Lab) resolveEnd(end string) (string, error) {
	host, nic, hasNIC := strings.Cut(end, ":")
	for i := range l.Switches {
		if l.Switches[i].Name == end {
			return end, nil
		}
	}
	var h *Host
	for i := range l.Hosts {
		if l.Hosts[i].Name == host {
			h = &l.Hosts[i]
		}
	}
	if h == nil {
		return "", fmt.Errorf("link end %q: no host or switch of that name", end)
	}
	nics := h.nics()
	if !hasNIC {
		if len(nics) != 1 {
			return "", fmt.Errorf("link end %q: host %s has %d NICs, name one like %s:%s", end, host, len(nics), host, nics[0].Name)
		}
		return host + ":" + nics[0].Name, nil
	}
	for _, n := range nics {
		if n.Name == nic {
			return end, nil
		}
	}
	return "", fmt.Errorf("link end %q: host %s has no NIC %q", end, host, nic)
}

// linkName is the link's name or its default "END1-END2".
func (k *Link) linkName() string {
	if k.Name != "" {
		return k.Name
	}
	return strings.Join(k.Ends, "-")
}

func (v *validator) checkLinks() {
	used := map[string]int{}
	for i := range v.l.Links {
		k := &v.l.Links[i]
		p := fmt.Sprintf("$.links[%d]", i)
		if len(k.Ends) != 2 {
			v.errorf(p+".ends", "link %d: ends must list exactly two ends, got %d", i+1, len(k.Ends))
			continue
		}
		name := k.linkName()
		if v.links[name] {
			v.errorf(p, "link %q is defined twice (give one a name:)", name)
		}
		v.links[name] = true
		switches := 0
		for j, end := range k.Ends {
			r, err := v.l.resolveEnd(end)
			if err != nil {
				v.errorf(fmt.Sprintf("%s.ends[%d]", p, j), "link %q: %v", name, err)
				continue
			}
			if v.switches[r] {
				switches++
				continue
			}
			if prev, dup := used[r]; dup {
				v.errorf(fmt.Sprintf("%s.ends[%d]", p, j), "link %q: NIC %s is already on link %q", name, r, v.l.Links[prev].linkName())
			}
			used[r] = i
		}
		if switches == 2 {
			v.errorf(p+".ends", "link %q joins two switches; join a host to a switch or two hosts", name)
		}
		if k.MTU != 0 && (k.MTU < 576 || k.MTU > 65535) {
			v.errorf(p+".mtu", "link %q: MTU %d out of range 576-65535", name, k.MTU)
		}
		if k.Jitter > 0 && k.Delay == 0 {
			v.errorf(p+".jitter", "link %q: jitter without delay; set delay too", name)
		}
		if k.Rate < 0 || k.Queue < 0 {
			v.errorf(p, "link %q: rate and queue must not be negative", name)
		}
	}
	for _, h := range v.l.Hosts {
		for _, n := range h.nics() {
			if _, ok := used[h.Name+":"+n.Name]; !ok && (v.l.TUN == nil || v.l.TUN.Gateway != h.Name) {
				v.errorf(fmt.Sprintf("$.hosts[%d]", v.hostIndex(h.Name)), "host %q: NIC %s is on no link", h.Name, n.Name)
			}
		}
	}
}

func (v *validator) hostIndex(name string) int {
	for i, h := range v.l.Hosts {
		if h.Name == name {
			return i
		}
	}
	return 0
}

func (v *validator) checkServers() {
	ports := map[string]bool{}
	for i := range v.l.Servers {
		s := &v.l.Servers[i]
		p := fmt.Sprintf("$.servers[%d]", i)
		if v.hosts[s.Host] == nil {
			v.errorf(p+".host", "server %d: host %q does not exist", i+1, s.Host)
			continue
		}
		if s.Name == "" {
			s.Name = s.Host
		}
		if s.Port == 0 {
			s.Port = 21
		}
		if !validName(s.Name) {
			v.errorf(p+".name", "server name %q must not contain ':', '/' or spaces", s.Name)
		}
		if v.servers[s.Name] != nil {
			v.errorf(p, "server %q is defined twice (give one a name:)", s.Name)
		}
		v.servers[s.Name] = s
		if s.Port < 2 || s.Port > 65535 {
			v.errorf(p+".port", "server %q: port %d out of range 2-65535", s.Name, s.Port)
		}
		hp := fmt.Sprintf("%s:%d", s.Host, s.Port)
		if ports[hp] {
			v.errorf(p+".port", "server %q: another server already listens on %s", s.Name, hp)
		}
		ports[hp] = true
		if len(s.Users) == 0 && !s.Anonymous {
			v.errorf(p, "server %q: nobody can log in: add users or anonymous: true", s.Name)
		}
		users := map[string]bool{}
		for j, u := range s.Users {
			if u.Name == "" || users[u.Name] {
				v.errorf(fmt.Sprintf("%s.users[%d]", p, j), "server %q: user name %q is empty or repeated", s.Name, u.Name)
			}
			users[u.Name] = true
		}
		paths := map[string]bool{}
		for j, f := range s.Files {
			fp := fmt.Sprintf("%s.files[%d]", p, j)
			if err := checkFile(f, v.l.Dir == "" && strings.HasPrefix(v.l.Source, "embedded:")); err != nil {
				v.errorf(fp, "server %q: %v", s.Name, err)
			}
			if f.From == "" && paths[f.Path] {
				v.errorf(fp+".path", "server %q: file %s is defined twice", s.Name, f.Path)
			}
			paths[f.Path] = true
		}
	}
}

// checkFile checks that a file has an absolute path and exactly one source.
func checkFile(f File, embedded bool) error {
	n := 0
	for _, set := range []bool{f.Content != nil, f.Size > 0, f.From != ""} {
		if set {
			n++
		}
	}
	switch {
	case n != 1:
		return fmt.Errorf("file %q: give exactly one of content, size or from", f.Path)
	case f.From == "" && (!strings.HasPrefix(f.Path, "/") || path.Clean(f.Path) != f.Path || f.Path == "/"):
		return fmt.Errorf("file %q: path must be absolute and clean, like /data.bin", f.Path)
	case f.From != "" && embedded:
		return fmt.Errorf("file from %q: embedded labs cannot read directories", f.From)
	}
	return nil
}

func (v *validator) checkTUN() {
	t := v.l.TUN
	if t == nil {
		return
	}
	if t.Name == "" || len(t.Name) > 15 {
		v.errorf("$.tun.name", "tun: device name %q must be 1-15 characters", t.Name)
	}
	if v.hosts[t.Gateway] == nil {
		v.errorf("$.tun.gateway", "tun: gateway host %q does not exist", t.Gateway)
	}
	if len(t.Addresses) == 0 {
		v.errorf("$.tun", "tun: give the kernel side at least one address")
	}
}

// serverPath splits "SERVER:/path" and checks both halves.
func (v *validator) serverPath(p, ref, what string) {
	name, file, ok := strings.Cut(ref, ":")
	switch {
	case !ok || !strings.HasPrefix(file, "/"):
		v.errorf(p, "%s %q: want SERVER:/path", what, ref)
	case v.servers[name] == nil:
		v.errorf(p, "%s %q: no server named %q", what, ref, name)
	}
}

func (v *validator) host(p, name, what string) {
	if v.hosts[name] == nil {
		v.errorf(p, "%s: host %q does not exist", what, name)
	}
}

// DefaultStepTimeout bounds a step without a timeout.
const DefaultStepTimeout = 60 * time.Second
