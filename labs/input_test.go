package labs

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// aliasBomb is a "billion laughs": 10 levels of 10 aliases each, which
// stand for 10^10 strings in about 1.2 KB.
func aliasBomb(indent string) string {
	var b strings.Builder
	b.WriteString(indent + "- &a0 lol\n")
	for i := 1; i <= 10; i++ {
		fmt.Fprintf(&b, "%s- &a%d [", indent, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

// hostileCases are lab files built to crash or exhaust the loader; each
// must give a positioned error, quickly and in little memory. They seed
// FuzzLoad too.
var hostileCases = []struct {
	name     string
	yaml     string
	pos      string // "line:col" or "" for the file as a whole
	contains string
}{
	{"binary tag on a list", "hosts: !!binary aGk=\n", "1:8", "YAML tag !!binary is not supported"},
	// A tagged value is pointed at where it is written (goccy/go-yaml,
	// the earlier front end, pointed one column before it).
	{"int tag on a list", "hosts: !!int \"x\"\n", "1:14", `"x" is not a list`},
	{"str tag on a list", "hosts: !!str x\n", "1:14", `"x" is not a list`},
	{"float tag on a list", "hosts: !!float 1\n", "1:16", `"1" is not a list`},
	{"custom tag", "name: !foo x\nhosts: []\n", "1:7", "YAML tag !foo is not supported"},
	{"alias bomb in expect same", base + "steps:\n  - expect:\n      same:\n" + aliasBomb("        "), "", "an alias bomb?"},
	{"alias bomb in description", "description:\n" + aliasBomb("  ") + base[len("name: t\n"):], "", "an alias bomb?"},
	{"alias bomb in ends", strings.Replace(base, "  - ends: [A, lan]\n", "  - ends:\n"+aliasBomb("      "), 1), "", "an alias bomb?"},
	{"deep flow nesting", "hosts: " + strings.Repeat("[", 100_000) + "\n", "1:", "nested deeper than 64 levels"},
	{"deep block nesting", "hosts:\n" + strings.Repeat("- ", 100_000) + "x\n", "2:", "nested deeper than 64 levels"},
	{"deep mapping nesting", "hosts: " + strings.Repeat("{a: ", 100_000) + "\n", "1:", "nested deeper than 64 levels"},
	{"alias to nothing", strings.Replace(base, "anonymous: true", "anonymous: true\n    trust: [x<<: *a]", 1), "15:18", "alias *a: no anchor &a before it"},
	{"huge server file", strings.Replace(base, "content: hi", "size: 1024GiB", 1), "16:26", "size 1 TiB is more than the 16 GiB a lab may generate"},
	{"huge put", base + "steps:\n  - put: {client: A, to: B:/x, size: 1000GiB}\n", "18:38", "size 1000 GiB is more than the 16 GiB"},
	{"comments only", "# nothing here\n# at all\n", "", "bad.yaml: empty lab file: it holds only comments"},
	{"two documents", base + "---\nname: second\n", "17:1", "a lab file holds one YAML document"},
	{"negative size", strings.Replace(base, "content: hi", "size: -5", 1), "16:26", `size "-5": must not be negative`},
	{"size 1e400", strings.Replace(base, "content: hi", "size: 1e400", 1), "16:26", `size "1e400": too large`},
	{"size .inf", strings.Replace(base, "content: hi", "size: .inf", 1), "16:26", `size ".inf": not a number`},
	{"mtu 1e400", strings.Replace(base, "ends: [A, lan]", "ends: [A, lan]\n    mtu: 1e400", 1), "11:10", `"1e400" is not a whole number`},
	{"seed .inf", strings.Replace(base, "ends: [A, lan]", "ends: [A, lan]\n    seed: .inf", 1), "11:11", `".inf" is not a whole number`},
	{"integer overflow", strings.Replace(base, "ends: [A, lan]", "ends: [A, lan]\n    seed: 99999999999999999999", 1), "11:11", "number 99999999999999999999 is too large (at most 9223372036854775807)"},
	{"port overflow", strings.Replace(base, "anonymous: true", "anonymous: true\n    port: 9223372036854775808", 1), "15:11", "is too large"},
	{"repeated key", strings.Replace(base, "anonymous: true", "anonymous: true\n    anonymous: false", 1), "15:5", `mapping key "anonymous" already defined at [14:5]`},
	{"mapping for a string", "name: {a: 1}\nhosts: []\n", "1:7", "want a string, got a mapping"},
}

func TestLoadHostile(t *testing.T) {
	for _, tc := range hostileCases {
		t.Run(tc.name, func(t *testing.T) {
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := Load("bad.yaml", []byte(tc.yaml))
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			require.Error(t, err)
			msg := err.Error()
			assert.Contains(t, msg, "bad.yaml:"+tc.pos, "position")
			assert.Contains(t, msg, tc.contains)
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(512<<20), "memory used to refuse it")
		})
	}
}

// TestLoadTooLarge: a file over MaxSourceSize is refused before it is
// parsed, from memory and from disk.
func TestLoadTooLarge(t *testing.T) {
	big := []byte("description: \"" + strings.Repeat("x", MaxSourceSize) + "\"\n")
	_, err := Load("big.yaml", big)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "big.yaml: lab file is larger than 8 MiB")

	path := filepath.Join(t.TempDir(), "big.yaml")
	require.NoError(t, os.WriteFile(path, big, 0o644))
	_, err = LoadFile(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "lab file is larger than 8 MiB")
}

// TestLoadBOM: a UTF-8 byte order mark is skipped.
func TestLoadBOM(t *testing.T) {
	l, err := Load("bom.yaml", []byte("\ufeff"+base))
	require.NoError(t, err)
	assert.Equal(t, "t", l.Name)
}

// TestLoadAliasesAndMerges: ordinary anchors, aliases and merge keys still
// work, and an alias stands for the latest anchor of its name.
func TestLoadAliasesAndMerges(t *testing.T) {
	src := strings.Replace(base, "links:\n  - ends: [A, lan]\n  - ends: [B, lan]\n",
		"links:\n  - &slow {ends: [A, lan], delay: 5ms, loss: 1%}\n  - {<<: *slow, ends: [B, lan], loss: 2%}\n", 1) +
		"steps:\n  - name: one\n    get: &g {client: A, from: B:/f}\n  - get: *g\n  - get: {<<: *g, to: /copy}\n"
	l, err := Load("t.yaml", []byte(src))
	require.NoError(t, err)
	require.Len(t, l.Links, 2)
	assert.Equal(t, []string{"B", "lan"}, l.Links[1].Ends, "own keys win over merged ones")
	assert.Equal(t, l.Links[0].Delay, l.Links[1].Delay, "merged")
	assert.InDelta(t, 0.02, float64(l.Links[1].Loss), 1e-12)
	require.Len(t, l.Steps, 3)
	assert.Equal(t, "B:/f", l.Steps[1].Action.(*GetStep).From)
	assert.Equal(t, "/copy", l.Steps[2].Action.(*GetStep).To)
}

// TestLoadTagsOfTheCoreSchema: !!str and friends only say what a value is.
func TestLoadTagsOfTheCoreSchema(t *testing.T) {
	l, err := Load("t.yaml", []byte(strings.Replace(base, "name: t", "name: !!str 0123", 1)))
	require.NoError(t, err)
	assert.Equal(t, "0123", l.Name)
}
