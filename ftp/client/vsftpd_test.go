package client

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ftplab/ftplab/ftp"
	"github.com/ftplab/ftplab/ftp/ftptest"
	"github.com/ftplab/ftplab/ftp/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var osNet ftp.Network = ftp.OS{}

// payload is n bytes of a repeatable pattern that is not periodic in 256.
func payload(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func TestVsftpdClient(t *testing.T) {
	if !ftptest.Run(t, ftptest.Need("vsftpd")) {
		return
	}
	ctx := testCtx(t)
	v := ftptest.StartVsftpd(t, netip.MustParseAddrPort("127.0.0.2:2121"), "", true)
	data := payload(3<<20 + 17)
	require.NoError(t, os.WriteFile(filepath.Join(v.Root, "f.bin"), data, 0o644))
	for _, mode := range []Mode{ModeAuto, ModeEPSV, ModePASV, ModeEPRT, ModePORT} {
		t.Run(mode.String(), func(t *testing.T) {
			c := dialAnon(t, ctx, v.Addr, Options{Mode: mode})
			assertRetr(t, ctx, c, "f.bin", data)
			assertRetr(t, ctx, c, "f.bin", data[1000:], WithOffset(1000))

			name := "up-" + mode.String()
			n, err := c.Stor(ctx, name, bytes.NewReader(data[:5000]))
			require.NoError(t, err)
			assert.Equal(t, int64(5000), n)
			_, err = c.Appe(ctx, name, bytes.NewReader(data[5000:6000]))
			require.NoError(t, err)
			onDisk, err := os.ReadFile(filepath.Join(v.Root, name))
			require.NoError(t, err)
			assert.Equal(t, data[:6000], onDisk)

			size, err := c.Size(ctx, name)
			require.NoError(t, err)
			assert.Equal(t, int64(6000), size)
			names, err := c.NameList(ctx, "")
			require.NoError(t, err)
			assert.Contains(t, names, "f.bin")
			require.NoError(t, c.Quit(ctx))
		})
	}
}

// assertCopy runs a third-party copy and checks the result and, through
// read, what the destination stored.
func assertCopy(t *testing.T, src *Client, srcPath string, dst *Client, dstPath string, opts TransferOptions, want []byte, read func(string) ([]byte, error)) {
	t.Helper()
	ctx := testCtx(t)
	res, err := Transfer(ctx, src, srcPath, dst, dstPath, opts)
	require.NoError(t, err)
	assert.Equal(t, int64(len(want)), res.Bytes)
	assert.Equal(t, 226, res.SourceReply.Code)
	assert.Equal(t, 226, res.DestinationReply.Code)
	got, err := read(dstPath)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(want, got), "copied content differs")
	assertInStep(t, ctx, src, dst)
}

// readIn reads files below dir.
func readIn(dir string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, name)) }
}

func TestVsftpdToVsftpdFXP(t *testing.T) {
	if !ftptest.Run(t, ftptest.Need("vsftpd")) {
		return
	}
	ctx := testCtx(t)
	a := ftptest.StartVsftpd(t, netip.MustParseAddrPort("127.0.0.2:2121"), "", true)
	b := ftptest.StartVsftpd(t, netip.MustParseAddrPort("127.0.0.3:2121"), "", true)
	data := payload(5<<20 + 3)
	require.NoError(t, os.WriteFile(filepath.Join(a.Root, "f.bin"), data, 0o644))
	for _, side := range []Side{Source, Destination} {
		t.Run(side.String(), func(t *testing.T) {
			src := dialAnon(t, ctx, a.Addr, Options{})
			dst := dialAnon(t, ctx, b.Addr, Options{})
			assertCopy(t, src, "f.bin", dst, "copy-"+side.String(), TransferOptions{Passive: side}, data, readIn(b.Root))
		})
	}
	// vsftpd answers a STAT sent during a transfer only after it: the
	// reply must not be mistaken for the next command's.
	t.Run("stat-polling", func(t *testing.T) {
		src := dialAnon(t, ctx, a.Addr, Options{})
		dst := dialAnon(t, ctx, b.Addr, Options{})
		var polls int
		dst.opts.Trace = func(out bool, line string) {
			if out && line == "STAT" {
				polls++
			}
		}
		opts := TransferOptions{Progress: func(int64) {}, PollInterval: time.Millisecond}
		assertCopy(t, src, "f.bin", dst, "copy-polled", opts, data, readIn(b.Root))
		t.Logf("%d STAT polls", polls)
	})
}

// TestVsftpdOursFXP copies server to server between vsftpd and our server,
// both ways and in both passive orders.
func TestVsftpdOursFXP(t *testing.T) {
	if !ftptest.Run(t, ftptest.Need("vsftpd")) {
		return
	}
	ctx := testCtx(t)
	vAddr := netip.MustParseAddrPort("127.0.0.2:2121")
	v := ftptest.StartVsftpd(t, vAddr, "", true)
	ours := startServer(t, "127.0.0.3:2121", server.Config{TrustedPeers: []netip.Prefix{netip.PrefixFrom(vAddr.Addr(), 32)}})
	data := payload(2<<20 + 5)
	require.NoError(t, os.WriteFile(filepath.Join(v.Root, "from-vsftpd"), data, 0o644))
	require.NoError(t, ours.mem.WriteFile("/from-ours", data))
	for _, side := range []Side{Source, Destination} {
		t.Run("vsftpd-to-ours/passive-"+side.String(), func(t *testing.T) {
			src := dialAnon(t, ctx, v.Addr, Options{})
			dst := dialUser(t, ctx, ours.addr, Options{})
			assertCopy(t, src, "from-vsftpd", dst, "/copy-"+side.String(), TransferOptions{Passive: side}, data, ours.mem.ReadFile)
		})
		t.Run("ours-to-vsftpd/passive-"+side.String(), func(t *testing.T) {
			src := dialUser(t, ctx, ours.addr, Options{})
			dst := dialAnon(t, ctx, v.Addr, Options{})
			assertCopy(t, src, "from-ours", dst, "copy-"+side.String(), TransferOptions{Passive: side}, data, readIn(v.Root))
		})
	}
}
