package yamlx

import (
	"slices"
	"strings"
)

// Node properties (anchors and tags) and aliases.

// props are the anchor and tag before a node.
type props struct {
	anchor, tag string
	tagAt       pos
	// count and deepest as they were before an anchored node began.
	count, deepest int
}

func (pr *props) any() bool { return pr.anchor != "" || pr.tag != "" }

// props reads the anchor and tag at pos, if any, and the blanks after
// them.
func (p *parser) props() props {
	var pr props
	for {
		at := p.here()
		switch c := p.peek(); {
		case c == '&' && pr.anchor == "":
			p.pos++
			if pr.anchor = p.name(); pr.anchor == "" {
				p.fail(at, "an anchor needs a name: &name")
			}
		case c == '!' && pr.tag == "":
			start := p.pos
			for !p.spaceAt(p.pos) && !isFlowIndicator(p.src[p.pos]) {
				p.pos++
			}
			pr.tag, pr.tagAt = p.src[start:p.pos], at
		default:
			if pr.anchor != "" {
				pr.count, pr.deepest = p.count, p.deepest
				p.deepest = p.depth
			}
			return pr
		}
		if !p.spaceAt(p.pos) && !isFlowIndicator(p.peek()) {
			p.fail(p.here(), "want a space after an anchor or tag")
		}
		p.skipBlanks()
	}
}

// name reads an anchor's or alias's name.
func (p *parser) name() string {
	start := p.pos
	for !p.spaceAt(p.pos) && !isFlowIndicator(p.src[p.pos]) {
		p.pos++
	}
	return p.src[start:p.pos]
}

// finish applies a node's properties: a tag is checked (!!str makes a
// scalar a string), an anchor remembers what the node stands for.
func (p *parser) finish(pr props, n *Node) *Node {
	if pr.tag != "" {
		switch {
		case !slices.Contains(coreTags, pr.tag):
			p.report(pr.tagAt, "YAML tag %s is not supported in a lab file (only %s)", pr.tag, strings.Join(coreTags, ", "))
			n = p.newNode(Null, Plain, pos{n.Line, n.Column})
		case pr.tag == "!!str" && n.IsScalar():
			n.Kind = String
		}
	}
	if pr.anchor != "" {
		p.anchors[pr.anchor] = anchor{n, p.count - pr.count, p.deepest - p.depth}
		p.deepest = max(pr.deepest, p.deepest)
	}
	return n
}

// alias reads *name at pos: the node of the latest anchor of that name,
// if the limits allow it to stand there.
func (p *parser) alias() *Node {
	at := p.here()
	p.pos++
	name := p.name()
	if name == "" {
		p.fail(at, "an alias needs a name: *name")
	}
	a, ok := p.anchors[name]
	switch {
	case !ok:
		p.report(at, "alias *%s: no anchor &%s before it", name, name)
	case p.bombed:
	case p.aliased+a.size > p.lim.MaxAliasNodes:
		p.bombed = true
		p.report(at, "alias *%s: the aliases of this file stand for more than %d values (an alias bomb?)", name, p.lim.MaxAliasNodes)
	case p.depth+a.height > p.lim.MaxDepth:
		p.report(at, "alias *%s: nested deeper than %d levels of lists and mappings when expanded", name, p.lim.MaxDepth)
	default:
		p.aliased += a.size
		p.count += a.size
		p.deepest = max(p.deepest, p.depth+a.height)
		return a.node
	}
	return p.newNode(Null, Plain, at)
}
