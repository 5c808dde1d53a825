package labs

import (
	"fmt"
	"strings"
)

func (v *validator) checkSteps() {
	for i := range v.l.Steps {
		s := &v.l.Steps[i]
		p := fmt.Sprintf("$.steps[%d]", i)
		if s.Name == "" {
			s.Name = fmt.Sprintf("step%d", i+1)
		}
		if _, dup := v.steps[s.Name]; dup {
			v.errorf(p+".name", "step %q is defined twice", s.Name)
		}
		acts := s.actions()
		switch len(acts) {
		case 0:
			v.errorf(p, "step %q: give one action: fxp, get, put, relay, cmd, link, wait, steal, listen or expect", s.Name)
		case 1:
		default:
			v.errorf(p, "step %q: one action per step, got %s", s.Name, strings.Join(acts, " and "))
		}
		if s.Listen != nil {
			s.Background = true // a listener runs until the lab ends
		}
		if s.Background && (s.Wait != nil || s.Expect != nil) {
			v.errorf(p+".background", "step %q: a %s step cannot run in the background", s.Name, s.Action())
		}
		v.checkStep(p, s)
		v.steps[s.Name] = i
	}
}

func (v *validator) checkStep(p string, s *Step) {
	switch {
	case s.FXP != nil:
		a := s.FXP
		v.host(p+".fxp.client", a.Client, "fxp client")
		v.serverPath(p+".fxp.from", a.From, "fxp from")
		v.serverPath(p+".fxp.to", a.To, "fxp to")
		if a.Passive != "" && a.Passive != "source" && a.Passive != "destination" {
			v.errorf(p+".fxp.passive", "fxp passive %q: want source or destination", a.Passive)
		}
		if a.Dialect != "" && a.Dialect != "rfc959" && a.Dialect != "rfc478" {
			v.errorf(p+".fxp.dialect", "fxp dialect %q: want rfc959 or rfc478", a.Dialect)
		}
		if a.Dialect == "rfc478" {
			v.needIPv4(p+".fxp.dialect", a.From, a.To)
		}
	case s.Get != nil:
		v.host(p+".get.client", s.Get.Client, "get client")
		v.serverPath(p+".get.from", s.Get.From, "get from")
	case s.Put != nil:
		v.checkPut(p, s.Put)
	case s.Relay != nil:
		v.host(p+".relay.client", s.Relay.Client, "relay client")
		v.serverPath(p+".relay.from", s.Relay.From, "relay from")
		v.serverPath(p+".relay.to", s.Relay.To, "relay to")
	case s.Cmd != nil:
		v.host(p+".cmd.client", s.Cmd.Client, "cmd client")
		if v.servers[s.Cmd.Server] == nil {
			v.errorf(p+".cmd.server", "cmd: no server named %q", s.Cmd.Server)
		}
		if strings.TrimSpace(s.Cmd.Send) == "" || strings.ContainsAny(s.Cmd.Send, "\r\n") {
			v.errorf(p+".cmd.send", "cmd: send must be one non-empty command line")
		}
	case s.Link != nil:
		if !v.links[s.Link.Name] {
			v.errorf(p+".link.name", "link step: no link named %q (links are named by name: or END1-END2)", s.Link.Name)
		}
	case s.Wait != nil:
		for j, n := range s.Wait.For {
			if i, ok := v.steps[n]; !ok || !v.l.Steps[i].Background {
				v.errorf(fmt.Sprintf("%s.wait.for[%d]", p, j), "wait for %q: no earlier background step of that name", n)
			}
		}
		if s.Wait.Time == 0 && len(s.Wait.For) == 0 {
			v.errorf(p+".wait", "wait: give a time (wait: 500ms) or steps (wait: {for: [name]})")
		}
	case s.Steal != nil:
		v.host(p+".steal.host", s.Steal.Host, "steal")
		if v.servers[s.Steal.Server] == nil {
			v.errorf(p+".steal.server", "steal: no server named %q", s.Steal.Server)
		}
	case s.Listen != nil:
		v.host(p+".listen.host", s.Listen.Host, "listen")
		if s.Listen.Port < 1 || s.Listen.Port > 65535 {
			v.errorf(p+".listen.port", "listen: port %d out of range 1-65535", s.Listen.Port)
		}
	case s.Expect != nil:
		v.checkExpect(p+".expect", s.Expect)
	}
}

func (v *validator) checkPut(p string, a *PutStep) {
	v.host(p+".put.client", a.Client, "put client")
	v.serverPath(p+".put.to", a.To, "put to")
	n := 0
	for _, set := range []bool{a.From != "", a.Content != nil, a.Size > 0} {
		if set {
			n++
		}
	}
	if n != 1 {
		v.errorf(p+".put", "put: give exactly one of from, content or size")
	}
}

func (v *validator) checkExpect(p string, e *ExpectStep) {
	checks := 0
	for j, ref := range e.Same {
		name, file, ok := strings.Cut(ref, ":")
		if !ok || !strings.HasPrefix(file, "/") || (v.servers[name] == nil && v.hosts[name] == nil) {
			v.errorf(fmt.Sprintf("%s.same[%d]", p, j), "expect same %q: want SERVER:/path or CLIENT:/path of a known server or host", ref)
		}
	}
	if len(e.Same) == 1 {
		v.errorf(p+".same", "expect same: list at least two files")
	}
	if len(e.Same) > 0 {
		checks++
	}
	perStep := e.OK != nil || e.Code != "" || e.MaxBytes != nil || e.MinBytes != nil || e.FasterThan != ""
	if perStep {
		checks++
	}
	if checks == 0 {
		v.errorf(p, "expect: nothing to check: give same, or step with ok, code, min-bytes, max-bytes or faster-than")
		return
	}
	if !perStep {
		return
	}
	i, ok := v.steps[e.Step]
	if !ok {
		v.errorf(p+".step", "expect: step %q is not an earlier step", e.Step)
		return
	}
	target := &v.l.Steps[i]
	if (e.MaxBytes != nil || e.MinBytes != nil) && target.Steal == nil && target.Listen == nil {
		v.errorf(p, "expect: min-bytes/max-bytes need a steal or listen step; %q is a %s step", e.Step, target.Action())
	}
	if e.Code != "" && !validCode(e.Code) {
		v.errorf(p+".code", "expect: code %q is not an FTP reply code like 504 or a class like 5xx", e.Code)
	}
	if e.FasterThan != "" {
		if _, ok := v.steps[e.FasterThan]; !ok {
			v.errorf(p+".faster-than", "expect: faster-than %q is not an earlier step", e.FasterThan)
		}
	}
}

// needIPv4 checks that the servers of refs have IPv4 addresses: RFC 478's
// SOCK, like PORT, carries an IPv4 address only.
func (v *validator) needIPv4(p string, refs ...string) {
	for _, ref := range refs {
		name, _, _ := strings.Cut(ref, ":")
		s := v.servers[name]
		if s == nil || v.hosts[s.Host] == nil {
			continue
		}
		has4 := false
		for _, a := range v.hosts[s.Host].prefixes() {
			has4 = has4 || a.Addr().Is4()
		}
		if !has4 {
			v.errorf(p, "fxp dialect rfc478: server %s has no IPv4 address (SOCK carries IPv4 only; use rfc959, which uses EPRT/EPSV on IPv6)", name)
		}
	}
}
