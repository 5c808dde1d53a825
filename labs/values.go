package labs

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/ftplab/ftplab/ftp/client"
	"github.com/ftplab/ftplab/ftp/server"
	"github.com/ftplab/ftplab/labs/internal/yamlx"
	"github.com/ftplab/ftplab/stack"
	"github.com/goccy/go-yaml/ast"
)

// Duration is a time.Duration written like "40ms" or "1.5s".
type Duration time.Duration

// Percent is a share written like "1%" or "0.5%", stored as a fraction 0..1.
type Percent float64

// Rate is a bandwidth in bit/s written like "2Mbit", "10Mbit/s", "512kbps"
// or a plain number of bit/s.
type Rate int64

// Size is a byte count written like "64MiB", "1.5MB", "4096" or "512KiB".
type Size int64

// Prefix is an address with prefix length, "10.0.0.1/24" or "fd00::1/64".
type Prefix netip.Prefix

// Peer is a trusted peer, an address ("10.0.0.3", that host) or a prefix
// ("10.0.0.0/24"); ftp/server parses it, as for `ftplab serve --trust`.
type Peer netip.Prefix

// UnmarshalYAML implements goccy/go-yaml's NodeUnmarshaler: it decodes the
// node as Load would.
func (p *Peer) UnmarshalYAML(node ast.Node) error { return fromAST(node, p) }

func (p *Peer) decodeYAML(node *yamlx.Node) error {
	return decodeScalar(node, "trusted peer", server.ParseTrustedPeer, (*netip.Prefix)(p))
}

// MAC is a hardware address, "02:00:00:00:00:01".
type MAC net.HardwareAddr

// Addr is an IP address, "10.0.0.254" or "fd00::1".
type Addr netip.Addr

// Addrs is a list of IP addresses; a single address is a one-element list.
type Addrs []Addr

// PortRange is a TCP port or an inclusive range, "21" or "50000-50099".
type PortRange struct{ Lo, Hi uint16 }

// Codes is a list of FTP reply code patterns ("504" or a class like "5xx");
// a single value is a one-element list.
type Codes []string

// Names is a list of names; a single string is a one-element list.
type Names []string

// scalarText returns the text of a scalar node or an error at its position.
func scalarText(node *yamlx.Node, what string) (string, error) {
	if s, ok := scalarValue(node); ok {
		return strings.TrimSpace(s), nil
	}
	return "", nodeError(node, "%s: want a single value, got %s", what, describe(node))
}

// decodeScalar parses a scalar node with parse into dst; a parse error is
// reported at the node's position.
func decodeScalar[T any](node *yamlx.Node, what string, parse func(string) (T, error), dst *T) error {
	s, err := scalarText(node, what)
	if err != nil {
		return err
	}
	v, err := parse(s)
	if err != nil {
		return nodeError(node, "%v", err)
	}
	*dst = v
	return nil
}

// UnmarshalYAML implements goccy/go-yaml's NodeUnmarshaler: it decodes the
// node as Load would.
func (d *Duration) UnmarshalYAML(node ast.Node) error { return fromAST(node, d) }

func (d *Duration) decodeYAML(node *yamlx.Node) error {
	return decodeScalar(node, "duration", ParseDuration, (*time.Duration)(d))
}

// ParseDuration parses a non-negative duration such as "40ms"; "" and "0"
// are zero.
func ParseDuration(s string) (time.Duration, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want a number with a unit like 40ms, 1.5s or 2m", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("duration %q: must not be negative", s)
	}
	return v, nil
}

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML implements goccy/go-yaml's NodeUnmarshaler: it decodes the
// node as Load would.
func (p *Percent) UnmarshalYAML(node ast.Node) error { return fromAST(node, p) }

func (p *Percent) decodeYAML(node *yamlx.Node) error {
	return decodeScalar(node, "percentage", ParsePercent, (*float64)(p))
}

// ParsePercent parses "1%" into 0.01. A bare 0 is accepted; other bare
// numbers are refused because "1" could mean 1% or 100%.
func ParsePercent(s string) (float64, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	num, ok := strings.CutSuffix(s, "%")
	if !ok {
		return 0, fmt.Errorf("percentage %q: write it with a %% sign, like 1%% or 0.5%%", s)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || math.IsNaN(v) {
		return 0, fmt.Errorf("percentage %q: %q is not a number", s, num)
	}
	if v < 0 || v > 100 {
		return 0, fmt.Errorf("percentage %q: must be between 0%% and 100%%", s)
	}
	return v / 100, nil
}

// UnmarshalYAML implements goccy/go-yaml's NodeUnmarshaler: it decodes the
// node as Load would.
func (r *Rate) UnmarshalYAML(node ast.Node) error { return fromAST(node, r) }

func (r *Rate) decodeYAML(node *yamlx.Node) error {
	return decodeScalar(node, "rate", ParseRate, (*int64)(r))
}

var rateUnits = map[string]float64{
	"": 1, "bit": 1, "bps": 1,
	"kbit": 1e3, "kbps": 1e3,
	"mbit": 1e6, "mbps": 1e6,
	"gbit": 1e9, "gbps": 1e9,
}

// ParseRate parses a bandwidth in bit/s: "2Mbit", "10Mbit/s", "512kbps",
// "1Gbit", "64000". Units are decimal (1 Mbit = 1,000,000 bit).
func ParseRate(s string) (int64, error) {
	return scaled(s, "rate", rateUnits, "bit, kbit, Mbit or Gbit, optionally /s", func(u string) string {
		return strings.ToLower(strings.TrimSuffix(u, "/s"))
	})
}

// UnmarshalYAML implements goccy/go-yaml's NodeUnmarshaler: it decodes the
// node as Load would.
func (z *Size) UnmarshalYAML(node ast.Node) error { return fromAST(node, z) }

func (z *Size) decodeYAML(node *yamlx.Node) error {
	return decodeScalar(node, "size", ParseSize, (*int64)(z))
}

var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
}

// ParseSize parses a byte count: "4096", "64KiB", "1.5MB", "2GiB".
func ParseSize(s string) (int64, error) {
	return scaled(s, "size", sizeUnits, "B, KiB, MiB, GiB, kB, MB or GB", strings.ToLower)
}

// scaled parses a non-negative number with a unit of units ("" is zero).
// norm maps the unit as written to a key of units; want lists them for
// the error message.
func scaled(s, what string, units map[string]float64, want string, norm func(string) string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("%s %q: must not be negative", what, s)
	}
	num, unit := splitNumber(s)
	v, err := strconv.ParseFloat(num, 64)
	if num == "" || err != nil && !errors.Is(err, strconv.ErrRange) || math.IsNaN(v) {
		return 0, fmt.Errorf("%s %q: not a number (write it like %s)", what, s, examples[what])
	}
	mul, ok := units[norm(unit)]
	if !ok {
		return 0, fmt.Errorf("%s %q: unknown unit %q (use %s)", what, s, unit, want)
	}
	out := v * mul
	if math.IsInf(out, 0) || out > math.MaxInt64/2 {
		return 0, fmt.Errorf("%s %q: too large", what, s)
	}
	return int64(out), nil
}

// examples show how a value of each kind is written, for error messages.
var examples = map[string]string{"size": "64KiB or 4096", "rate": "10Mbit or 64000"}

// splitNumber splits "10Mbit" into "10" and "Mbit", "1.5e3kB" into "1.5e3"
// and "kB".
func splitNumber(s string) (num, unit string) {
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.' || s[i] == '+') {
		i++
	}
	// An exponent: e or E, an optional sign, digits.
	if j := i; i > 0 && j < len(s) && (s[j] == 'e' || s[j] == 'E') {
		j++
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if k := j; k < len(s) && s[k] >= '0' && s[k] <= '9' {
			for k < len(s) && s[k] >= '0' && s[k] <= '9' {
				k++
			}
			i = k
		}
	}
	return s[:i], strings.TrimSpace(s[i:])
}

// UnmarshalYAML implements goccy/go-yaml's NodeUnmarshaler: it decodes the
// node as Load would.
func (p *Prefix) UnmarshalYAML(node ast.Node) error { return fromAST(node, p) }

func (p *Prefix) decodeYAML(node *yamlx.Node) error {
	return decodeScalar(node, "address", parsePrefix, (*netip.Prefix)(p))
}

func parsePrefix(s string) (netip.Prefix, error) {
	v, err := netip.ParsePrefix(s)
	if err == nil {
		return v, nil
	}
	if a, aerr := netip.ParseAddr(s); aerr == nil {
		bits := 24
		if a.Is6() {
			bits = 64
		}
		return v, fmt.Errorf("address %q: add a prefix length, like %s/%d", s, s, bits)
	}
	return v, fmt.Errorf("address %q: not an address with prefix length like 10.0.0.1/24 or fd00::1/64", s)
}

// P returns p as a netip.Prefix.
func (p Prefix) P() netip.Prefix { return netip.Prefix(p) }

// UnmarshalYAML implements goccy/go-yaml's NodeUnmarshaler: it decodes the
// node as Load would.
func (m *MAC) UnmarshalYAML(node ast.Node) error { return fromAST(node, m) }

func (m *MAC) decodeYAML(node *yamlx.Node) error {
	return decodeScalar(node, "MAC", func(s string) (MAC, error) {
		hw, err := net.ParseMAC(s)
		if err != nil {
			return nil, fmt.Errorf("MAC %q: want six bytes like 02:00:00:00:00:01", s)
		}
		return MAC(hw), nil
	}, m)
}

// HW returns m as a net.HardwareAddr (nil if none was given).
func (m MAC) HW() net.HardwareAddr { return net.HardwareAddr(m) }

// UnmarshalYAML implements goccy/go-yaml's NodeUnmarshaler: it decodes the
// node as Load would.
func (a *Addr) UnmarshalYAML(node ast.Node) error { return fromAST(node, a) }

func (a *Addr) decodeYAML(node *yamlx.Node) error {
	return decodeScalar(node, "address", parseAddr, (*netip.Addr)(a))
}

func parseAddr(s string) (netip.Addr, error) {
	v, err := netip.ParseAddr(s)
	if err != nil {
		return v, fmt.Errorf("address %q: not an IPv4 or IPv6 address", s)
	}
	return v, nil
}

// A returns a as a netip.Addr.
func (a Addr) A() netip.Addr { return netip.Addr(a) }

// UnmarshalYAML implements goccy/go-yaml's NodeUnmarshaler: it decodes the
// node as Load would.
func (as *Addrs) UnmarshalYAML(node ast.Node) error { return fromAST(node, as) }

func (as *Addrs) decodeYAML(node *yamlx.Node) error {
	return decodeList(node, "addresses", func(s string) (Addr, error) {
		a, err := parseAddr(s)
		return Addr(a), err
	}, (*[]Addr)(as))
}

// UnmarshalYAML implements goccy/go-yaml's NodeUnmarshaler: it decodes the
// node as Load would.
func (r *PortRange) UnmarshalYAML(node ast.Node) error { return fromAST(node, r) }

func (r *PortRange) decodeYAML(node *yamlx.Node) error {
	return decodeScalar(node, "port range", ParsePortRange, r)
}

// ParsePortRange parses "21" or "50000-50099".
func ParsePortRange(s string) (PortRange, error) {
	if s == "" {
		return PortRange{}, nil
	}
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		hi = lo
	}
	l, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
	h, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
	if err1 != nil || err2 != nil || l == 0 {
		return PortRange{}, fmt.Errorf("port range %q: want a port 1-65535 or a range like 50000-50099", s)
	}
	if l > h {
		return PortRange{}, fmt.Errorf("port range %q: low end %d is above high end %d", s, l, h)
	}
	return PortRange{uint16(l), uint16(h)}, nil
}

// IsZero reports whether no port was given.
func (r PortRange) IsZero() bool { return r.Lo == 0 }

// String renders the range as it is written.
func (r PortRange) String() string {
	if r.Lo == r.Hi {
		return strconv.Itoa(int(r.Lo))
	}
	return fmt.Sprintf("%d-%d", r.Lo, r.Hi)
}

// UnmarshalYAML implements goccy/go-yaml's NodeUnmarshaler: it decodes the
// node as Load would.
func (c *Codes) UnmarshalYAML(node ast.Node) error { return fromAST(node, c) }

func (c *Codes) decodeYAML(node *yamlx.Node) error {
	return decodeList(node, "reply codes", func(s string) (string, error) {
		if !validCode(s) {
			return "", fmt.Errorf("reply code %q: want a three-digit FTP reply code like 504, or a class like 5xx", s)
		}
		return s, nil
	}, (*[]string)(c))
}

func validCode(s string) bool {
	if len(s) != 3 || s[0] < '1' || s[0] > '5' {
		return false
	}
	for _, ch := range s[1:] {
		if (ch < '0' || ch > '9') && ch != 'x' && ch != 'X' {
			return false
		}
	}
	return true
}

// MatchCode reports whether reply code matches pattern ("504", "5xx", "50x").
func MatchCode(pattern string, code int) bool {
	got := fmt.Sprintf("%03d", code)
	if len(pattern) != 3 {
		return false
	}
	for i := range 3 {
		if pattern[i] != 'x' && pattern[i] != 'X' && pattern[i] != got[i] {
			return false
		}
	}
	return true
}

// UnmarshalYAML implements goccy/go-yaml's NodeUnmarshaler: it decodes the
// node as Load would.
func (n *Names) UnmarshalYAML(node ast.Node) error { return fromAST(node, n) }

func (n *Names) decodeYAML(node *yamlx.Node) error {
	return decodeList(node, "names", func(s string) (string, error) { return s, nil }, (*[]string)(n))
}

// decodeList parses a scalar or a sequence of scalars with parse into dst;
// an error is reported at the offending item.
func decodeList[T any](node *yamlx.Node, what string, parse func(string) (T, error), dst *[]T) error {
	items := []*yamlx.Node{node}
	if node.Kind == yamlx.Sequence {
		items = node.Content
	}
	out := make([]T, 0, len(items))
	for _, it := range items {
		var v T
		if err := decodeScalar(it, what, parse, &v); err != nil {
			return err
		}
		out = append(out, v)
	}
	*dst = out
	return nil
}

// Side is the passive side of a third-party copy, "source" or
// "destination"; ftp/client parses it.
type Side client.Side

// UnmarshalYAML implements goccy/go-yaml's NodeUnmarshaler: it decodes the
// node as Load would.
func (d *Side) UnmarshalYAML(node ast.Node) error { return fromAST(node, d) }

func (d *Side) decodeYAML(node *yamlx.Node) error {
	return decodeScalar(node, "passive side", client.ParseSide, (*client.Side)(d))
}

// Dialect is a third-party copy's command sequence, "rfc959" or "rfc478";
// ftp/client parses it.
type Dialect client.Dialect

// UnmarshalYAML implements goccy/go-yaml's NodeUnmarshaler: it decodes the
// node as Load would.
func (d *Dialect) UnmarshalYAML(node ast.Node) error { return fromAST(node, d) }

func (d *Dialect) decodeYAML(node *yamlx.Node) error {
	return decodeScalar(node, "dialect", client.ParseDialect, (*client.Dialect)(d))
}

// DataMode is how a client step opens data connections: "auto" (default:
// EPSV, falling back to PASV), "epsv", "pasv", "eprt" or "port"; ftp/client
// parses it.
type DataMode client.Mode

// UnmarshalYAML implements goccy/go-yaml's NodeUnmarshaler: it decodes the
// node as Load would.
func (m *DataMode) UnmarshalYAML(node ast.Node) error { return fromAST(node, m) }

func (m *DataMode) decodeYAML(node *yamlx.Node) error {
	return decodeScalar(node, "data mode", client.ParseMode, (*client.Mode)(m))
}

// TLSMode is how a client step protects its sessions: "off" (default),
// "explicit" (AUTH TLS) or "implicit" (TLS from the first byte); ftp/client
// parses it.
type TLSMode client.TLSMode

// UnmarshalYAML implements goccy/go-yaml's NodeUnmarshaler: it decodes the
// node as Load would.
func (m *TLSMode) UnmarshalYAML(node ast.Node) error { return fromAST(node, m) }

func (m *TLSMode) decodeYAML(node *yamlx.Node) error {
	return decodeScalar(node, "TLS mode", client.ParseTLSMode, (*client.TLSMode)(m))
}

// ServerTLSMode is how a server offers TLS: "explicit" or "implicit" (the
// zero value is explicit).
type ServerTLSMode client.TLSMode

// UnmarshalYAML implements goccy/go-yaml's NodeUnmarshaler: it decodes the
// node as Load would.
func (m *ServerTLSMode) UnmarshalYAML(node ast.Node) error { return fromAST(node, m) }

func (m *ServerTLSMode) decodeYAML(node *yamlx.Node) error {
	return decodeScalar(node, "server TLS mode", func(s string) (client.TLSMode, error) {
		v, err := client.ParseTLSMode(s)
		if err != nil || v == client.TLSOff {
			return 0, fmt.Errorf("server TLS mode %q: want explicit or implicit (leave tls: out for plain FTP)", s)
		}
		return v, nil
	}, (*client.TLSMode)(m))
}

// implicit reports whether the server's control port speaks TLS from the
// first byte.
func (m ServerTLSMode) implicit() bool { return client.TLSMode(m) == client.TLSImplicit }

// TLSReuse says whether a server's protected data connections must resume
// the control connection's TLS session: "required" (default) or
// "optional".
type TLSReuse string

// UnmarshalYAML implements goccy/go-yaml's NodeUnmarshaler: it decodes the
// node as Load would.
func (r *TLSReuse) UnmarshalYAML(node ast.Node) error { return fromAST(node, r) }

func (r *TLSReuse) decodeYAML(node *yamlx.Node) error {
	return decodeScalar(node, "TLS reuse", func(s string) (TLSReuse, error) {
		switch v := TLSReuse(strings.ToLower(s)); v {
		case "required", "optional":
			return v, nil
		}
		return "", fmt.Errorf("TLS reuse %q: want required or optional", s)
	}, r)
}

// Security lists the ways a secure third-party copy may make its data
// connection, in the order tried: sscn, cpsv, clear, none (see
// client.FXPSecurity).
type Security []client.FXPSecurity

// UnmarshalYAML implements goccy/go-yaml's NodeUnmarshaler: it decodes the
// node as Load would.
func (s *Security) UnmarshalYAML(node ast.Node) error { return fromAST(node, s) }

func (s *Security) decodeYAML(node *yamlx.Node) error {
	return decodeList(node, "secure FXP method", func(v string) (client.FXPSecurity, error) {
		m, err := client.ParseFXPSecurity(v)
		if err != nil {
			return 0, err
		}
		if len(m) != 1 {
			return 0, fmt.Errorf("secure FXP method %q: one method per item", v)
		}
		return m[0], nil
	}, (*[]client.FXPSecurity)(s))
}

// SSCNSide is the server SSCN ON goes to: "passive" (default) or
// "active".
type SSCNSide string

// UnmarshalYAML implements goccy/go-yaml's NodeUnmarshaler: it decodes the
// node as Load would.
func (d *SSCNSide) UnmarshalYAML(node ast.Node) error { return fromAST(node, d) }

func (d *SSCNSide) decodeYAML(node *yamlx.Node) error {
	return decodeScalar(node, "SSCN side", func(s string) (SSCNSide, error) {
		switch v := SSCNSide(strings.ToLower(s)); v {
		case "passive", "active":
			return v, nil
		}
		return "", fmt.Errorf("SSCN side %q: want passive or active", s)
	}, d)
}

// CaptureData is how much of each frame a capture keeps: "full",
// "headers" or "none" (see Capture.Data).
type CaptureData string

// The capture data choices.
const (
	CaptureFull    CaptureData = "full"
	CaptureHeaders CaptureData = "headers"
	CaptureNone    CaptureData = "none"
)

// ParseCaptureData parses "full", "headers" or "none" ("" is full).
func ParseCaptureData(s string) (CaptureData, error) {
	switch d := CaptureData(strings.ToLower(s)); d {
	case "", CaptureFull:
		return CaptureFull, nil
	case CaptureHeaders, CaptureNone:
		return d, nil
	}
	return "", fmt.Errorf("capture data %q: want full, headers or none", s)
}

// UnmarshalYAML implements goccy/go-yaml's NodeUnmarshaler: it decodes the
// node as Load would.
func (d *CaptureData) UnmarshalYAML(node ast.Node) error { return fromAST(node, d) }

func (d *CaptureData) decodeYAML(node *yamlx.Node) error {
	return decodeScalar(node, "capture data", ParseCaptureData, d)
}

// stack is the stack's capture policy for d.
func (d CaptureData) stack() stack.CaptureData {
	switch d {
	case CaptureHeaders:
		return stack.CaptureHeaders
	case CaptureNone:
		return stack.CaptureControl
	}
	return stack.CaptureFull
}
