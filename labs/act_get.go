package labs

import (
	"context"
	"fmt"
)

// GetStep downloads a file to the client host's memory.
type GetStep struct {
	// Client is the user host.
	Client string `yaml:"client"`
	// From is "SERVER:/path".
	From string `yaml:"from"`
	// To is the path in the client's memory; default From's path.
	To string `yaml:"to"`
	// TLS is "explicit" or "implicit" for FTPS (the server's tls: mode),
	// default off.
	TLS TLSMode `yaml:"tls"`
	// Mode is how the data connection is opened: auto (EPSV, falling back
	// to PASV; default), epsv, pasv, eprt or port.
	Mode DataMode `yaml:"mode"`
}

func init() { register("get", func() Action { return new(GetStep) }) }

func (a *GetStep) check(c *checker, at string) {
	c.host(at+".client", a.Client, "get client")
	c.serverPath(at+".from", a.From, "get from")
	name, _ := splitRef(a.From)
	c.clientTLS(at+".tls", a.TLS, name, "get")
}

func (a *GetStep) describe() string { return fmt.Sprintf("%s: get %s", a.Client, a.From) }

// run downloads into the client's memory; the file appears there only when
// the download completed.
func (a *GetStep) run(ctx context.Context, r *runner, res *StepResult) error {
	res.Transfer = true
	to := a.To
	if to == "" {
		_, to = splitRef(a.From)
	}
	u, err := r.clientStore(a.Client).Create(to, 0)
	if err != nil {
		return fmt.Errorf("get %s: client memory: %w", a.From, err)
	}
	if err := r.retr(ctx, a.Client, a.From, dialOpts{tls: a.TLS, data: a.Mode}, u, res); err != nil {
		_ = u.Abort()
		return err
	}
	if err := u.Commit(); err != nil {
		return fmt.Errorf("get %s: client memory: %w", a.From, err)
	}
	res.Code = 226
	return r.checksum(res, a.From, a.Client+":"+to)
}
