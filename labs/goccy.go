package labs

import (
	"fmt"

	"github.com/ftplab/ftplab/labs/internal/yamlx"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// fromAST decodes a goccy/go-yaml node into v as Load would. Load reads
// lab files with its own YAML front end (labs/internal/yamlx), but the
// configuration types keep their UnmarshalYAML methods for goccy/go-yaml,
// so that a program can still decode them with its yaml.Unmarshal: each
// converts goccy's node and decodes that.
func fromAST(node ast.Node, v nodeDecoder) error {
	n, err := convertAST(node, 0)
	if err != nil {
		return err
	}
	return v.decodeYAML(n)
}

// convertAST converts a goccy/go-yaml node, anchors and tags unwrapped
// (!!str makes a scalar a string), at nesting depth depth.
func convertAST(node ast.Node, depth int) (*yamlx.Node, error) {
	if depth > MaxDepth {
		return nil, nodeErrorAST(node, "nested deeper than %d levels of lists and mappings", MaxDepth)
	}
	out := &yamlx.Node{}
	if node == nil {
		return out, nil
	}
	if tk := node.GetToken(); tk != nil && tk.Position != nil {
		out.Line, out.Column = int32(tk.Position.Line), int32(tk.Position.Column)
	}
	switch n := node.(type) {
	case *ast.NullNode:
	case *ast.BoolNode:
		out.Kind, out.Value = yamlx.Bool, n.GetToken().Value
	case *ast.StringNode:
		out.Kind, out.Value = yamlx.String, n.Value
		switch n.GetToken().Type {
		case token.SingleQuoteType:
			out.Style = yamlx.SingleQuoted
		case token.DoubleQuoteType:
			out.Style = yamlx.DoubleQuoted
		}
	case *ast.LiteralNode:
		out.Kind, out.Value = yamlx.String, n.Value.Value
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		out.Kind, out.Value = yamlx.String, n.GetToken().Value
	case *ast.MergeKeyNode:
		out.Kind, out.Value = yamlx.String, "<<"
	case *ast.AnchorNode:
		return convertAST(n.Value, depth)
	case *ast.TagNode:
		v, err := convertAST(n.Value, depth)
		if err == nil && n.Start.Value == "!!str" && v.IsScalar() {
			v.Kind = yamlx.String
		}
		return v, err
	case *ast.SequenceNode:
		out.Kind = yamlx.Sequence
		for _, item := range n.Values {
			v, err := convertAST(item, depth+1)
			if err != nil {
				return nil, err
			}
			out.Content = append(out.Content, v)
		}
	case *ast.MappingValueNode:
		return convertAST(&ast.MappingNode{BaseNode: &ast.BaseNode{}, Start: n.Start, Values: []*ast.MappingValueNode{n}}, depth)
	case *ast.MappingNode:
		out.Kind = yamlx.Mapping
		for _, mv := range n.Values {
			k, err := convertAST(mv.Key, depth+1)
			if err != nil {
				return nil, err
			}
			v, err := convertAST(mv.Value, depth+1)
			if err != nil {
				return nil, err
			}
			out.Content = append(out.Content, k, v)
		}
		if len(out.Content) > 0 {
			out.Line, out.Column = out.Content[0].Line, out.Content[0].Column
		}
	default:
		return nil, nodeErrorAST(node, "%s is not supported here", node.Type())
	}
	return out, nil
}

// nodeErrorAST makes an Error at a goccy/go-yaml node's position.
func nodeErrorAST(node ast.Node, format string, args ...any) *Error {
	e := &Error{Msg: fmt.Sprintf(format, args...)}
	if tk := node.GetToken(); tk != nil && tk.Position != nil {
		e.Line, e.Column = tk.Position.Line, tk.Position.Column
	}
	return e
}
