package labs

// Step is one thing the lab does. Exactly one action key (fxp, get, put,
// relay, cmd, link, wait, steal, listen, expect) is set; the other fields
// apply to any action.
type Step struct {
	// Name identifies the step for wait and expect; default "step<N>"
	// (1-based).
	Name string `yaml:"name"`
	// Background runs the step alongside the following ones; `wait: {for:}`
	// or the end of the lab waits for it.
	Background bool `yaml:"background"`
	// Timeout bounds the step; default 60s.
	Timeout Duration `yaml:"timeout"`

	// The actions: exactly one is set (see the types for their keys).
	FXP    *FXPStep    `yaml:"fxp"`
	Get    *GetStep    `yaml:"get"`
	Put    *PutStep    `yaml:"put"`
	Relay  *RelayStep  `yaml:"relay"`
	Cmd    *CmdStep    `yaml:"cmd"`
	Link   *LinkStep   `yaml:"link"`
	Wait   *WaitStep   `yaml:"wait"`
	Steal  *StealStep  `yaml:"steal"`
	Listen *ListenStep `yaml:"listen"`
	Expect *ExpectStep `yaml:"expect"`
}

// FXPStep is a third-party (server-to-server) copy driven by a client host.
type FXPStep struct {
	// Client is the user host that holds both control connections.
	Client string `yaml:"client"`
	// From is the source "SERVER:/path".
	From string `yaml:"from"`
	// To is the destination "SERVER:/path".
	To string `yaml:"to"`
	// Passive is the side that gets PASV: "source" or "destination"
	// (default "destination", as in RFC 478's table).
	Passive string `yaml:"passive"`
	// Dialect is "rfc959" (PORT/PASV, EPRT/EPSV on IPv6; default) or
	// "rfc478" (SOCK to both, PASV, STOR, RTRV, default data sockets).
	Dialect string `yaml:"dialect"`
}

// GetStep downloads a file to the client host's memory.
type GetStep struct {
	// Client is the user host.
	Client string `yaml:"client"`
	// From is "SERVER:/path".
	From string `yaml:"from"`
	// To is the path in the client's memory; default From's path.
	To string `yaml:"to"`
}

// PutStep uploads a file from the client host's memory (or generated).
type PutStep struct {
	// Client is the user host.
	Client string `yaml:"client"`
	// From is a path in the client's memory (an earlier get's To).
	From string `yaml:"from"`
	// Content uploads this text instead of From.
	Content *string `yaml:"content"`
	// Size uploads this many seeded pseudo-random bytes instead of From.
	Size Size `yaml:"size"`
	// Seed seeds Size's bytes.
	Seed int64 `yaml:"seed"`
	// To is "SERVER:/path".
	To string `yaml:"to"`
}

// RelayStep copies a file the slow way: download to the client, then upload.
type RelayStep struct {
	// Client is the user host the bytes flow through.
	Client string `yaml:"client"`
	// From is the source "SERVER:/path".
	From string `yaml:"from"`
	// To is the destination "SERVER:/path".
	To string `yaml:"to"`
}

// CmdStep sends one raw command on the client's session with a server (the
// session is opened and logged in on first use and kept for later cmd
// steps) and checks the replies.
type CmdStep struct {
	// Client is the user host.
	Client string `yaml:"client"`
	// Server is the server's name.
	Server string `yaml:"server"`
	// Send is the command line, e.g. "PORT 10,0,0,4,0,25".
	Send string `yaml:"send"`
	// Reply lists the expected reply codes in order: a single code is the
	// (final) reply; [150, 226] reads a preliminary and a final reply. A
	// class like 5xx matches any code of the class.
	Reply Codes `yaml:"reply"`
}

// LinkStep changes a link while the lab runs; unset fields keep their value.
type LinkStep struct {
	// Name is the link's name.
	Name string `yaml:"name"`
	// Delay sets the one-way delay.
	Delay *Duration `yaml:"delay"`
	// Jitter sets the jitter.
	Jitter *Duration `yaml:"jitter"`
	// Loss sets the loss rate.
	Loss *Percent `yaml:"loss"`
	// Rate sets the bandwidth ("0" for unlimited).
	Rate *Rate `yaml:"rate"`
	// Down cuts (true) or restores (false) the link.
	Down *bool `yaml:"down"`
}

// WaitStep pauses: for a duration ("wait: 500ms") or until background
// steps finish ("wait: {for: [copy]}").
type WaitStep struct {
	// Time is how long to wait.
	Time Duration `yaml:"time"`
	// For lists background steps to wait for.
	For Names `yaml:"for"`
}

// StealStep makes a host race for a server's data port, as a port thief
// would (RFC 2577 §8): it connects again and again to Ports on Server's
// host, and on each connection sends Send and records what comes back.
type StealStep struct {
	// Host is the thief.
	Host string `yaml:"host"`
	// Server is the victim server's name.
	Server string `yaml:"server"`
	// Ports are the ports to try, e.g. "20" or "50000-50009"; default the
	// server's default data port (control port - 1).
	Ports PortRange `yaml:"ports"`
	// Send is written on every stolen connection.
	Send string `yaml:"send"`
	// For is how long to keep trying; default 5s (the lab's end stops it).
	For Duration `yaml:"for"`
}

// ListenStep opens a TCP listener on a host that records every byte it is
// sent, e.g. a stand-in mail server on port 25 for the bounce attack. It runs
// until the lab ends.
type ListenStep struct {
	// Host is where to listen.
	Host string `yaml:"host"`
	// Port is the TCP port.
	Port int `yaml:"port"`
}

// ExpectStep checks an outcome; a failed expectation fails the run.
type ExpectStep struct {
	// Same lists "SERVER:/path" or "CLIENT:/path" (client memory) files
	// that must all have the same SHA-256.
	Same []string `yaml:"same"`
	// Step is the earlier step the following checks are about.
	Step string `yaml:"step"`
	// OK requires that Step succeeded (true) or failed (false).
	OK *bool `yaml:"ok"`
	// Code requires Step's last reply code (or a failed transfer's) to
	// match this ("504" or "5xx").
	Code string `yaml:"code"`
	// MaxBytes requires a steal or listen step to have received at most
	// this many bytes.
	MaxBytes *int64 `yaml:"max-bytes"`
	// MinBytes requires a steal or listen step to have received at least
	// this many bytes.
	MinBytes *int64 `yaml:"min-bytes"`
	// FasterThan requires Step to have taken less time than this step.
	FasterThan string `yaml:"faster-than"`
}

// Action names the step's action key ("fxp", "get", ...), or "" if none.
func (s *Step) Action() string {
	acts := s.actions()
	if len(acts) == 0 {
		return ""
	}
	return acts[0]
}

func (s *Step) actions() []string {
	var out []string
	add := func(set bool, name string) {
		if set {
			out = append(out, name)
		}
	}
	add(s.FXP != nil, "fxp")
	add(s.Get != nil, "get")
	add(s.Put != nil, "put")
	add(s.Relay != nil, "relay")
	add(s.Cmd != nil, "cmd")
	add(s.Link != nil, "link")
	add(s.Wait != nil, "wait")
	add(s.Steal != nil, "steal")
	add(s.Listen != nil, "listen")
	add(s.Expect != nil, "expect")
	return out
}
