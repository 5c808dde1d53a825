package report

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ftplab/ftplab/ftp/ftptest"
	"github.com/ftplab/ftplab/labs"
	"github.com/ftplab/ftplab/labs/ladder"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// runLab runs an embedded lab with its capture in dir and returns the lab,
// its report and the HTML report's path.
func runLab(t *testing.T, name, dir string) (*labs.Lab, *labs.Report, string) {
	t.Helper()
	lab, err := labs.Embedded(name)
	require.NoError(t, err)
	var out bytes.Buffer
	rep, err := labs.Run(context.Background(), lab, labs.Options{CaptureFile: filepath.Join(dir, name+".pcapng"), Out: &out})
	require.NoError(t, err, out.String())
	require.True(t, rep.OK(), out.String())
	var html bytes.Buffer
	require.NoError(t, Write(&html, Input{Ladder: rep.Ladder, Lab: lab, Run: rep, Capture: rep.CaptureFile}))
	path := filepath.Join(dir, name+".html")
	require.NoError(t, os.WriteFile(path, html.Bytes(), 0o644))
	return lab, rep, path
}

// terminalLines renders the full terminal ladder and returns its arrow
// lines.
func terminalLines(t *testing.T, rep *labs.Report) []string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, rep.Ladder.Render(&b, ladder.Options{Names: rep.Names, Order: rep.Order}))
	var out []string
	for i, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		if i >= 2 && !strings.HasPrefix(line, "(") {
			out = append(out, line)
		}
	}
	return out
}

var (
	arrowRE = regexp.MustCompile(`<g class="arrow ([a-z-]+)[^"]*" id="ev-(\d+)" data-ev="\d+" data-row="\d+" data-conn="(\d+)" data-ann="([\d ]*)"`)
	labelRE = regexp.MustCompile(`<text class="label" [^>]*>([^<]*)`)
	nodeRE  = regexp.MustCompile(`<g class="node (host|switch|kernel)" data-host="([^"]*)"`)
)

// TestReportOfEveryLab: for every embedded lab, the HTML has one arrow per
// terminal ladder line with the same label, one node per host and switch,
// and every data connection linked to the command or reply that announced
// it; it is self-contained.
func TestReportOfEveryLab(t *testing.T) {
	list, err := labs.List()
	require.NoError(t, err)
	dir := t.TempDir()
	for _, info := range list {
		t.Run(info.Name, func(t *testing.T) {
			lab, rep, path := runLab(t, info.Name, dir)
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			html := string(data)
			assertSelfContained(t, html)

			term := terminalLines(t, rep)
			arrows := arrowRE.FindAllStringSubmatch(html, -1)
			require.Len(t, arrows, len(term), "one arrow per terminal ladder line")
			lines := rep.Ladder.Lines(ladder.Options{Names: rep.Names, Order: rep.Order})
			labels := labelRE.FindAllStringSubmatch(html, -1)
			require.Len(t, labels, len(lines))
			for i, ln := range lines {
				assert.Contains(t, term[i], ln.Label, "terminal line %d", i)
				assert.Equal(t, esc(ln.Label), labels[i][1], "SVG label %d", i)
			}
			kinds := map[string]bool{}
			ids := map[string]string{}
			for _, a := range arrows {
				ids[a[2]] = a[1]
			}
			for _, a := range arrows {
				kinds[a[1]] = true
				if a[1] != "data-open" && a[1] != "data-close" {
					continue
				}
				if a[4] == "" { // announced inside TLS, where the ladder cannot read
					c, err := strconv.Atoi(a[3])
					require.NoError(t, err)
					assert.True(t, rep.Ladder.Conns[c].TLS, "data connection %s has its announcement or is protected", a[2])
					continue
				}
				for _, ann := range strings.Fields(a[4]) {
					assert.Contains(t, []string{"cmd", "reply"}, ids[ann], "announced by a command or reply")
					has(t, html, fmt.Sprintf(`data-from="%s" data-to=`, ann))
				}
			}
			assert.True(t, kinds["data-close"], "a data connection is drawn")

			nodes := map[string]bool{}
			for _, m := range nodeRE.FindAllStringSubmatch(html, -1) {
				nodes[m[2]] = true
			}
			for _, h := range lab.Hosts {
				assert.True(t, nodes[h.Name], "host %s in the topology", h.Name)
			}
			for _, s := range lab.Switches {
				assert.True(t, nodes[s.Name], "switch %s in the topology", s.Name)
			}
			has(t, html, `<span class="comment"># `, "the lab's comments are shown")
			has(t, html, esc(lab.Description))
			for _, s := range rep.Steps {
				has(t, html, "<td>"+esc(s.Name)+"</td>")
			}
			for _, s := range rep.Steps {
				if s.Transfer && s.Match {
					has(t, html, "sha256 match "+shortSum(s.SHA256))
				}
			}
			assert.Less(t, len(html), 2<<20)
		})
	}
}

// has asserts that html contains s, without printing all of html.
func has(t *testing.T, html, s string, msg ...any) {
	t.Helper()
	assert.True(t, strings.Contains(html, s), append([]any{"page lacks %q", s}, msg...)...)
}

// assertSelfContained checks the page refers to nothing outside itself.
func assertSelfContained(t *testing.T, html string) {
	t.Helper()
	stripped := strings.ReplaceAll(html, `xmlns="http://www.w3.org/2000/svg"`, "")
	assert.False(t, regexp.MustCompile(`(?i)https?://|\bsrc=|url\([^#]|@import`).MatchString(stripped), "refers to nothing outside")
	for _, m := range regexp.MustCompile(`href="([^"]*)"`).FindAllStringSubmatch(html, -1) {
		assert.True(t, strings.HasPrefix(m[1], "#"), "link %q stays in the page", m[1])
	}
	has(t, html, `Content-Security-Policy" content="default-src 'none'`)
}

// TestPortStealRefusal: the thief's refused and reset attempts are on the
// ladder, in red.
func TestPortStealRefusal(t *testing.T) {
	_, rep, path := runLab(t, "port-steal", t.TempDir())
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	has(t, string(data), `class="arrow refused`)
	assert.True(t, regexp.MustCompile(`E⇒B  data \d+ bytes, RST`).Match(data), "E's connection ends with B's RST")
	var found bool
	for _, ln := range rep.Ladder.Lines(ladder.Options{Names: rep.Names}) {
		found = found || strings.HasPrefix(ln.Label, "E→B  SYN to :20 refused (RST)")
	}
	assert.True(t, found)
}

// TestFTPSInsideTLS: the ftps lab's page draws the session inside TLS,
// each command and reply marked as inside TLS (lock, class in-tls), the
// TLS handshake as decrypted; the page of the capture without its
// secrets (an eavesdropper's) shows none of it.
func TestFTPSInsideTLS(t *testing.T) {
	dir := t.TempDir()
	_, rep, path := runLab(t, "ftps", dir)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	html := string(data)
	for _, line := range []string{"A→B  🔒 USER user", "A→B  🔒 PASS ****", "A→B  🔒 RETR /secret.bin", "B→A  🔒 226 Transfer complete"} {
		assert.Regexp(t, `<g class="arrow (cmd|reply) in-tls[^"]*"[^>]*><text class="time"[^<]*</text><line[^>]*/><text class="label" [^>]*>`+regexp.QuoteMeta(esc(line)), html)
	}
	has(t, html, "decrypted with the capture&#39;s secrets (TLS 1.3, TLS_AES_")
	has(t, html, "65536 bytes of plaintext")

	ftptest.Tool(t, "editcap", "cannot strip the capture's TLS secrets")
	stripped := filepath.Join(dir, "eavesdropper.pcapng")
	out, err := exec.Command("editcap", "--discard-all-secrets", rep.CaptureFile, stripped).CombinedOutput()
	require.NoError(t, err, "editcap: %s", out)
	l, err := ladder.ReadFile(stripped)
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, Write(&b, Input{Ladder: l, Capture: "eavesdropper.pcapng", Names: rep.Names}))
	assert.NotRegexp(t, `class="arrow [^"]*in-tls`, b.String())
	for _, s := range []string{"🔒", "USER", "RETR", "decrypted"} {
		assert.NotContains(t, b.String(), s)
	}
	has(t, b.String(), "control connection encrypted from here on")
}

// TestReportOfCapture: a capture without a lab, cut by a snap length,
// shows what could not be known.
func TestReportOfCapture(t *testing.T) {
	l, err := ladder.ReadFile("../ladder/testdata/snap96.pcap")
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, Write(&b, Input{Ladder: l, Capture: "snap96.pcap", Names: map[netip.Addr]string{netip.MustParseAddr("127.0.0.1"): "A"}}))
	html := b.String()
	assertSelfContained(t, html)
	has(t, html, "What the capture did not tell")
	has(t, html, "snap length 96 bytes")
	has(t, html, `data-host="A"`)
	has(t, html, `data-host="127.0.0.2"`)
	has(t, html, "FTP server :21")
	has(t, html, "A capture without a lab")
	assert.Len(t, arrowRE.FindAllString(html, -1), len(l.Events))
}

// TestTopologyLayout: the layout is deterministic, keeps 30 hosts apart
// and readable (rows of at most maxPerRow), and labels links.
func TestTopologyLayout(t *testing.T) {
	var yaml strings.Builder
	yaml.WriteString("name: big\nhosts:\n")
	for i := range 30 {
		fmt.Fprintf(&yaml, "  - name: H%02d\n    addresses: [10.0.%d.%d/16]\n", i, i/200, i%200+1)
	}
	yaml.WriteString("switches:\n  - name: lan\nlinks:\n")
	for i := range 30 {
		fmt.Fprintf(&yaml, "  - ends: [H%02d, lan]\n    delay: %dms\n", i, i)
	}
	yaml.WriteString("servers:\n  - host: H01\n    anonymous: true\nsteps:\n  - wait: {time: 1ms}\n")
	lab, err := labs.Load("big.yaml", []byte(yaml.String()))
	require.NoError(t, err)
	a, b := FromLab(lab, nil), FromLab(lab, nil)
	assert.Equal(t, a, b, "deterministic")
	require.Len(t, a.Nodes, 31)
	rows := map[float64]int{}
	for i, n := range a.Nodes {
		rows[n.Y]++
		for j, m := range a.Nodes[:i] {
			overlap := abs(n.X-m.X) < nodeW && abs(n.Y-m.Y) < nodeH
			assert.False(t, overlap, "%s and %s overlap", n.Name, a.Nodes[j].Name)
		}
		assert.True(t, n.X-nodeW/2 >= 0 && n.X+nodeW/2 <= a.Width && n.Y+nodeH/2 <= a.Height, "%s inside", n.Name)
	}
	for _, c := range rows {
		assert.LessOrEqual(t, c, maxPerRow)
	}
	assert.Less(t, a.Width, 1400.0, "fits a page's width, scaled")
	require.Len(t, a.Edges, 30)
	assert.Equal(t, "MTU 1500, delay 29ms", a.Edges[29].Label)
	assert.Equal(t, []string{"FTP server :21"}, a.Nodes[1].Roles)

	routed, err := labs.Embedded("routed")
	require.NoError(t, err)
	tr := FromLab(routed, nil)
	var roles []string
	for _, n := range tr.Nodes {
		roles = append(roles, n.Roles...)
	}
	assert.Contains(t, roles, "router")
	assert.Contains(t, strings.Join(edgeLabels(tr), "|"), "delay 40ms")
	assert.Contains(t, strings.Join(edgeLabels(tr), "|"), "loss 1%")
}

func edgeLabels(t *Topology) []string {
	var out []string
	for _, e := range t.Edges {
		out = append(out, e.Label)
	}
	return out
}

func abs(f float64) float64 { return max(f, -f) }

// TestDOT: the DOT output is valid for Graphviz (checked with dot where it
// is installed) and names every node and link.
func TestDOT(t *testing.T) {
	for _, name := range []string{"rfc478", "routed", "slow-client"} {
		lab, err := labs.Embedded(name)
		require.NoError(t, err)
		var b bytes.Buffer
		require.NoError(t, FromLab(lab, nil).WriteDOT(&b))
		dot := b.String()
		assert.True(t, strings.HasPrefix(dot, "graph lab {\n") && strings.HasSuffix(dot, "}\n"))
		assert.Equal(t, len(lab.Links), strings.Count(dot, " -- "))
		for _, h := range lab.Hosts {
			assert.Contains(t, dot, `"`+h.Name+`" [shape=box`)
		}
		assert.Equal(t, strings.Count(dot, `"`)%2, 0, "balanced quotes")
		cmd := exec.Command(ftptest.Tool(t, "dot", "DOT is checked by Graphviz (apt-get install graphviz)"), "-Tsvg")
		cmd.Stdin = strings.NewReader(dot)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "dot: %s", out)
		assert.Contains(t, string(out), "<svg")
	}
}

// mermaidLine is one statement of the flowchart subset WriteMermaid uses:
// a node with a quoted label (box or stadium), or a link with an optional
// quoted label.
var mermaidLine = regexp.MustCompile(`^  (n\d+(\["[^"]*"\]|\(\["[^"]*"\]\))|n\d+ ---(\|"[^"|]*"\|)? n\d+)$`)

// TestMermaid checks the flowchart against Mermaid's syntax for nodes and
// links.
func TestMermaid(t *testing.T) {
	lab, err := labs.Embedded("routed")
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, FromLab(lab, nil).WriteMermaid(&b))
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	assert.Equal(t, "flowchart TB", lines[0])
	links := 0
	for _, l := range lines[1:] {
		assert.Regexp(t, mermaidLine, l)
		if strings.Contains(l, "---") {
			links++
		}
	}
	assert.Equal(t, len(lab.Links), links)
	assert.Contains(t, b.String(), `["R<br/>10.1.0.254/24<br/>10.2.0.254/24<br/>router"]`)
}

// TestSVG: the standalone topology SVG is well-formed XML with a node per
// host.
func TestSVG(t *testing.T) {
	lab, err := labs.Embedded("port-steal")
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, FromLab(lab, nil).WriteSVG(&b))
	assertXML(t, b.Bytes())
	assert.Len(t, nodeRE.FindAllString(b.String(), -1), len(lab.Hosts)+len(lab.Switches))
}
