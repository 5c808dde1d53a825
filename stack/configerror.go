package stack

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// ItemKind is the kind of Config item a ConfigError concerns.
type ItemKind int

// The kinds of Config items.
const (
	// HostItem is Config.Hosts[Index].
	HostItem ItemKind = iota
	// NICItem is Config.Hosts[Index].NICs[Sub].
	NICItem
	// RouteItem is Config.Hosts[Index].Routes[Sub].
	RouteItem
	// SwitchItem is Config.Switches[Index].
	SwitchItem
	// LinkItem is Config.Links[Index].
	LinkItem
	// NATItem is Config.Hosts[Index].NAT, or its Forwards[Sub] if Sub >= 0.
	NATItem
	// FirewallItem is Config.Hosts[Index].Firewall, or its Allow[Sub] if
	// Sub >= 0.
	FirewallItem
	// FTPHelperItem is Config.Hosts[Index].FTPHelper (Elem indexes Ports).
	FTPHelperItem
)

// Item locates a part of a Config, so that a front end (a lab file) can
// point at what its user wrote.
type Item struct {
	// Kind and Index select a host, switch or link; Sub selects a host's NIC
	// or route.
	Kind       ItemKind
	Index, Sub int
	// Field is the Go name of the offending field of that item ("Name",
	// "MAC", "Addrs", "Dst", "Via", "NIC", "A", "B", "MTU", "Delay",
	// "Jitter", "Loss", "Rate", "Queue"; for router roles "Outside", "SNAT",
	// "Ports", "To", "ToPort", "In", "Out", "Proto"), or "" for the item as
	// a whole.
	Field string
	// Elem is the index within a list field (Addrs, a helper's Ports), or -1.
	Elem int
}

func (it Item) field(name string) Item {
	it.Field = name
	return it
}

// ConfigError is one problem of a Config, found by Config.Validate or New.
type ConfigError struct {
	// Item is what the problem concerns.
	Item Item
	// What names the item in words, e.g. `link "A-B"` or `NIC "A:eth0"`.
	What string
	// Err says what is wrong.
	Err error
}

// Error renders "what: problem".
func (e *ConfigError) Error() string { return e.What + ": " + e.Err.Error() }

// Unwrap returns the problem.
func (e *ConfigError) Unwrap() error { return e.Err }

// configErrors is every problem of one Config, in the order found.
type configErrors []*ConfigError

func (es *configErrors) add(it Item, what string, err error) {
	*es = append(*es, &ConfigError{Item: it, What: what, Err: err})
}

// Error renders "invalid network config: " and one problem per line.
func (es configErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return "invalid network config: " + strings.Join(lines, "\n")
}

// Unwrap returns the problems, so errors.As finds each *ConfigError.
func (es configErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// ConfigErrors lists the *ConfigError problems in err (from Validate or New),
// or nil if it holds none.
func ConfigErrors(err error) []*ConfigError {
	var es configErrors
	if errors.As(err, &es) {
		return slices.Clone(es)
	}
	var e *ConfigError
	if errors.As(err, &e) {
		return []*ConfigError{e}
	}
	return nil
}

// checkIPv6MTU is the rule that a link carrying IPv6 needs IPv6's minimum
// MTU: addrs are the addresses of the NIC called label on the link.
func checkIPv6MTU(mtu int, label string, addrs []netip.Prefix) error {
	if mtu < minMTUv6 && slices.ContainsFunc(addrs, func(a netip.Prefix) bool { return a.Addr().Is6() }) {
		return fmt.Errorf("mtu %d is too small for IPv6 on %s (minimum %d)", mtu, label, minMTUv6)
	}
	return nil
}

// Check validates cfg as Validate does and, for a valid cfg, also lists
// its NICs that are on no link (as NICItem Items): a NIC may stay unplugged
// for a device attached later (AddNIC), which a front end may or may not
// allow.
func (cfg Config) Check() (unplugged []Item, err error) {
	p, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	for hi, h := range p.hosts {
		for ni, n := range h.nics {
			if n.link < 0 {
				unplugged = append(unplugged, Item{Kind: NICItem, Index: hi, Sub: ni, Elem: -1})
			}
		}
	}
	return unplugged, nil
}
