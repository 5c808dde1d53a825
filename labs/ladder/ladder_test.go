package ladder

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// eventLine is "  0.012s |---->|   |  A→B  PASV": time, arrows, label.
var eventLine = regexp.MustCompile(`^\s*\d+\.\d{3}s [ |<>=@-]+(\S.*)$`)

// labels renders l and returns the label column of each event line
// ("A→B  PASV"), without time or arrows.
func labels(t *testing.T, l *Ladder, names map[string]string) []string {
	t.Helper()
	nm := map[netip.Addr]string{}
	for a, n := range names {
		nm[netip.MustParseAddr(a)] = n
	}
	var b bytes.Buffer
	require.NoError(t, l.Render(&b, Options{Names: nm}))
	var out []string
	for i, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		if i < 2 || strings.HasPrefix(line, "(") {
			continue // header, notes
		}
		m := eventLine.FindStringSubmatch(line)
		require.NotNil(t, m, "event line %q", line)
		out = append(out, m[1])
	}
	return out
}

func dataCloses(l *Ladder) []Event {
	var out []Event
	for _, e := range l.Events {
		if e.Kind == DataClose {
			out = append(out, e)
		}
	}
	return out
}

// TestRealCaptures reads captures taken with tcpdump on a real (namespaced
// loopback) network: testdata/mkcapture.sh made them with vsftpd, curl and
// lftp. lo.pcap is Ethernet, any.pcap Linux cooked SLL2.
func TestRealCaptures(t *testing.T) {
	for _, file := range []string{"testdata/lo.pcap", "testdata/any.pcap"} {
		t.Run(file, func(t *testing.T) {
			l, err := ReadFile(file)
			require.NoError(t, err)
			assert.Zero(t, l.Skipped)
			got := labels(t, l, map[string]string{"127.0.0.1": "A", "127.0.0.2": "B", "127.0.0.3": "C"})
			joined := strings.Join(got, "\n")
			for _, want := range []string{
				"B→A  220 (vsFTPd 3.0.3)",
				"A→B  EPSV",
				"B→A  229 Entering Extended Passive Mode (|||51849|)",
				"A→B  PASV",
				"A→B  PORT 127,0,0,1,212,23",
				"A→B  RETR hello.txt",
				"B⇒A  data 1600 bytes, FIN",
				"B→A  211-Features:  (+8 lines)",
				// lftp's third-party copy: PASV to the destination C, PORT
				// to the source B, then B connects to C and sends the file.
				"A→C  PASV",
				"C→A  227 Entering Passive Mode (127,0,0,3,130,78).",
				"A→B  PORT 127,0,0,3,130,78",
				"B→C  SYN data connection :39875 → :33358",
				"B⇒C  data 1600 bytes, FIN",
			} {
				assert.Contains(t, joined, want)
			}
			closes := dataCloses(l)
			require.Len(t, closes, 4, "three curl downloads and one FXP")
			for _, c := range closes {
				assert.Equal(t, int64(1600), c.Bytes)
			}
			assert.Equal(t, []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")}, l.Hosts,
				"columns: the client first")
		})
	}
}

// rfc478 synthesizes RFC 478's exchange plus a port thief E.
func rfc478(s *synth) {
	ab := s.dial("10.0.0.1:40001", "10.0.0.2:21")
	ab.reply("220 B ready")
	ac := s.dial("10.0.0.1:40002", "10.0.0.3:21")
	ac.reply("220 C ready")
	ab.cmd("USER user")
	ab.reply("331 Password required")
	ab.cmd("PASS secret")
	ab.reply("230 Logged in")
	ab.cmd("SOCK 10,0,0,3,0,20")
	ab.reply("200 SOCK ok")
	ac.cmd("SOCK 10,0,0,2,0,20")
	ac.reply("200 SOCK ok")
	ab.cmd("PASV")
	ab.reply("227 Entering Passive Mode (10,0,0,2,0,20)")
	s.refused("10.0.0.66:50000", "10.0.0.2:20")
	s.refused("10.0.0.66:50001", "10.0.0.2:20")
	thief := s.dial("10.0.0.66:50002", "10.0.0.2:20")
	thief.cmd("INJECTED")
	s.emit(s.packet(thief.sv, thief.c, &layers.TCP{RST: true, ACK: true, Seq: thief.sseq, Ack: thief.cseq}, nil))
	ab.cmd("STOR /f")
	ac.cmd("RTRV /f")
	data := s.dial("10.0.0.3:20", "10.0.0.2:20")
	ab.reply("150 Receiving")
	ac.reply("150 Sending")
	data.s.emit(data.segment(true, strings.Repeat("x", 1400)))
	retrans := data.segment(true, strings.Repeat("y", 600))
	s.emit(retrans)
	s.emit(retrans) // a retransmission must not count twice
	data.close()
	ab.reply("226 Stored")
	ac.reply("226 Sent")
}

// rfc478Exchange is the synthesized RFC 478 exchange (see rfc478) past the
// logins: what the brief ladder shows, and the tail of the full one.
var rfc478Exchange = []string{
	"A→B  SOCK 10,0,0,3,0,20",
	"B→A  200 SOCK ok",
	"A→C  SOCK 10,0,0,2,0,20",
	"C→A  200 SOCK ok",
	"A→B  PASV",
	"B→A  227 Entering Passive Mode (10,0,0,2,0,20)",
	"E→B  SYN to :20 refused (RST) ×2",
	"E→B  SYN data connection :50002 → :20",
	"E⇒B  data 10 bytes, RST",
	"A→B  STOR /f",
	"A→C  RTRV /f",
	"C→B  SYN data connection :20 → :20",
	"B→A  150 Receiving",
	"C→A  150 Sending",
	"C⇒B  data 2000 bytes, FIN",
	"B→A  226 Stored",
	"C→A  226 Sent",
}

// TestRFC478Ladder checks that the RFC 478 exchange reads like the RFC's own
// table, from a pcapng that records every frame twice (as ftplab's capture
// does at both ends of a link).
func TestRFC478Ladder(t *testing.T) {
	s := newSynth(t, layers.LinkTypeEthernet)
	rfc478(s)
	l, err := Read(bytes.NewReader(s.pcapngTwice()))
	require.NoError(t, err)
	got := labels(t, l, map[string]string{"10.0.0.1": "A", "10.0.0.2": "B", "10.0.0.3": "C", "10.0.0.66": "E"})
	want := append([]string{
		"B→A  220 B ready",
		"C→A  220 C ready",
		"A→B  USER user",
		"B→A  331 Password required",
		"A→B  PASS ****",
		"B→A  230 Logged in",
	}, rfc478Exchange...)
	assert.Equal(t, want, got)
	var b bytes.Buffer
	require.NoError(t, l.Render(&b, Options{Names: map[netip.Addr]string{netip.MustParseAddr("10.0.0.1"): "A", netip.MustParseAddr("10.0.0.2"): "B", netip.MustParseAddr("10.0.0.3"): "C", netip.MustParseAddr("10.0.0.66"): "E"}, Order: []string{"A", "B", "C"}}))
	lines := strings.Split(b.String(), "\n")
	assert.Equal(t, "              A       B       C       E", lines[0], "header in Order, then the rest")
	assert.Contains(t, b.String(), "|       |<======|       |     C⇒B  data 2000 bytes, FIN")
	assert.Contains(t, b.String(), "|------>|       |       |     A→B  STOR /f")
}

// TestLinkTypesAndEdgeCases feeds synthesized captures of several link
// types and awkward streams.
func TestLinkTypesAndEdgeCases(t *testing.T) {
	for _, lt := range []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeRaw, layers.LinkTypeNull, layers.LinkTypeLinuxSLL} {
		t.Run(lt.String(), func(t *testing.T) {
			s := newSynth(t, lt)
			// Control on port 2121: recognised by its 220 greeting.
			k := s.dial("[fd00::1]:40000", "[fd00::2]:2121")
			k.reply("220-Welcome")
			k.reply(" to the lab")
			k.reply("220 ready")
			// IAC IP + IAC DM in front of STAT, as lftp sends them.
			k.s.emit(k.segment(true, "\xff\xf4\xff\xf2STAT\r\n"))
			k.reply("211 idle")
			// A command split over two segments, the second arriving first.
			first := k.segment(true, "EPR")
			second := k.segment(true, "T |2|fd00::1|41000|\r\n")
			s.emit(second)
			s.emit(first)
			k.reply("200 EPRT ok")
			k.cmd("RETR big")
			d := s.dial("[fd00::2]:2120", "[fd00::1]:41000")
			k.reply("150 go")
			d.s.emit(d.segment(true, "hello")) // B connected to A and sends
			d.close()
			k.reply("226 done")
			// Not FTP: a web request on port 80 is ignored.
			w := s.dial("[fd00::1]:40001", "[fd00::3]:80")
			w.cmd("GET / HTTP/1.0")
			w.reply("HTTP/1.0 200 OK")
			w.close()

			l, err := Read(bytes.NewReader(s.pcap()))
			require.NoError(t, err)
			got := labels(t, l, map[string]string{"fd00::1": "A", "fd00::2": "B"})
			assert.Equal(t, []string{
				"B→A  220-Welcome  (+2 lines)",
				"A→B  STAT",
				"B→A  211 idle",
				"A→B  EPRT |2|fd00::1|41000|",
				"B→A  200 EPRT ok",
				"A→B  RETR big",
				"B→A  SYN data connection :2120 → :41000",
				"B→A  150 go",
				"B⇒A  data 5 bytes, FIN",
				"B→A  226 done",
			}, got)
		})
	}
}

// TestMalformedCaptures: a file that is not a capture is a clear error,
// never a panic; one cut short is drawn as far as it goes, with a note.
func TestMalformedCaptures(t *testing.T) {
	s := newSynth(t, layers.LinkTypeEthernet)
	rfc478(s)
	pcap, ng := s.pcap(), s.pcapngTwice()
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"text", []byte("220 this is not a capture\r\n"), "not a pcap or pcapng file"},
		{"pcapng header only", ng[:12], "pcapng header"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Read(bytes.NewReader(tc.data))
			require.Error(t, err)
			assert.Nil(t, l)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, err := ReadFile("testdata/does-not-exist.pcap")
	require.ErrorIs(t, err, os.ErrNotExist)

	cut := []struct {
		name   string
		data   []byte
		events int // at least this many drawn
		frame  int // the frame it stops in
	}{
		{"pcap cut in a packet", pcap[:len(pcap)-7], len(rfc478Exchange), len(s.pkts)},
		{"pcap cut in a header", pcap[:24+10], 0, 1},
		{"pcapng cut in a block", ng[:len(ng)-9], len(rfc478Exchange), 2 * len(s.pkts)},
	}
	for _, tc := range cut {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Read(bytes.NewReader(tc.data))
			require.NoError(t, err)
			assert.GreaterOrEqual(t, len(l.Events), tc.events)
			require.NotEmpty(t, l.Notes)
			assert.Contains(t, l.Notes[len(l.Notes)-1], fmt.Sprintf("the capture stops in frame %d", tc.frame))
			var b bytes.Buffer
			require.NoError(t, l.Render(&b, Options{}))
			assert.Contains(t, b.String(), "(note: the capture stops in frame")
		})
	}
}

// TestBrief hides the session chatter and keeps RFC 478's table.
func TestBrief(t *testing.T) {
	s := newSynth(t, layers.LinkTypeEthernet)
	rfc478(s)
	l, err := Read(bytes.NewReader(s.pcap()))
	require.NoError(t, err)
	var b bytes.Buffer
	names := map[netip.Addr]string{netip.MustParseAddr("10.0.0.1"): "A", netip.MustParseAddr("10.0.0.2"): "B", netip.MustParseAddr("10.0.0.3"): "C", netip.MustParseAddr("10.0.0.66"): "E"}
	require.NoError(t, l.Render(&b, Options{Names: names, Brief: true}))
	var got []string
	for _, line := range strings.Split(b.String(), "\n") {
		if m := eventLine.FindStringSubmatch(line); m != nil {
			got = append(got, m[1])
		}
	}
	assert.Equal(t, rfc478Exchange, got)
	assert.Contains(t, b.String(), "(6 login, TYPE and QUIT lines hidden)")
}
