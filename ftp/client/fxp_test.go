package client

import (
	"bytes"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/ftp/server"
)

func TestTransfer(t *testing.T) {
	const size = 3<<20 + 77
	for _, tc := range []struct {
		dialect Dialect
		passive Side
		v6      bool
	}{
		{RFC959, Destination, false},
		{RFC959, Source, false},
		{RFC959, Destination, true},
		{RFC959, Source, true},
		{RFC478, Destination, false},
		{RFC478, Source, false},
	} {
		family := "ipv4"
		if tc.v6 {
			family = "ipv6"
		}
		t.Run(fmt.Sprintf("%s/passive-%s/%s", tc.dialect, tc.passive, family), func(t *testing.T) {
			ctx := testCtx(t)
			a, b := serverPair(t, tc.v6, true)
			require.NoError(t, a.mem.AddGenerated("/f.bin", size, 7))
			want, err := a.mem.ReadFile("/f.bin")
			require.NoError(t, err)
			var mu sync.Mutex
			var sent []string
			trace := func(out bool, line string) {
				if out {
					mu.Lock()
					sent = append(sent, line)
					mu.Unlock()
				}
			}
			src := dialUser(t, ctx, a.addr, Options{Trace: trace})
			dst := dialUser(t, ctx, b.addr, Options{Trace: trace})
			res, err := Transfer(ctx, src, "f.bin", dst, "copy.bin", TransferOptions{Passive: tc.passive, Dialect: tc.dialect})
			require.NoError(t, err)
			assert.Equal(t, int64(size), res.Bytes)
			assert.Equal(t, 2, res.SourceReply.Code/100, "source %v", res.SourceReply)
			assert.Equal(t, 2, res.DestinationReply.Code/100, "destination %v", res.DestinationReply)
			assert.Positive(t, res.Duration)
			got, err := b.mem.ReadFile("/copy.bin")
			require.NoError(t, err)
			assert.True(t, bytes.Equal(want, got), "copied content differs")

			verbs := map[string]bool{}
			for _, l := range sent {
				verbs[l[:4]] = true
			}
			switch {
			case tc.dialect == RFC478:
				assert.True(t, verbs["SOCK"] && verbs["PASV"] && verbs["RTRV"] && verbs["STOR"], "RFC 478 sequence: %q", sent)
				assert.False(t, verbs["PORT"] || verbs["RETR"], "no RFC 959 verbs: %q", sent)
			case tc.v6:
				assert.True(t, verbs["EPSV"] && verbs["EPRT"], "IPv6 uses EPSV/EPRT: %q", sent)
			default:
				assert.True(t, verbs["PASV"] && verbs["PORT"] && verbs["RETR"], "fig. 3 sequence: %q", sent)
			}
			assertInStep(t, ctx, src, dst)
		})
	}
}

func TestTransferProgress(t *testing.T) {
	ctx := testCtx(t)
	a, b := loopbackPair()
	src := startServer(t, a.String()+":2121", server.Config{TrustedPeers: []netip.Prefix{netip.PrefixFrom(b, 32)}})
	// The destination reads slowly, so the copy lasts a few hundred ms.
	dst := startServer(t, b.String()+":2121", server.Config{Network: slowNet{}, TrustedPeers: []netip.Prefix{netip.PrefixFrom(a, 32)}})
	const size = 4 << 20
	require.NoError(t, src.mem.AddGenerated("/big", size, 1))
	sc := dialUser(t, ctx, src.addr, Options{})
	dc := dialUser(t, ctx, dst.addr, Options{})
	var seen []int64
	res, err := Transfer(ctx, sc, "big", dc, "big", TransferOptions{
		PollInterval: 20 * time.Millisecond,
		Progress:     func(n int64) { seen = append(seen, n) },
	})
	require.NoError(t, err)
	assert.Equal(t, int64(size), res.Bytes)
	require.NotEmpty(t, seen, "no progress reported in %v", res.Duration)
	t.Logf("progress over %v: %v", res.Duration, seen)
	assert.Positive(t, seen[len(seen)-1], "progress moved: %v", seen)
	for i, n := range seen {
		assert.LessOrEqual(t, n, int64(size))
		if i > 0 {
			assert.GreaterOrEqual(t, n, seen[i-1], "progress never goes back")
		}
	}
	assertInStep(t, ctx, dc) // every STAT reply was read
}

func TestTransferRefusedWithoutTrust(t *testing.T) {
	for _, tc := range []struct {
		dialect Dialect
		passive Side
		refuser Side // the server told to talk to a foreign host first
	}{
		{RFC959, Destination, Source},
		{RFC959, Source, Destination},
		{RFC478, Destination, Destination},
		{RFC478, Source, Source},
	} {
		t.Run(fmt.Sprintf("%s/passive-%s", tc.dialect, tc.passive), func(t *testing.T) {
			ctx := testCtx(t)
			a, b := serverPair(t, false, false)
			require.NoError(t, a.mem.WriteFile("/f", payload(1000)))
			src := dialUser(t, ctx, a.addr, Options{})
			dst := dialUser(t, ctx, b.addr, Options{})
			_, err := Transfer(ctx, src, "f", dst, "f", TransferOptions{Passive: tc.passive, Dialect: tc.dialect})
			var se *SideError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tc.refuser, se.Side, "%v", err)
			refuser := map[Side]ourServer{Source: a, Destination: b}[tc.refuser]
			assert.Equal(t, refuser.addr, se.Addr)
			assert.Contains(t, err.Error(), tc.refuser.String()+" server "+refuser.addr.String())
			var re *ReplyError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, 5, re.Code/100, "refused with a 5xx reply: %v", err)
			_, statErr := b.mem.Stat("/f")
			assert.Error(t, statErr, "nothing was stored")
			assertInStep(t, ctx, src, dst)
		})
	}
}

// failureCase is a third-party transfer made to fail on one side.
type failureCase struct {
	name             string
	passive          Side
	srcPath, dstPath string
	failing          Side
	code             int
}

// abortedFileSize is the source file of TestTransferFailureAbortsOther: far
// more than the loopback socket buffers hold, so a source whose data
// connection the destination never accepts (its passive listener outlives
// the refused STOR) cannot finish on its own and must be aborted.
const abortedFileSize = 256 << 20

// runFailure runs tc between two fresh servers, the source holding /f of
// size bytes and the destination /out. It checks the error names the
// failing side and its reply, that /out is untouched and that both sessions
// are in step, and returns the commands sent to the other server.
func runFailure(t *testing.T, tc failureCase, size int64) []string {
	t.Helper()
	ctx := testCtx(t)
	a, b := serverPair(t, false, true)
	require.NoError(t, a.mem.AddGenerated("/f", size, 5))
	require.NoError(t, b.mem.WriteFile("/out", []byte("keep me")))
	var mu sync.Mutex
	var dstSent, srcSent []string
	rec := func(to *[]string) func(bool, string) {
		return func(out bool, l string) {
			if out {
				mu.Lock()
				*to = append(*to, l)
				mu.Unlock()
			}
		}
	}
	src := dialUser(t, ctx, a.addr, Options{Trace: rec(&srcSent)})
	dst := dialUser(t, ctx, b.addr, Options{Trace: rec(&dstSent)})
	_, err := Transfer(ctx, src, tc.srcPath, dst, tc.dstPath, TransferOptions{Passive: tc.passive})
	var se *SideError
	require.ErrorAs(t, err, &se, "%v", err)
	assert.Equal(t, tc.failing, se.Side, "%v", err)
	assert.True(t, IsReply(err, tc.code), "%v", err)
	kept, err := b.mem.ReadFile("/out")
	require.NoError(t, err)
	assert.Equal(t, "keep me", string(kept), "an aborted STOR leaves the file as it was")
	assertInStep(t, ctx, src, dst)
	mu.Lock()
	defer mu.Unlock()
	if tc.failing == Destination {
		return slices.Clone(srcSent)
	}
	return slices.Clone(dstSent)
}

// When one server fails while the other's transfer is still under way, the
// other is sent ABOR. In each case the other server cannot finish by itself:
// it waits for a data connection that never comes, or (passive
// destination) sends a file its socket buffers cannot hold to a listener
// nobody accepts on.
func TestTransferFailureAbortsOther(t *testing.T) {
	for _, tc := range []failureCase{
		{"bad-destination/passive-source", Source, "f", "nodir/out", Destination, 550},
		{"bad-destination/passive-destination", Destination, "f", "nodir/out", Destination, 550},
	} {
		t.Run(tc.name, func(t *testing.T) {
			other := runFailure(t, tc, abortedFileSize)
			assert.Contains(t, other, "ABOR", "the other server was aborted")
		})
	}
}

// A source that finishes (226) before the destination's refusal is seen
// needs no ABOR: with a small file the source may write it all into the
// socket buffers of a connection the destination never accepts. Either way
// the error names the destination and both sessions stay in step (an ABOR,
// when sent, has its replies read).
func TestTransferFailureAfterOtherFinished(t *testing.T) {
	tc := failureCase{"bad-destination/passive-destination", Destination, "f", "nodir/out", Destination, 550}
	for range 5 {
		runFailure(t, tc, 1<<20)
	}
}

// A passive server that does not trust the other server resets its data
// connection (port-stealing protection): the sender reports the failure
// (425 when the reset comes while it connects, 426 once it sends), the
// listener is aborted, nothing is stored and both sessions go on. The
// sender's second try, from another port, comes from its own address too
// (not from 127.0.0.1, the client's, which the destination would accept).
func TestTransferPassiveRefusesUntrusted(t *testing.T) {
	ctx := testCtx(t)
	a, b := loopbackPair()
	src := startServer(t, a.String()+":2121", server.Config{TrustedPeers: []netip.Prefix{netip.PrefixFrom(b, 32)}})
	dst := startServer(t, b.String()+":2121", server.Config{DataTimeout: 5 * time.Second}) // trusts no one
	// Far more than socket buffers hold, so the sender sees the reset.
	require.NoError(t, src.mem.AddGenerated("/f", 256<<20, 3))
	sc := dialUser(t, ctx, src.addr, Options{})
	dc := dialUser(t, ctx, dst.addr, Options{})
	_, err := Transfer(ctx, sc, "f", dc, "f", TransferOptions{Passive: Destination})
	var se *SideError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, Source, se.Side, "%v", err)
	assert.True(t, IsReply(err, 425) || IsReply(err, 426), "%v", err)
	_, statErr := dst.mem.Stat("/f")
	assert.Error(t, statErr, "nothing was stored")
	assertInStep(t, ctx, sc, dc)
}

// A passive source that does not trust the destination resets the
// destination's data connection. The destination must not read that as
// the end of an empty file (storing it with 226): it fails (4xx), the
// source is aborted at once rather than after its data timeout, and
// nothing is stored.
func TestTransferPassiveSourceRefusesDestination(t *testing.T) {
	for _, size := range []int64{0, 1000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			ctx := testCtx(t)
			a, b := loopbackPair()
			src := startServer(t, a.String()+":2121", server.Config{DataTimeout: 45 * time.Second}) // trusts no one
			dst := startServer(t, b.String()+":2121", server.Config{TrustedPeers: []netip.Prefix{netip.PrefixFrom(a, 32)}})
			require.NoError(t, src.mem.WriteFile("/f", payload(int(size))))
			sc := dialUser(t, ctx, src.addr, Options{})
			dc := dialUser(t, ctx, dst.addr, Options{})
			_, err := Transfer(ctx, sc, "f", dc, "f", TransferOptions{Passive: Source})
			var se *SideError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, Destination, se.Side, "%v", err)
			// 425 when the reset comes while it connects, 426 once it reads
			assert.True(t, IsReply(err, 425) || IsReply(err, 426), "%v", err)
			assert.Contains(t, err.Error(), "reset", "the refusal is a TCP reset")
			_, statErr := dst.mem.Stat("/f")
			assert.Error(t, statErr, "nothing was stored")
			assertInStep(t, ctx, sc, dc)
		})
	}
}

// A source file that does not exist stops the transfer before the
// destination is told anything: no STOR creates (or truncates) its file.
func TestTransferMissingSource(t *testing.T) {
	for _, tc := range []struct {
		dialect Dialect
		passive Side
	}{{RFC959, Destination}, {RFC959, Source}, {RFC478, Destination}, {RFC478, Source}} {
		t.Run(fmt.Sprintf("%s/passive-%s", tc.dialect, tc.passive), func(t *testing.T) {
			ctx := testCtx(t)
			a, b := serverPair(t, false, true)
			require.NoError(t, b.mem.WriteFile("/out", []byte("keep me")))
			var mu sync.Mutex
			var dstSent []string
			src := dialUser(t, ctx, a.addr, Options{})
			dst := dialUser(t, ctx, b.addr, Options{Trace: func(out bool, l string) {
				if out {
					mu.Lock()
					dstSent = append(dstSent, l)
					mu.Unlock()
				}
			}})
			for _, out := range []string{"new", "out"} {
				_, err := Transfer(ctx, src, "missing", dst, out, TransferOptions{Passive: tc.passive, Dialect: tc.dialect})
				var se *SideError
				require.ErrorAs(t, err, &se, "%v", err)
				assert.Equal(t, Source, se.Side, "%v", err)
				assert.True(t, IsReply(err, 550), "%v", err)
			}
			_, err := b.mem.Stat("/new")
			assert.Error(t, err, "no file created")
			kept, err := b.mem.ReadFile("/out")
			require.NoError(t, err)
			assert.Equal(t, "keep me", string(kept))
			mu.Lock()
			assert.Equal(t, []string{"USER u", "PASS ****", "TYPE I"}, dstSent, "the destination was told nothing")
			mu.Unlock()
			assertInStep(t, ctx, src, dst)
		})
	}
}

// Where SIZE is not implemented, MLST tells whether the source exists; a
// server with neither gets RETR as before.
func TestTransferSourceCheckFallback(t *testing.T) {
	login := map[string]string{"USER": "331 password", "PASS": "230 in", "TYPE": "200 ok"}
	for _, tc := range []struct {
		name       string
		size, mlst string
		code       int      // of the SideError (Source)
		verbs      []string // after login
	}{
		{"MLST says missing", "502 SIZE not implemented", "550 no such file", 550, []string{"TYPE", "SIZE", "MLST"}},
		{"MLST finds it", "500 unknown", "250-Listing f\r\n type=file; f\r\n250 End", 502, []string{"TYPE", "SIZE", "MLST", "PORT"}},
		{"neither", "502 no", "500 unknown", 502, []string{"TYPE", "SIZE", "MLST", "PORT"}},
		{"SIZE says missing", "550 no such file", "", 550, []string{"TYPE", "SIZE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			replies := maps.Clone(login)
			replies["SIZE"] = tc.size
			if tc.mlst != "" {
				replies["MLST"] = tc.mlst
			}
			srcAddr, verbs := scriptedServer(t, replies)
			dst := startServer(t, "127.0.0.2:0", server.Config{})
			src := dialUser(t, ctx, srcAddr, Options{})
			dc := dialUser(t, ctx, dst.addr, Options{})
			_, err := Transfer(ctx, src, "f", dc, "f", TransferOptions{Passive: Destination})
			var se *SideError
			require.ErrorAs(t, err, &se, "%v", err)
			assert.Equal(t, Source, se.Side, "%v", err)
			assert.True(t, IsReply(err, tc.code), "%v", err)
			assert.Equal(t, tc.verbs, verbs()[2:])
			src.Close()
		})
	}
}
