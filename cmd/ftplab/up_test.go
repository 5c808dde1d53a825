package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"go.uber.org/goleak"

	"github.com/ftplab/ftplab/ftp/ftptest"
	"github.com/ftplab/ftplab/tun"
)

// lockedBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestUpTUN runs `ftplab up rfc478 --tun ftplabu0` inside a network
// namespace: it prints every host with its addresses and ftp:// URLs, the
// device, the capture and the Wireshark hint; curl in the kernel downloads
// from a virtual server through the device; on interrupt it stops cleanly
// with no device or route left, and the capture has the tun:ftplabu0
// interface. A taken device name and an unknown lab are clear errors.
func TestUpTUN(t *testing.T) {
	if !ftptest.Run(t, ftptest.NeedTUN(), ftptest.Need("curl")) {
		return
	}
	t.Cleanup(func() { goleak.VerifyNone(t) })
	capture := filepath.Join(t.TempDir(), "up.pcapng")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := newUpCmd()
	cmd.SetArgs([]string{"rfc478", "--tun", "ftplabu0", "--capture", capture})
	out := &lockedBuffer{}
	cmd.SetOut(out)
	cmd.SetErr(io.Discard)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	require.Eventually(t, func() bool {
		select {
		case err := <-done:
			t.Fatalf("up stopped early: %v\n%s", err, out)
		default:
		}
		return strings.Contains(out.String(), upReady)
	}, 10*time.Second, 10*time.Millisecond, "up never said it is up:\n%s", out)

	printed := out.String()
	for _, want := range []string{"  A  ", "10.0.0.1/24", "ftp://10.0.0.2:21/", "ftp://10.0.0.3:21/",
		"tun ftplabu0: kernel 10.99.0.1/24, gateway 10.99.0.2/24", "routes via the gateway: 10.0.0.0/24",
		"wireshark -k -i ftplabu0", capture} {
		assert.Contains(t, printed, want)
	}

	got := filepath.Join(t.TempDir(), "rfc478.txt")
	res, err := exec.Command("curl", "-sS", "--max-time", "20", "-u", "user:user", "-o", got, "ftp://10.0.0.3/rfc478.txt").CombinedOutput()
	require.NoError(t, err, "curl through the TUN: %s", res)
	fi, err := os.Stat(got)
	require.NoError(t, err)
	assert.EqualValues(t, 256<<10, fi.Size())

	cancel()
	require.NoError(t, <-done, "up stops cleanly when interrupted")
	_, err = netlink.LinkByName("ftplabu0")
	assert.ErrorAs(t, err, new(netlink.LinkNotFoundError), "device left behind")
	_, err = netlink.RouteGet(net.ParseIP("10.0.0.3"))
	assert.Error(t, err, "route to the lab left behind")
	assert.Equal(t, 1, tunPackets(t, capture, "tun:ftplabu0"), "capture interfaces named tun:ftplabu0")

	t.Run("name taken", func(t *testing.T) {
		cmd := newUpCmd()
		_, err := execute(cmd, "rfc478", "--tun", "lo", "--capture", filepath.Join(t.TempDir(), "x.pcapng"))
		require.ErrorIs(t, err, tun.ErrNameTaken)
		assert.Contains(t, err.Error(), `"lo"`)
	})
	t.Run("unknown lab", func(t *testing.T) {
		_, err := execute(newUpCmd(), "no-such-lab", "--tun", "ftplabu1")
		require.Error(t, err)
		assert.Equal(t, 2, exitCode(err))
	})
}

// tunPackets counts the interfaces called name in a pcapng that carry
// packets.
func tunPackets(t *testing.T, path, name string) int {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	opts := pcapgo.DefaultNgReaderOptions
	opts.WantMixedLinkType = true
	r, err := pcapgo.NewNgReader(f, opts)
	require.NoError(t, err)
	seen := map[int]bool{}
	for {
		_, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		intf, err := r.Interface(ci.InterfaceIndex)
		require.NoError(t, err)
		if intf.Name == name {
			seen[ci.InterfaceIndex] = true
		}
	}
	return len(seen)
}
