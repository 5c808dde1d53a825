package yamlx

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testLimits = Limits{MaxDepth: 64, MaxAliasNodes: 100_000}

// dump renders a tree compactly: scalars quoted (null as ~, bools bare),
// collections as [...] and {k: v, ...}, each node followed by @line:col
// when at is set.
func dump(n *Node, at bool) string {
	var b strings.Builder
	var walk func(n *Node)
	walk = func(n *Node) {
		switch n.Kind {
		case Null:
			b.WriteString("~")
		case Bool:
			b.WriteString(n.Value)
		case String:
			b.WriteString(strconv.Quote(n.Value))
		case Sequence:
			b.WriteString("[")
			for i, c := range n.Content {
				if i > 0 {
					b.WriteString(", ")
				}
				walk(c)
			}
			b.WriteString("]")
		case Mapping:
			b.WriteString("{")
			for i := 0; i < len(n.Content); i += 2 {
				if i > 0 {
					b.WriteString(", ")
				}
				walk(n.Content[i])
				b.WriteString(": ")
				walk(n.Content[i+1])
			}
			b.WriteString("}")
		}
		if at {
			fmt.Fprintf(&b, "@%d:%d", n.Line, n.Column)
		}
	}
	if n == nil {
		return "<none>"
	}
	walk(n)
	return b.String()
}

func parseDump(t *testing.T, src string, at bool) string {
	t.Helper()
	n, err := Parse(src, testLimits)
	require.NoError(t, err, "%q", src)
	return dump(n, at)
}

// TestParseValues: what the lab files and their users write parses to
// the values YAML gives it.
func TestParseValues(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"", "<none>"},
		{"# only\n\n# comments\n", "<none>"},
		{"---\n...\n---\n", "<none>"},
		{"a: 1\nb: x y\n", `{"a": "1", "b": "x y"}`},
		{"a:\nb: ~\nc: null\nd: true\ne: False\nf: yes\n", `{"a": ~, "b": ~, "c": ~, "d": true, "e": False, "f": "yes"}`},
		{"a: 'it''s'\nb: \"q\\\"\\t\\u00e9\\x41\"\n", `{"a": "it's", "b": "q\"\té` + "A" + `"}`},
		{"a: \"\"\nb: ''\nc: !!str\nd: !!str true\n", `{"a": "", "b": "", "c": "", "d": "true"}`},
		{"- a\n- - b\n  - c\n- k: v\n  k2: v2\n-\n- []\n", `["a", ["b", "c"], {"k": "v", "k2": "v2"}, ~, []]`},
		{"key:\n- a\n- b\nk2: x\n", `{"key": ["a", "b"], "k2": "x"}`},
		{"a: [x, \"y\", {b: c}, [d], ]\n", `{"a": ["x", "y", {"b": "c"}, ["d"]]}`},
		{"a: {b: 1, c, d: }\n", `{"a": {"b": "1", "c": ~, "d": ~}}`},
		{"a: [x<<: *a]\n", ""}, // an error, see TestParseErrors
		{"a: [k: v, w]\n", `{"a": [{"k": "v"}, "w"]}`},
		{"a: {\"k\":v}\n", `{"a": {"k": "v"}}`},
		{"a: {k:v}\n", `{"a": {"k:v": ~}}`},
		{"a: [fd00::1/64, B:/f, \"x\"]\n", `{"a": ["fd00::1/64", "B:/f", "x"]}`},
		{"a: [\n  x,\n  y\n]\n", `{"a": ["x", "y"]}`},
		{"a: b\n  c\n\n  d\n", `{"a": "b c\nd"}`},
		{"a: x # comment\nb: y#z\n", `{"a": "x", "b": "y#z"}`},
		{"a: \"x\n  y\n\n  z\"\n", `{"a": "x y\nz"}`},
		{"a: \"x\\\n  y\"\n", `{"a": "xy"}`},
		{"a: |\n  hi\n   there\n\n  end\nb: 1\n", `{"a": "hi\n there\n\nend\n", "b": "1"}`},
		{"a: |-\n  x\n\n", `{"a": "x"}`},
		{"a: |+\n  x\n\n", `{"a": "x\n\n"}`},
		{"a: >\n  x\n  y\n\n  z\n   more\n  w\n", `{"a": "x y\nz\n more\nw\n"}`},
		{"a: |2\n   x\n  y\n", `{"a": " x\ny\n"}`},
		{"a: |\nb: 1\n", `{"a": "", "b": "1"}`},
		{"- |\n  x\n- y\n", `["x\n", "y"]`},
		{"a: &x {b: 1}\nc: *x\nd: &y z\ne: *y\n", `{"a": {"b": "1"}, "c": {"b": "1"}, "d": "z", "e": "z"}`},
		{"- &a k: v\n- *a\n", `[{"k": "v"}, "k"]`},
		{"a: &m\n  b: 1\nc:\n  <<: *m\n", `{"a": {"b": "1"}, "c": {"<<": {"b": "1"}}}`},
		{"--- a\n", `"a"`},
		{"---\na: 1\n...\n", `{"a": "1"}`},
		{"--- |\n  x\n", `"x\n"`},
		{"a: 1\r\nb: \"x\"\r\n", `{"a": "1", "b": "x"}`},
		{"  a: 1\n  b: 2\n", `{"a": "1", "b": "2"}`},
		{"a:\n  - b\n  -   c: 1\n      d: 2\n", `{"a": ["b", {"c": "1", "d": "2"}]}`},
		{"a:\n  - x\n   - y\n", `{"a": ["x - y"]}`},
		{"a:\tb\nc  : d\n\"e\" : f\n", `{"a": "b", "c": "d", "e": "f"}`},
		{"a: [x, # one\n  y]  # two\n", `{"a": ["x", "y"]}`},
		{"a: |\r\n  x\r\n  y\r\n", `{"a": "x\ny\n"}`},
		{"a: &n\nb: *n\n", `{"a": ~, "b": ~}`},
		{"a: !!map\n  b: 1\nc: &s !!seq\n- x\n", `{"a": {"b": "1"}, "c": ["x"]}`},
		{"a: 0x1F\nb: 1_000\nc: .inf\nd: -1e3\n", `{"a": "0x1F", "b": "1_000", "c": ".inf", "d": "-1e3"}`},
	} {
		if tc.want == "" {
			continue
		}
		assert.Equal(t, tc.want, parseDump(t, tc.src, false), "%q", tc.src)
	}
}

// TestParsePositions: every node's line and column, in characters.
func TestParsePositions(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"a: x\nb:\n  c: 'y'\n", `{"a"@1:1: "x"@1:4, "b"@2:1: {"c"@3:3: "y"@3:6}@3:3}@1:1`},
		{"- [x, {k: v}]\n", `[["x"@1:4, {"k"@1:8: "v"@1:11}@1:7]@1:3]@1:1`},
		{"é: ü\nk: !!str 1\n", `{"é"@1:1: "ü"@1:4, "k"@2:1: "1"@2:10}@1:1`},
		{"a: |\n  x\nb:\n", `{"a"@1:1: "x\n"@1:4, "b"@3:1: ~@3:3}@1:1`},
		{"- &a\n- !!str\n", `[~@1:3, ""@2:3]@1:1`},
		{"a: b\n  c\n", `{"a"@1:1: "b c"@1:4}@1:1`},
		{"- &a k: v\n  l: w\n", `[{"k"@1:6: "v"@1:9, "l"@2:3: "w"@2:6}@1:3]@1:1`},
	} {
		assert.Equal(t, tc.want, parseDump(t, tc.src, true), "%q", tc.src)
	}
}

// TestParseErrors: bad input is refused at the right place.
func TestParseErrors(t *testing.T) {
	deep := func(open string, n int) string { return "hosts: " + strings.Repeat(open, n) + "\n" }
	for _, tc := range []struct{ src, want string }{
		{"name: [x\n", "1:7: the flow list [ that starts here is not closed (a ] is missing)"},
		{"name: {a: 1\n", "1:7: the flow mapping { that starts here is not closed (a } is missing)"},
		{"a: [x, [y] z]\n", "1:12: want , or ] here (in the list [ that starts at 1:4)"},
		{"a: 'x\n", "1:4: the quoted string that starts here is not closed (a ' is missing)"},
		{"a: \"x\n---\n\"\n", "1:4: the quoted string that starts here is not closed"},
		{"a: 1\na: 2\n", `2:1: mapping key "a" already defined at [1:1]`},
		{"a: {x: 1, 'x': 2}\n", `1:11: mapping key "x" already defined at [1:5]`},
		{"a: b: c\n", "1:4: a mapping cannot start on the line of its key"},
		{"a: - b\n", "1:4: a list cannot start on the line of its key"},
		{"a: 1\n  b: 2\n", "2:3: bad indentation: this line is indented more than the key above it"},
		{"a:\n  - x\n   y: 1\n", "3:4: bad indentation: this line is indented more than the - of the list item above it"},
		{"a: 1\n- b\n", "2:1: a list item where the mapping above wants a key"},
		{"a: 1\nb\n", `2:1: "b" needs ": " after it`},
		{"a: 1\n\tb: 2\n", "2:2: a tab in the indentation"},
		{"? a\n: b\n", "1:1: explicit keys (? key) are not supported"},
		{"%YAML 1.2\n---\na: 1\n", "1:1: YAML directives (%YAML, %TAG) are not supported"},
		{"a: 1\n---\nb: 2\n", "2:1: a lab file holds one YAML document; a second one starts here"},
		{"a: 1\n...\nb: 2\n", "3:1: a lab file holds one YAML document"},
		{"a: !!binary aGk=\nb: !foo x\n", "1:4: YAML tag !!binary is not supported in a lab file (only !!str, !!int, !!float, !!bool, !!null, !!seq, !!map)\n2:4: YAML tag !foo is not supported"},
		{"a: *x\n", "1:4: alias *x: no anchor &x before it"},
		{"a: &x [*x]\n", "1:8: alias *x: no anchor &x before it"},
		{"a: [x<<: *a]\n", "1:10: alias *a: no anchor &a before it"},
		{"a: \"\\q\"\n", `1:5: unknown escape \q in a double-quoted string`},
		{"a: x\x01\n", "1:5: control character U+0001 is not allowed"},
		{"a: |x\n", `1:5: unexpected "x" after the block scalar's indicator`},
		{"a: @x\n", "1:4: unexpected '@' here"},
		{"[a]: b\n", "1:1: a key must be a single value"},
		{"a: [b] c\n", `1:8: unexpected "c" after the value`},
		{"- a\nb: 1\n", "2:1: bad indentation: this line does not line up with the keys or list items above it"},
		{"a: 1\n...\nb\n", "3:1: a lab file holds one YAML document"},
		{"a: 1\n... x\n", `2:5: unexpected text after the document end marker`},
		{"a: &x\n  &y b\n", "2:3: a node's anchor and tag go on one line"},
		{"a: " + strings.Repeat("&x\n ", 100_000) + "b\n", "2:2: a node's anchor and tag go on one line"},
		{"a: b\r c\n", "1:5: a carriage return without a line feed"},
		{"a: \xff\n", "1:4: byte 0xff is not UTF-8"},
		{deep("[", 100_000), "1:71: nested deeper than 64 levels of lists and mappings"},
		{deep("{a: ", 100_000), "1:260: nested deeper than 64 levels"},
		{"hosts:\n" + strings.Repeat("- ", 100_000) + "x\n", "2:127: nested deeper than 64 levels"},
	} {
		_, err := Parse(tc.src, testLimits)
		require.Error(t, err, "%q", tc.src)
		assert.Contains(t, err.Error(), tc.want, "%q", tc.src)
		assert.IsType(t, Errors{}, err)
	}
}

// TestParseAliasLimits: what aliases stand for is bounded in size and
// depth.
func TestParseAliasLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("- &a0 lol\n")
	for i := 1; i <= 10; i++ {
		fmt.Fprintf(&b, "- &a%d [", i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	_, err := Parse(b.String(), testLimits)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the aliases of this file stand for more than 100000 values (an alias bomb?)")
	assert.Len(t, err.(Errors), 1, "said once")

	deep := "a: &d " + strings.Repeat("[", 40) + strings.Repeat("]", 40) + "\nb: " + strings.Repeat("[", 30) + "*d" + strings.Repeat("]", 30) + "\n"
	_, err = Parse(deep, testLimits)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "2:34: alias *d: nested deeper than 64 levels of lists and mappings when expanded")
}
