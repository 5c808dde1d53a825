package labs

import (
	"context"
	"fmt"
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
func arrows(rep *Report) []string {
	var out []string
	for _, e := range rep.Ladder.Events {
		from, to := rep.Names[e.From.Addr()], rep.Names[e.To.Addr()]
		switch e.Kind {
		case ladder.Command:
			verb, _, _ := strings.Cut(e.Text, " ")
			out = append(out, fmt.Sprintf("%s→%s %s", from, to, verb))
		case ladder.Reply:
			out = append(out, fmt.Sprintf("%s→%s %d", from, to, e.Code))
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
	for _, s := range rep.Steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no step %q", name)
	return StepResult{}
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
			// The clear start, then TLS: nothing of the ciphertext is
			// read as FTP; the data connection is TLS, A its client.
			a := arrows(rep)
			inOrder(t, a, []string{"A→B AUTH", "B→A 234", "A→B TLS", "A→B SYN", "A→B TLS", "B⇒A data"})
			assert.Equal(t, "A→B TLS", a[len(a)-2], "the ladder reads nothing after the handshakes")
			for _, c := range rep.Ladder.Conns {
				assert.True(t, c.TLS, "connection %s → %s is TLS", c.Client, c.Server)
				assert.Equal(t, "A", rep.Names[c.TLSClient.Addr()])
			}
			// Wireshark decrypts with the capture's secrets, and only so.
			retr := `ftp.request.command == "RETR"`
			assert.Contains(t, tshark(t, "-r", rep.CaptureFile, "-Y", retr), "RETR /secret.bin")
			assert.Empty(t, tshark(t, "-r", stripSecrets(t, rep.CaptureFile), "-Y", retr), "no RETR without the secrets")
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
