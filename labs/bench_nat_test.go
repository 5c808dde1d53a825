package labs

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/ftp/ftptest"
)

// natFXPLabYAML is a third-party copy of size bytes from C (outside) to B
// (inside, behind router R), driven by A (outside), MTU 1500, capture off.
// With nat, R masquerades, forwards port 21 to B and runs the FTP helper,
// and B, reached at R's outside address, connects out to C (C is passive)
// through the NAT; without, R only routes.
func natFXPLabYAML(size int64, nat bool) string {
	roles, bAddr, cTrust, routes := "", "", "10.1.0.2", `
    routes: [{to: 10.1.0.0/24, via: 192.0.2.1}]`
	if nat {
		roles = `
    nat: {outside: eth1, forward: [{port: 21, to: 10.1.0.2}]}
    ftp-helper: {}`
		bAddr, cTrust, routes = "address: 192.0.2.1, ", "192.0.2.1", ""
	}
	return fmt.Sprintf(`name: bench-nat-fxp
hosts:
  - name: A
    addresses: [192.0.2.20/24]%[5]s
  - name: C
    addresses: [192.0.2.30/24]%[5]s
  - name: R
    router: true
    nics:
      - {name: eth0, addresses: [10.1.0.1/24]}
      - {name: eth1, addresses: [192.0.2.1/24]}%[2]s
  - {name: B, addresses: [10.1.0.2/24], gateway: 10.1.0.1}
switches: [{name: internet}]
links:
  - ends: [A, internet]
  - ends: [C, internet]
  - ends: ["R:eth1", internet]
  - ends: ["R:eth0", B]
servers:
  - {host: B, %[3]susers: [{name: u, password: p}], trust: [192.0.2.30]}
  - host: C
    users: [{name: u, password: p}]
    trust: [%[4]s]
    files: [{path: /big.bin, size: %[1]d, seed: 8}]
capture: {data: none}
steps:
  - name: copy
    timeout: 15m
    fxp: {client: A, from: "C:/big.bin", to: "B:/big.bin", passive: source}
  - expect: {same: ["C:/big.bin", "B:/big.bin"]}
`, size, roles, bAddr, cTrust, routes)
}

// BenchmarkNATFXP copies a generated file (1 GiB, or FTPLAB_BENCH_SIZE)
// between two virtual servers across a router, as `ftplab run` does:
// through a NAT with the FTP helper, and, in the same run and alternating,
// through the same router routing plainly (the reference). It reports the
// NAT copy's MB/s over the transfer, the plain one's, their ratio
// (x-plain), and the peak heap.
func BenchmarkNATFXP(b *testing.B) {
	size := benchFXPSize(b)
	labs := map[bool]*Lab{}
	for _, nat := range []bool{false, true} {
		lab, err := Load("bench-nat-fxp.yaml", []byte(natFXPLabYAML(size, nat)))
		require.NoError(b, err)
		labs[nat] = lab
	}
	var moved, took [2]float64
	var peak uint64
	for b.Loop() {
		for i, nat := range []bool{false, true} {
			runtime.GC()
			stop := ftptest.PeakHeap()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
			rep, err := Run(ctx, labs[nat], Options{})
			cancel()
			peak = max(peak, stop())
			require.NoError(b, err)
			require.True(b, rep.OK(), "%v", rep.Failures())
			moved[i] += float64(size)
			took[i] += rep.Steps[0].TransferTime.Seconds()
		}
	}
	plain, nat := moved[0]/took[0]/1e6, moved[1]/took[1]/1e6
	b.ReportMetric(nat, "MB/s")
	b.ReportMetric(plain, "plain-MB/s")
	b.ReportMetric(nat/plain, "x-plain")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// TestNATFXPLab runs BenchmarkNATFXP's labs small, so that they stay valid
// and the NAT copy works.
func TestNATFXPLab(t *testing.T) {
	for _, nat := range []bool{false, true} {
		lab, err := Load("bench-nat-fxp.yaml", []byte(natFXPLabYAML(1<<20, nat)))
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		rep, err := Run(ctx, lab, Options{})
		cancel()
		require.NoError(t, err)
		require.True(t, rep.OK(), "nat=%v: %v", nat, rep.Failures())
	}
}
