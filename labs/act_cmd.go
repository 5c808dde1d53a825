package labs

import (
	"context"
	"fmt"
	"strings"
)

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
	// TLS is "explicit" or "implicit" for a session protected by FTPS
	// (the server's tls: mode), default off; cmd steps with different
	// modes have sessions of their own.
	TLS TLSMode `yaml:"tls"`
}

func init() { register("cmd", func() Action { return new(CmdStep) }) }

func (a *CmdStep) check(c *checker, at string) {
	c.host(at+".client", a.Client, "cmd client")
	c.server(at+".server", a.Server, "cmd")
	c.clientTLS(at+".tls", a.TLS, a.Server, "cmd")
	if strings.TrimSpace(a.Send) == "" || strings.ContainsAny(a.Send, "\r\n") {
		c.errorf(at+".send", "cmd: send must be one non-empty command line")
	}
}

func (a *CmdStep) describe() string { return fmt.Sprintf("%s→%s: %s", a.Client, a.Server, a.Send) }

func (a *CmdStep) outcome(res *StepResult) string { return strings.Join(res.Replies, " / ") }

// run sends the command and checks the replies against the expected codes.
func (a *CmdStep) run(ctx context.Context, r *runner, res *StepResult) error {
	ks, err := r.session(ctx, a.Client, a.Server, a.TLS)
	if err != nil {
		return err
	}
	defer ks.mu.Unlock()
	c := ks.c
	code, msg, err := c.Cmd(ctx, "%s", a.Send)
	if err != nil {
		return fmt.Errorf("cmd %q to %s: %w", a.Send, a.Server, err)
	}
	got, codes := []string{fmt.Sprintf("%d %s", code, msg)}, []int{code}
	for code < 200 { // preliminary: read on to the final reply
		if code, msg, err = c.Read(ctx); err != nil {
			return fmt.Errorf("cmd %q to %s: reading reply %d: %w", a.Send, a.Server, len(got)+1, err)
		}
		got, codes = append(got, fmt.Sprintf("%d %s", code, msg)), append(codes, code)
	}
	res.Code, res.Replies = code, got
	want := a.Reply
	if len(want) == 1 {
		codes = codes[len(codes)-1:] // a single code is the final reply
	}
	ok := len(want) == 0 || len(want) == len(codes)
	for i := 0; ok && i < len(want); i++ {
		ok = MatchCode(want[i], codes[i])
	}
	if !ok {
		return fmt.Errorf("cmd %q to %s: want reply %s, got %s", a.Send, a.Server, strings.Join(want, ", "), strings.Join(got, " / "))
	}
	return nil
}
