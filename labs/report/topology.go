package report

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"

	"github.com/ftplab/ftplab/labs"
	"github.com/ftplab/ftplab/labs/ladder"
)

// Node kinds.
const (
	KindHost   = "host"
	KindSwitch = "switch"
	KindKernel = "kernel"
)

// Node is a host, switch or the kernel side of a TUN device.
type Node struct {
	// Name is the host's or switch's name.
	Name string
	// Kind is KindHost, KindSwitch or KindKernel.
	Kind string
	// Addrs are the host's addresses, with prefix length where known.
	Addrs []string
	// Roles are what the host does: "client", "FTP server :21", "router",
	// "TUN gateway".
	Roles []string
	// X and Y are the node's centre in the drawing.
	X, Y float64
}

// Edge is a link between two nodes.
type Edge struct {
	// A and B index Topology.Nodes.
	A, B int
	// Name is the link's name; Label its parameters ("MTU 1500, delay
	// 30ms, loss 1%").
	Name, Label string
}

// Topology is the network drawn: nodes placed by Layout, edges between.
type Topology struct {
	Nodes []Node
	Edges []Edge
	// Width and Height are the drawing's size.
	Width, Height float64
}

// Drawing sizes of a topology, in SVG user units.
const (
	nodeW, nodeH = 150.0, 70.0
	gapX, gapY   = 30.0, 70.0
	maxPerRow    = 7
	margin       = 20.0
)

// FromLab builds the topology of a lab; l, if not nil, adds the client
// role to the hosts it shows driving a control connection.
func FromLab(lab *labs.Lab, l *ladder.Ladder) *Topology {
	t := &Topology{}
	index := map[string]int{}
	add := func(n Node) {
		index[n.Name] = len(t.Nodes)
		t.Nodes = append(t.Nodes, n)
	}
	clients := clientAddrs(l)
	for _, h := range lab.Hosts {
		n := Node{Name: h.Name, Kind: KindHost}
		client := false
		for _, p := range hostPrefixes(h) {
			n.Addrs = append(n.Addrs, p.String())
			client = client || clients[p.Addr()]
		}
		if client {
			n.Roles = append(n.Roles, "client")
		}
		for _, s := range lab.Servers {
			if s.Host == h.Name {
				port := s.Port
				if port == 0 {
					port = 21
				}
				n.Roles = append(n.Roles, fmt.Sprintf("FTP server :%d", port))
			}
		}
		if h.Router {
			n.Roles = append(n.Roles, "router")
		}
		if h.NAT != nil {
			n.Roles = append(n.Roles, "NAT (outside "+h.NAT.Outside+")")
		}
		if h.Firewall != nil {
			n.Roles = append(n.Roles, "firewall")
		}
		if h.FTPHelper != nil {
			role := "FTP helper"
			if h.FTPHelper.Loose {
				role += " (loose)"
			}
			n.Roles = append(n.Roles, role)
		}
		if lab.TUN != nil && lab.TUN.Gateway == h.Name {
			n.Roles = append(n.Roles, "TUN gateway")
		}
		add(n)
	}
	for _, s := range lab.Switches {
		add(Node{Name: s.Name, Kind: KindSwitch})
	}
	for _, k := range lab.Links {
		if len(k.Ends) != 2 {
			continue
		}
		a, aok := index[endNode(k.Ends[0])]
		b, bok := index[endNode(k.Ends[1])]
		if aok && bok {
			t.Edges = append(t.Edges, Edge{A: a, B: b, Name: linkName(k), Label: linkLabel(k)})
		}
	}
	if lab.TUN != nil {
		if gw, ok := index[lab.TUN.Gateway]; ok {
			n := Node{Name: "kernel", Kind: KindKernel}
			for _, p := range lab.TUN.Addresses {
				n.Addrs = append(n.Addrs, p.P().String())
			}
			name := lab.TUN.Name
			if name == "" {
				name = "TUN"
			}
			add(n)
			t.Edges = append(t.Edges, Edge{A: gw, B: len(t.Nodes) - 1, Name: name, Label: name})
		}
	}
	t.layout()
	return t
}

// FromLadder builds the topology a capture alone shows: its hosts, with
// their roles, on one network whose links are unknown.
func FromLadder(l *ladder.Ladder, opts ladder.Options) *Topology {
	t := &Topology{Nodes: []Node{{Name: "network", Kind: KindSwitch}}}
	clients := clientAddrs(l)
	servers := map[netip.Addr][]string{}
	for _, c := range l.Conns {
		if c.Control {
			role := fmt.Sprintf("FTP server :%d", c.Server.Port())
			if !slices.Contains(servers[c.Server.Addr()], role) {
				servers[c.Server.Addr()] = append(servers[c.Server.Addr()], role)
			}
		}
	}
	for _, c := range l.Columns(opts) {
		n := Node{Name: c.Name, Kind: KindHost, Addrs: []string{c.Addr.String()}}
		if clients[c.Addr] {
			n.Roles = append(n.Roles, "client")
		}
		n.Roles = append(n.Roles, servers[c.Addr]...)
		t.Nodes = append(t.Nodes, n)
		t.Edges = append(t.Edges, Edge{A: 0, B: len(t.Nodes) - 1})
	}
	t.layout()
	return t
}

// clientAddrs are the addresses that open control connections in l.
func clientAddrs(l *ladder.Ladder) map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	if l == nil {
		return out
	}
	for _, c := range l.Conns {
		if c.Control {
			out[c.Client.Addr()] = true
		}
	}
	return out
}

// hostPrefixes lists a host's addresses over all its NICs.
func hostPrefixes(h labs.Host) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range h.Addresses {
		out = append(out, p.P())
	}
	for _, n := range h.NICs {
		for _, p := range n.Addresses {
			out = append(out, p.P())
		}
	}
	return out
}

// endNode is the host or switch of a link end "HOST" or "HOST:NIC".
func endNode(end string) string {
	n, _, _ := strings.Cut(end, ":")
	return n
}

func linkName(k labs.Link) string {
	if k.Name != "" {
		return k.Name
	}
	return strings.Join(k.Ends, "-")
}

// linkLabel lists a link's parameters: MTU always, the rest when set.
func linkLabel(k labs.Link) string {
	mtu := k.MTU
	if mtu == 0 {
		mtu = 1500
	}
	parts := []string{fmt.Sprintf("MTU %d", mtu)}
	if d := k.Delay.D(); d > 0 {
		parts = append(parts, "delay "+d.String())
	}
	if j := k.Jitter.D(); j > 0 {
		parts = append(parts, "jitter "+j.String())
	}
	if k.Loss > 0 {
		parts = append(parts, fmt.Sprintf("loss %g%%", float64(k.Loss)*100))
	}
	if k.Rate > 0 {
		parts = append(parts, labs.FormatRate(float64(k.Rate)))
	}
	if k.Down {
		parts = append(parts, "starts down")
	}
	return strings.Join(parts, ", ")
}

// layout places the nodes in rows by their distance from the first switch
// (or the first node): a switch's hosts in the row below it, at most
// maxPerRow to a row. It depends only on the order of nodes and edges, so
// the same lab is always drawn the same.
func (t *Topology) layout() {
	if len(t.Nodes) == 0 {
		return
	}
	adj := make([][]int, len(t.Nodes))
	for _, e := range t.Edges {
		adj[e.A] = append(adj[e.A], e.B)
		adj[e.B] = append(adj[e.B], e.A)
	}
	depth := make([]int, len(t.Nodes))
	for i := range depth {
		depth[i] = -1
	}
	var layers [][]int
	visit := func(root int) {
		depth[root] = 0
		if len(layers) == 0 {
			layers = append(layers, nil)
		}
		base := len(layers) - 1
		if len(layers[base]) > 0 {
			layers, base = append(layers, nil), base+1
		}
		queue := []int{root}
		for len(queue) > 0 {
			n := queue[0]
			queue = queue[1:]
			d := base + depth[n]
			for len(layers) <= d {
				layers = append(layers, nil)
			}
			layers[d] = append(layers[d], n)
			for _, m := range adj[n] {
				if depth[m] < 0 {
					depth[m] = depth[n] + 1
					queue = append(queue, m)
				}
			}
		}
	}
	root := slices.IndexFunc(t.Nodes, func(n Node) bool { return n.Kind == KindSwitch })
	if root < 0 {
		root = 0
	}
	visit(root)
	for i := range t.Nodes {
		if depth[i] < 0 { // not connected to the first component
			visit(i)
		}
	}
	// Wrap long layers into rows.
	var rows [][]int
	for _, l := range layers {
		for len(l) > maxPerRow {
			rows = append(rows, l[:maxPerRow])
			l = l[maxPerRow:]
		}
		if len(l) > 0 {
			rows = append(rows, l)
		}
	}
	widest := 0
	for _, r := range rows {
		widest = max(widest, len(r))
	}
	t.Width = 2*margin + float64(widest)*nodeW + float64(widest-1)*gapX
	t.Height = 2*margin + float64(len(rows))*nodeH + float64(len(rows)-1)*gapY
	for y, r := range rows {
		rowW := float64(len(r))*nodeW + float64(len(r)-1)*gapX
		x0 := (t.Width-rowW)/2 + nodeW/2
		for i, n := range r {
			t.Nodes[n].X = x0 + float64(i)*(nodeW+gapX)
			t.Nodes[n].Y = margin + nodeH/2 + float64(y)*(nodeH+gapY)
		}
	}
}

// WriteSVG writes the topology as a standalone SVG document.
func (t *Topology) WriteSVG(w io.Writer) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" class="topology" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n",
		t.Width, t.Height, t.Width, t.Height)
	b.WriteString(topologyStyle)
	t.svgBody(b)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// topologyStyle styles a topology SVG that stands alone.
const topologyStyle = `<style>
.node rect{fill:#eef4fb;stroke:#1f4e79;stroke-width:1.5}
.node.switch rect{fill:#fff4e0;stroke:#9a5b00}
.node.kernel rect{fill:#f0f0f0;stroke:#555;stroke-dasharray:4 3}
.node .name{font-weight:bold;font-size:14px}
.node .role{fill:#7a1f1f;font-style:italic}
.edge line{stroke:#444;stroke-width:1.5}
.edge text{fill:#333;font-size:11px;paint-order:stroke;stroke:#fff;stroke-width:3px}
</style>
`

// svgBody writes the edges and nodes (shared by WriteSVG and the HTML
// report).
func (t *Topology) svgBody(b *strings.Builder) {
	for _, e := range t.Edges {
		a, z := t.Nodes[e.A], t.Nodes[e.B]
		fmt.Fprintf(b, `<g class="edge" data-link="%s"><line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, esc(e.Name), a.X, a.Y, z.X, z.Y)
		if e.Label != "" {
			// Near the lower end (a switch's host), where lines spread out.
			lx, ly := a.X+(z.X-a.X)*0.62, a.Y+(z.Y-a.Y)*0.62
			if a.Y > z.Y {
				lx, ly = z.X+(a.X-z.X)*0.62, z.Y+(a.Y-z.Y)*0.62
			}
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, lx, ly, esc(e.Label))
		}
		b.WriteString("</g>\n")
	}
	for _, n := range t.Nodes {
		fmt.Fprintf(b, `<g class="node %s" data-host="%s"><rect x="%.1f" y="%.1f" width="%.0f" height="%.0f" rx="8"/>`,
			n.Kind, esc(n.Name), n.X-nodeW/2, n.Y-nodeH/2, nodeW, nodeH)
		lines := []string{}
		lines = append(lines, n.Addrs...)
		lines = append(lines, n.Roles...)
		y := n.Y - nodeH/2 + 18
		fmt.Fprintf(b, `<text class="name" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, n.X, y, esc(n.Name))
		for i, l := range lines {
			if i == 3 {
				break // room for three lines; the rest is in the title
			}
			class := "addr"
			if i >= len(n.Addrs) {
				class = "role"
			}
			y += 15
			fmt.Fprintf(b, `<text class="%s" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, class, n.X, y, esc(l))
		}
		fmt.Fprintf(b, "<title>%s</title></g>\n", esc(strings.Join(append([]string{n.Name}, lines...), "\n")))
	}
}

// WriteDOT writes the topology in Graphviz's DOT language.
func (t *Topology) WriteDOT(w io.Writer) error {
	b := &strings.Builder{}
	b.WriteString("graph lab {\n  node [shape=box, style=rounded, fontname=\"sans-serif\"];\n  edge [fontname=\"sans-serif\", fontsize=10];\n")
	for _, n := range t.Nodes {
		shape := "box"
		if n.Kind != KindHost {
			shape = "ellipse"
		}
		label := strings.Join(append(append([]string{n.Name}, n.Addrs...), n.Roles...), `\n`)
		fmt.Fprintf(b, "  %s [shape=%s, label=%s];\n", dotQuote(n.Name), shape, dotQuote(label))
	}
	for _, e := range t.Edges {
		fmt.Fprintf(b, "  %s -- %s [label=%s];\n", dotQuote(t.Nodes[e.A].Name), dotQuote(t.Nodes[e.B].Name), dotQuote(e.Label))
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// dotQuote quotes s as a DOT string; `\n` sequences already in s stay
// line breaks.
func dotQuote(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, `"`, `\"`), "\n", `\n`) + `"`
}

// WriteMermaid writes the topology as a Mermaid flowchart.
func (t *Topology) WriteMermaid(w io.Writer) error {
	b := &strings.Builder{}
	b.WriteString("flowchart TB\n")
	for i, n := range t.Nodes {
		label := mermaidText(strings.Join(append(append([]string{n.Name}, n.Addrs...), n.Roles...), "<br/>"))
		if n.Kind == KindHost {
			fmt.Fprintf(b, "  n%d[\"%s\"]\n", i, label)
		} else {
			fmt.Fprintf(b, "  n%d([\"%s\"])\n", i, label)
		}
	}
	for _, e := range t.Edges {
		if e.Label == "" {
			fmt.Fprintf(b, "  n%d --- n%d\n", e.A, e.B)
			continue
		}
		fmt.Fprintf(b, "  n%d ---|\"%s\"| n%d\n", e.A, mermaidText(e.Label), e.B)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mermaidText escapes a label for a quoted Mermaid string.
func mermaidText(s string) string {
	return strings.NewReplacer(`"`, "#quot;", "|", "#124;").Replace(s)
}
