package labs

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ftplab/ftplab/labs/ladder"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// runLab runs lab with its capture in a temporary directory.
func runLab(t testing.TB, lab *Lab) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, lab, Options{CaptureFile: filepath.Join(t.TempDir(), lab.Name+".pcapng")})
	require.NoError(t, err)
	require.NotNil(t, rep.Ladder)
	return rep
}

// arrows lists the ladder as "A→B SOCK", "B→A 227", "C⇒B data": who sent
// what to whom, without arguments.
func arrows(rep *Report) []string { return arrowsOf(rep.Ladder, rep.Names) }

// arrowsOf lists a ladder as arrows does; commands and replies read
// inside TLS show the lock: "A→B 🔒 RETR".
func arrowsOf(l *ladder.Ladder, names map[netip.Addr]string) []string {
	var out []string
	for _, e := range l.Events {
		from, to := names[e.From.Addr()], names[e.To.Addr()]
		lock := ""
		if e.InTLS && (e.Kind == ladder.Command || e.Kind == ladder.Reply) {
			lock = ladder.Lock + " "
		}
		switch e.Kind {
		case ladder.Command:
			verb, _, _ := strings.Cut(e.Text, " ")
			out = append(out, fmt.Sprintf("%s→%s %s%s", from, to, lock, verb))
		case ladder.Reply:
			out = append(out, fmt.Sprintf("%s→%s %s%d", from, to, lock, e.Code))
		case ladder.DataOpen:
			out = append(out, fmt.Sprintf("%s→%s SYN", from, to))
		case ladder.DataClose:
			out = append(out, fmt.Sprintf("%s⇒%s data", from, to))
		case ladder.Refused:
			out = append(out, fmt.Sprintf("%s→%s refused", from, to))
		case ladder.TLS:
			out = append(out, fmt.Sprintf("%s→%s TLS", from, to))
		}
	}
	return out
}

// inOrder asserts that want appears in got as a subsequence.
// noted is the ladder's lines, as drawn, that carry a frame comment.
func noted(rep *Report) string {
	var b strings.Builder
	for _, l := range rep.Ladder.Lines(ladder.Options{Names: rep.Names}) {
		if strings.Contains(l.Label, "✎") {
			b.WriteString(l.Label + "\n")
		}
	}
	return b.String()
}

// router is a router's report.
func router(t *testing.T, rep *Report, name string) RouterReport {
	t.Helper()
	return named(t, rep.Routers, name, func(r RouterReport) string { return r.Host })
}

// named finds the item called name in items.
func named[T any](t *testing.T, items []T, name string, nameOf func(T) string) T {
	t.Helper()
	for _, it := range items {
		if nameOf(it) == name {
			return it
		}
	}
	var zero T
	t.Fatalf("no %q among %d", name, len(items))
	return zero
}

func countLines(s string) int { return len(strings.Fields(s)) }

func inOrder(t *testing.T, got, want []string) {
	t.Helper()
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	assert.Equal(t, len(want), i, "ladder lacks %q (in this order) in:\n%s", want[min(i, len(want)-1)], strings.Join(got, "\n"))
}

func step(t *testing.T, rep *Report, name string) StepResult {
	t.Helper()
	return named(t, rep.Steps, name, func(s StepResult) string { return s.Name })
}

// TestRunEmbeddedLabs runs every embedded lab through Run and checks its
// outcome, its ladder and (with tshark) its capture.
func TestRunEmbeddedLabs(t *testing.T) {
	checks := map[string]func(t *testing.T, rep *Report){
		"rfc478": func(t *testing.T, rep *Report) {
			// RFC 478's table, as it crossed the wire.
			inOrder(t, arrows(rep), []string{
				"A→B SOCK", "B→A 200", "A→C SOCK", "C→A 200",
				"A→B PASV", "B→A 227", "A→B STOR", "A→C RTRV",
				"C→B SYN", "C⇒B data", "B→A 226",
			})
			for _, e := range rep.Ladder.Events {
				if e.Kind == ladder.DataOpen {
					assert.Equal(t, uint16(20), e.From.Port(), "default data socket on C")
					assert.Equal(t, uint16(20), e.To.Port(), "default data socket on B")
				}
			}
			assert.Equal(t, int64(256<<10), step(t, rep, "copy").Bytes)
		},
		"rfc959": func(t *testing.T, rep *Report) {
			a := arrows(rep)
			inOrder(t, a, []string{
				// passive source: C:/data.bin → B, PASV to C, PORT to B.
				"A→C PASV", "C→A 227", "A→B PORT", "B→A 200", "C⇒B data",
				// passive destination: B:/report.txt → C, PASV to C again.
				"A→C PASV", "C→A 227", "A→B PORT", "B→A 200", "B⇒C data",
			})
		},
		"bounce": func(t *testing.T, rep *Report) {
			assert.Equal(t, 504, step(t, rep, "safe-port").Code)
			smtp := step(t, rep, "smtp")
			assert.Equal(t, int64(92), smtp.Received, "the forged mail reached M:25 through O")
			inOrder(t, arrows(rep), []string{"A→B PORT", "B→A 504", "A→O PORT", "O→A 200", "A→O RETR", "O→M SYN", "O⇒M data"})
			assert.NotContains(t, arrows(rep), "B→M SYN", "B dialled nothing")
		},
		"port-steal": func(t *testing.T, rep *Report) {
			thief := step(t, rep, "thief")
			assert.Equal(t, 1, thief.Connected, "E won the race to B's passive socket")
			assert.Zero(t, thief.Received)
			inOrder(t, arrows(rep), []string{"A→B PASV", "E→B SYN", "C→B SYN", "C⇒B data", "B→A 226"})
		},
		"slow-client": func(t *testing.T, rep *Report) {
			fxp, relay := step(t, rep, "third-party"), step(t, rep, "through-A")
			assert.Less(t, fxp.Duration, relay.Duration)
			// Physical check: 2 × 256 KiB through a 2 Mbit/s line take at
			// least 2 s; the third-party copy never touches the line.
			assert.GreaterOrEqual(t, relay.Duration, 2*time.Second)
		},
		"routed": func(t *testing.T, rep *Report) {
			// 40 ms each way on the WAN: each copy needs several round trips.
			assert.GreaterOrEqual(t, step(t, rep, "copy").Duration, 4*80*time.Millisecond)
			inOrder(t, arrows(rep), []string{"A→C PASV", "A→B PORT", "B⇒C data", "A→C PASV", "A→B PORT", "C⇒B data"})
		},
		"ftps": func(t *testing.T, rep *Report) {
			// The clear start, then TLS, which the capture's secrets
			// decrypt: the session inside TLS is drawn, marked with the
			// lock; the data connection is TLS too, A its client, its
			// plaintext the file.
			inOrder(t, arrows(rep), []string{"B→A 220", "A→B AUTH", "B→A 234", "A→B TLS",
				"A→B 🔒 USER", "B→A 🔒 331", "A→B 🔒 PASS", "B→A 🔒 230", "A→B 🔒 EPSV", "B→A 🔒 229",
				"A→B 🔒 RETR", "B→A 🔒 150", "A→B TLS", "B→A 🔒 226", "A→B 🔒 QUIT"})
			assert.Contains(t, arrows(rep), "B⇒A data")
			for _, c := range rep.Ladder.Conns {
				assert.True(t, c.TLS, "connection %s → %s is TLS", c.Client, c.Server)
				assert.True(t, c.TLSDecrypted, "connection %s → %s is decrypted", c.Client, c.Server)
				assert.Equal(t, "A", rep.Names[c.TLSClient.Addr()])
				if !c.Control {
					assert.Equal(t, int64(64<<10), c.Plaintext, "the data connection's plaintext is the file")
					assert.Greater(t, c.Bytes, c.Plaintext, "its TLS records are longer")
				}
			}
			// An eavesdropper (the capture without its secrets) sees what
			// the ladder showed before it decrypted: the clear start and
			// the handshakes, nothing of the session inside TLS.
			stripped := stripSecrets(t, rep.CaptureFile)
			l, err := ladder.ReadFile(stripped)
			require.NoError(t, err)
			assert.Equal(t, []string{"B→A 220", "A→B AUTH", "B→A 234", "A→B TLS", "A→B SYN", "A→B TLS", "B⇒A data"}, arrowsOf(l, rep.Names))
			for _, c := range l.Conns {
				assert.False(t, c.TLSDecrypted)
				assert.Equal(t, int64(-1), c.Plaintext)
			}
			assert.Empty(t, l.Notes, "no secrets, nothing to say of them")
			// Wireshark decrypts with the capture's secrets, and only so.
			retr := `ftp.request.command == "RETR"`
			assert.Contains(t, tshark(t, "-r", rep.CaptureFile, "-Y", retr), "RETR /secret.bin")
			assert.Empty(t, tshark(t, "-r", stripped, "-Y", retr), "no RETR without the secrets")
		},
		"secure-fxp": func(t *testing.T, rep *Report) {
			// SSCN to the passive server (C, then B), CPSV likewise: the
			// passive server is the TLS client of the data connection.
			var clients []string
			for _, c := range rep.Ladder.Conns {
				if !c.Control && c.TLS {
					clients = append(clients, rep.Names[c.TLSClient.Addr()])
				}
			}
			assert.Equal(t, []string{"C", "B", "C", "B"}, clients)
			inOrder(t, arrows(rep), []string{"B→C SYN", "C→B TLS", "B⇒C data", "C→B SYN", "B→C TLS", "B⇒C data"})
			for _, name := range []string{"sscn-passive-destination", "cpsv-passive-source"} {
				assert.Equal(t, int64(128<<10), step(t, rep, name).Bytes)
			}
			failed := step(t, rep, "no-tls-client")
			assert.False(t, failed.OK)
			assert.ErrorContains(t, failed.Err, "TLS handshake on data connection")
			assert.Contains(t, tshark(t, "-r", rep.CaptureFile, "-Y", `ftp.request.command == "SSCN"`), "SSCN ON", "decrypted inside TLS")
		},
		"nat-active": func(t *testing.T, rep *Report) {
			assert.ErrorContains(t, step(t, rep, "A-active").Err, "504 PORT refused: address 10.1.0.2 is not this client's address 192.0.2.1", "B refuses a PORT naming a private address")
			inOrder(t, arrows(rep), []string{"A→B PORT", "R1→B PORT", "B→R1 504", "D→B PORT", "R2→B PORT", "B→D SYN", "B⇒D data"})
			assert.Contains(t, noted(rep), "R2→B  PORT 192,0,2,2,", "the rewritten line, marked")
			assert.Contains(t, noted(rep), "✎ ftp-helper R2: rewrote PORT 10,2,0,2,")
			assert.Contains(t, noted(rep), "✎ ftp-helper R2: rewrote EPRT |1|10.2.0.2|")
			assert.Contains(t, noted(rep), "✎ ftp-helper R2: related data connection")
			r2 := router(t, rep, "R2")
			assert.Equal(t, uint64(2), r2.Rewritten)
			assert.Equal(t, uint64(2), r2.Related)
			// Wireshark sees the helper's comments, and the rewritten
			// control connection's numbers stay consistent for its analysis.
			assert.Equal(t, 4, countLines(tshark(t, "-r", rep.CaptureFile, "-Y", "frame.comment", "-T", "fields", "-e", "frame.number")), "frames with a comment")
		},
		"nat-server": func(t *testing.T, rep *Report) {
			assert.ErrorContains(t, step(t, rep, "B-pasv").Err, "10.1.0.2", "the client tries the private address the 227 leaked")
			inOrder(t, arrows(rep), []string{"B→A 227", "A→B EPSV", "B→A 229", "B⇒A data"})
			assert.Contains(t, noted(rep), "✎ ftp-helper R2: rewrote 227 10,2,0,2,")
			assert.Contains(t, noted(rep), "✎ ftp-helper R2: related data connection, expected from 227")
		},
		"fxp-firewall": func(t *testing.T, rep *Report) {
			assert.ErrorContains(t, step(t, rep, "copy-F1").Err, "425")
			assert.ErrorContains(t, step(t, rep, "copy-F1").Err, "(while the step ran, the firewall on F1 refused", "the failure names the firewall")
			assert.Contains(t, noted(rep), "announces 192.0.2.30, not the sender's own address 192.0.2.20: no expectation (loose off)")
			assert.Contains(t, noted(rep), "✎ ftp-helper F2: PORT 10,9,0,25,9,221: expects 10.2.0.2→10.9.0.25:2525")
			f1, f2 := router(t, rep, "F1"), router(t, rep, "F2")
			assert.NotZero(t, f1.FirewallDropped, "F1 dropped B1's data connections")
			assert.Equal(t, uint64(1), f1.Refused)
			assert.Zero(t, f2.FirewallDropped)
			assert.Equal(t, uint64(2), f2.Related, "the copy to C and the hole to M")
		},
		"ipv6": func(t *testing.T, rep *Report) {
			inOrder(t, arrows(rep), []string{"A→B EPSV", "B→A 229", "A→C EPRT", "B⇒C data", "A→C EPSV", "C→A 229", "A→B EPRT", "B⇒C data"})
		},
	}
	list, err := List()
	require.NoError(t, err)
	for _, info := range list {
		t.Run(info.Name, func(t *testing.T) {
			lab, err := Embedded(info.Name)
			require.NoError(t, err)
			rep := runLab(t, lab)
			for _, s := range rep.Steps {
				assert.True(t, s.OK || s.MayFail, "step %s: %v", s.Name, s.Err)
			}
			require.True(t, rep.OK(), "failures: %v", rep.Failures())
			assert.Zero(t, rep.Stats.Dropped, "capture dropped frames")
			check, ok := checks[info.Name]
			require.True(t, ok, "lab %s has no checks", info.Name)
			check(t, rep)
			checkWithTshark(t, rep)
		})
	}
}
