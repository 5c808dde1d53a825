package client

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/ftp/server"
)

// secureFXP copies f.bin from a to b over two FTPS clients with opts,
// returning the result, the steps reported and every command sent.
func secureFXP(t *testing.T, a, b ourServer, opts TransferOptions, dstOpts Options) (Result, []string, []string, error) {
	t.Helper()
	ctx := testCtx(t)
	var mu sync.Mutex
	var steps, sent []string
	trace := func(out bool, line string) {
		if out {
			mu.Lock()
			sent = append(sent, line)
			mu.Unlock()
		}
	}
	opts.Step = func(s string) { mu.Lock(); steps = append(steps, s); mu.Unlock() }
	src := dialUser(t, ctx, a.addr, Options{TLS: TLSExplicit, Insecure: true, Trace: trace})
	dstOpts.TLS, dstOpts.Insecure, dstOpts.Trace = TLSExplicit, true, trace
	dst := dialUser(t, ctx, b.addr, dstOpts)
	res, err := Transfer(ctx, src, "f.bin", dst, "copy.bin", opts)
	// both clients can go on with ordinary protected transfers
	if err == nil {
		for _, c := range []*Client{src, dst} {
			_, lerr := c.NameList(ctx, "/")
			require.NoError(t, lerr, "a listing after the copy (SSCN OFF, PROT P again)")
		}
	}
	return res, steps, sent, err
}

// Secure third-party copies between two of our servers, both on PROT P
// and requiring session reuse from their clients: SSCN on either side, or
// CPSV, in both passive orders.
func TestSecureTransfer(t *testing.T) {
	const size = 1<<20 + 3
	for _, tc := range []struct {
		passive  Side
		security []FXPSecurity
		onActive bool
		want     []string // commands that must have been sent
		protect  string
	}{
		{Destination, nil, false, []string{"SSCN ON", "PASV", "SSCN OFF"}, "destination (passive) is the TLS client"},
		{Source, nil, false, []string{"SSCN ON", "PASV", "SSCN OFF"}, "source (passive) is the TLS client"},
		{Destination, nil, true, []string{"SSCN ON", "PASV"}, "source (active) is the TLS client"},
		{Source, nil, true, []string{"SSCN ON", "PASV"}, "destination (active) is the TLS client"},
		{Destination, []FXPSecurity{FXPCPSV}, false, []string{"CPSV"}, "destination (passive) is the TLS client"},
		{Source, []FXPSecurity{FXPCPSV}, false, []string{"CPSV"}, "source (passive) is the TLS client"},
	} {
		name := fmt.Sprintf("passive-%s/%v/sscn-on-active-%v", tc.passive, tc.security, tc.onActive)
		t.Run(name, func(t *testing.T) {
			a, b := serverPairWith(t, false, true, server.Config{TLS: serverTLS(t), RequireTLSData: true})
			require.NoError(t, a.mem.AddGenerated("/f.bin", size, 3))
			res, steps, sent, err := secureFXP(t, a, b, TransferOptions{Passive: tc.passive, Security: tc.security, SSCNOnActive: tc.onActive}, Options{})
			require.NoError(t, err)
			assert.EqualValues(t, size, res.Bytes)
			assert.Contains(t, res.Protection, tc.protect)
			for _, w := range tc.want {
				assert.Contains(t, sent, w)
			}
			assert.NotEmpty(t, steps)
			want, _ := a.mem.ReadFile("/f.bin")
			got, err := b.mem.ReadFile("/copy.bin")
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}
}

// Without SSCN or CPSV both servers wait for a ClientHello as TLS servers
// (RFC 4217 §10): the copy fails and nothing is stored.
func TestSecureTransferWithoutTLSClient(t *testing.T) {
	a, b := serverPairWith(t, false, true, server.Config{TLS: serverTLS(t), DataTimeout: time.Second})
	require.NoError(t, a.mem.AddGenerated("/f.bin", 1000, 3))
	_, steps, sent, err := secureFXP(t, a, b, TransferOptions{Security: []FXPSecurity{FXPNone}}, Options{})
	require.Error(t, err)
	var se *SideError
	require.ErrorAs(t, err, &se)
	assert.Contains(t, strings.Join(steps, "\n"), "both servers will wait as TLS servers")
	assert.NotContains(t, sent, "SSCN ON")
	_, rerr := b.mem.ReadFile("/copy.bin")
	assert.Error(t, rerr, "the destination stored nothing")
}

// One side protects data and the other does not: refused unless clear data
// is allowed, then PROT C.
func TestSecureTransferMixed(t *testing.T) {
	a, b := serverPairWith(t, false, true, server.Config{TLS: serverTLS(t)})
	require.NoError(t, a.mem.AddGenerated("/f.bin", 5000, 3))
	_, _, _, err := secureFXP(t, a, b, TransferOptions{}, Options{ClearData: true})
	require.ErrorContains(t, err, "source protects data (PROT P) and destination does not")

	res, steps, sent, err := secureFXP(t, a, b, TransferOptions{Security: []FXPSecurity{FXPSSCN, FXPCPSV, FXPClear}}, Options{ClearData: true})
	require.NoError(t, err)
	assert.EqualValues(t, 5000, res.Bytes)
	assert.Contains(t, res.Protection, "PROT C")
	assert.Contains(t, sent, "PROT C")
	assert.Contains(t, strings.Join(steps, "\n"), "in the clear")
}

func TestParseFXPSecurity(t *testing.T) {
	m, err := ParseFXPSecurity("sscn,CPSV, clear")
	require.NoError(t, err)
	assert.Equal(t, []FXPSecurity{FXPSSCN, FXPCPSV, FXPClear}, m)
	_, err = ParseFXPSecurity("sscn,magic")
	require.ErrorContains(t, err, "magic")
}
