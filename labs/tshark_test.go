package labs

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"strings"
	"testing"

	"github.com/ftplab/ftplab/ftp/ftptest"
	"github.com/ftplab/ftplab/labs/ladder"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// badFrames is a tshark display filter for malformed frames, checksum
// errors and error-level expert info.
const badFrames = `_ws.malformed || ip.checksum.status == "Bad" || tcp.checksum.status == "Bad" || udp.checksum.status == "Bad" || icmp.checksum.status == "Bad" || icmpv6.checksum.status == "Bad" || _ws.expert.severity == "Error"`

func tshark(t *testing.T, args ...string) string {
	t.Helper()
	base := []string{"-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"}
	out, err := exec.Command("tshark", append(base, args...)...).Output()
	require.NoError(t, err, "tshark %v", args)
	return string(out)
}

// checkWithTshark opens the lab's capture in tshark: no malformed frames,
// no checksum errors, and tshark's FTP dissector sees every command and
// reply the ladder shows.
func checkWithTshark(t *testing.T, rep *Report) {
	t.Helper()
	ftptest.Tool(t, "tshark", "cannot cross-check the capture with Wireshark's dissectors")
	bad := tshark(t, "-r", rep.CaptureFile, "-Y", badFrames, "-T", "fields", "-e", "frame.number", "-e", "_ws.col.Info")
	assert.Empty(t, strings.TrimSpace(bad), "tshark finds malformed frames or bad checksums")

	// tshark decrypts FTPS with the capture's TLS secrets, and so does
	// the ladder; without them (an eavesdropper's view: the secrets
	// stripped) both read only what is in the clear.
	sameFTP(t, rep.CaptureFile, rep.Ladder, forwardedControlPorts(rep))
	if hasTLS(rep.Ladder) {
		clear := stripSecrets(t, rep.CaptureFile)
		l, err := ladder.ReadFile(clear)
		require.NoError(t, err)
		sameFTP(t, clear, l, forwardedControlPorts(rep))
	}

	// A clean lab ends clean: no resets from the teardown, TLS included
	// (close_notify both ways before the sockets close). bounce and
	// port-steal are about refused connections, and secure-fxp has a copy
	// that fails with both servers waiting as TLS servers.
	if rep.Lab != "bounce" && rep.Lab != "port-steal" && rep.Lab != "secure-fxp" {
		resets := tshark(t, "-r", rep.CaptureFile, "-Y", "tcp.flags.reset == 1", "-T", "fields", "-e", "frame.number", "-e", "_ws.col.Info")
		assert.Empty(t, strings.TrimSpace(resets), "resets in a clean lab")
	}
	// Wireshark's TCP analysis of the whole file sees each segment once:
	// only real losses (routed's 1% on the WAN) make retransmissions.
	// A router's FTP helper that has something to say about a frame it
	// forwards unchanged records its own copy, with the comment; Wireshark
	// counts that copy as a retransmission, so commented frames are left out.
	analysis := tshark(t, "-r", rep.CaptureFile, "-Y", "(tcp.analysis.retransmission || tcp.analysis.out_of_order || tcp.analysis.spurious_retransmission) && !frame.comment", "-T", "fields", "-e", "frame.number")
	assert.LessOrEqual(t, len(strings.Fields(analysis)), 3, "tshark's TCP analysis flags frames: %s", analysis)
	// Time never goes backwards within an interface.
	times := tshark(t, "-r", rep.CaptureFile, "-T", "fields", "-e", "frame.interface_id", "-e", "frame.time_epoch")
	last := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(times), "\n") {
		iface, ts, _ := strings.Cut(line, "\t")
		if prev, ok := last[iface]; ok {
			assert.GreaterOrEqual(t, ts, prev, "time goes backwards on interface %s", iface)
		}
		last[iface] = ts
	}
}

// forwardedControlPorts are tshark options that decode as FTP the ports
// a NAT of the (embedded) lab forwards one by one: a server reached at
// 2121 from outside is FTP there too.
func forwardedControlPorts(rep *Report) []string {
	lab, err := Embedded(rep.Lab)
	if err != nil {
		return nil
	}
	var out []string
	for _, h := range lab.Hosts {
		if h.NAT == nil {
			continue
		}
		for _, f := range h.NAT.Forward {
			if f.Port.Lo == f.Port.Hi && f.Port.Lo != 21 {
				out = append(out, "-d", fmt.Sprintf("tcp.port==%d,ftp", f.Port.Lo))
			}
		}
	}
	return out
}

// sameFTP checks that tshark's FTP dissector sees, in capture, every
// command and reply the ladder l shows, and no other (decodeAs: more
// tshark options, such as ports to decode as FTP).
func sameFTP(t *testing.T, capture string, l *ladder.Ladder, decodeAs []string) {
	t.Helper()
	args := []string{"-r", capture, "-Y", "ftp", "-T", "fields", "-E", "occurrence=f", "-e", "ftp.request.command", "-e", "ftp.response.code"}
	out := tshark(t, append(args, decodeAs...)...)
	var theirs []string
	for _, line := range strings.Split(strings.Trim(out, "\n"), "\n") {
		f := strings.Split(line, "\t")
		if len(f) == 2 && f[0]+f[1] != "" {
			theirs = append(theirs, f[0]+f[1])
		}
	}
	var ours []string
	for _, e := range l.Events {
		switch e.Kind {
		case ladder.Command:
			verb, _, _ := strings.Cut(e.Text, " ")
			ours = append(ours, strings.ToUpper(verb))
		case ladder.Reply:
			ours = append(ours, e.Text[:3])
		}
	}
	assert.ElementsMatch(t, ours, theirs, "tshark's FTP dissector and the ladder disagree on %s", filepath.Base(capture))
	assert.NotEmpty(t, theirs)
}

// hasTLS reports whether a ladder has a TLS handshake.
func hasTLS(l *ladder.Ladder) bool {
	for _, e := range l.Events {
		if e.Kind == ladder.TLS {
			return true
		}
	}
	return false
}

// stripSecrets writes a copy of a capture without its Decryption Secrets
// Blocks (editcap --discard-all-secrets) and returns its path.
func stripSecrets(t *testing.T, file string) string {
	t.Helper()
	ftptest.Tool(t, "editcap", "cannot strip a capture's TLS secrets")
	out := filepath.Join(t.TempDir(), "no-secrets.pcapng")
	b, err := exec.Command("editcap", "--discard-all-secrets", file, out).CombinedOutput()
	require.NoError(t, err, "editcap: %s", b)
	return out
}

// TestTsharkFilterCatchesBadChecksum makes sure the badFrames filter would
// catch what it is meant to: a TCP segment with a wrong checksum.
func TestTsharkFilterCatchesBadChecksum(t *testing.T) {
	ftptest.Tool(t, "tshark", "")
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 2}}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 21, Seq: 1, ACK: true, PSH: true, Window: 100}
	require.NoError(t, tcp.SetNetworkLayerForChecksum(ip))
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, tcp, gopacket.Payload("NOOP\r\n")))
	frame := buf.Bytes()
	frame[20+16] ^= 0xff // corrupt the TCP checksum
	path := filepath.Join(t.TempDir(), "bad.pcap")
	f, err := os.Create(path)
	require.NoError(t, err)
	w := pcapgo.NewWriter(f)
	require.NoError(t, w.WriteFileHeader(65536, layers.LinkTypeRaw))
	require.NoError(t, w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Now(), CaptureLength: len(frame), Length: len(frame)}, frame))
	require.NoError(t, f.Close())
	bad := tshark(t, "-r", path, "-Y", badFrames, "-T", "fields", "-e", "frame.number")
	assert.Equal(t, "1", strings.TrimSpace(bad))
}
