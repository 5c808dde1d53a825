package yamlx

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// plainLine reads the rest of a plain scalar's line at pos: up to ": "
// (or a ':' that ends the line), " #", the end of the line and, in a flow
// collection, a flow indicator or a ':' before one. It returns the text
// without trailing blanks and leaves pos right after it.
func (p *parser) plainLine(flow bool) string {
	start, end := p.pos, p.pos
	for i := p.pos; i < len(p.src); i++ {
		c := p.src[i]
		if c == '\n' {
			break
		}
		if isBlank(c) {
			if p.at(i+1) == '#' {
				break
			}
			continue
		}
		if c == ':' && (p.spaceAt(i+1) || flow && isFlowIndicator(p.at(i+1))) || flow && isFlowIndicator(c) {
			break
		}
		end = i + 1
	}
	p.pos = end
	return p.src[start:end]
}

// plainRest continues a plain scalar whose first line is first over the
// lines after it that are indented more than indent (any line, in a flow
// collection), folding them: a line break is a space, each empty line a
// line break. A line that is a comment, a key ("key: ") or a document
// marker ends it. pos is left after the scalar's last character.
func (p *parser) plainRest(first string, indent int, flow bool) string {
	var b []byte
	for {
		save := p.mark()
		p.skipBlanks()
		if p.peek() != '\n' {
			p.reset(save)
			break
		}
		breaks := 0
		for p.peek() == '\n' {
			p.newline()
			breaks++
			p.skipBlanks()
		}
		if p.eof() || p.peek() == '#' || p.anyDocMarker() || !flow && (p.col() <= indent || p.tabIndented()) {
			p.reset(save)
			break
		}
		text := p.plainLine(flow)
		if text == "" || p.followedByValueIndicator(flow) {
			p.reset(save)
			break
		}
		if b == nil {
			b = append(p.buf[:0], first...)
		}
		if breaks == 1 {
			b = append(b, ' ')
		}
		for range breaks - 1 {
			b = append(b, '\n')
		}
		b = append(b, text...)
	}
	if b == nil {
		return first
	}
	p.buf = b
	return string(b)
}

// tabIndented reports whether the indentation before pos holds a tab.
func (p *parser) tabIndented() bool {
	for i := p.lineStart; i < p.pos; i++ {
		if p.src[i] == '\t' {
			return true
		}
	}
	return false
}

// followedByValueIndicator reports whether, after blanks, a ':' that
// makes the text before it a key follows pos (pos is not moved).
func (p *parser) followedByValueIndicator(flow bool) bool {
	save := p.pos
	p.skipBlanks()
	ok := p.valueIndicator(flow, false)
	p.pos = save
	return ok
}

// quoted reads a '...' or "..." scalar at pos: line breaks fold as in a
// plain scalar; in "..." escapes apply, and a \ before a line break joins
// the lines.
func (p *parser) quoted() *Node {
	at := p.here()
	q := p.peek()
	style := SingleQuoted
	if q == '"' {
		style = DoubleQuoted
	}
	n := p.newNode(String, style, at)
	p.pos++
	start := p.pos
	// Most quoted scalars are one line without escapes: a slice of src.
	for i := start; i < len(p.src); i++ {
		c := p.src[i]
		if c == q && (q == '"' || p.at(i+1) != '\'') {
			n.Value = p.src[start:i]
			p.pos = i + 1
			return n
		}
		if c == '\n' || c == '\\' && q == '"' || c == '\'' && q == '\'' {
			break
		}
	}
	b := p.buf[:0]
	keep := 0 // length of b without blanks that end a line
	for {
		if p.eof() || p.anyDocMarker() {
			p.fail(at, "the quoted string that starts here is not closed (a %c is missing)", rune(q))
		}
		c := p.peek()
		switch {
		case c == q && q == '\'' && p.at(p.pos+1) == '\'':
			b = append(b, '\'')
			p.pos += 2
		case c == q:
			p.pos++
			p.buf = b
			n.Value = string(b[:len(b):len(b)])
			return n
		case c == '\\' && q == '"' && (p.at(p.pos+1) == '\n' || p.at(p.pos+1) == '\r' && p.at(p.pos+2) == '\n'):
			p.pos = strings.IndexByte(p.src[p.pos:], '\n') + p.pos
			p.newline()
			p.skipBlanks()
			b = b[:len(b):len(b)]
			keep = len(b)
			continue
		case c == '\\' && q == '"':
			b = p.escape(b)
		case c == '\n':
			b = b[:keep]
			breaks := 0
			for p.peek() == '\n' {
				p.newline()
				breaks++
				p.skipBlanks()
			}
			if breaks == 1 {
				b = append(b, ' ')
			}
			for range breaks - 1 {
				b = append(b, '\n')
			}
		default:
			b = append(b, c)
			p.pos++
			if isBlank(c) {
				continue
			}
		}
		keep = len(b)
	}
}

// escape reads the escape sequence at pos (a \ in a double-quoted
// scalar) and appends what it stands for to b.
func (p *parser) escape(b []byte) []byte {
	at := p.here()
	c := p.at(p.pos + 1)
	p.pos += 2
	if r, ok := escapes[c]; ok {
		return utf8.AppendRune(b, r)
	}
	digits := map[byte]int{'x': 2, 'u': 4, 'U': 8}[c]
	if digits == 0 || p.pos+digits > len(p.src) {
		p.fail(at, "unknown escape \\%c in a double-quoted string", rune(c))
	}
	v, err := strconv.ParseUint(p.src[p.pos:p.pos+digits], 16, 32)
	if err != nil || !utf8.ValidRune(rune(v)) {
		p.fail(at, "bad escape \\%c%s in a double-quoted string", rune(c), p.src[p.pos:p.pos+digits])
	}
	p.pos += digits
	return utf8.AppendRune(b, rune(v))
}

// escapes are the one-character escapes of double-quoted scalars.
var escapes = map[byte]rune{
	'0': 0, 'a': '\a', 'b': '\b', 't': '\t', '\t': '\t', 'n': '\n', 'v': '\v', 'f': '\f',
	'r': '\r', 'e': 0x1b, ' ': ' ', '"': '"', '/': '/', '\\': '\\', 'N': 0x85, '_': 0xa0,
	'L': 0x2028, 'P': 0x2029,
}

// blockScalar reads a | or > scalar at pos, in a collection at column
// indent: the header (indentation and chomping indicators, a comment),
// then the lines indented more than the collection.
func (p *parser) blockScalar(indent int) *Node {
	at := p.here()
	style := Literal
	if p.peek() == '>' {
		style = Folded
	}
	n := p.newNode(String, style, at)
	p.pos++
	chomp, explicit := byte(0), 0
	for range 2 {
		switch c := p.peek(); {
		case (c == '+' || c == '-') && chomp == 0:
			chomp = c
		case c >= '1' && c <= '9' && explicit == 0:
			explicit = int(c - '0')
		default:
			continue
		}
		p.pos++
	}
	if !p.atLineEnd() {
		p.fail(p.here(), "unexpected %s after the block scalar's indicator (the text goes on the next lines)", p.describeHere())
	}
	for p.pos < len(p.src) && p.src[p.pos] != '\n' {
		p.pos++
	}
	if !p.eof() {
		p.newline()
	}
	ci := -1 // the content's indentation
	if explicit > 0 {
		ci = indent + explicit
	} else {
		ci = p.detectIndent(indent)
	}
	b := p.buf[:0]
	breaks, leading := 0, 0 // line breaks since the last content line; before the first
	have, prevMore := false, false
	for !p.eof() {
		lineAt := p.mark()
		sp := 0
		for sp < ci && p.peek() == ' ' {
			p.pos++
			sp++
		}
		rest := p.pos
		for rest < len(p.src) && p.src[rest] == '\r' {
			rest++
		}
		if rest >= len(p.src) || p.src[rest] == '\n' { // an empty line
			if have {
				breaks++
			} else {
				leading++
			}
			p.pos = rest
			if !p.eof() {
				p.newline()
			}
			continue
		}
		if sp < ci || ci == 0 && p.anyDocMarker() {
			p.reset(lineAt)
			break
		}
		end := rest
		for end < len(p.src) && p.src[end] != '\n' {
			end++
		}
		text := p.src[p.pos:end]
		if len(text) > 0 && text[len(text)-1] == '\r' {
			text = text[:len(text)-1]
		}
		more := text[0] == ' ' || text[0] == '\t'
		switch {
		case !have:
			for range leading {
				b = append(b, '\n')
			}
		case style == Folded && !more && !prevMore && breaks == 1:
			b = append(b, ' ')
		case style == Folded && !more && !prevMore:
			for range breaks - 1 {
				b = append(b, '\n')
			}
		default:
			for range breaks {
				b = append(b, '\n')
			}
		}
		b = append(b, text...)
		have, prevMore, breaks = true, more, 1
		p.pos = end
		if !p.eof() {
			p.newline()
		}
	}
	switch {
	case chomp == '+' && !have:
		for range leading {
			b = append(b, '\n')
		}
	case chomp == '+':
		for range breaks {
			b = append(b, '\n')
		}
	case chomp == 0 && have:
		b = append(b, '\n')
	}
	p.buf = b
	n.Value = string(b)
	return n
}

// detectIndent finds a block scalar's indentation: that of its first
// line with content, if it is indented more than indent (else the scalar
// is empty). pos is not moved.
func (p *parser) detectIndent(indent int) int {
	for i := p.pos; i < len(p.src); {
		sp := 0
		for i < len(p.src) && p.src[i] == ' ' {
			i++
			sp++
		}
		for i < len(p.src) && p.src[i] == '\r' {
			i++
		}
		if i < len(p.src) && p.src[i] == '\n' {
			i++
			continue
		}
		if i >= len(p.src) {
			break
		}
		return max(sp, indent+1)
	}
	return indent + 1
}
