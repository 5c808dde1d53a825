package yamlx

// Flow collections: [a, b] and {k: v}.

// flowCollection reads a [...] or {...} at pos.
func (p *parser) flowCollection() *Node {
	at := p.here()
	open := p.peek()
	closing, kind, what := byte(']'), Sequence, "list ["
	if open == '{' {
		closing, kind, what = '}', Mapping, "mapping {"
	}
	n := p.open(kind, Flow, at)
	p.pos++
	ks := p.keys()
	for {
		p.flowSkip(at, what, closing)
		if p.peek() == closing {
			break
		}
		if kind == Sequence {
			p.flowSeqEntry()
		} else {
			p.flowMapEntry(&ks, closing)
		}
		p.flowSkip(at, what, closing)
		if c := p.peek(); c == closing {
			break
		} else if c != ',' {
			p.fail(p.here(), "want , or %c here (in the %s that starts at %d:%d)", closing, what, at.line, at.col)
		}
		p.pos++
	}
	p.pos++
	return p.close(n, ks.base)
}

// flowSkip skips to the next content inside a flow collection; the end
// of the file or a document marker there means it is not closed.
func (p *parser) flowSkip(at pos, what string, closing byte) {
	p.skipToContent(true)
	if p.eof() || p.anyDocMarker() {
		p.fail(at, "the flow %s that starts here is not closed (a %c is missing)", what, closing)
	}
}

// flowSeqEntry reads an item of a flow sequence: a node, or a single
// key: value pair, which is a mapping of one key.
func (p *parser) flowSeqEntry() {
	at := p.here()
	k := p.flowNode()
	save := p.mark()
	p.skipBlanks()
	if !p.valueIndicator(true, k.Style != Plain) {
		p.reset(save)
		p.stack = append(p.stack, k)
		return
	}
	if !k.IsScalar() {
		p.fail(at, "a key must be a single value, not a flow list or mapping")
	}
	pair := p.open(Mapping, Flow, at)
	ks := p.keys()
	p.pos++
	ks.add(k, p.flowValue())
	p.stack = append(p.stack, p.close(pair, ks.base))
}

// flowMapEntry reads a key: value entry of a flow mapping (a key alone
// has a null value).
func (p *parser) flowMapEntry(ks *keySet, closing byte) {
	at := p.here()
	k := p.flowNode()
	if !k.IsScalar() {
		p.fail(at, "a key must be a single value, not a flow list or mapping")
	}
	end := p.mark()
	p.skipToContent(true)
	var v *Node
	if p.valueIndicator(true, k.Style != Plain) {
		p.pos++
		v = p.flowValue()
	} else {
		v = p.null(end)
	}
	ks.add(k, v)
}

// flowValue reads the value after a ':' in a flow collection (null if
// the entry ends there).
func (p *parser) flowValue() *Node {
	p.skipToContent(true)
	if c := p.peek(); c == ',' || c == ']' || c == '}' || p.eof() {
		return p.null(p.mark())
	}
	return p.flowNode()
}

// flowNode reads a node inside a flow collection.
func (p *parser) flowNode() *Node {
	at := p.here()
	pr := p.props()
	if pr.any() {
		p.skipToContent(true)
		if c := p.peek(); p.eof() || isFlowIndicator(c) && c != '[' && c != '{' || p.valueIndicator(true, false) {
			return p.finish(pr, p.null(p.mark()))
		}
	}
	var n *Node
	switch c := p.peek(); c {
	case '*':
		if pr.any() {
			p.fail(at, "an alias cannot have an anchor or a tag")
		}
		return p.alias()
	case '[', '{':
		n = p.flowCollection()
	case '|', '>':
		p.fail(at, "a block scalar (| or >) cannot be inside [ ] or { }")
	default:
		n, _ = p.scalarStart(true)
		if n.Style == Plain {
			n.Value = p.plainRest(n.Value, -1, true)
			resolve(n)
		}
	}
	return p.finish(pr, n)
}
