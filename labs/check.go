package labs

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/ftplab/ftplab/stack"
)

// DefaultStepTimeout bounds a step without a timeout.
const DefaultStepTimeout = 60 * time.Second

// checker collects every problem of a lab. The network itself (names,
// addresses, NICs, routes, links and their parameters) is checked by stack,
// its one authority, and its errors are mapped back to YAML positions; the
// checker adds only what stack cannot know: the lab file's shape, servers,
// the TUN section and the steps.
type checker struct {
	l       *Lab
	errs    Errors
	hosts   map[string]*Host
	servers map[string]*Server
	links   map[string]stack.LinkParams // link name -> parameters as the steps so far leave them
	steps   map[string]*Step            // earlier steps by name
}

func (c *checker) errorf(at, format string, args ...any) {
	c.errs = append(c.errs, c.l.at(at, format, args...))
}

// validate checks the lab and fills in defaults (names, ports). It returns
// Errors, in file order, or nil.
func (l *Lab) validate() error {
	c := &checker{l: l, hosts: map[string]*Host{}, servers: map[string]*Server{},
		links: map[string]stack.LinkParams{}, steps: map[string]*Step{}}
	c.checkShape()
	c.checkNetwork()
	c.checkServers()
	c.checkTUN()
	c.checkSteps()
	if len(c.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(c.errs, func(a, b *Error) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
	return c.errs
}

// checkShape checks what the YAML decoder cannot: a host gives either
// addresses or nics, a link has two ends.
func (c *checker) checkShape() {
	if len(c.l.Hosts) == 0 {
		c.errorf("$.hosts", "a lab needs at least one host")
	}
	for i := range c.l.Hosts {
		h := &c.l.Hosts[i]
		if _, dup := c.hosts[h.Name]; !dup {
			c.hosts[h.Name] = h
		}
		if len(h.Addresses) > 0 && len(h.NICs) > 0 {
			c.errorf(fmt.Sprintf("$.hosts[%d].nics", i), "host %q: use either addresses (one NIC) or nics, not both", h.Name)
		}
	}
	for i, k := range c.l.Links {
		if len(k.Ends) != 2 {
			c.errorf(fmt.Sprintf("$.links[%d].ends", i), "link %d: ends must list exactly two ends, got %d", i+1, len(k.Ends))
		}
	}
}

// checkNetwork has stack check the network and maps its errors to the
// lab file. A NIC on no link is an error of a lab (stack allows one, for
// devices attached later) unless it is the TUN gateway's.
func (c *checker) checkNetwork() {
	net := c.l.stackNetwork()
	err := net.cfg.Validate()
	for _, e := range stack.ConfigErrors(err) {
		c.errorf(net.path(e.Item), "%v", e)
	}
	if err != nil {
		return
	}
	for _, it := range net.cfg.Unplugged() {
		h := c.l.Hosts[it.Index]
		if c.l.TUN == nil || c.l.TUN.Gateway != h.Name {
			c.errorf(fmt.Sprintf("$.hosts[%d]", it.Index), "host %q: NIC %s is on no link", h.Name, h.nics()[it.Sub].Name)
		}
	}
	for _, lc := range net.cfg.Links {
		c.links[lc.Name] = lc.Params
	}
}

func (c *checker) checkServers() {
	ports := map[string]bool{}
	for i := range c.l.Servers {
		s := &c.l.Servers[i]
		p := fmt.Sprintf("$.servers[%d]", i)
		if c.hosts[s.Host] == nil {
			c.errorf(p+".host", "server %d: host %q does not exist", i+1, s.Host)
			continue
		}
		if s.Name == "" {
			s.Name = s.Host
		}
		if s.Port == 0 {
			s.Port = 21
		}
		if err := stack.CheckName(s.Name); err != nil {
			c.errorf(p+".name", "server: %v", err)
		}
		if c.servers[s.Name] != nil {
			c.errorf(p, "server %q is defined twice (give one a name:)", s.Name)
		}
		c.servers[s.Name] = s
		if s.Port < 2 || s.Port > 65535 {
			c.errorf(p+".port", "server %q: port %d out of range 2-65535", s.Name, s.Port)
		}
		hp := fmt.Sprintf("%s:%d", s.Host, s.Port)
		if ports[hp] {
			c.errorf(p+".port", "server %q: another server already listens on %s", s.Name, hp)
		}
		ports[hp] = true
		if len(s.Users) == 0 && !s.Anonymous {
			c.errorf(p, "server %q: nobody can log in: add users or anonymous: true", s.Name)
		}
		users := map[string]bool{}
		for j, u := range s.Users {
			if u.Name == "" || users[u.Name] {
				c.errorf(fmt.Sprintf("%s.users[%d]", p, j), "server %q: user name %q is empty or repeated", s.Name, u.Name)
			}
			users[u.Name] = true
		}
		paths := map[string]bool{}
		for j, f := range s.Files {
			fp := fmt.Sprintf("%s.files[%d]", p, j)
			if err := checkFile(f, c.l.embedded()); err != nil {
				c.errorf(fp, "server %q: %v", s.Name, err)
			}
			if f.From == "" && paths[f.Path] {
				c.errorf(fp+".path", "server %q: file %s is defined twice", s.Name, f.Path)
			}
			paths[f.Path] = true
		}
	}
}

// embedded reports whether the lab is one of the embedded ones (which may
// not read directories).
func (l *Lab) embedded() bool { return l.Dir == "" && strings.HasPrefix(l.Source, "embedded:") }

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

func (c *checker) checkTUN() {
	t := c.l.TUN
	if t == nil {
		return
	}
	if t.Name == "" || len(t.Name) > 15 {
		c.errorf("$.tun.name", "tun: device name %q must be 1-15 characters", t.Name)
	}
	if c.hosts[t.Gateway] == nil {
		c.errorf("$.tun.gateway", "tun: gateway host %q does not exist", t.Gateway)
	}
	if len(t.Addresses) == 0 {
		c.errorf("$.tun", "tun: give the kernel side at least one address")
	}
}

// checkSteps checks each step in order, so references to earlier steps
// (wait, expect) and the link parameters left by earlier link steps are
// known.
func (c *checker) checkSteps() {
	for i := range c.l.Steps {
		s := &c.l.Steps[i]
		p := fmt.Sprintf("$.steps[%d]", i)
		if s.Name == "" {
			s.Name = fmt.Sprintf("step%d", i+1)
		}
		if c.steps[s.Name] != nil {
			c.errorf(p+".name", "step %q is defined twice", s.Name)
		}
		s.check(c, p)
		c.steps[s.Name] = s
	}
}

// host checks that a step names a known host.
func (c *checker) host(at, name, what string) {
	if c.hosts[name] == nil {
		c.errorf(at, "%s: host %q does not exist", what, name)
	}
}

// server checks that a step names a known server.
func (c *checker) server(at, name, what string) {
	if c.servers[name] == nil {
		c.errorf(at, "%s: no server named %q", what, name)
	}
}

// serverPath checks a "SERVER:/path" reference.
func (c *checker) serverPath(at, ref, what string) {
	name, file, ok := strings.Cut(ref, ":")
	switch {
	case !ok || !strings.HasPrefix(file, "/"):
		c.errorf(at, "%s %q: want SERVER:/path", what, ref)
	case c.servers[name] == nil:
		c.errorf(at, "%s %q: no server named %q", what, ref, name)
	}
}

// earlier returns the earlier step of that name, or nil.
func (c *checker) earlier(name string) *Step { return c.steps[name] }
