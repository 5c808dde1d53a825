package stack_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/ftp/ftptest"
	"github.com/ftplab/ftplab/stack"
)

// capturedRun runs ping (v4, v6), a TCP transfer and UDP between A and B on a
// switch with C idle, and returns the pcapng bytes.
func capturedRun(t *testing.T, extra func(n *stack.Network)) []byte {
	var buf bytes.Buffer
	n, err := stack.New(t.Context(), lanConfig(stack.LinkParams{}, "A", "B", "C"), stack.Options{Capture: &buf})
	require.NoError(t, err)
	ctx := testCtx(t, 20*time.Second)
	a, b := n.Host("A"), n.Host("B")
	for _, dst := range []string{"10.0.0.2", "fd00::2"} {
		_, err := a.Ping(ctx, addr(dst))
		require.NoError(t, err)
	}
	data := payload(64 << 10)
	got, _ := transfer(t, ctx, a, b, addr("10.0.0.2"), data)
	require.Equal(t, sum(data), sum(got))
	got, _ = transfer(t, ctx, b, a, addr("fd00::1"), data)
	require.Equal(t, sum(data), sum(got))
	pc, err := b.ListenPacket(ctx, "udp", "10.0.0.2:9999")
	require.NoError(t, err)
	u, err := a.DialUDP(netip.AddrPort{}, netip.MustParseAddrPort("10.0.0.2:9999"))
	require.NoError(t, err)
	_, err = u.Write([]byte("query"))
	require.NoError(t, err)
	_, _, err = pc.ReadFrom(make([]byte, 100))
	require.NoError(t, err)
	u.Close()
	pc.Close()
	if extra != nil {
		extra(n)
	}
	require.NoError(t, n.Close())
	assert.Zero(t, n.CaptureStats().Dropped)
	return buf.Bytes()
}

type capFrame struct {
	iface string
	pkt   gopacket.Packet
}

func readCapture(t *testing.T, b []byte) ([]capFrame, []pcapgo.NgInterface) {
	// WantMixedLinkType: without it pcapgo silently skips frames of
	// interfaces whose link type differs from the first one's.
	r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.NgReaderOptions{WantMixedLinkType: true})
	require.NoError(t, err)
	var frames []capFrame
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		intf, err := r.Interface(ci.InterfaceIndex)
		require.NoError(t, err)
		frames = append(frames, capFrame{intf.Name, gopacket.NewPacket(data, intf.LinkType, gopacket.Default)})
	}
	var ifs []pcapgo.NgInterface
	for i := range r.NInterfaces() {
		intf, err := r.Interface(i)
		require.NoError(t, err)
		ifs = append(ifs, intf)
	}
	return frames, ifs
}

func TestCaptureNamedInterfacesAndChecksums(t *testing.T) {
	frames, ifs := readCapture(t, capturedRun(t, nil))
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
		assert.Equal(t, layers.LinkTypeEthernet, i.LinkType, i.Name)
		assert.Equal(t, 9, int(i.TimestampResolution), "nanosecond timestamps on %s", i.Name)
	}
	assert.Equal(t, []string{"A:eth0", "B:eth0", "C:eth0"}, names)

	macOf := map[string]string{}
	counts := map[string]int{}
	kinds := map[string]int{}
	for i, f := range frames {
		eth, ok := f.pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		require.True(t, ok, "frame %d is Ethernet", i)
		require.Nil(t, f.pkt.ErrorLayer(), "frame %d decodes", i)
		// Each frame is recorded on the interface that sent it.
		src := eth.SrcMAC.String()
		if m, seen := macOf[f.iface]; seen {
			assert.Equal(t, m, src, "frame %d on %s has a foreign source MAC", i, f.iface)
		}
		macOf[f.iface] = src
		counts[f.iface]++
		for _, k := range checkChecksums(t, i, f.pkt) {
			kinds[k]++
		}
	}
	assert.Zero(t, counts["C:eth0"], "idle C sent nothing")
	assert.Greater(t, counts["A:eth0"], 40)
	assert.Greater(t, counts["B:eth0"], 40)
	for _, k := range []string{"ipv4", "tcp4", "tcp6", "udp4", "icmp4", "icmp6", "arp"} {
		assert.Positive(t, kinds[k], "frames of kind %s checked", k)
	}
}

// checkChecksums verifies every checksum in pkt and returns the kinds seen.
func checkChecksums(t *testing.T, i int, pkt gopacket.Packet) []string {
	var kinds []string
	if pkt.Layer(layers.LayerTypeARP) != nil {
		kinds = append(kinds, "arp")
	}
	var pseudo func(proto byte, n int) uint32
	if ip, ok := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
		kinds = append(kinds, "ipv4")
		assert.Equal(t, uint16(0xffff), fold(sumBytes(ip.Contents)), "frame %d: IPv4 header checksum", i)
		pseudo = func(proto byte, n int) uint32 {
			return sumBytes(ip.SrcIP.To4()) + sumBytes(ip.DstIP.To4()) + uint32(proto) + uint32(n)
		}
	}
	if ip, ok := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok {
		pseudo = func(proto byte, n int) uint32 {
			return sumBytes(ip.SrcIP.To16()) + sumBytes(ip.DstIP.To16()) + uint32(proto) + uint32(n)
		}
	}
	fam := "4"
	if pkt.Layer(layers.LayerTypeIPv6) != nil {
		fam = "6"
	}
	check := func(kind string, proto byte, l gopacket.Layer) {
		seg := append(append([]byte{}, l.LayerContents()...), l.LayerPayload()...)
		assert.Equal(t, uint16(0xffff), fold(pseudo(proto, len(seg))+sumBytes(seg)), "frame %d: %s checksum", i, kind)
		kinds = append(kinds, kind)
	}
	if l := pkt.Layer(layers.LayerTypeTCP); l != nil {
		check("tcp"+fam, 6, l)
	}
	if l := pkt.Layer(layers.LayerTypeUDP); l != nil {
		check("udp"+fam, 17, l)
	}
	if l := pkt.Layer(layers.LayerTypeICMPv6); l != nil {
		check("icmp6", 58, l)
	}
	if l := pkt.Layer(layers.LayerTypeICMPv4); l != nil {
		seg := append(append([]byte{}, l.LayerContents()...), l.LayerPayload()...)
		assert.Equal(t, uint16(0xffff), fold(sumBytes(seg)), "frame %d: ICMPv4 checksum", i)
		kinds = append(kinds, "icmp4")
	}
	return kinds
}

func sumBytes(b []byte) uint32 {
	var s uint32
	for len(b) >= 2 {
		s += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

func TestCaptureInterfaceExtra(t *testing.T) {
	raw := []byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}
	b := capturedRun(t, func(n *stack.Network) {
		rec, err := n.CaptureInterface("tun:ftplab0", layers.LinkTypeRaw)
		require.NoError(t, err)
		rec(time.Now(), raw)
	})
	frames, ifs := readCapture(t, b)
	require.Len(t, ifs, 4)
	assert.Equal(t, "tun:ftplab0", ifs[3].Name)
	assert.Equal(t, layers.LinkTypeRaw, ifs[3].LinkType)
	var onTun [][]byte
	for _, f := range frames {
		if f.iface == "tun:ftplab0" {
			onTun = append(onTun, f.pkt.Data())
		}
	}
	assert.Equal(t, [][]byte{raw}, onTun)

	n := newNet(t, lanConfig(stack.LinkParams{}, "A"), stack.Options{})
	_, err := n.CaptureInterface("x", layers.LinkTypeRaw)
	assert.ErrorContains(t, err, "no capture")
}

func TestCaptureTshark(t *testing.T) {
	tshark := ftptest.Tool(t, "tshark", "cannot cross-check the capture")
	file := filepath.Join(t.TempDir(), "lab.pcapng")
	require.NoError(t, os.WriteFile(file, capturedRun(t, nil), 0o644))
	run := func(filter string, fields ...string) string {
		args := []string{"-r", file, "-n",
			"-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
			"-Y", filter, "-T", "fields"}
		for _, f := range fields {
			args = append(args, "-e", f)
		}
		var stderr bytes.Buffer
		cmd := exec.Command(tshark, args...)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "tshark: %s", stderr.String())
		return strings.TrimSpace(string(out))
	}
	bad := `_ws.malformed || _ws.expert.severity >= "error" || ip.checksum.status == "Bad" || tcp.checksum.status == "Bad" || udp.checksum.status == "Bad" || icmp.checksum.status == "Bad" || icmpv6.checksum.status == "Bad"`
	assert.Empty(t, run(bad, "frame.number", "_ws.expert.message"), "malformed packets or checksum errors")
	// The validation really ran: good checksums were seen for each protocol.
	for _, f := range []string{`ip.checksum.status == "Good"`, `tcp.checksum.status == "Good"`, `udp.checksum.status == "Good"`, `icmpv6.checksum.status == "Good"`} {
		assert.NotEmpty(t, run(f, "frame.number"), "no packets with %s", f)
	}
	ifaces := run("frame", "frame.interface_name")
	assert.Contains(t, ifaces, "A:eth0")
	assert.Contains(t, ifaces, "B:eth0")
}
