package labs

import (
	"fmt"
	"testing"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

func TestAST(t *testing.T) {
	for _, src := range []string{"a: 99999999999999999999", "a: 1e400", "a: .inf", "a: -5", "a: !!binary aGk=", "a: x\n---\nb: y\n", "# c\n", "---\na: 1\n...\n", "a: [x<<: *a]", "a: {b: 1}", "a:\n  b: 1\n", "<<: {a: 1}\n"} {
		f, err := parser.ParseBytes([]byte(src), 0)
		if err != nil {
			t.Logf("%q: err %v", src, err)
			continue
		}
		s := fmt.Sprintf("%q: %d docs", src, len(f.Docs))
		for _, d := range f.Docs {
			s += fmt.Sprintf(" body=%T", d.Body)
			if m, ok := d.Body.(*ast.MappingNode); ok {
				for _, v := range m.Values {
					s += fmt.Sprintf(" [%T %T %v]", v.Key, v.Value, v.Value.GetToken().Type)
				}
			}
			if m, ok := d.Body.(*ast.MappingValueNode); ok {
				s += fmt.Sprintf(" [%T %T]", m.Key, m.Value)
			}
		}
		t.Log(s)
	}
}
