package labs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ftplab/ftplab/ftp/client"
)

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
	Passive Side `yaml:"passive"`
	// Dialect is "rfc959" (PORT/PASV, EPRT/EPSV on IPv6; default) or
	// "rfc478" (SOCK to both, PASV, STOR, RTRV, default data sockets).
	Dialect Dialect `yaml:"dialect"`
	// TLS is "explicit" or "implicit" for FTPS with both servers (their
	// tls: mode), default off. Both control connections then protect data
	// (PROT P), and the data connection between the servers needs one of
	// them to be its TLS client: see Secure.
	TLS TLSMode `yaml:"tls"`
	// Secure lists the ways to make the protected data connection, tried
	// in order until the servers accept one: sscn (SSCN ON to one server,
	// which then is the TLS client), cpsv (CPSV instead of PASV: the
	// passive server is the TLS client), clear (PROT C: data in the clear)
	// and none (neither: both servers wait as TLS servers and the copy
	// fails, RFC 4217 §10). Default [sscn, cpsv]; needs tls.
	Secure Security `yaml:"secure"`
	// SSCNSide is the server SSCN ON goes to: "passive" (default) or
	// "active"; needs tls.
	SSCNSide SSCNSide `yaml:"sscn-side"`
}

func init() { register("fxp", func() Action { return new(FXPStep) }) }

func (a *FXPStep) check(c *checker, at string) {
	c.host(at+".client", a.Client, "fxp client")
	c.serverPath(at+".from", a.From, "fxp from")
	c.serverPath(at+".to", a.To, "fxp to")
	c.clientTLSBoth(at+".tls", a.TLS, a.From, a.To, "fxp")
	if client.TLSMode(a.TLS) == client.TLSOff {
		if a.Secure != nil {
			c.errorf(at+".secure", "fxp: secure needs tls: explicit or implicit")
		}
		if a.SSCNSide != "" {
			c.errorf(at+".sscn-side", "fxp: sscn-side needs tls: explicit or implicit")
		}
	}
	if client.Dialect(a.Dialect) != client.RFC478 {
		return
	}
	// RFC 478's SOCK, like PORT, carries an IPv4 address only.
	for _, ref := range []string{a.From, a.To} {
		name, _ := splitRef(ref)
		s := c.servers[name]
		if s == nil || c.hosts[s.Host] == nil {
			continue
		}
		has4 := false
		for _, p := range c.hosts[s.Host].prefixes() {
			has4 = has4 || p.Addr().Is4()
		}
		if !has4 {
			c.errorf(at+".dialect", "fxp dialect rfc478: server %s has no IPv4 address (SOCK carries IPv4 only; use rfc959, which uses EPRT/EPSV on IPv6)", name)
		}
	}
}

func (a *FXPStep) describe() string {
	d := fmt.Sprintf("%s: %s → %s (third-party, %s, PASV to the %s", a.Client, a.From, a.To, client.Dialect(a.Dialect), client.Side(a.Passive))
	if client.TLSMode(a.TLS) != client.TLSOff {
		methods := a.Secure
		if methods == nil {
			methods = client.DefaultFXPSecurity
		}
		names := make([]string, len(methods))
		for i, m := range methods {
			names[i] = m.String()
		}
		d += fmt.Sprintf(", FTPS %s, secure %s", client.TLSMode(a.TLS), strings.Join(names, ","))
	}
	return d + ")"
}

func (a *FXPStep) run(ctx context.Context, r *runner, res *StepResult) error {
	res.Transfer = true
	srcName, srcPath := splitRef(a.From)
	dstName, dstPath := splitRef(a.To)
	opts := client.TransferOptions{Passive: client.Side(a.Passive), Dialect: client.Dialect(a.Dialect),
		Security: a.Secure, SSCNOnActive: a.SSCNSide == "active"}
	src, err := r.dial(ctx, a.Client, srcName, dialOpts{tls: a.TLS})
	if err != nil {
		return err
	}
	dst, err := r.dial(ctx, a.Client, dstName, dialOpts{tls: a.TLS})
	if err != nil {
		quit(ctx, src)
		return err
	}
	defer quit(ctx, src, dst)
	total := r.serverFileSize(srcName, srcPath)
	bar := r.progress(res.Name, total)
	if r.opts.Progress {
		opts.Progress, opts.PollInterval = bar.update, 500*time.Millisecond
	}
	result, err := client.Transfer(ctx, src, srcPath, dst, dstPath, opts)
	bar.done()
	if err != nil {
		var se *client.SideError
		var re *client.ReplyError
		if errors.As(err, &se) && errors.As(se.Err, &re) {
			res.Code = re.Code
		}
		return err
	}
	res.Code, res.Bytes, res.TransferTime = result.DestinationReply.Code, result.Bytes, result.Duration
	if result.Protection != "" && client.TLSMode(a.TLS) != client.TLSOff {
		res.Detail += "; data: " + result.Protection
	}
	if res.Bytes < 0 {
		res.Bytes = total
	}
	return r.checksum(res, a.From, a.To)
}
