package yamlx

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// coreTags are the YAML core schema tags a document may use; they only
// say what the value is anyway (!!str makes a plain true, null or empty
// value a string).
var coreTags = []string{"!!str", "!!int", "!!float", "!!bool", "!!null", "!!seq", "!!map"}

// Parse parses src, a YAML stream in which at most one document has
// content, into that document's root node; it returns nil and no error
// for a stream of comments and empty documents. A syntax error stops it;
// refused tags and aliases and repeated keys are all reported. The error
// is Errors.
func Parse(src string, lim Limits) (*Node, error) {
	p := &parser{src: src, lim: lim, line: 1, anchors: map[string]anchor{}}
	p.colCache.lineStart = -1
	root := p.run()
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return root, nil
}

// anchor is what an alias of an anchor stands for: the node, how many
// nodes it counts and how deep it nests.
type anchor struct {
	node         *Node
	size, height int
}

// parser reads one stream. Block structure is read from columns, counted
// in bytes (indentation is spaces); positions given to nodes and errors
// are counted in characters.
type parser struct {
	src       string
	pos       int // next byte to read
	line      int // line of pos (1-based)
	lineStart int // offset of the line's first byte
	lim       Limits

	depth   int // collections open around pos
	deepest int // deepest nesting since the innermost open anchor began
	count   int // nodes made so far, an alias counting as what it stands for
	aliased int // nodes the aliases so far stand for
	bombed  bool
	anchors map[string]anchor
	errs    Errors

	slab     []Node  // nodes are cut from slabs
	slabSize int     // of the latest slab: small documents take little
	ptrs     []*Node // collections' Content is cut from this
	stack    []*Node // contents of the collections being read
	buf      []byte  // scratch for scalars that are not a slice of src

	colCache struct{ lineStart, off, col int } // see posOf
}

// fatal is the panic value that stops a parse at a syntax error; run
// recovers it (and nothing else).
type fatal struct{}

// mark is a position in src: what restoring a lookahead needs.
type mark struct{ pos, line, lineStart int }

func (p *parser) mark() mark   { return mark{p.pos, p.line, p.lineStart} }
func (p *parser) reset(m mark) { p.pos, p.line, p.lineStart = m.pos, m.line, m.lineStart }

// posOf is m's line and column. Columns are counted from the last one
// asked for on the same line, so that a long line costs no more than a
// short one.
func (p *parser) posOf(m mark) pos {
	c := &p.colCache
	switch {
	case m.lineStart != c.lineStart:
		c.lineStart, c.off, c.col = m.lineStart, m.lineStart, 1
		fallthrough
	case m.pos >= c.off:
		c.col += utf8.RuneCountInString(p.src[c.off:m.pos])
	default:
		c.col -= utf8.RuneCountInString(p.src[m.pos:c.off])
	}
	c.off = m.pos
	return pos{int32(m.line), int32(c.col)}
}
func (p *parser) here() pos { return p.posOf(p.mark()) }

// pos is a line and column (1-based, in characters).
type pos struct{ line, col int32 }

func (p *parser) errAt(at pos, format string, args ...any) *Error {
	return &Error{Line: int(at.line), Column: int(at.col), Msg: fmt.Sprintf(format, args...)}
}

// report records a problem and goes on.
func (p *parser) report(at pos, format string, args ...any) {
	p.errs = append(p.errs, p.errAt(at, format, args...))
}

// fail records a syntax error and stops the parse.
func (p *parser) fail(at pos, format string, args ...any) {
	p.report(at, format, args...)
	panic(fatal{})
}

func (p *parser) run() (root *Node) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(fatal); !ok {
				panic(r)
			}
			root = nil
		}
	}()
	p.checkChars()
	return p.stream()
}

// checkChars refuses what YAML does not allow in a file: bytes that are
// not UTF-8, control characters (a double-quoted string can hold them as
// escapes) and a carriage return that is not part of a CRLF line end.
func (p *parser) checkChars() {
	valid := utf8.ValidString(p.src)
	for i := 0; i < len(p.src); i++ {
		c := p.src[i]
		var msg string
		switch {
		case c >= utf8.RuneSelf:
			if valid {
				continue
			}
			r, n := utf8.DecodeRuneInString(p.src[i:])
			if r != utf8.RuneError || n != 1 {
				i += n - 1
				continue
			}
			msg = fmt.Sprintf("byte %#x is not UTF-8 (save the file as UTF-8)", c)
		case c == '\r' && p.at(i+1) != '\n':
			msg = "a carriage return without a line feed (save the file with LF or CRLF line ends)"
		case c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f:
			msg = fmt.Sprintf("control character %U is not allowed (write it as an escape in a double-quoted string)", rune(c))
		default:
			continue
		}
		line := 1 + strings.Count(p.src[:i], "\n")
		start := strings.LastIndexByte(p.src[:i], '\n') + 1
		p.fail(p.posOf(mark{i, line, start}), "%s", msg)
	}
}

// The characters YAML gives a meaning.
func isBlank(c byte) bool         { return c == ' ' || c == '\t' || c == '\r' }
func isFlowIndicator(c byte) bool { return c == ',' || c == '[' || c == ']' || c == '{' || c == '}' }

func (p *parser) eof() bool { return p.pos >= len(p.src) }

// at is the byte at i, 0 past the end.
func (p *parser) at(i int) byte {
	if i < len(p.src) {
		return p.src[i]
	}
	return 0
}

func (p *parser) peek() byte { return p.at(p.pos) }

// spaceAt reports whether i is a blank, a line break or the end.
func (p *parser) spaceAt(i int) bool { return i >= len(p.src) || isBlank(p.src[i]) || p.src[i] == '\n' }

// col is pos's column in bytes, 0-based.
func (p *parser) col() int { return p.pos - p.lineStart }

// newline steps over the line break at pos.
func (p *parser) newline() {
	p.pos++
	p.line++
	p.lineStart = p.pos
}

func (p *parser) skipBlanks() {
	for p.pos < len(p.src) && isBlank(p.src[p.pos]) {
		p.pos++
	}
}

// atLineEnd reports whether only blanks and a comment are left on the
// line.
func (p *parser) atLineEnd() bool {
	i := p.pos
	for i < len(p.src) && isBlank(p.src[i]) {
		i++
	}
	return i >= len(p.src) || p.src[i] == '\n' || p.src[i] == '#'
}

// atIndent reports whether only indentation is before pos on its line.
func (p *parser) atIndent() bool {
	for i := p.lineStart; i < p.pos; i++ {
		if !isBlank(p.src[i]) {
			return false
		}
	}
	return true
}

// skipToContent skips blanks, comments and line breaks to the next
// content, and reports whether it crossed a line break. Outside flow
// collections, a tab in the indentation of a line with content is an
// error.
func (p *parser) skipToContent(flow bool) bool {
	crossed := false
	for {
		p.skipBlanks()
		switch p.peek() {
		case '#':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
			continue
		case '\n':
			p.newline()
			crossed = true
			continue
		}
		if !flow && !p.eof() && p.atIndent() && strings.IndexByte(p.src[p.lineStart:p.pos], '\t') >= 0 {
			p.fail(p.here(), "a tab in the indentation: indent with spaces")
		}
		return crossed
	}
}

// docMarker reports whether a document marker ("---" or "...") starts
// the line at pos.
func (p *parser) docMarker(m string) bool {
	return p.pos == p.lineStart && strings.HasPrefix(p.src[p.pos:], m) && p.spaceAt(p.pos+3)
}

func (p *parser) anyDocMarker() bool { return p.docMarker("---") || p.docMarker("...") }

// seqEntry reports whether a block sequence entry ("- ") is at pos.
func (p *parser) seqEntry() bool { return p.peek() == '-' && p.spaceAt(p.pos+1) }

// valueIndicator reports whether a mapping value indicator (": ") is at
// pos; in flow collections ":" before a flow indicator is one too, and
// right after a quoted key (adjacent) any ":" is.
func (p *parser) valueIndicator(flow, adjacent bool) bool {
	return p.peek() == ':' && (adjacent || p.spaceAt(p.pos+1) || flow && isFlowIndicator(p.at(p.pos+1)))
}

// secondDocument is the error of a stream with two documents.
const secondDocument = "a lab file holds one YAML document; a second one starts here (remove the --- line or split the file)"

// stream reads the documents: the first with content is the result, a
// second with content is an error.
func (p *parser) stream() *Node {
	var body *Node
	ended := false // a "..." came after the body
	for {
		p.skipToContent(false)
		if p.eof() {
			return body
		}
		at := p.here()
		switch {
		case p.docMarker("---"):
			line := p.line
			p.pos += 3
			p.skipToContent(false)
			if p.eof() || p.anyDocMarker() {
				continue
			}
			if body != nil {
				p.fail(at, secondDocument)
			}
			mode := rootBare
			if p.line == line {
				mode = rootMarker
			}
			body = p.blockNode(-1, mode, mode == rootMarker)
		case p.docMarker("..."):
			p.pos += 3
			if !p.atLineEnd() {
				p.skipBlanks()
				p.fail(p.here(), "unexpected text after the document end marker ...")
			}
			ended = body != nil
		case p.pos == p.lineStart && p.peek() == '%':
			p.fail(at, "YAML directives (%%YAML, %%TAG) are not supported in a lab file")
		case body == nil:
			body = p.blockNode(-1, rootBare, false)
		case ended:
			p.fail(at, secondDocument)
		case !p.atIndent():
			p.failAfterValue()
		default:
			p.fail(at, "bad indentation: this line does not line up with the keys or list items above it")
		}
	}
}

// describeHere names the text at pos for an error message.
func (p *parser) describeHere() string {
	end := p.pos
	for end < len(p.src) && end-p.pos < 20 && p.src[end] != '\n' {
		_, n := utf8.DecodeRuneInString(p.src[end:])
		end += n
	}
	return fmt.Sprintf("%q", strings.TrimRight(p.src[p.pos:end], " \t\r"))
}

// mode is where a block node is: what may start it on the line of its
// parent's indicator, and at what indentation it may sit.
type mode uint8

const (
	// keyValue is a block mapping's value: on the key's line only a
	// scalar or a flow collection; below, a block sequence may sit at
	// the key's indentation.
	keyValue mode = iota
	// seqItem is a block sequence's item: on the "-" line it may be a
	// block mapping or sequence itself ("- key: value", "- - x").
	seqItem
	// rootBare is a document's root without a --- line before it.
	rootBare
	// rootMarker is a document's root on the line of its --- marker.
	rootMarker
)

// blockValue reads the node after a "key:" or "-" indicator (pos is right
// after it) of a collection at column indent, or returns nil if the
// value is empty.
func (p *parser) blockValue(indent int, m mode) *Node {
	crossed := p.skipToContent(false)
	if p.eof() || p.anyDocMarker() {
		return nil
	}
	if crossed {
		c := p.col()
		if c < indent || c == indent && !(m == keyValue && p.seqEntry()) {
			return nil
		}
	}
	return p.blockNode(indent, m, !crossed)
}

// blockNode reads the block node at pos, in a collection at column
// indent; sameLine says it starts on the line of its parent's indicator.
func (p *parser) blockNode(indent int, m mode, sameLine bool) *Node {
	start := p.mark()
	at := p.here()
	pr := p.props()
	if pr.any() && p.atLineEnd() {
		// The node is on the next lines (or empty).
		var n *Node
		if p.skipToContent(false) && !p.eof() && !p.anyDocMarker() {
			if c := p.col(); c > indent || c == indent && m == keyValue && p.seqEntry() {
				if c := p.peek(); c == '&' || c == '!' {
					p.fail(p.here(), "a node's anchor and tag go on one line")
				}
				n = p.blockNode(indent, m, false)
			}
		}
		if n == nil {
			n = p.null(start)
		}
		return p.finish(pr, n)
	}
	switch c := p.peek(); {
	case c == '*':
		if pr.any() {
			p.fail(at, "an alias cannot have an anchor or a tag")
		}
		n := p.alias()
		p.skipBlanks()
		if p.valueIndicator(false, false) {
			p.fail(at, "an alias cannot be a key in a lab file")
		}
		return n
	case p.seqEntry():
		if pr.any() || sameLine && m != seqItem {
			p.fail(at, "a list cannot start on the line of its key: start it on the next line")
		}
		return p.blockSeq()
	case c == '[' || c == '{':
		n := p.finish(pr, p.flowCollection())
		p.skipBlanks()
		if p.valueIndicator(false, true) {
			p.fail(at, "a key must be a single value, not a flow list or mapping")
		}
		return n
	case c == '|' || c == '>':
		return p.finish(pr, p.blockScalar(indent))
	}
	key, multiline := p.scalarStart(false)
	save := p.mark()
	p.skipBlanks()
	if p.valueIndicator(false, key.Style != Plain) {
		if multiline {
			p.fail(at, "a key must be on one line")
		}
		if sameLine && m != seqItem {
			p.fail(at, "a mapping cannot start on the line of its key: start it on the next line, indented")
		}
		return p.blockMapping(start.pos-start.lineStart, p.finish(pr, key), p.posOf(start))
	}
	p.reset(save)
	if key.Style == Plain {
		key.Value = p.plainRest(key.Value, indent, false)
		resolve(key)
	}
	return p.finish(pr, key)
}

// scalarStart reads a quoted scalar, or the first line of a plain one, at
// pos; it refuses what cannot start a scalar. multiline says a quoted
// scalar went over more than one line.
func (p *parser) scalarStart(flow bool) (n *Node, multiline bool) {
	at := p.here()
	switch c := p.peek(); c {
	case '"', '\'':
		line := p.line
		n = p.quoted()
		return n, p.line != line
	case '?':
		if p.spaceAt(p.pos + 1) {
			p.fail(at, "explicit keys (? key) are not supported in a lab file: write key: value")
		}
	case ':':
		if p.valueIndicator(flow, false) {
			p.fail(at, "a key is missing before the ':'")
		}
	case '-':
		if p.spaceAt(p.pos+1) || flow && isFlowIndicator(p.at(p.pos+1)) {
			p.fail(at, "a block list item (- ) cannot be inside [ ] or { }")
		}
	case ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '%', '@', '`':
		p.fail(at, "unexpected %q here (quote a value that starts with it)", rune(c))
	}
	n = p.newNode(String, Plain, at)
	n.Value = p.plainLine(flow)
	resolve(n)
	return n, false
}

// resolve gives a plain scalar its kind: null, bool or string.
func resolve(n *Node) {
	switch n.Value {
	case "", "~", "null", "Null", "NULL":
		n.Kind = Null
	case "true", "True", "TRUE", "false", "False", "FALSE":
		n.Kind = Bool
	default:
		n.Kind = String
	}
}

// blockMapping reads a block mapping at column col whose first key, at
// at, has been read; pos is at the ':' after it.
func (p *parser) blockMapping(col int, key *Node, at pos) *Node {
	n := p.open(Mapping, Block, at)
	ks := p.keys()
	for {
		p.pos++ // the ':'
		after := p.mark()
		val := p.blockValue(col, keyValue)
		if val == nil {
			val = p.null(after)
		}
		ks.add(key, val)
		if !p.nextEntry(col, "the key above it") {
			break
		}
		if p.seqEntry() {
			p.fail(p.here(), "a list item where the mapping above wants a key (indent the list under its key)")
		}
		key = p.blockKey()
	}
	return p.close(n, ks.base)
}

// nextEntry moves to the next content after an entry of a block
// collection at column col and reports whether it is at col: whether the
// collection may go on. Content indented more than col is an error (what
// names what it is indented more than).
func (p *parser) nextEntry(col int, what string) bool {
	p.skipToContent(false)
	if p.eof() || p.anyDocMarker() {
		return false
	}
	if !p.atIndent() {
		p.failAfterValue()
	}
	if p.col() > col {
		p.fail(p.here(), "bad indentation: this line is indented more than %s", what)
	}
	return p.col() == col
}

// failAfterValue refuses text after a value on its line.
func (p *parser) failAfterValue() {
	p.fail(p.here(), "unexpected %s after the value", p.describeHere())
}

// blockKey reads the key of a block mapping's next entry, up to the ':'.
func (p *parser) blockKey() *Node {
	at := p.here()
	pr := p.props()
	switch c := p.peek(); {
	case pr.any() && p.atLineEnd():
		p.fail(at, "an anchor or tag of a key must be on the key's line")
	case c == '*':
		p.fail(at, "an alias cannot be a key in a lab file")
	case c == '[' || c == '{':
		p.fail(at, "a key must be a single value, not a flow list or mapping")
	case c == '|' || c == '>':
		p.fail(at, "a block scalar (| or >) cannot be a key")
	}
	key, multiline := p.scalarStart(false)
	p.skipBlanks()
	switch {
	case multiline:
		p.fail(at, "a key must be on one line")
	case !p.valueIndicator(false, key.Style != Plain):
		p.fail(at, "%s needs \": \" after it (a key, a colon and a space) or more indentation (a value)", key.Describe())
	}
	return p.finish(pr, key)
}

// blockSeq reads a block sequence whose first "-" is at pos.
func (p *parser) blockSeq() *Node {
	col := p.col()
	n := p.open(Sequence, Block, p.here())
	base := len(p.stack)
	for {
		p.pos++ // the '-'
		after := p.mark()
		item := p.blockValue(col, seqItem)
		if item == nil {
			item = p.null(after)
		}
		p.stack = append(p.stack, item)
		if !p.nextEntry(col, "the - of the list item above it") || !p.seqEntry() {
			break
		}
	}
	return p.close(n, base)
}

// newNode cuts a node from the slab.
func (p *parser) newNode(k Kind, s Style, at pos) *Node {
	if len(p.slab) == 0 {
		p.slabSize = min(max(2*p.slabSize, 64), 4096)
		p.slab = make([]Node, p.slabSize)
	}
	n := &p.slab[0]
	p.slab = p.slab[1:]
	n.Kind, n.Style, n.Line, n.Column = k, s, at.line, at.col
	p.count++
	return n
}

// null is an empty value at m.
func (p *parser) null(m mark) *Node { return p.newNode(Null, Plain, p.posOf(m)) }

// open starts a collection at at, one level deeper.
func (p *parser) open(k Kind, s Style, at pos) *Node {
	if p.depth++; p.depth > p.lim.MaxDepth {
		p.fail(at, "nested deeper than %d levels of lists and mappings", p.lim.MaxDepth)
	}
	p.deepest = max(p.deepest, p.depth)
	return p.newNode(k, s, at)
}

// close ends a collection: its content is what was pushed since base.
func (p *parser) close(n *Node, base int) *Node {
	items := p.stack[base:]
	if len(items) > len(p.ptrs) {
		if len(items) > 1024 {
			p.ptrs = make([]*Node, len(items))
		} else {
			p.ptrs = make([]*Node, 8192)
		}
	}
	n.Content = p.ptrs[:len(items):len(items)]
	p.ptrs = p.ptrs[len(items):]
	copy(n.Content, items)
	clear(items)
	p.stack = p.stack[:base]
	p.depth--
	return n
}

// keySet is the keys of the mapping being read, to refuse a repeated
// one: small mappings are searched, larger ones indexed.
type keySet struct {
	p     *parser
	base  int
	index map[string]*Node
}

// smallMapping is the number of keys up to which a mapping's keys are
// searched rather than indexed.
const smallMapping = 8

func (p *parser) keys() keySet { return keySet{p: p, base: len(p.stack)} }

// add pushes a key and its value, unless the key is already there.
func (ks *keySet) add(k, v *Node) {
	p := ks.p
	if k.IsScalar() {
		var first *Node
		if ks.index == nil && len(p.stack)-ks.base < 2*smallMapping {
			for i := ks.base; i < len(p.stack); i += 2 {
				if o := p.stack[i]; o.IsScalar() && o.Value == k.Value {
					first = o
					break
				}
			}
		} else {
			if ks.index == nil {
				ks.index = make(map[string]*Node, 2*smallMapping)
				for i := ks.base; i < len(p.stack); i += 2 {
					if o := p.stack[i]; o.IsScalar() {
						ks.index[o.Value] = o
					}
				}
			}
			first = ks.index[k.Value]
			if first == nil {
				ks.index[k.Value] = k
			}
		}
		if first != nil {
			p.report(pos{k.Line, k.Column}, "mapping key %q already defined at [%d:%d]", k.Value, first.Line, first.Column)
			return
		}
	}
	p.stack = append(p.stack, k, v)
}
