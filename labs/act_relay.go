package labs

import (
	"context"
	"fmt"

	"github.com/ftplab/ftplab/ftp/store"
)

// RelayStep copies a file the slow way: download to the client, then upload.
type RelayStep struct {
	// Client is the user host the bytes flow through.
	Client string `yaml:"client"`
	// From is the source "SERVER:/path".
	From string `yaml:"from"`
	// To is the destination "SERVER:/path".
	To string `yaml:"to"`
	// TLS is "explicit" or "implicit" for FTPS with both servers (their
	// tls: mode), default off.
	TLS TLSMode `yaml:"tls"`
}

func init() { register("relay", func() Action { return new(RelayStep) }) }

func (a *RelayStep) check(c *checker, at string) {
	c.host(at+".client", a.Client, "relay client")
	c.serverPath(at+".from", a.From, "relay from")
	c.serverPath(at+".to", a.To, "relay to")
	c.clientTLSBoth(at+".tls", a.TLS, a.From, a.To, "relay")
}

func (a *RelayStep) describe() string {
	return fmt.Sprintf("%s: %s → %s (download, then upload through %s)", a.Client, a.From, a.To, a.Client)
}

// run downloads into a scratch store of the client's, then uploads from it.
func (a *RelayStep) run(ctx context.Context, r *runner, res *StepResult) error {
	res.Transfer = true
	buf := store.NewMem()
	u, err := buf.Create("/relay", 0)
	if err != nil {
		return err
	}
	if err := r.retr(ctx, a.Client, a.From, dialOpts{tls: a.TLS}, u, res); err != nil {
		return err
	}
	if err := u.Commit(); err != nil {
		return err
	}
	fi, err := buf.Stat("/relay")
	if err != nil {
		return err
	}
	rc, err := buf.Open("/relay", 0)
	if err != nil {
		return err
	}
	if err := r.stor(ctx, a.Client, a.To, dialOpts{tls: a.TLS}, rc, fi.Size, res); err != nil {
		return err
	}
	res.Bytes = fi.Size // bytes copied, not bytes moved twice
	return r.checksum(res, a.From, a.To)
}
