package labs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ftplab/ftplab/stack"
)

// A link is impaired beyond what a connection survives when it is down,
// loses at least half its frames, delays them a second or more (ARP gives
// up after about 3 s, a dial after clientTimeout) or takes that long to
// send one small frame.
const (
	hopelessLoss  = 0.5
	hopelessDelay = time.Second
	smallFrame    = 100 * 8 // bits of an ARP request or a SYN, roughly
)

// explainUnreachable adds to a connection error between two hosts which
// impaired links on the path between them are why: "no route to host" in a
// lab where every route exists means ARP got no answer across a link that
// is down, lossy, slow or far. Other errors, and paths without such a link,
// are returned as they are.
func (r *runner) explainUnreachable(err error, from, to string) error {
	if !errors.Is(err, syscall.EHOSTUNREACH) && !errors.Is(err, syscall.ETIMEDOUT) &&
		!errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var why []string
	for _, name := range r.lab.path(from, to) {
		l := r.net.Link(name)
		if l == nil {
			continue
		}
		if w := impairment(l.Params()); w != "" {
			why = append(why, fmt.Sprintf("link %q %s", name, w))
		}
	}
	if len(why) == 0 {
		return err
	}
	return fmt.Errorf("%w (the network, not the server: %s on the way from %s to %s)", err, strings.Join(why, "; "), from, to)
}

// impairment says what about p no connection gets through, or "".
func impairment(p stack.LinkParams) string {
	var w []string
	if p.Down {
		w = append(w, "is down")
	}
	if p.Loss >= hopelessLoss {
		w = append(w, fmt.Sprintf("loses %g%% of frames", p.Loss*100))
	}
	if d := p.Delay + p.Jitter; d >= hopelessDelay {
		w = append(w, fmt.Sprintf("delays frames %v", d))
	}
	if p.Rate > 0 && time.Duration(smallFrame*float64(time.Second)/float64(p.Rate)) >= hopelessDelay {
		w = append(w, fmt.Sprintf("sends %d bit/s (one small frame takes %v)", p.Rate,
			(time.Duration(smallFrame*float64(time.Second)/float64(p.Rate))).Round(time.Second)))
	}
	return strings.Join(w, ", ")
}

// path returns the names of the links on a shortest path from host from to
// host to, through switches and routers; nil if there is none.
func (l *Lab) path(from, to string) []string {
	type hop struct {
		node string
		link int // index into l.Links of the link that led here, -1 at the start
		prev int // index into hops of the previous node
	}
	routers := map[string]bool{} // every host: whether it forwards
	for _, h := range l.Hosts {
		routers[h.Name] = h.Router
	}
	node := func(end string) string { name, _, _ := strings.Cut(end, ":"); return name }
	adj := map[string][]int{} // node -> links touching it
	for i, k := range l.Links {
		if len(k.Ends) != 2 {
			continue
		}
		a, b := node(k.Ends[0]), node(k.Ends[1])
		adj[a] = append(adj[a], i)
		adj[b] = append(adj[b], i)
	}
	hops := []hop{{node: from, link: -1, prev: -1}}
	seen := map[string]bool{from: true}
	for i := 0; i < len(hops); i++ {
		h := hops[i]
		if h.node == to {
			var out []string
			for j := i; hops[j].link >= 0; j = hops[j].prev {
				out = append(out, l.Links[hops[j].link].linkName())
			}
			slices.Reverse(out)
			return out
		}
		if forwards, host := routers[h.node]; i > 0 && host && !forwards {
			continue // frames do not cross a host that does not forward
		}
		for _, li := range adj[h.node] {
			k := l.Links[li]
			next := node(k.Ends[0])
			if next == h.node {
				next = node(k.Ends[1])
			}
			if !seen[next] {
				seen[next] = true
				hops = append(hops, hop{node: next, link: li, prev: i})
			}
		}
	}
	return nil
}

// firewallDrops is how many packets each of the lab's firewalls refused so
// far.
func (r *runner) firewallDrops() map[string]uint64 {
	var out map[string]uint64
	for _, h := range r.lab.Hosts {
		if h.Firewall == nil {
			continue
		}
		if out == nil {
			out = map[string]uint64{}
		}
		out[h.Name] = r.net.Host(h.Name).RouterStats().FirewallDropped
	}
	return out
}

// explainFirewalls adds to a failed step's error which firewalls refused
// packets while it ran (before: their counts when it started): a data
// connection that never came is then the firewall's doing, not the
// server's. Steps run concurrently may share the blame; the hint says
// "while the step ran", no more.
func (r *runner) explainFirewalls(err error, before map[string]uint64) error {
	var why []string
	for _, h := range r.lab.Hosts {
		if n, ok := before[h.Name]; ok {
			if now := r.net.Host(h.Name).RouterStats().FirewallDropped; now > n {
				why = append(why, fmt.Sprintf("%s refused %d packets", h.Name, now-n))
			}
		}
	}
	if len(why) == 0 {
		return err
	}
	return fmt.Errorf("%w (while the step ran, the firewall on %s)", err, strings.Join(why, ", "))
}
