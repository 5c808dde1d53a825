package labs

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Limits on a lab file. Each is checked before the work it bounds can grow:
// the size before anything is read, the nesting on the token stream before
// it is parsed (goccy/go-yaml's parser is quadratic in nesting), what
// aliases expand to on the syntax tree before anything is decoded.
const (
	// MaxSourceSize is the largest lab file accepted, in bytes: room for
	// about 100,000 hosts with their links.
	MaxSourceSize = 8 << 20
	// MaxDepth is the deepest nesting of lists and mappings a lab file may
	// have, aliases expanded (the labs of the README nest 6 deep).
	MaxDepth = 64
	// MaxAliasNodes is how many nodes all aliases together may stand for,
	// counting every expansion (a "billion laughs" file stands for 10^10).
	MaxAliasNodes = 100_000
)

// parseLab lexes and parses a lab file's text into one document's syntax
// tree, enforcing the limits, and prepares it for decoding: aliases are
// replaced by the nodes they stand for, anchors and the core schema's tags
// are unwrapped. The body is nil for a file of comments only.
func parseLab(data []byte) (*ast.File, ast.Node, error) {
	tks := lexer.Tokenize(string(data))
	if err := checkTokens(tks); err != nil {
		return nil, nil, err
	}
	file, err := parser.Parse(tks, 0)
	if err != nil {
		return nil, nil, err
	}
	var body ast.Node
	for _, doc := range file.Docs {
		if doc.Body == nil {
			continue
		}
		if body != nil {
			e := nodeError(doc.Body, "a lab file holds one YAML document; a second one starts here (remove the --- line or split the file)")
			e.setToken(doc.Start)
			return nil, nil, e
		}
		body = doc.Body
	}
	if body == nil {
		return file, nil, nil
	}
	p := &expander{anchors: map[string]*anchored{}}
	body, _, _ = p.walk(body, 0)
	if len(p.errs) > 0 {
		return nil, nil, p.errs
	}
	for _, doc := range file.Docs {
		if doc.Body != nil {
			doc.Body = body
		}
	}
	return file, body, nil
}

// checkTokens refuses a token stream that nests deeper than MaxDepth, and
// invalid tokens. Block nesting is read from the columns of "-" entries and
// of keys, flow nesting from brackets.
func checkTokens(tks token.Tokens) error {
	type open struct {
		col int
		seq bool
	}
	var stack []open
	flow := 0
	// enter records a block collection entry at col and reports whether
	// the nesting is still allowed.
	enter := func(col int, seq bool) bool {
		for len(stack) > 0 {
			top := stack[len(stack)-1]
			if top.col < col || top.col == col && (top.seq == seq || !top.seq) {
				break
			}
			stack = stack[:len(stack)-1]
		}
		if n := len(stack); n == 0 || stack[n-1].col != col || stack[n-1].seq != seq {
			stack = append(stack, open{col, seq})
		}
		return len(stack)+flow <= MaxDepth
	}
	for _, tk := range tks {
		ok := true
		switch tk.Type {
		case token.InvalidType:
			return tokenError(tk, "%s", cmpOr(tk.Error, "invalid token"))
		case token.DocumentHeaderType:
			stack = stack[:0]
		case token.SequenceStartType, token.MappingStartType:
			flow++
			ok = len(stack)+flow <= MaxDepth
		case token.SequenceEndType, token.MappingEndType:
			flow = max(flow-1, 0)
		case token.SequenceEntryType:
			if flow == 0 {
				ok = enter(tk.Position.Column, true)
			}
		case token.MappingValueType:
			if flow == 0 {
				col := tk.Position.Column
				if tk.Prev != nil && tk.Prev.Position.Line == tk.Position.Line {
					col = tk.Prev.Position.Column
				}
				ok = enter(col, false)
			}
		}
		if !ok {
			return tokenError(tk, "nested deeper than %d levels of lists and mappings", MaxDepth)
		}
	}
	return nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func tokenError(tk *token.Token, format string, args ...any) *Error {
	e := &Error{Msg: fmt.Sprintf(format, args...)}
	e.setToken(tk)
	return e
}

// anchored is an anchor's value as the expander left it, with what it
// expands to.
type anchored struct {
	node        ast.Node
	size, depth int
}

// expander walks a document in order (an alias stands for the latest
// anchor of its name before it), replacing aliases by their anchor's value
// and unwrapping anchors and tags, and counts what the aliases expand to.
type expander struct {
	anchors map[string]*anchored
	aliased int // nodes the aliases so far stand for
	errs    Errors
}

// allowedTags are the YAML core schema tags a lab file may use; they only
// say what the plain value is anyway.
var allowedTags = []string{"!!str", "!!int", "!!float", "!!bool", "!!null", "!!seq", "!!map"}

// walk returns the node to decode in place of n, its size in nodes and its
// nesting depth, both with aliases expanded; depth is n's own depth.
func (p *expander) walk(n ast.Node, depth int) (ast.Node, int, int) {
	if depth > MaxDepth {
		p.errs = append(p.errs, nodeError(n, "nested deeper than %d levels of lists and mappings", MaxDepth))
		return nullAt(n), 1, 0
	}
	switch v := n.(type) {
	case nil:
		return nil, 0, 0
	case *ast.AnchorNode:
		val, size, d := p.walk(v.Value, depth)
		if val == nil {
			val = nullAt(v)
		}
		p.anchors[v.Name.GetToken().Value] = &anchored{val, size, d}
		return val, size, d
	case *ast.AliasNode:
		name := v.Value.GetToken().Value
		a := p.anchors[name]
		switch {
		case a == nil:
			p.errs = append(p.errs, nodeError(v, "alias *%s: no anchor &%s before it", name, name))
			return nullAt(v), 1, 0
		case p.aliased+a.size > MaxAliasNodes:
			p.aliased = MaxAliasNodes
			if len(p.errs) == 0 || !strings.Contains(p.errs[len(p.errs)-1].Msg, "aliases") {
				p.errs = append(p.errs, nodeError(v, "alias *%s: the aliases of this file stand for more than %d values (an alias bomb?)", name, MaxAliasNodes))
			}
			return nullAt(v), 1, 0
		case depth+a.depth > MaxDepth:
			p.errs = append(p.errs, nodeError(v, "alias *%s: nested deeper than %d levels of lists and mappings when expanded", name, MaxDepth))
			return nullAt(v), 1, 0
		}
		p.aliased += a.size
		return a.node, a.size, a.depth
	case *ast.TagNode:
		tag := v.Start.Value
		if !slices.Contains(allowedTags, tag) {
			p.errs = append(p.errs, nodeError(v, "YAML tag %s is not supported in a lab file (only %s)", tag, strings.Join(allowedTags, ", ")))
			return nullAt(v), 1, 0
		}
		val, size, d := p.walk(v.Value, depth)
		if val == nil {
			val = nullAt(v)
		}
		return val, size, d
	case *ast.MappingNode:
		size, d := 1, 0
		for _, mv := range v.Values {
			s, dd := p.walkPair(mv, depth+1)
			size, d = size+s, max(d, dd)
		}
		return v, size, d + 1
	case *ast.MappingValueNode:
		s, d := p.walkPair(v, depth+1)
		return v, 1 + s, d + 1
	case *ast.SequenceNode:
		size, d := 1, 0
		for i, item := range v.Values {
			val, s, dd := p.walk(item, depth+1)
			if val == nil {
				val = nullAt(item)
			}
			v.Values[i] = val
			size, d = size+s, max(d, dd)
		}
		return v, size, d + 1
	case *ast.MappingKeyNode:
		val, s, d := p.walk(v.Value, depth)
		v.Value = val
		return v, s, d
	}
	return n, 1, 0
}

// walkPair walks a key and its value in place.
func (p *expander) walkPair(mv *ast.MappingValueNode, depth int) (int, int) {
	key, ks, kd := p.walk(mv.Key, depth)
	if mk, ok := key.(ast.MapKeyNode); ok {
		mv.Key = mk
	} else if key != nil {
		p.errs = append(p.errs, nodeError(mv.Key, "a key must be a single value"))
	}
	val, vs, vd := p.walk(mv.Value, depth)
	if val == nil {
		val = nullAt(mv)
	}
	mv.Value = val
	return ks + vs, max(kd, vd)
}

// nullAt is a null value positioned at n (what a refused node decodes as).
func nullAt(n ast.Node) ast.Node {
	var tk *token.Token
	if n != nil {
		tk = n.GetToken()
	}
	return ast.Null(tk)
}

// nodeUnmarshaler is a type that decodes itself from its YAML node (the
// values of values.go, some actions).
type nodeUnmarshaler interface{ UnmarshalYAML(ast.Node) error }

// interfaceUnmarshaler is a type that decodes itself through a callback
// that decodes the same node into another value (Step).
type interfaceUnmarshaler interface {
	UnmarshalYAML(func(any) error) error
}

// decodeNode decodes a prepared node (see parseLab) into the value dst
// points to, strictly: unknown and repeated keys are errors. It reports
// every problem it finds, as Errors.
func decodeNode(node ast.Node, dst any) error {
	d := &decoder{}
	d.decode(node, reflect.ValueOf(dst).Elem())
	if len(d.errs) == 0 {
		return nil
	}
	return d.errs
}

// decoder turns prepared YAML nodes into Go values by reflection,
// collecting errors.
type decoder struct{ errs Errors }

func (d *decoder) fail(node ast.Node, format string, args ...any) {
	d.errs = append(d.errs, nodeError(node, format, args...))
}

// add records an error returned by a type's own UnmarshalYAML.
func (d *decoder) add(node ast.Node, err error) {
	var list Errors
	var one *Error
	switch {
	case errors.As(err, &list):
		d.errs = append(d.errs, list...)
	case errors.As(err, &one):
		d.errs = append(d.errs, one)
	default:
		e := convertYAMLError("", err)
		if ye, ok := e.(*Error); ok {
			if ye.Line == 0 {
				ye.setToken(node.GetToken())
			}
			d.errs = append(d.errs, ye)
		}
	}
}

var (
	nodeUnmarshalerType      = reflect.TypeFor[nodeUnmarshaler]()
	interfaceUnmarshalerType = reflect.TypeFor[interfaceUnmarshaler]()
)

func (d *decoder) decode(node ast.Node, v reflect.Value) {
	if v.Kind() != reflect.Pointer && v.CanAddr() {
		pv := v.Addr()
		switch {
		case pv.Type().Implements(nodeUnmarshalerType):
			if _, null := node.(*ast.NullNode); null {
				return
			}
			if err := pv.Interface().(nodeUnmarshaler).UnmarshalYAML(node); err != nil {
				d.add(node, err)
			}
			return
		case pv.Type().Implements(interfaceUnmarshalerType):
			err := pv.Interface().(interfaceUnmarshaler).UnmarshalYAML(func(x any) error {
				sub := &decoder{}
				sub.decode(node, reflect.ValueOf(x).Elem())
				if len(sub.errs) > 0 {
					return sub.errs
				}
				return nil
			})
			if err != nil {
				d.add(node, err)
			}
			return
		}
	}
	if _, null := node.(*ast.NullNode); null {
		v.SetZero()
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(node, v.Elem())
	case reflect.Struct:
		d.decodeStruct(node, v)
	case reflect.Slice:
		seq, ok := node.(*ast.SequenceNode)
		if !ok {
			d.fail(node, "%s is not a list", describe(node))
			return
		}
		out := reflect.MakeSlice(v.Type(), len(seq.Values), len(seq.Values))
		for i, item := range seq.Values {
			d.decode(item, out.Index(i))
		}
		v.Set(out)
	case reflect.String:
		if s, ok := scalarValue(node); ok {
			v.SetString(s)
			return
		}
		d.fail(node, "want a string, got %s", describe(node))
	case reflect.Bool:
		if b, ok := node.(*ast.BoolNode); ok {
			v.SetBool(b.Value)
			return
		}
		d.fail(node, "%s is not true or false", describe(node))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		d.whole(node, v, func(s string, bits int) error {
			n, err := strconv.ParseInt(s, 0, bits)
			v.SetInt(n)
			return err
		})
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		d.whole(node, v, func(s string, bits int) error {
			n, err := strconv.ParseUint(s, 0, bits)
			v.SetUint(n)
			return err
		})
	case reflect.Float32, reflect.Float64:
		s, ok := scalarValue(node)
		f, err := strconv.ParseFloat(s, v.Type().Bits())
		if !ok || err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			d.fail(node, "%s is not a finite number", describe(node))
			return
		}
		v.SetFloat(f)
	default:
		d.fail(node, "cannot decode into %s", v.Type())
	}
}

// whole decodes a whole number (signed or not: parse sets v) of v's size,
// underscores allowed, with the error said in words.
func (d *decoder) whole(node ast.Node, v reflect.Value, parse func(s string, bits int) error) {
	s, ok := scalarValue(node)
	if !ok {
		d.fail(node, "%s is not a whole number", describe(node))
		return
	}
	if err := parse(strings.ReplaceAll(s, "_", ""), v.Type().Bits()); err != nil {
		v.SetZero()
		d.fail(node, "%s", numberError(s, err, v.Type().Bits()))
	}
}

// numberError says why s is not a whole number of bits bits.
func numberError(s string, err error, bits int) string {
	if errors.Is(err, strconv.ErrRange) {
		if strings.HasPrefix(s, "-") {
			return fmt.Sprintf("number %s is too small (at least %d)", s, int64(-1)<<(bits-1))
		}
		return fmt.Sprintf("number %s is too large (at most %d)", s, uint64(1)<<(bits-1)-1)
	}
	return fmt.Sprintf("%q is not a whole number", s)
}

// describe names a node's value for an error message: its text if it is a
// scalar, else its kind.
func describe(node ast.Node) string {
	if s, ok := scalarValue(node); ok {
		return strconv.Quote(s)
	}
	switch node.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	}
	return "a " + strings.ToLower(node.Type().String())
}

// scalarValue returns the text of a scalar node (unquoted, as the user
// meant it).
func scalarValue(node ast.Node) (string, bool) {
	switch n := node.(type) {
	case *ast.StringNode:
		return n.Value, true
	case *ast.LiteralNode:
		return n.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return n.GetToken().Value, true
	case *ast.NullNode:
		return "", true
	}
	return "", false
}

// pair is one key of a mapping with its value.
type pair struct {
	key   string
	node  ast.Node // the key, for positions
	value ast.Node
}

// pairs returns a mapping's keys and values, merge keys (<<) resolved: the
// mapping's own keys win over merged ones, an earlier merged mapping over
// a later one. Repeated keys are errors.
func (d *decoder) pairs(node ast.Node, depth int) []pair {
	var values []*ast.MappingValueNode
	switch n := node.(type) {
	case *ast.MappingNode:
		values = n.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{n}
	}
	var own, merged []pair
	seen := make(map[string]bool, len(values))
	for _, mv := range values {
		if _, ok := mv.Key.(*ast.MergeKeyNode); ok {
			if depth >= MaxDepth {
				d.fail(mv.Key, "merge keys nested deeper than %d", MaxDepth)
				continue
			}
			srcs := []ast.Node{mv.Value}
			if seq, ok := mv.Value.(*ast.SequenceNode); ok {
				srcs = seq.Values
			}
			for _, src := range srcs {
				switch src.(type) {
				case *ast.MappingNode, *ast.MappingValueNode:
					merged = append(merged, d.pairs(src, depth+1)...)
				default:
					d.fail(src, "<< merges a mapping or a list of mappings, not %s", describe(src))
				}
			}
			continue
		}
		k := mv.Key.(ast.Node)
		if mk, ok := k.(*ast.MappingKeyNode); ok {
			k = mk.Value
		}
		key, ok := scalarValue(k)
		if !ok {
			d.fail(k, "a key must be a single value, not %s", describe(k))
			continue
		}
		if seen[key] {
			d.fail(k, "key %q is given twice", key)
			continue
		}
		seen[key] = true
		own = append(own, pair{key, k, mv.Value})
	}
	for _, p := range merged {
		if !seen[p.key] {
			seen[p.key] = true
			own = append(own, p)
		}
	}
	return own
}

func (d *decoder) decodeStruct(node ast.Node, v reflect.Value) {
	switch node.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
	default:
		d.fail(node, "want a mapping of keys, got %s", describe(node))
		return
	}
	fields := fieldsOf(v.Type())
	for _, p := range d.pairs(node, 0) {
		i, ok := fields.index[p.key]
		if !ok {
			d.fail(p.node, "unknown key %q (keys here: %s; see labs/README.md)", p.key, strings.Join(fields.names, ", "))
			continue
		}
		d.decode(p.value, v.Field(i))
	}
}

// structFields are the YAML keys of a struct type.
type structFields struct {
	index map[string]int // key -> field index
	names []string       // keys in field order
}

var fieldCache sync.Map // reflect.Type -> *structFields

// fieldsOf returns t's keys: each exported field's yaml tag name (or its
// lower-cased name); fields tagged "-" are left out.
func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	f := &structFields{index: map[string]int{}}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		f.index[name] = i
		f.names = append(f.names, name)
	}
	actual, _ := fieldCache.LoadOrStore(t, f)
	return actual.(*structFields)
}

// lookup returns the node at a YAML path like "$.hosts[1].nics[0]" in the
// prepared document body, or the nearest parent that was written.
func lookup(body ast.Node, path string) ast.Node {
	node := body
	rest, ok := strings.CutPrefix(path, "$")
	if !ok {
		return nil
	}
	for rest != "" && node != nil {
		var next ast.Node
		switch rest[0] {
		case '.':
			end := strings.IndexAny(rest[1:], ".[")
			if end < 0 {
				end = len(rest) - 1
			}
			key := rest[1 : 1+end]
			rest = rest[1+end:]
			next = mappingValue(node, key, 0)
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return node
			}
			i, err := strconv.Atoi(rest[1:end])
			rest = rest[end+1:]
			if seq, ok := node.(*ast.SequenceNode); ok && err == nil && i >= 0 && i < len(seq.Values) {
				next = seq.Values[i]
			}
		default:
			return node
		}
		if next == nil {
			return node
		}
		node = next
	}
	return node
}

// mappingValue is the value of key in a mapping (merge keys followed).
func mappingValue(node ast.Node, key string, depth int) ast.Node {
	var values []*ast.MappingValueNode
	switch n := node.(type) {
	case *ast.MappingNode:
		values = n.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{n}
	}
	var merges []ast.Node
	for _, mv := range values {
		if _, ok := mv.Key.(*ast.MergeKeyNode); ok {
			merges = append(merges, mv.Value)
			continue
		}
		if k, ok := scalarValue(mv.Key); ok && k == key {
			return mv.Value
		}
	}
	if depth >= MaxDepth {
		return nil
	}
	for _, m := range merges {
		srcs := []ast.Node{m}
		if seq, ok := m.(*ast.SequenceNode); ok {
			srcs = seq.Values
		}
		for _, src := range srcs {
			if v := mappingValue(src, key, depth+1); v != nil {
				return v
			}
		}
	}
	return nil
}
