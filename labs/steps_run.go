package labs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/ftplab/ftplab/ftp/client"
	"github.com/ftplab/ftplab/ftp/store"
)

// clientTimeout bounds dialling and data-connection setup of lab clients.
const clientTimeout = 10 * time.Second

// splitRef splits "NAME:/path".
func splitRef(ref string) (name, path string) {
	name, path, _ = strings.Cut(ref, ":")
	return name, path
}

// serverAddr picks the server's control address the client host can reach:
// the first address of a family the client host also has.
func (r *runner) serverAddr(clientHost string, rs *runningServer) (netip.AddrPort, error) {
	var has4, has6 bool
	for _, p := range r.net.Host(clientHost).Addrs() {
		has4 = has4 || p.Addr().Is4()
		has6 = has6 || p.Addr().Is6()
	}
	for _, p := range rs.host.Addrs() {
		if (p.Addr().Is4() && has4) || (p.Addr().Is6() && has6) {
			return netip.AddrPortFrom(p.Addr(), uint16(rs.cfg.Port)), nil
		}
	}
	return netip.AddrPort{}, fmt.Errorf("server %s: no address of a family host %s has", rs.cfg.Name, clientHost)
}

// dial opens a logged-in control connection from clientHost to a server:
// as its first user, or anonymous.
func (r *runner) dial(ctx context.Context, clientHost, serverName string) (*client.Client, error) {
	rs := r.servers[serverName]
	addr, err := r.serverAddr(clientHost, rs)
	if err != nil {
		return nil, err
	}
	c, err := client.Dial(ctx, r.net.Host(clientHost), addr.String(), client.Options{Timeout: clientTimeout})
	if err != nil {
		return nil, fmt.Errorf("%s: connect to server %s at %s: %w", clientHost, serverName, addr, err)
	}
	user, pass := "anonymous", "ftplab@"
	if len(rs.cfg.Users) > 0 {
		user, pass = rs.cfg.Users[0].Name, rs.cfg.Users[0].Password
	}
	if err := c.Login(ctx, user, pass); err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: log in to server %s as %s: %w", clientHost, serverName, user, err)
	}
	return c, nil
}

// quit ends a step's control connection politely.
func quit(ctx context.Context, cs ...*client.Client) {
	for _, c := range cs {
		if c != nil && c.Quit(ctx) != nil {
			c.Close()
		}
	}
}

func (r *runner) fxp(ctx context.Context, a *FXPStep, res *StepResult) error {
	srcName, srcPath := splitRef(a.From)
	dstName, dstPath := splitRef(a.To)
	opts := client.TransferOptions{}
	var err error
	if a.Passive != "" {
		if opts.Passive, err = client.ParseSide(a.Passive); err != nil {
			return err
		}
	}
	if a.Dialect != "" {
		if opts.Dialect, err = client.ParseDialect(a.Dialect); err != nil {
			return err
		}
	}
	src, err := r.dial(ctx, a.Client, srcName)
	if err != nil {
		return err
	}
	dst, err := r.dial(ctx, a.Client, dstName)
	if err != nil {
		quit(ctx, src)
		return err
	}
	defer quit(ctx, src, dst)
	total := r.serverFileSize(srcName, srcPath)
	stopBar := r.progress(res.Name, total)
	if r.opts.Progress {
		opts.Progress, opts.PollInterval = stopBar.update, 500*time.Millisecond
	}
	result, err := client.Transfer(ctx, src, srcPath, dst, dstPath, opts)
	stopBar.done()
	res.Transfer = true
	if err != nil {
		var se *client.SideError
		var re *client.ReplyError
		if errors.As(err, &se) && errors.As(se.Err, &re) {
			res.Code = re.Code
		}
		return err
	}
	res.Code, res.Bytes = result.DestinationReply.Code, result.Bytes
	if res.Bytes < 0 {
		res.Bytes = total
	}
	return r.checksum(res, a.From, a.To)
}

func (r *runner) serverFileSize(name, path string) int64 {
	if rs := r.servers[name]; rs != nil {
		if fi, err := rs.mem.Stat(path); err == nil {
			return fi.Size
		}
	}
	return -1
}

// retr downloads ref ("SERVER:/path") to memory through clientHost.
func (r *runner) retr(ctx context.Context, clientHost, ref string, res *StepResult) ([]byte, error) {
	name, path := splitRef(ref)
	c, err := r.dial(ctx, clientHost, name)
	if err != nil {
		return nil, err
	}
	defer quit(ctx, c)
	var buf bytes.Buffer
	bar := r.progress(res.Name, r.serverFileSize(name, path))
	n, err := c.Retr(ctx, path, &buf, client.WithProgress(bar.update))
	bar.done()
	res.Bytes += n
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", ref, err)
	}
	return buf.Bytes(), nil
}

// stor uploads data to ref through clientHost.
func (r *runner) stor(ctx context.Context, clientHost, ref string, data io.Reader, size int64, res *StepResult) error {
	name, path := splitRef(ref)
	c, err := r.dial(ctx, clientHost, name)
	if err != nil {
		return err
	}
	defer quit(ctx, c)
	bar := r.progress(res.Name, size)
	n, err := c.Stor(ctx, path, data, client.WithProgress(bar.update))
	bar.done()
	res.Bytes += n
	if err != nil {
		return fmt.Errorf("put %s: %w", ref, err)
	}
	res.Code = 226
	return nil
}

func (r *runner) remember(host, path string, data []byte) {
	r.memMu.Lock()
	defer r.memMu.Unlock()
	if r.memory[host] == nil {
		r.memory[host] = map[string][]byte{}
	}
	r.memory[host][path] = data
}

func (r *runner) get(ctx context.Context, a *GetStep, res *StepResult) error {
	data, err := r.retr(ctx, a.Client, a.From, res)
	res.Transfer = true
	if err != nil {
		return err
	}
	res.Code = 226
	to := a.To
	if to == "" {
		_, to = splitRef(a.From)
	}
	r.remember(a.Client, to, data)
	return r.checksum(res, a.From, a.Client+":"+to)
}

func (r *runner) put(ctx context.Context, a *PutStep, res *StepResult) error {
	res.Transfer = true
	var data []byte
	switch {
	case a.Content != nil:
		data = []byte(*a.Content)
	case a.Size > 0:
		data = make([]byte, a.Size)
		store.Generate(data, uint64(a.Seed), 0)
	default:
		var err error
		if data, err = r.fileBytes(a.Client + ":" + a.From); err != nil {
			return err
		}
	}
	if err := r.stor(ctx, a.Client, a.To, bytes.NewReader(data), int64(len(data)), res); err != nil {
		return err
	}
	return r.checksumBytes(res, data, a.To)
}

func (r *runner) relay(ctx context.Context, a *RelayStep, res *StepResult) error {
	res.Transfer = true
	data, err := r.retr(ctx, a.Client, a.From, res)
	if err != nil {
		return err
	}
	if err := r.stor(ctx, a.Client, a.To, bytes.NewReader(data), int64(len(data)), res); err != nil {
		return err
	}
	res.Bytes = int64(len(data)) // bytes copied, not bytes moved twice
	return r.checksum(res, a.From, a.To)
}

// cmd sends a raw command on the client's session with the server and
// checks the replies against the expected codes.
func (r *runner) cmd(ctx context.Context, a *CmdStep, res *StepResult) error {
	key := a.Client + "/" + a.Server
	c := r.session[key]
	if c == nil {
		var err error
		if c, err = r.dial(ctx, a.Client, a.Server); err != nil {
			return err
		}
		r.session[key] = c
	}
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

// link changes a link's parameters; fields the step leaves out keep
// their value.
func (r *runner) link(a *LinkStep) error {
	l := r.net.Link(a.Name)
	if l == nil {
		return fmt.Errorf("link %q: no such link", a.Name)
	}
	p := l.Params()
	if a.Delay != nil {
		p.Delay = a.Delay.D()
	}
	if a.Jitter != nil {
		p.Jitter = a.Jitter.D()
	}
	if a.Loss != nil {
		p.Loss = float64(*a.Loss)
	}
	if a.Rate != nil {
		p.Rate = int64(*a.Rate)
	}
	if a.Down != nil {
		p.Down = *a.Down
	}
	if err := l.Set(p); err != nil {
		return fmt.Errorf("link %q: %w", a.Name, err)
	}
	return nil
}

func (r *runner) wait(ctx context.Context, a *WaitStep) error {
	for _, name := range a.For {
		select {
		case <-r.byName[name].done:
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w", name, ctx.Err())
		}
	}
	if a.Time > 0 {
		t := time.NewTimer(a.Time.D())
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("wait %s: %w", a.Time.D(), ctx.Err())
		}
	}
	return nil
}
