// Package yamlx is the YAML front end of lab files: a small parser for the
// part of YAML 1.2 that lab files use, linear in the size of its input,
// that gives every node its line and column.
//
// It reads block mappings and sequences (a sequence may sit at its key's
// indentation), flow mappings and sequences (with single-pair mappings in
// flow sequences), plain, single- and double-quoted scalars over one or
// more lines, literal (|) and folded (>) block scalars with indentation
// and chomping indicators, comments, anchors and aliases, the core
// schema's tags, and a stream of documents of which at most one has
// content. Explicit keys (?), directives (%YAML), other tags and more than
// one document are refused with an error at their position.
//
// Aliases are expanded as the document is parsed: an alias is the node
// its anchor stands for (the tree shares it), so a consumer never sees
// anchors or aliases. Limits bound the work before it grows: nesting is
// checked as each collection opens, and the nodes that all aliases
// together stand for are counted as each alias is met. Merge keys (<<)
// are left to the consumer: a plain "<<" key is reported by IsMergeKey.
//
// The package serves labs only; its messages are worded for lab files.
package yamlx

import (
	"fmt"
	"strings"
)

// Kind is what a node is.
type Kind uint8

// The kinds of node. Plain scalars are resolved with the core schema as
// far as a lab needs: null (empty, ~, null), true and false; everything
// else, numbers included, is a String holding the text as written.
const (
	// Null is an empty value, ~ or null (Null, NULL).
	Null Kind = iota
	// Bool is true or false (True, TRUE, False, FALSE); Value holds the
	// text.
	Bool
	// String is any other scalar.
	String
	// Sequence is a list; Content holds its items.
	Sequence
	// Mapping is a mapping; Content holds its keys and values in turn.
	Mapping
)

// Style is how a node was written.
type Style uint8

// The styles of node.
const (
	// Plain is an unquoted scalar (or an empty value).
	Plain Style = iota
	// SingleQuoted is a scalar in '...'.
	SingleQuoted
	// DoubleQuoted is a scalar in "...".
	DoubleQuoted
	// Literal is a | block scalar.
	Literal
	// Folded is a > block scalar.
	Folded
	// Block is an indented collection.
	Block
	// Flow is a collection in [...] or {...}.
	Flow
)

// Node is a node of a document, positioned where it starts: a scalar at
// its first character (a quoted one at its quote, a block scalar at its
// indicator), a flow collection at its bracket, a block mapping at its
// first key and a block sequence at its first "-".
type Node struct {
	Kind  Kind
	Style Style
	// Line and Column (1-based, in characters) locate the node.
	Line, Column int32
	// Value is a scalar's text, escapes and folding applied.
	Value string
	// Content holds a sequence's items, or a mapping's keys and values
	// in turn (key, value, key, value, ...).
	Content []*Node
}

// Bool reports a Bool node's value (false for any other node).
func (n *Node) Bool() bool {
	return n.Kind == Bool && (n.Value[0] == 't' || n.Value[0] == 'T')
}

// IsScalar reports whether n is a null, a bool or a string.
func (n *Node) IsScalar() bool { return n.Kind <= String }

// IsMergeKey reports whether n, a key, is the merge key: a plain <<.
func (n *Node) IsMergeKey() bool {
	return n.Kind == String && n.Style == Plain && n.Value == "<<"
}

// Describe names a node's value for an error message: its text, quoted,
// for a scalar, "a mapping" or "a list" for a collection.
func (n *Node) Describe() string {
	switch n.Kind {
	case Mapping:
		return "a mapping"
	case Sequence:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

// Limits bound what a document may cost.
type Limits struct {
	// MaxDepth is the deepest nesting of collections allowed, aliases
	// expanded (a document whose root is a mapping of scalars has depth 1).
	MaxDepth int
	// MaxAliasNodes is how many nodes all aliases together may stand for,
	// counting every expansion.
	MaxAliasNodes int
}

// Error is a problem at a line and column (1-based, in characters).
type Error struct {
	Line, Column int
	Msg          string
}

// Error renders "line:col: message".
func (e *Error) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Column, e.Msg) }

// Errors is every problem Parse found, in the order it found them.
type Errors []*Error

// Error renders one problem per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}
