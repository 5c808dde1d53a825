package yamlx

import (
	"strings"
	"testing"
)

// FuzzParse feeds Parse arbitrary text: it must not panic, and every node
// and error it gives must be positioned inside the text.
func FuzzParse(f *testing.F) {
	for _, src := range []string{
		"a: 1\nb: [x, {c: d}]\n",
		"- &a k: v\n- *a\n- {<<: *a}\n",
		"a: |+\n  x\n\n b: >-\n  y\n",
		"a: \"x\\n\\u00e9\n  y\"\nb: 'it''s'\n",
		"--- !!str x\n...\n",
		"a:\n- b\n-   c: 1\n    d: 2\n",
	} {
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src string) {
		lines := int32(strings.Count(src, "\n") + 1)
		root, err := Parse(src, Limits{MaxDepth: 16, MaxAliasNodes: 1000})
		if err != nil {
			es, ok := err.(Errors)
			if !ok || len(es) == 0 {
				t.Fatalf("error %T %v", err, err)
			}
			for _, e := range es {
				if e.Line < 1 || e.Line > int(lines) || e.Column < 1 || e.Msg == "" {
					t.Fatalf("bad error %+v", e)
				}
			}
			return
		}
		var walk func(n *Node, depth int)
		walk = func(n *Node, depth int) {
			if n.Line < 1 || n.Line > lines || n.Column < 1 {
				t.Fatalf("node at %d:%d outside the text", n.Line, n.Column)
			}
			if depth > 16 || n.Kind == Mapping && len(n.Content)%2 != 0 || n.IsScalar() && n.Content != nil {
				t.Fatalf("bad node %+v at depth %d", n, depth)
			}
			for _, c := range n.Content {
				walk(c, depth+1)
			}
		}
		if root != nil {
			walk(root, 0)
		}
	})
}
