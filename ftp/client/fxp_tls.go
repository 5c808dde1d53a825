package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// FXPSecurity is a way to make the data connection of a third-party
// transfer between two servers that protect data (PROT P). TLS needs a
// client and a server, and each server is a TLS server on its data
// connections unless told otherwise (RFC 4217 §10): one of them must be
// made the TLS client.
type FXPSecurity int

const (
	// FXPSSCN sends SSCN ON to one server (the passive one unless
	// TransferOptions.SSCNOnActive), which is then the TLS client.
	FXPSSCN FXPSecurity = iota
	// FXPCPSV sends CPSV instead of PASV to the passive server, which is
	// then the TLS client (IPv4 only, as PASV).
	FXPCPSV
	// FXPClear sends PROT C to both: the file crosses in the clear.
	FXPClear
	// FXPNone does nothing about it: both servers act as TLS servers and
	// the data connection cannot be made. For showing why SSCN exists.
	FXPNone
)

var fxpSecurityNames = map[FXPSecurity]string{FXPSSCN: "sscn", FXPCPSV: "cpsv", FXPClear: "clear", FXPNone: "none"}

// String names the method as ParseFXPSecurity accepts it.
func (m FXPSecurity) String() string {
	if s, ok := fxpSecurityNames[m]; ok {
		return s
	}
	return fmt.Sprintf("FXPSecurity(%d)", int(m))
}

// ParseFXPSecurity parses a comma-separated list of "sscn", "cpsv",
// "clear" and "none".
func ParseFXPSecurity(s string) ([]FXPSecurity, error) {
	var out []FXPSecurity
	for _, f := range strings.Split(s, ",") {
		found := false
		for m, n := range fxpSecurityNames {
			if strings.EqualFold(strings.TrimSpace(f), n) {
				out, found = append(out, m), true
			}
		}
		if !found {
			return nil, fmt.Errorf("secure third-party method %q: want sscn, cpsv, clear or none", f)
		}
	}
	return out, nil
}

// DefaultFXPSecurity is the order tried when TransferOptions.Security is
// nil, as lftp does: SSCN, then CPSV; clear data only when asked for.
var DefaultFXPSecurity = []FXPSecurity{FXPSSCN, FXPCPSV}

// secureLegs makes the data connection between pas and act: it picks the
// first method of opts.Security the servers accept and sends the
// connection commands (PASV/CPSV, PORT & co). undo restores what the
// method changed (SSCN OFF, PROT P) after the transfer.
func secureLegs(ctx context.Context, pas, act *leg, opts TransferOptions, res *Result) (undo func(), err error) {
	undo = func() {}
	connect := func(cpsv bool) error {
		if opts.Dialect == RFC478 {
			return connect478(ctx, pas, act, cpsv)
		}
		return connect959(ctx, pas, act, cpsv)
	}
	step := func(format string, args ...any) {
		if opts.Step != nil {
			opts.Step(fmt.Sprintf(format, args...))
		}
	}
	pp, ap := pas.c.protect, act.c.protect
	if !pp && !ap {
		res.Protection = "none: both servers have clear data connections"
		return undo, connect(false)
	}
	methods := opts.Security
	if methods == nil {
		methods = DefaultFXPSecurity
	}
	if pp != ap {
		prot, clear := pas, act
		if ap {
			prot, clear = act, pas
		}
		if !slices.Contains(methods, FXPClear) {
			return undo, prot.fail(fmt.Errorf("%s protects data (PROT P) and %s does not: the data connection cannot be made (allow clear data to send PROT C)", prot.side, clear.side))
		}
		methods = []FXPSecurity{FXPClear}
	}
	refused := func(err error) bool {
		var re *ReplyError
		return errors.As(err, &re) && re.Code/100 == 5
	}
	for i, m := range methods {
		last := i == len(methods)-1
		switch m {
		case FXPSSCN:
			client := pas
			if opts.SSCNOnActive {
				client = act
			}
			step("secure FXP: SSCN ON to the %s (%s side): it will be the TLS client", client.side, roleOf(client, pas))
			if err := client.c.SSCN(ctx, true); err != nil {
				if refused(err) && !last {
					step("secure FXP: SSCN refused (%v), trying the next method", err)
					continue
				}
				return undo, client.fail(err)
			}
			undo = func() {
				if err := client.c.SSCN(context.WithoutCancel(ctx), false); err != nil {
					client.c.log.Debug("SSCN OFF failed", "err", err)
				}
			}
			res.Protection = fmt.Sprintf("TLS, SSCN: the %s (%s) is the TLS client", client.side, roleOf(client, pas))
			return undo, connect(false)
		case FXPCPSV:
			if !pas.c.remote.Addr().Is4() || !act.c.remote.Addr().Is4() {
				step("secure FXP: CPSV is IPv4 only, skipped")
				if last {
					return undo, pas.fail(errors.New("CPSV: IPv4 only"))
				}
				continue
			}
			step("secure FXP: CPSV to the %s (passive side): it will be the TLS client", pas.side)
			err := connect(true)
			if err != nil && refused(err) && !last && isCPSVRefusal(err) {
				step("secure FXP: CPSV refused (%v), trying the next method", err)
				continue
			}
			res.Protection = fmt.Sprintf("TLS, CPSV: the %s (passive) is the TLS client", pas.side)
			return undo, err
		case FXPClear:
			step("secure FXP: PROT C to both servers: the data crosses in the clear")
			var restore []*leg
			undo = func() {
				for _, l := range restore {
					if err := l.c.Prot(context.WithoutCancel(ctx), "P"); err != nil {
						l.c.log.Debug("PROT P failed", "err", err)
					}
				}
			}
			for _, l := range []*leg{pas, act} {
				if !l.c.protect {
					continue
				}
				if err := l.c.Prot(ctx, "C"); err != nil {
					return undo, l.fail(err)
				}
				restore = append(restore, l)
			}
			res.Protection = "none: PROT C, data in the clear"
			return undo, connect(false)
		case FXPNone:
			step("secure FXP: no SSCN, no CPSV: both servers will wait as TLS servers (RFC 4217 §10)")
			res.Protection = "TLS without a TLS client (cannot work)"
			return undo, connect(false)
		}
	}
	return undo, errors.New("third-party transfer: no secure method given")
}

// isCPSVRefusal tells a refused CPSV from a refused PORT after it.
func isCPSVRefusal(err error) bool {
	var re *ReplyError
	return errors.As(err, &re) && re.Command == "CPSV"
}

// roleOf is "passive" or "active".
func roleOf(l, pas *leg) string {
	if l == pas {
		return "passive"
	}
	return "active"
}
