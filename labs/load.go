package labs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Error is a problem in a lab file, at a line and column.
type Error struct {
	// File is the lab's source name.
	File string
	// Line and Column locate the offending item (1-based; 0 if unknown).
	Line, Column int
	// Msg says what is wrong.
	Msg string
	// Snippet shows the source around the item ("" if unknown).
	Snippet string

	tok *token.Token
}

// Error renders "file:line:col: message".
func (e *Error) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// Errors is every problem found in a lab, in file order.
type Errors []*Error

// Error renders one problem per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// nodeError makes an Error at node's position; Load fills in File.
func nodeError(node ast.Node, format string, args ...any) *Error {
	e := &Error{Msg: fmt.Sprintf(format, args...)}
	if node != nil {
		e.setToken(node.GetToken())
	}
	return e
}

func (e *Error) setToken(tk *token.Token) {
	if tk == nil || tk.Position == nil {
		return
	}
	e.tok = tk
	e.Line, e.Column = tk.Position.Line, tk.Position.Column
	e.Snippet = yaml.FormatErrorWithToken("", tk, false, true)
	if _, after, ok := strings.Cut(e.Snippet, "\n"); ok {
		e.Snippet = after
	}
}

// LoadFile reads and validates a lab file.
func LoadFile(path string) (*Lab, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("lab file %s: %w", path, err)
	}
	lab, err := Load(path, data)
	if err != nil {
		return nil, err
	}
	lab.Dir = filepath.Dir(path)
	return lab, nil
}

// Load decodes and validates a lab. name is used in error messages and as
// the lab's default name. Unknown keys, malformed values and semantic
// mistakes (a link to an unknown host, a duplicate address, ...) are errors
// carrying line and column; all semantic problems are reported at once as
// Errors.
func Load(name string, data []byte) (*Lab, error) {
	lab := &Lab{Source: name, src: data}
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, &Error{File: name, Msg: "empty lab file"}
	}
	if err := yaml.UnmarshalWithOptions(data, lab, yaml.Strict()); err != nil {
		return nil, convertYAMLError(name, err)
	}
	if lab.Name == "" {
		base := filepath.Base(name)
		lab.Name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	if err := lab.validate(); err != nil {
		return nil, err
	}
	return lab, nil
}

// convertYAMLError turns a goccy/go-yaml error (or one of our value errors
// raised during decoding) into an *Error with position.
func convertYAMLError(name string, err error) error {
	var ours *Error
	if errors.As(err, &ours) {
		ours.File = name
		return ours
	}
	out := &Error{File: name, Msg: err.Error()}
	var ye yaml.Error
	if errors.As(err, &ye) {
		out.Msg = ye.GetMessage()
		out.setToken(ye.GetToken())
	}
	var te *yaml.TypeError
	if errors.As(err, &te) && te.Token != nil {
		out.Msg = fmt.Sprintf("%q is not %s", te.Token.Value, kindName(te.DstType))
	}
	var unknown *yaml.UnknownFieldError
	if errors.As(err, &unknown) {
		out.Msg = strings.Replace(out.Msg, "unknown field", "unknown key", 1) + " (see labs/README.md for the keys)"
	}
	return out
}

// at returns an Error located at the YAML path (e.g. "$.hosts[1].name"),
// falling back to the nearest existing parent path.
func (l *Lab) at(path string, format string, args ...any) *Error {
	e := &Error{File: l.Source, Msg: fmt.Sprintf(format, args...)}
	if l.ast == nil {
		file, err := parser.ParseBytes(l.src, 0)
		if err != nil {
			return e
		}
		l.ast = file
	}
	file := l.ast
	for p := path; p != "" && p != "$"; p = parentPath(p) {
		yp, err := yaml.PathString(p)
		if err != nil {
			continue
		}
		node, err := yp.FilterFile(file)
		if err != nil || node == nil {
			continue
		}
		e.setToken(keyToken(node))
		break
	}
	return e
}

// parentPath strips the last element of a YAML path.
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i <= 0 {
		return ""
	}
	return p[:i]
}

// keyToken is the token to point at for node: for a mapping, its first key.
func keyToken(node ast.Node) *token.Token {
	switch n := node.(type) {
	case *ast.MappingValueNode:
		return n.Key.GetToken()
	case *ast.MappingNode:
		if len(n.Values) > 0 {
			return n.Values[0].Key.GetToken()
		}
	}
	return node.GetToken()
}

// kindName says in words what a Go type wants written.
func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "a mapping of keys"
	}
	return "a " + t.String()
}
