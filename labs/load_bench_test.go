package labs

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// bigLab generates a lab of n hosts on one switch (a server on every
// hundredth, a get step per server); with broken set, every host's link is
// left out, so every host is an error to report with its position.
func bigLab(n int, broken bool) []byte {
	var b strings.Builder
	b.WriteString("name: big\nhosts:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: h%d\n    addresses: [%d.%d.%d.1/32]\n", i, 10+i>>16, i>>8&255, i&255)
	}
	b.WriteString("switches: [{name: lan}]\n")
	if !broken {
		b.WriteString("links:\n")
		for i := range n {
			fmt.Fprintf(&b, "  - ends: [h%d, lan]\n", i)
		}
	}
	b.WriteString("servers:\n")
	for i := 1; i < n; i += 100 {
		fmt.Fprintf(&b, "  - host: h%d\n    anonymous: true\n    files: [{path: /f, content: x}]\n", i)
	}
	b.WriteString("steps:\n")
	for i := 1; i < n; i += 100 {
		fmt.Fprintf(&b, "  - get: {client: h0, from: h%d:/f}\n", i)
	}
	return []byte(b.String())
}

// BenchmarkLoadHosts measures Load on generated labs of growing size: the
// time per host should stay flat (validation is linear).
func BenchmarkLoadHosts(b *testing.B) {
	for _, n := range []int{10_000, 30_000, 100_000} {
		for _, broken := range []bool{false, true} {
			src := bigLab(n, broken)
			b.Run(fmt.Sprintf("hosts=%d/broken=%v", n, broken), func(b *testing.B) {
				for b.Loop() {
					_, err := Load("big.yaml", src)
					if broken {
						require.Error(b, err)
					} else {
						require.NoError(b, err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/host")
			})
		}
	}
}
