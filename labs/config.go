// Package labs loads, validates and runs ftplab labs: YAML files that describe
// a virtual network (hosts, switches, impaired links), FTP servers on its
// hosts, and the steps a user host performs (third-party copies, downloads,
// raw commands, link changes, expectations). The teaching labs are embedded
// (List, Embedded); rfc478 is the default.
//
// A lab goes through five shapes, each in its own files:
//
//	lab file (YAML)
//	   │ Load, LoadFile                           load.go, decode.go, values.go
//	   ▼
//	config: Lab, Host, Link, Server, Step         config.go, step.go
//	   │ validate: labs checks servers, steps,    check.go
//	   │ the TUN section and the YAML's shape;
//	   │ stack.Config.Validate checks the network
//	   │ and its errors are mapped back to
//	   │ FILE:LINE:COL                            build.go (stackNetwork, path)
//	   ▼
//	plan: stack.Config, server.Config             build.go
//	   │ start: capture file, stack.New,          start.go
//	   │ one FTP server per `servers:` entry
//	   ▼
//	running network (env)  ──── Up keeps it up, with a TUN device (up.go)
//	   │ Run: steps in order, background ones     run.go, session.go, files.go
//	   │ alongside; each step's Action runs
//	   ▼
//	Report: step results, the ladder read back   report.go
//	from the capture, the summary
//
// Each action key (fxp, get, put, relay, cmd, link, wait, steal, listen,
// expect) is one type in one file, act_KEY.go: its YAML keys, how it
// checks its references (check), what it does (run) and how it describes
// itself (describe), registered from init with register. To add an action,
// add such a file and its tests; nothing else in the package lists the
// actions. Optional methods say how a step lives beside the others (kind:
// task, watcher, service, control) and what it says of its outcome.
//
// The configuration types are the lab as the user wrote it: plain data,
// decoded strictly (unknown keys are errors). Run turns them into runtime
// objects of packages stack, ftp/server and ftp/client.
//
// The full key reference is labs/README.md.
package labs

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/ftplab/ftplab/labs/internal/yamlx"
)

// Lab is one lab file: a network, its FTP servers and the steps to run.
type Lab struct {
	// Name identifies the lab; it defaults to the file's base name.
	Name string `yaml:"name"`
	// Description is a one-line summary, shown by `ftplab labs`.
	Description string `yaml:"description"`
	// Hosts are the virtual hosts, each its own TCP/IP stack.
	Hosts []Host `yaml:"hosts"`
	// Switches are learning L2 switches that links can end on.
	Switches []Switch `yaml:"switches"`
	// Links join a host NIC to a switch or to another host NIC.
	Links []Link `yaml:"links"`
	// Servers are FTP servers started on hosts.
	Servers []Server `yaml:"servers"`
	// Capture says where the pcapng of every frame goes.
	Capture Capture `yaml:"capture"`
	// TUN attaches the lab to the host kernel through a TUN device; it is
	// decoded and checked here but only used by the tun adapter.
	TUN *TUN `yaml:"tun"`
	// Steps run in order (a background step runs alongside later ones).
	Steps []Step `yaml:"steps"`

	// Source is the file name (or "embedded:NAME") errors refer to.
	Source string `yaml:"-"`
	// Dir is the directory relative `from:` paths are resolved against
	// ("" for embedded labs, which may not read directories).
	Dir string `yaml:"-"`

	src  []byte      // the YAML text, for error snippets (SourceText)
	root *yamlx.Node // src parsed (again) on validate's first error, for positions
}

// Host is a virtual host. A host with one network interface can list its
// addresses directly (they go on eth0); a host with several uses NICs.
type Host struct {
	// Name is the host's unique name (used in links, servers and steps).
	Name string `yaml:"name"`
	// Addresses are eth0's addresses with prefix length, IPv4 or IPv6.
	Addresses []Prefix `yaml:"addresses"`
	// NICs lists interfaces explicitly (routers); exclusive with Addresses.
	NICs []NIC `yaml:"nics"`
	// Gateway is the default route's next hop (IPv4 and/or IPv6).
	Gateway Addrs `yaml:"gateway"`
	// Routes are extra static routes.
	Routes []Route `yaml:"routes"`
	// Router makes the host forward IP packets between its NICs.
	Router bool `yaml:"router"`
	// NAT translates the addresses of what a router forwards.
	NAT *NAT `yaml:"nat"`
	// Firewall filters what a router forwards, statefully.
	Firewall *Firewall `yaml:"firewall"`
	// FTPHelper lets a router's NAT and firewall follow FTP data
	// connections, as Linux's nf_conntrack_ftp and nf_nat_ftp.
	FTPHelper *FTPHelper `yaml:"ftp-helper"`
}

// NIC is one network interface of a host.
type NIC struct {
	// Name is the interface name, e.g. "eth1"; default "eth<index>".
	Name string `yaml:"name"`
	// MAC is an optional hardware address ("02:00:00:00:00:01").
	MAC MAC `yaml:"mac"`
	// Addresses are the interface's addresses with prefix length.
	Addresses []Prefix `yaml:"addresses"`
}

// Route is a static route.
type Route struct {
	// To is the destination prefix.
	To Prefix `yaml:"to"`
	// Via is the next hop; empty means on-link.
	Via Addr `yaml:"via"`
	// NIC optionally pins the route to an interface.
	NIC string `yaml:"nic"`
}

// Switch is a learning L2 switch.
type Switch struct {
	// Name is the switch's unique name (shares the namespace of hosts).
	Name string `yaml:"name"`
}

// Link is a virtual wire with optional impairments. Every field but Ends
// can also be changed while the lab runs by a `link` step.
type Link struct {
	// Name identifies the link in `link` steps; default "END1-END2" as
	// written, e.g. "A-lan".
	Name string `yaml:"name"`
	// Ends are the two ends: "HOST" (its only NIC), "HOST:NIC", or a switch.
	Ends []string `yaml:"ends"`
	// MTU in bytes; 0 means 1500.
	MTU int `yaml:"mtu"`
	// Delay is the one-way propagation delay, e.g. "40ms".
	Delay Duration `yaml:"delay"`
	// Jitter is a random extra delay up to this much.
	Jitter Duration `yaml:"jitter"`
	// Loss is the share of frames dropped, e.g. "1%".
	Loss Percent `yaml:"loss"`
	// Rate is the bandwidth, e.g. "2Mbit" (per direction); 0 is unlimited.
	Rate Rate `yaml:"rate"`
	// Queue is the rate limiter's queue, e.g. "64KiB"; beyond it, tail drop.
	Queue Size `yaml:"queue"`
	// Seed seeds loss and jitter, so a run is reproducible.
	Seed int64 `yaml:"seed"`
	// Down starts the link cut.
	Down bool `yaml:"down"`
}

// Server is an FTP server on a host.
type Server struct {
	// Name identifies the server in steps; default the host's name.
	Name string `yaml:"name"`
	// Host is the host the server runs on.
	Host string `yaml:"host"`
	// Port is the control port; default 21.
	Port int `yaml:"port"`
	// Address is where the lab's clients connect when that is not the
	// host's own address: a server behind a NAT's port forward is reached
	// at the router, "192.0.2.1" (the server's port) or "192.0.2.1:2121".
	Address Endpoint `yaml:"address"`
	// Users may log in with a password.
	Users []User `yaml:"users"`
	// Anonymous allows "anonymous"/"ftp" logins.
	Anonymous bool `yaml:"anonymous"`
	// Trust lists peers (prefixes) the server lets take part in third-party
	// transfers: PORT to them and passive connections from them.
	Trust []Peer `yaml:"trust"`
	// AllowPrivilegedPorts lets PORT/EPRT/SOCK name ports below 1024 of
	// the client or a trusted peer other than its default data port (the
	// bounce attack's way to SMTP). Unsafe; off by default.
	AllowPrivilegedPorts bool `yaml:"allow-privileged-ports"`
	// PassivePorts is the passive port range, e.g. "50000-50099".
	PassivePorts PortRange `yaml:"passive-ports"`
	// PassiveAddress is announced in 227 replies instead of the control
	// connection's local address: a server behind NAT names the router's
	// outside address (vsftpd's pasv_address).
	PassiveAddress Addr `yaml:"passive-address"`
	// Files are put in the server's in-memory store before the steps run.
	Files []File `yaml:"files"`
	// TLS turns FTPS (RFC 4217) on; nil is plain FTP.
	TLS *ServerTLS `yaml:"tls"`
	// DataTimeout bounds setting up a data connection (its TLS handshake
	// included) and any stall of one; default 30s.
	DataTimeout Duration `yaml:"data-timeout"`
}

// ServerTLS is a server's FTPS: AUTH TLS, PBSZ, PROT, SSCN and CPSV, or
// TLS from the first byte (implicit). Without Cert and Key the server gets
// a self-signed certificate made for the run, valid for its host's
// addresses; the lab's clients trust every server certificate of the lab.
type ServerTLS struct {
	// Mode is "explicit" (default: AUTH TLS on the control port) or
	// "implicit" (TLS from the first byte; the port defaults to 990).
	Mode ServerTLSMode `yaml:"mode"`
	// Require refuses USER (530) before AUTH TLS.
	Require bool `yaml:"require"`
	// RequireData refuses PROT C and transfers without PROT P.
	RequireData bool `yaml:"require-data"`
	// Reuse is "required" (default: a protected data connection from the
	// client must resume the control connection's TLS session) or
	// "optional".
	Reuse TLSReuse `yaml:"reuse"`
	// CCC accepts CCC after login (RFC 4217 §6): the control connection
	// goes back to plain text, data connections stay protected. Off, CCC
	// is refused (534).
	CCC bool `yaml:"ccc"`
	// Cert and Key are PEM files (relative to the lab file, like files'
	// from:) of the server's certificate chain and private key.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// User is an FTP account.
type User struct {
	// Name is the login name.
	Name string `yaml:"name"`
	// Password is the login password.
	Password string `yaml:"password"`
	// ReadOnly forbids uploads, deletions and renames.
	ReadOnly bool `yaml:"read-only"`
}

// File is a file to create: exactly one of Content, Size or From.
type File struct {
	// Path is the absolute path in the store, e.g. "/data.bin"; with From it
	// is the directory the tree is copied into (default "/").
	Path string `yaml:"path"`
	// Content is the literal content.
	Content *string `yaml:"content"`
	// Size generates this many pseudo-random bytes ("64MiB").
	Size Size `yaml:"size"`
	// Seed seeds the generated content; same seed, same bytes.
	Seed int64 `yaml:"seed"`
	// From copies a directory of the real file system (relative to the lab
	// file), read-only, at load time of the run.
	From string `yaml:"from"`
}

// Capture says where frames are written and how much of them.
type Capture struct {
	// File is the pcapng path; default "<lab name>.pcapng". The command
	// line's --capture overrides it.
	File string `yaml:"file"`
	// Data is how much of each frame is kept: "full" (default), "headers"
	// (frames of data connections cut after their TCP header, with their
	// original length, as tcpdump -s does; control connections whole), or
	// "none" (no capture file: the ladder is drawn from the control
	// connections and the data connections' SYN and FIN, kept in memory).
	// The command line's --capture-data and --no-capture override it.
	Data CaptureData `yaml:"data"`
}

// TUN attaches a lab to the host kernel through a TUN device (used by the
// tun adapter, not by Run).
type TUN struct {
	// Name is the device name, e.g. "ftplab0".
	Name string `yaml:"name"`
	// Gateway is the lab host the device is attached to.
	Gateway string `yaml:"gateway"`
	// Addresses are the kernel side's addresses.
	Addresses []Prefix `yaml:"addresses"`
}

// nics returns the host's interfaces with default names filled in: the
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

// linkName is the link's name or its default "END1-END2".
func (k *Link) linkName() string {
	if k.Name != "" {
		return k.Name
	}
	return strings.Join(k.Ends, "-")
}
