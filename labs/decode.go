package labs

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/ftplab/ftplab/labs/internal/yamlx"
)

// Limits on a lab file. Each is checked before the work it bounds can grow:
// the size before anything is read, the nesting as each list or mapping
// opens, what aliases expand to as each alias is met (see yamlx).
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

// parseLab parses a lab file's text into its document's root node, aliases
// expanded, enforcing the limits. The root is nil for a file of comments
// only.
func parseLab(data []byte) (*yamlx.Node, error) {
	root, err := yamlx.Parse(string(data), yamlx.Limits{MaxDepth: MaxDepth, MaxAliasNodes: MaxAliasNodes})
	var list yamlx.Errors
	if !errors.As(err, &list) {
		return root, err
	}
	out := make(Errors, len(list))
	for i, e := range list {
		out[i] = &Error{Line: e.Line, Column: e.Column, Msg: e.Msg}
	}
	return nil, out
}

// nodeDecoder is a type that decodes itself from its YAML node (the values
// of values.go, some actions).
type nodeDecoder interface{ decodeYAML(*yamlx.Node) error }

// interfaceUnmarshaler is a type that decodes itself through a callback
// that decodes the same node into another value (Step).
type interfaceUnmarshaler interface {
	UnmarshalYAML(func(any) error) error
}

// decodeNode decodes a node into the value dst points to, strictly:
// unknown keys are errors. It reports every problem it finds, as Errors.
func decodeNode(node *yamlx.Node, dst any) error {
	d := &decoder{}
	d.decode(node, reflect.ValueOf(dst).Elem())
	if len(d.errs) == 0 {
		return nil
	}
	return d.errs
}

// decoder turns YAML nodes into Go values by reflection, collecting
// errors.
type decoder struct{ errs Errors }

func (d *decoder) fail(node *yamlx.Node, format string, args ...any) {
	d.errs = append(d.errs, nodeError(node, format, args...))
}

// add records an error returned by a type's own decoding.
func (d *decoder) add(node *yamlx.Node, err error) {
	var list Errors
	var one *Error
	switch {
	case errors.As(err, &list):
		d.errs = append(d.errs, list...)
	case errors.As(err, &one):
		d.errs = append(d.errs, one)
	default:
		d.fail(node, "%v", err)
	}
}

// typeInfo is how the decoder treats a type, worked out once per type.
type typeInfo struct {
	self   bool          // a pointer to it is a nodeDecoder
	iface  bool          // a pointer to it is an interfaceUnmarshaler
	fields *structFields // a struct's keys
}

var (
	nodeDecoderType          = reflect.TypeFor[nodeDecoder]()
	interfaceUnmarshalerType = reflect.TypeFor[interfaceUnmarshaler]()
	typeCache                sync.Map // reflect.Type -> *typeInfo
)

// infoOf returns t's typeInfo.
func infoOf(t reflect.Type) *typeInfo {
	if ti, ok := typeCache.Load(t); ok {
		return ti.(*typeInfo)
	}
	pt := reflect.PointerTo(t)
	ti := &typeInfo{self: pt.Implements(nodeDecoderType), iface: pt.Implements(interfaceUnmarshalerType)}
	if t.Kind() == reflect.Struct {
		ti.fields = fieldsOf(t)
	}
	actual, _ := typeCache.LoadOrStore(t, ti)
	return actual.(*typeInfo)
}

func (d *decoder) decode(node *yamlx.Node, v reflect.Value) {
	ti := infoOf(v.Type())
	if v.Kind() != reflect.Pointer && v.CanAddr() {
		switch {
		case ti.self:
			if node.Kind == yamlx.Null {
				return
			}
			if err := v.Addr().Interface().(nodeDecoder).decodeYAML(node); err != nil {
				d.add(node, err)
			}
			return
		case ti.iface:
			err := v.Addr().Interface().(interfaceUnmarshaler).UnmarshalYAML(func(x any) error {
				return decodeNode(node, x)
			})
			if err != nil {
				d.add(node, err)
			}
			return
		}
	}
	if node.Kind == yamlx.Null {
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
		d.decodeStruct(node, v, ti.fields)
	case reflect.Slice:
		if node.Kind != yamlx.Sequence {
			d.fail(node, "%s is not a list", describe(node))
			return
		}
		out := reflect.MakeSlice(v.Type(), len(node.Content), len(node.Content))
		for i, item := range node.Content {
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
		if node.Kind == yamlx.Bool {
			v.SetBool(node.Bool())
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
func (d *decoder) whole(node *yamlx.Node, v reflect.Value, parse func(s string, bits int) error) {
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
func describe(node *yamlx.Node) string {
	if s, ok := scalarValue(node); ok {
		return strconv.Quote(s)
	}
	return node.Describe()
}

// scalarValue returns the text of a scalar node (unquoted, as the user
// meant it; "" for null).
func scalarValue(node *yamlx.Node) (string, bool) {
	switch node.Kind {
	case yamlx.Null:
		return "", true
	case yamlx.Bool, yamlx.String:
		return node.Value, true
	}
	return "", false
}

// pair is one key of a mapping with its value.
type pair struct {
	key   string
	node  *yamlx.Node // the key, for positions
	value *yamlx.Node
}

// eachPair calls f with each key of a mapping and its value, merge keys
// (<<) resolved: the mapping's own keys win over merged ones, an earlier
// merged mapping over a later one. (yamlx refuses a repeated key.)
func (d *decoder) eachPair(node *yamlx.Node, f func(pair)) {
	c := node.Content
	for i := 0; i < len(c); i += 2 {
		if c[i].IsMergeKey() {
			for _, p := range d.merged(node, 0) {
				f(p)
			}
			return
		}
	}
	for i := 0; i < len(c); i += 2 {
		if key, ok := d.key(c[i]); ok {
			f(pair{key, c[i], c[i+1]})
		}
	}
}

// key is the text of a mapping's key.
func (d *decoder) key(k *yamlx.Node) (string, bool) {
	key, ok := scalarValue(k)
	if !ok {
		d.fail(k, "a key must be a single value, not %s", describe(k))
	}
	return key, ok
}

// merged returns a mapping's keys and values with merge keys resolved
// (see eachPair).
func (d *decoder) merged(node *yamlx.Node, depth int) []pair {
	var own, merged []pair
	c := node.Content
	seen := make(map[string]bool, len(c)/2)
	for i := 0; i < len(c); i += 2 {
		k, v := c[i], c[i+1]
		if !k.IsMergeKey() {
			if key, ok := d.key(k); ok {
				seen[key] = true
				own = append(own, pair{key, k, v})
			}
			continue
		}
		if depth >= MaxDepth {
			d.fail(k, "merge keys nested deeper than %d", MaxDepth)
			continue
		}
		srcs := []*yamlx.Node{v}
		if v.Kind == yamlx.Sequence {
			srcs = v.Content
		}
		for _, src := range srcs {
			if src.Kind != yamlx.Mapping {
				d.fail(src, "<< merges a mapping or a list of mappings, not %s", describe(src))
				continue
			}
			merged = append(merged, d.merged(src, depth+1)...)
		}
	}
	for _, p := range merged {
		if !seen[p.key] {
			seen[p.key] = true
			own = append(own, p)
		}
	}
	return own
}

func (d *decoder) decodeStruct(node *yamlx.Node, v reflect.Value, fields *structFields) {
	if node.Kind != yamlx.Mapping {
		d.fail(node, "want a mapping of keys, got %s", describe(node))
		return
	}
	d.eachPair(node, func(p pair) {
		i, ok := fields.index[p.key]
		if !ok {
			d.fail(p.node, "unknown key %q (keys here: %s; see labs/README.md)", p.key, strings.Join(fields.names, ", "))
			return
		}
		d.decode(p.value, v.Field(i))
	})
}

// structFields are the YAML keys of a struct type.
type structFields struct {
	index map[string]int // key -> field index
	names []string       // keys in field order
}

// fieldsOf returns t's keys: each exported field's yaml tag name (or its
// lower-cased name); fields tagged "-" are left out.
func fieldsOf(t reflect.Type) *structFields {
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
	return f
}

// lookup returns the node at a YAML path like "$.hosts[1].nics[0]" in the
// document, or the nearest parent that was written.
func lookup(root *yamlx.Node, path string) *yamlx.Node {
	node := root
	rest, ok := strings.CutPrefix(path, "$")
	if !ok {
		return nil
	}
	for rest != "" && node != nil {
		var next *yamlx.Node
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
			if node.Kind == yamlx.Sequence && err == nil && i >= 0 && i < len(node.Content) {
				next = node.Content[i]
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
func mappingValue(node *yamlx.Node, key string, depth int) *yamlx.Node {
	if node.Kind != yamlx.Mapping {
		return nil
	}
	c := node.Content
	var merges []*yamlx.Node
	for i := 0; i < len(c); i += 2 {
		if c[i].IsMergeKey() {
			merges = append(merges, c[i+1])
			continue
		}
		if k, ok := scalarValue(c[i]); ok && k == key {
			return c[i+1]
		}
	}
	if depth >= MaxDepth {
		return nil
	}
	for _, m := range merges {
		srcs := []*yamlx.Node{m}
		if m.Kind == yamlx.Sequence {
			srcs = m.Content
		}
		for _, src := range srcs {
			if v := mappingValue(src, key, depth+1); v != nil {
				return v
			}
		}
	}
	return nil
}
