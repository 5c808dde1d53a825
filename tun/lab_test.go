package tun

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ftplab/ftplab/ftp/ftptest"
	"github.com/ftplab/ftplab/ftp/server"
	"github.com/ftplab/ftplab/ftp/store"
	"github.com/ftplab/ftplab/stack"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// kernelLab is RFC 478's cast on one switch — A (the TUN gateway), servers
// B and C that trust each other for third-party transfers — with the TUN
// device attached to A. Everything lives in the test's namespace.
type kernelLab struct {
	net     *stack.Network
	dev     *Device
	stores  map[string]*store.Mem
	servers []*server.Server
	wg      sync.WaitGroup
}

// startKernelLab builds the lab, starts the servers and attaches device
// name to A with MTU mtu (0: default). B and C serve files of fileSize
// bytes ("/file.bin"). Close stops it.
func startKernelLab(tb testing.TB, name string, mtu uint32, fileSize int64, capture io.Writer) *kernelLab {
	tb.Helper()
	p := netip.MustParsePrefix
	host := func(n, v4, v6 string) stack.HostConfig {
		return stack.HostConfig{Name: n, NICs: []stack.NICConfig{{Addrs: []netip.Prefix{p(v4), p(v6)}}}}
	}
	linkMTU := int(max(mtu, DefaultMTU))
	n, err := stack.New(context.Background(), stack.Config{
		Hosts:    []stack.HostConfig{host("A", "10.0.0.1/24", "fd00::1/64"), host("B", "10.0.0.2/24", "fd00::2/64"), host("C", "10.0.0.3/24", "fd00::3/64")},
		Switches: []stack.SwitchConfig{{Name: "lan"}},
		Links: []stack.LinkConfig{
			{A: "A", B: "lan", Params: stack.LinkParams{MTU: linkMTU}},
			{A: "B", B: "lan", Params: stack.LinkParams{MTU: linkMTU}},
			{A: "C", B: "lan", Params: stack.LinkParams{MTU: linkMTU}},
		},
	}, stack.Options{Capture: capture})
	require.NoError(tb, err)
	l := &kernelLab{net: n, stores: map[string]*store.Mem{}}
	tb.Cleanup(l.Close)
	l.serve(tb, "B", fileSize, p("10.0.0.3/32"))
	l.serve(tb, "C", fileSize, p("10.0.0.2/32"))
	l.dev, err = Attach(context.Background(), n, n.Host("A"), Config{Name: name, MTU: mtu, Kernel: []netip.Prefix{kernel4, kernel6}})
	require.NoError(tb, err)
	return l
}

// serve starts an FTP server on host h (port 21) with user:user and
// anonymous access, "/file.bin" of fileSize bytes and a writable
// "/incoming", trusting the given peers for third-party transfers.
func (l *kernelLab) serve(tb testing.TB, h string, fileSize int64, trust ...netip.Prefix) {
	tb.Helper()
	st := store.NewMem()
	require.NoError(tb, st.AddGenerated("/file.bin", fileSize, uint64(len(h))))
	require.NoError(tb, st.Mkdir("/incoming"))
	srv, err := server.New(server.Config{
		Network:      l.net.Host(h),
		Store:        st,
		Users:        []server.User{{Name: "user", Password: "user"}},
		Anonymous:    true,
		TrustedPeers: trust,
	})
	require.NoError(tb, err)
	ln, err := l.net.Host(h).Listen(context.Background(), "tcp", ":21")
	require.NoError(tb, err)
	l.stores[h], l.servers = st, append(l.servers, srv)
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		_ = srv.Serve(context.Background(), ln)
	}()
}

// Close stops the device, the servers and the network.
func (l *kernelLab) Close() {
	if l.dev != nil {
		_ = l.dev.Close()
	}
	for _, s := range l.servers {
		_ = s.Close()
	}
	l.wg.Wait()
	_ = l.net.Close()
}

// sniff runs tcpdump on dev (inside the namespace) writing to a pcap file
// until the returned stop function is called; stop returns the file.
func sniff(t *testing.T, dev string) func() string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tun.pcap")
	// No BPF filter: libpcap's filter for a raw-IP TUN device matched
	// nothing here; a short snap length keeps the file small.
	cmd := exec.Command("tcpdump", "-i", dev, "-U", "-n", "-s", "200", "-w", path)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(stderr)
	for sc.Scan() && !strings.Contains(sc.Text(), "listening on") {
	}
	var rest bytes.Buffer
	done := make(chan struct{})
	go func() { _, _ = io.Copy(&rest, stderr); close(done) }()
	return func() string {
		_ = cmd.Process.Signal(syscall.SIGINT)
		<-done
		_ = cmd.Wait()
		t.Logf("tcpdump: %s", rest.String())
		return path
	}
}

// ftpPayloads returns the TCP payloads of a raw-IP pcap file, joined.
func ftpPayloads(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	require.NoError(t, err)
	var out strings.Builder
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if r.LinkType() != layers.LinkTypeRaw && r.LinkType() != layers.LinkTypeIPv4 {
			t.Fatalf("tcpdump link type %v, want raw IP", r.LinkType())
		}
		out.Write(data) // headers and all: the words are found in the payloads
		out.WriteByte('\n')
	}
	return out.String()
}

// TestKernelClients: from the kernel side of a TUN device attached to a
// running lab, ping reaches every host; curl downloads and uploads in
// passive EPSV and PASV and active PORT and EPRT modes; lftp copies a file
// between the two virtual servers (FXP, forced); tcpdump on the device sees
// the FTP commands; and when the lab stops no device or route is left.
func TestKernelClients(t *testing.T) {
	if !ftptest.Run(t, ftptest.NeedTUN(), ftptest.Need("curl", "lftp", "tcpdump")) {
		return
	}
	ftptest.LoUp(t)
	const size = 1 << 20
	lab := startKernelLab(t, "ftplab0", 0, size, nil)
	for _, a := range []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "fd00::1", "fd00::2", "fd00::3", "10.99.0.2", "fd99::2"} {
		require.NoError(t, ping(netip.MustParseAddr(a)), "ping %s", a)
	}
	stop := sniff(t, "ftplab0")

	want, err := io.ReadAll(store.GeneratedReader(1, size))
	require.NoError(t, err)
	ctx := withTimeout(t, 2*time.Minute)
	modes := []struct {
		name string
		args []string
	}{
		{"EPSV", nil},
		{"PASV", []string{"--disable-epsv"}},
		{"PORT", []string{"-P", "10.99.0.1", "--disable-eprt"}},
		{"EPRT", []string{"-P", "10.99.0.1"}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "got")
			args := append([]string{"-sS", "--max-time", "30", "-u", "user:user", "-o", out}, m.args...)
			runTool(t, ctx, "curl", append(args, "ftp://10.0.0.2/file.bin")...)
			got, err := os.ReadFile(out)
			require.NoError(t, err)
			require.Equal(t, len(want), len(got))
			require.True(t, bytes.Equal(want, got), "download differs")

			up := "/incoming/" + m.name + ".bin"
			args = append([]string{"-sS", "--max-time", "30", "-u", "user:user", "-T", out}, m.args...)
			runTool(t, ctx, "curl", append(args, "ftp://10.0.0.3"+up)...)
			f, err := lab.stores["C"].Open(up, 0)
			require.NoError(t, err)
			stored, err := io.ReadAll(f)
			require.NoError(t, f.Close())
			require.NoError(t, err)
			require.True(t, bytes.Equal(want, stored), "upload differs")
		})
	}
	t.Run("IPv6 EPSV", func(t *testing.T) {
		runTool(t, ctx, "curl", "-sS", "--max-time", "30", "-o", os.DevNull, "-u", "user:user", "ftp://[fd00::2]/file.bin")
	})
	t.Run("lftp FXP", func(t *testing.T) {
		runTool(t, ctx, "lftp", "-c", "set ftp:use-fxp yes; set ftp:fxp-force yes; set net:max-retries 1; set net:timeout 20; "+
			"get ftp://user:user@10.0.0.3/file.bin -o ftp://user:user@10.0.0.2/incoming/fxp.bin")
		f, err := lab.stores["B"].Open("/incoming/fxp.bin", 0)
		require.NoError(t, err)
		got, err := io.ReadAll(f)
		require.NoError(t, f.Close())
		require.NoError(t, err)
		src, err := io.ReadAll(store.GeneratedReader(1, size))
		require.NoError(t, err)
		require.True(t, bytes.Equal(src, got), "third-party copy differs")
	})

	seen := ftpPayloads(t, stop())
	for _, cmd := range []string{"USER user", "EPSV", "PASV", "PORT 10,99,0,1,", "EPRT |1|10.99.0.1|", "RETR", "STOR", "227 ", "229 "} {
		assert.Contains(t, seen, cmd, "tcpdump on the device did not see %q", cmd)
	}
	st := lab.dev.Stats()
	assert.Zero(t, st.WriteDrops)
	lab.Close()
	assertGone(t, "ftplab0")
}

// runTool runs a client tool inside the namespace and fails with its output.
func runTool(t *testing.T, ctx context.Context, name string, args ...string) {
	t.Helper()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	require.NoError(t, err, "%s %s: %s", name, strings.Join(args, " "), out)
}
