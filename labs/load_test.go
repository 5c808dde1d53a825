package labs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// base is a small valid lab that the error cases below modify.
const base = `name: t
hosts:
  - name: A
    addresses: [10.0.0.1/24]
  - name: B
    addresses: [10.0.0.2/24]
switches:
  - name: lan
links:
  - ends: [A, lan]
  - ends: [B, lan]
servers:
  - host: B
    anonymous: true
    files:
      - {path: /f, content: hi}
`

func TestLoadValid(t *testing.T) {
	l, err := Load("t.yaml", []byte(base+`steps:
  - name: big
    background: true
    get: {client: A, from: B:/f}
  - wait: 10ms
  - wait: {for: big}
  - link: {name: A-lan, delay: 5ms, loss: "0.5%", rate: 10Mbit/s, down: false}
  - cmd: {client: A, server: B, send: NOOP, reply: 200}
  - expect: {step: big, ok: true, code: 2xx}
`))
	require.NoError(t, err)
	assert.Equal(t, "t", l.Name)
	assert.Equal(t, 21, l.Servers[0].Port, "port defaults to 21")
	assert.Equal(t, "B", l.Servers[0].Name, "server name defaults to host")
	require.Len(t, l.Steps, 6)
	assert.Equal(t, "get", l.Steps[0].Key())
	assert.IsType(t, &GetStep{}, l.Steps[0].Action)
	assert.True(t, l.Steps[0].Background)
	assert.Equal(t, 10*time.Millisecond, l.Steps[1].Action.(*WaitStep).Time.D())
	assert.Equal(t, Names{"big"}, l.Steps[2].Action.(*WaitStep).For)
	lk := l.Steps[3].Action.(*LinkStep)
	assert.Equal(t, 5*time.Millisecond, lk.Delay.D())
	assert.InDelta(t, 0.005, float64(*lk.Loss), 1e-12)
	assert.Equal(t, Rate(10_000_000), *lk.Rate)
	assert.Equal(t, Codes{"200"}, l.Steps[4].Action.(*CmdStep).Reply)
	assert.Equal(t, "step5", l.Steps[4].Name, "default step names are 1-based")
	assert.Equal(t, "2xx", l.Steps[5].Action.(*ExpectStep).Code)
}

// TestLoadErrors checks that each mistake is reported with the right line
// and column and a message naming the offending item.
func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		pos      string // "line:col"
		contains string
	}{
		{"unknown key", "name: x\nhostz: []\n", "2:1", `unknown key "hostz"`},
		{"unknown nested key", base + "steps:\n  - fxp: {client: A, form: B:/f, to: B:/g}\n", "18:22", `unknown key "form"`},
		{"syntax", "name: [x\n", "1:7", ""},
		{"bare address", strings.Replace(base, "10.0.0.1/24", "10.0.0.1", 1), "4:17", "add a prefix length, like 10.0.0.1/24"},
		{"bad delay", base + "steps:\n  - link: {name: A-lan, delay: 40}\n", "18:32", `duration "40"`},
		{"bad rate", strings.Replace(base, "ends: [A, lan]", "ends: [A, lan]\n    rate: 10Mbyte", 1), "11:11", `rate "10Mbyte"`},
		{"bad percent", strings.Replace(base, "ends: [A, lan]", "ends: [A, lan]\n    loss: 1", 1), "11:11", `write it with a % sign`},
		{"percent range", strings.Replace(base, "ends: [A, lan]", "ends: [A, lan]\n    loss: 120%", 1), "11:11", `between 0% and 100%`},
		{"unknown host in link", strings.Replace(base, "ends: [B, lan]", "ends: [Q, lan]", 1), "11:12", `link "Q-lan": end A: unknown host or switch "Q"`},
		{"duplicate address", strings.Replace(base, "10.0.0.2/24", "10.0.0.1/24", 1), "6:17", `NIC "B:eth0": duplicate address 10.0.0.1 (also on A:eth0)`},
		{"server on unknown host", strings.Replace(base, "host: B", "host: Z", 1), "13:11", `host "Z" does not exist`},
		{"unknown server in step", base + "steps:\n  - get: {client: A, from: Q:/f}\n", "18:28", `no server named "Q"`},
		{"unknown client", base + "steps:\n  - get: {client: Z, from: B:/f}\n", "18:19", `host "Z" does not exist`},
		{"expect unknown step", base + "steps:\n  - expect: {step: nope, ok: true}\n", "18:20", `step "nope" is not an earlier step`},
		{"expect later step", base + "steps:\n  - expect: {step: g, ok: true}\n  - name: g\n    get: {client: A, from: B:/f}\n", "18:20", `step "g" is not an earlier step`},
		{"two actions", base + "steps:\n  - get: {client: A, from: B:/f}\n    wait: 1s\n", "18:5", "one action per step, got get and wait"},
		{"no action", base + "steps:\n  - name: x\n", "18:5", "give one action"},
		{"bad dialect", base + "steps:\n  - fxp: {client: A, from: B:/f, to: B:/g, dialect: rfc765}\n", "18:53", `dialect "rfc765"`},
		{"bad reply code", base + "steps:\n  - cmd: {client: A, server: B, send: NOOP, reply: 99}\n", "18:52", `reply code "99"`},
		{"rfc478 on IPv6", strings.Replace(base, "10.0.0.2/24", "\"fd00::2/64\"", 1) + "steps:\n  - fxp: {client: A, from: B:/f, to: B:/g, dialect: rfc478}\n", "18:53", "server B has no IPv4 address"},
		{"unknown link", base + "steps:\n  - link: {name: nowhere, down: true}\n", "18:18", `no link named "nowhere"`},
		{"wait for non-background", base + "steps:\n  - name: g\n    get: {client: A, from: B:/f}\n  - wait: {for: g}\n", "20:17", `wait for "g"`},
		{"file with two sources", strings.Replace(base, "{path: /f, content: hi}", "{path: /f, content: hi, size: 1KiB}", 1), "16:10", "exactly one of content, size or from"},
		{"relative file path", strings.Replace(base, "path: /f", "path: f", 1), "16:10", "path must be absolute"},
		{"bad size", strings.Replace(base, "content: hi", "size: 3 parsecs", 1), "16:26", `size "3 parsecs"`},
		{"gateway off-link", strings.Replace(base, "addresses: [10.0.0.1/24]", "addresses: [10.0.0.1/24]\n    gateway: 10.9.9.9", 1), "5:14", "gateway 10.9.9.9 is not in the subnet of any NIC"},
		{"nobody logs in", strings.Replace(base, "anonymous: true", "port: 2121", 1), "13:5", "nobody can log in"},
		{"bad port range", strings.Replace(base, "anonymous: true", "anonymous: true\n    passive-ports: 600-500", 1), "15:20", "low end 600 is above high end 500"},
		{"unconnected host", strings.Replace(base, "switches:", "  - name: C\n    addresses: [10.0.0.3/24]\nswitches:", 1), "7:5", `host "C": NIC eth0 is on no link`},
		{"link to two switches", strings.Replace(strings.Replace(base, "  - name: lan\n", "  - name: lan\n  - name: wan\n", 1), "servers:", "  - ends: [lan, wan]\nservers:", 1), "13:5", "switch-to-switch links are not supported"},
		{"tun gateway unknown", base + "tun: {name: ftplab0, gateway: Q, addresses: [10.0.0.9/24]}\n", "17:31", `gateway host "Q" does not exist`},
		{"empty", "  \n", "", "empty lab file"},
		{"not a bool", strings.Replace(base, "anonymous: true", "anonymous: maybe", 1), "14:16", `"maybe" is not true or false`},
		{"not a number", strings.Replace(base, "anonymous: true", "anonymous: true\n    port: twenty-one", 1), "15:11", `"twenty-one" is not a whole number`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load("bad.yaml", []byte(tc.yaml))
			require.Error(t, err)
			msg := err.Error()
			assert.Contains(t, msg, "bad.yaml:"+tc.pos, "position")
			assert.Contains(t, msg, tc.contains)
		})
	}
}

func TestErrorsCollectsAll(t *testing.T) {
	y := strings.Replace(base, "host: B", "host: Z", 1) + "steps:\n  - get: {client: Y, from: B:/f}\n"
	_, err := Load("bad.yaml", []byte(y))
	var es Errors
	require.ErrorAs(t, err, &es)
	require.Len(t, es, 3, "%v", err)
	assert.Contains(t, es[0].Error(), `host "Z" does not exist`)
	assert.Contains(t, es[1].Error(), `host "Y" does not exist`)
	assert.Contains(t, es[2].Error(), `no server named "B"`)
	assert.NotEmpty(t, es[0].Snippet, "source snippet for the user")
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "mylab.yaml")
	require.NoError(t, os.WriteFile(p, []byte(strings.Replace(base, "name: t\n", "", 1)), 0o644))
	l, err := LoadFile(p)
	require.NoError(t, err)
	assert.Equal(t, "mylab", l.Name, "name defaults to the file's base name")
	assert.Equal(t, dir, l.Dir)

	_, err = LoadFile(filepath.Join(dir, "missing.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, err.Error(), "missing.yaml")
}

func TestParseValues(t *testing.T) {
	rates := map[string]int64{"2Mbit": 2e6, "10Mbit/s": 1e7, "512kbps": 512e3, "1Gbit": 1e9, "64000": 64000, "1.5Mbit": 1.5e6, "0": 0}
	for in, want := range rates {
		got, err := ParseRate(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	sizes := map[string]int64{"4096": 4096, "64KiB": 64 << 10, "1.5MB": 1_500_000, "2GiB": 2 << 30, "10B": 10}
	for in, want := range sizes {
		got, err := ParseSize(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"10Mbyte", "fast", "1e3x"} {
		_, err := ParseRate(bad)
		assert.Error(t, err, bad)
	}
	for _, bad := range []string{"10", "-1%", "abc%", "101%"} {
		_, err := ParsePercent(bad)
		assert.Error(t, err, bad)
	}
	for _, bad := range []string{"40", "-5ms", "soon"} {
		_, err := ParseDuration(bad)
		assert.Error(t, err, bad)
	}
	pr, err := ParsePortRange("50000-50009")
	require.NoError(t, err)
	assert.Equal(t, PortRange{50000, 50009}, pr)
	assert.Equal(t, "50000-50009", pr.String())
	for _, bad := range []string{"0", "70000", "9-1", "a-b"} {
		_, err := ParsePortRange(bad)
		assert.Error(t, err, bad)
	}
	assert.True(t, MatchCode("5xx", 504))
	assert.True(t, MatchCode("504", 504))
	assert.False(t, MatchCode("2xx", 504))
	assert.False(t, MatchCode("50", 50))
}
