package labs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ftplab/ftplab/labs/internal/yamlx"
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
func nodeError(node *yamlx.Node, format string, args ...any) *Error {
	e := &Error{Msg: fmt.Sprintf(format, args...)}
	e.setNode(node)
	return e
}

// setNode positions e at node (nil leaves it unpositioned).
func (e *Error) setNode(node *yamlx.Node) {
	if node != nil {
		e.Line, e.Column = int(node.Line), int(node.Column)
	}
}

// LoadFile reads and validates a lab file.
func LoadFile(path string) (*Lab, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("lab file %s: %w", path, err)
	}
	defer f.Close()
	// Read one byte more than allowed, to tell a file that is too large
	// without reading all of it.
	data, err := io.ReadAll(io.LimitReader(f, MaxSourceSize+1))
	if err != nil {
		return nil, fmt.Errorf("lab file %s: %w", path, err)
	}
	lab, err := decodeLab(path, filepath.Dir(path), data)
	if err != nil {
		return nil, located(path, data, err)
	}
	return lab, nil
}

// utf8BOM is the byte order mark some editors put at the start of a file.
var utf8BOM = []byte("\ufeff")

// Load decodes and validates a lab. name is used in error messages and as
// the lab's default name. Unknown keys, malformed values and semantic
// mistakes (a link to an unknown host, a duplicate address, ...) are errors
// carrying line and column; all problems of a kind are reported at once as
// Errors. A file larger than MaxSourceSize, nested deeper than MaxDepth or
// whose aliases expand to more than MaxAliasNodes is refused before it is
// decoded; a leading UTF-8 byte order mark is skipped.
func Load(name string, data []byte) (*Lab, error) {
	lab, err := decodeLab(name, "", data)
	if err != nil {
		return nil, located(name, data, err)
	}
	return lab, nil
}

// decodeLab decodes and validates a lab whose relative paths are in dir.
func decodeLab(name, dir string, data []byte) (*Lab, error) {
	if len(data) > MaxSourceSize {
		return nil, &Error{Msg: fmt.Sprintf("lab file is larger than %d MiB", MaxSourceSize>>20)}
	}
	data = bytes.TrimPrefix(data, utf8BOM)
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &Error{Msg: "empty lab file"}
	}
	root, err := parseLab(data)
	if err != nil {
		return nil, err
	}
	if root == nil {
		return nil, &Error{Msg: "empty lab file: it holds only comments"}
	}
	// The lab does not keep the syntax tree, so that validate, which needs
	// memory of its own, can have it collected; Lab.at parses again for
	// validate's first error.
	lab := &Lab{Source: name, Dir: dir, src: data}
	if err := decodeNode(root, lab); err != nil {
		return nil, err
	}
	if lab.Name == "" {
		base := filepath.Base(name)
		lab.Name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	err = lab.validate()
	lab.root = nil // positions are for validate's errors; the lab keeps its values
	if err != nil {
		return nil, err
	}
	return lab, nil
}

// located turns any error of loading into *Error or Errors naming the file,
// with source snippets, in file order.
func located(name string, src []byte, err error) error {
	var list Errors
	if !errors.As(err, &list) {
		list = Errors{asError(err)}
	}
	slices.SortStableFunc(list, func(a, b *Error) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
	var lines []int // offsets of line starts, built on first need
	for _, e := range list {
		e.File = name
		if e.Line == 0 || e.Snippet != "" {
			continue
		}
		if lines == nil {
			lines = lineStarts(src)
		}
		e.Snippet = snippet(src, lines, e.Line, e.Column)
	}
	if len(list) == 1 {
		return list[0]
	}
	return list
}

func lineStarts(src []byte) []int {
	starts := []int{0}
	for i, b := range src {
		if b == '\n' {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// snippet shows the line (1-based) with up to three lines before it and a
// caret under column col.
func snippet(src []byte, starts []int, line, col int) string {
	if line < 1 || line > len(starts) {
		return ""
	}
	var b strings.Builder
	for n := max(line-3, 1); n <= line; n++ {
		end := len(src)
		if n < len(starts) {
			end = starts[n] - 1
		}
		text := strings.TrimRight(string(src[starts[n-1]:max(end, starts[n-1])]), "\r")
		mark := " "
		if n == line {
			mark = ">"
		}
		fmt.Fprintf(&b, "%s %2d | %s\n", mark, n, text)
	}
	prefix := len(fmt.Sprintf("  %2d | ", line))
	b.WriteString(strings.Repeat(" ", prefix+max(col-1, 0)) + "^")
	return b.String()
}

// asError is err as an *Error: itself, or its message without a position.
func asError(err error) *Error {
	var ours *Error
	if errors.As(err, &ours) {
		return ours
	}
	return &Error{Msg: err.Error()}
}

// at returns an Error located at the YAML path (e.g. "$.hosts[1].name"),
// falling back to the nearest existing parent path.
func (l *Lab) at(path string, format string, args ...any) *Error {
	e := &Error{File: l.Source, Msg: fmt.Sprintf(format, args...)}
	if l.root == nil && l.src != nil {
		l.root, _ = parseLab(l.src) // it parsed before: it parses again
	}
	if l.root != nil {
		if node := lookup(l.root, path); node != nil {
			e.setNode(keyNode(node))
		}
	}
	return e
}

// keyNode is the node to point at for node: for a mapping, its first key.
func keyNode(node *yamlx.Node) *yamlx.Node {
	if node.Kind == yamlx.Mapping && len(node.Content) > 0 {
		return node.Content[0]
	}
	return node
}
