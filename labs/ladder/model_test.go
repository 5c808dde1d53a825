package ladder

import (
	"bytes"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var loNames = map[string]string{"127.0.0.1": "A", "127.0.0.2": "B", "127.0.0.3": "C"}

// TestDataConnectionKnownByAnnouncement: a passive download whose content
// looks like FTP replies (motd.pcap: curl fetching a file that starts with
// "220 Welcome" and a 227 line) is a data connection, because the 227 reply
// announced it, not a control connection with a fake 227.
func TestDataConnectionKnownByAnnouncement(t *testing.T) {
	l, err := ReadFile("testdata/motd.pcap")
	require.NoError(t, err)
	got := labels(t, l, loNames)
	joined := strings.Join(got, "\n")
	assert.NotContains(t, joined, "220 Welcome")
	assert.NotContains(t, joined, "10,0,0,9,0,25")
	assert.Contains(t, joined, "B⇒A  data 57 bytes, FIN")
	assert.Contains(t, joined, "B⇒A  data 300000 bytes, FIN")
	for _, e := range l.Events {
		if e.Kind != DataOpen {
			continue
		}
		require.NotEmpty(t, e.Announced, "a data connection links to its announcement")
		ann := l.Events[e.Announced[0]]
		assert.Equal(t, 227, ann.Code)
		assert.Equal(t, e.Conn, l.Events[slices.IndexFunc(l.Events, func(x Event) bool { return x.Kind == DataClose && x.Conn == e.Conn })].Conn)
		c := l.Conns[e.Conn]
		require.GreaterOrEqual(t, c.Command, 0)
		assert.True(t, strings.HasPrefix(l.Events[c.Command].Text, "RETR "), "the transfer command it served")
		assert.Equal(t, e.Frame, c.OpenFrame)
	}
}

// TestSnapLength: a capture made with tcpdump -s 96 cuts control lines and
// the 227 that announced the data connection. The ladder cuts the lines
// where the capture did (…), keeps them in order, invents no data
// connection, and says what it could not know.
func TestSnapLength(t *testing.T) {
	l, err := ReadFile("testdata/snap96.pcap")
	require.NoError(t, err)
	got := labels(t, l, loNames)
	joined := strings.Join(got, "\n")
	assert.Contains(t, got, `B→A  257 "/tmp/tmp.8h9gqKDdUt/root2…`, "a cut line ends where the capture cut it")
	assert.NotContains(t, joined, "227 Entering Passive Mode (127\n", "never a cut line shown whole")
	for _, line := range got {
		assert.LessOrEqual(t, strings.Count(line, "  "), 2, "no replies run together: %q", line)
	}
	assert.NotContains(t, joined, "⇒", "no data connection drawn: its announcement is unknown")
	assert.NotContains(t, joined, "220 Welcome")
	quit, bye := slices.Index(got, "A→B  QUIT"), slices.Index(got, "B→A  221 Goodbye.")
	require.True(t, quit >= 0 && bye >= 0)
	assert.Less(t, quit, bye, "QUIT before its 221")
	notes := strings.Join(l.Notes, "\n")
	assert.Contains(t, notes, "cut short by the capture (snap length 96 bytes)")
	assert.Contains(t, notes, "lost their end")
	assert.Contains(t, notes, "(300000 bytes)", "the unidentified data connection is named with its size")
}

// TestCutFile: a capture cut with head -c is drawn up to where it stops;
// a data connection whose end is not in it is not said to have ended.
func TestCutFile(t *testing.T) {
	data, err := os.ReadFile("testdata/lo.pcap")
	require.NoError(t, err)
	l, err := Read(bytes.NewReader(data[:12000]))
	require.NoError(t, err)
	got := labels(t, l, loNames)
	assert.Contains(t, got, "A→B  RETR hello.txt")
	assert.Contains(t, got, "B⇒A  data 0 bytes, still open where the capture ends")
	require.NotEmpty(t, l.Notes)
	assert.Contains(t, l.Notes[len(l.Notes)-1], "the capture stops in frame 88")
}

// emptyTransfers synthesizes a zero-byte passive download and upload.
func emptyTransfers(s *synth) {
	k := s.dial("10.0.0.1:40000", "10.0.0.2:21")
	k.reply("220 ready")
	for i, verb := range []string{"RETR empty", "STOR empty"} {
		k.cmd("PASV")
		port := []string{"5000", "5001"}[i]
		k.reply("227 Entering Passive Mode (10,0,0,2,19," + []string{"136", "137"}[i] + ")")
		d := s.dial("10.0.0.1:4100"+port[3:], "10.0.0.2:"+port)
		k.cmd(verb)
		k.reply("150 go")
		d.close()
		k.reply("226 done")
	}
}

// TestEmptyTransfer: a data connection that carried nothing is drawn in
// the direction its transfer command says.
func TestEmptyTransfer(t *testing.T) {
	s := newSynth(t, layers.LinkTypeEthernet)
	emptyTransfers(s)
	l, err := Read(bytes.NewReader(s.pcap()))
	require.NoError(t, err)
	got := labels(t, l, map[string]string{"10.0.0.1": "A", "10.0.0.2": "B"})
	assert.Equal(t, []string{
		"B→A  220 ready",
		"A→B  PASV",
		"B→A  227 Entering Passive Mode (10,0,0,2,19,136)",
		"A→B  SYN data connection :41000 → :5000",
		"A→B  RETR empty",
		"B→A  150 go",
		"B⇒A  data 0 bytes, FIN",
		"B→A  226 done",
		"A→B  PASV",
		"B→A  227 Entering Passive Mode (10,0,0,2,19,137)",
		"A→B  SYN data connection :41001 → :5001",
		"A→B  STOR empty",
		"B→A  150 go",
		"A⇒B  data 0 bytes, FIN",
		"B→A  226 done",
	}, got)
}

// TestConcurrentSessions: two sessions between the same hosts at once are
// told apart by the client's port; one after the other they need not be.
func TestConcurrentSessions(t *testing.T) {
	s := newSynth(t, layers.LinkTypeEthernet)
	one := s.dial("10.0.0.1:40001", "10.0.0.2:21")
	two := s.dial("10.0.0.1:40002", "10.0.0.2:21")
	one.reply("220 one")
	two.reply("220 two")
	one.cmd("NOOP")
	two.cmd("NOOP")
	one.close()
	two.close()
	three := s.dial("10.0.0.1:40003", "10.0.0.2:21")
	three.reply("220 three")
	three.close()
	l, err := Read(bytes.NewReader(s.pcap()))
	require.NoError(t, err)
	assert.Equal(t, []string{
		"B→A:40001  220 one",
		"B→A:40002  220 two",
		"A:40001→B  NOOP",
		"A:40002→B  NOOP",
		"B→A  220 three",
	}, labels(t, l, map[string]string{"10.0.0.1": "A", "10.0.0.2": "B"}))
}

// TestNamesFromInterfaces: ftplab's pcapng names its interfaces "HOST:NIC"
// and lists their addresses; the ladder names those hosts without --name.
func TestNamesFromInterfaces(t *testing.T) {
	s := newSynth(t, layers.LinkTypeEthernet)
	rfc478(s)
	l, err := Read(bytes.NewReader(s.pcapngTwice()))
	require.NoError(t, err)
	assert.Equal(t, map[netip.Addr]string{netip.MustParseAddr("10.0.0.1"): "A", netip.MustParseAddr("fd00::1"): "A", netip.MustParseAddr("10.0.0.2"): "B"}, l.Names)
	var b bytes.Buffer
	require.NoError(t, l.Render(&b, Options{}))
	assert.Contains(t, b.String(), "A→B  STOR /f")
	assert.Contains(t, b.String(), "10.0.0.3⇒B  data 2000 bytes, FIN")
}

// TestFrames: each event names the capture frame Wireshark shows it in.
func TestFrames(t *testing.T) {
	s := newSynth(t, layers.LinkTypeEthernet)
	rfc478(s)
	l, err := Read(bytes.NewReader(s.pcap()))
	require.NoError(t, err)
	first := l.Events[0]
	assert.Equal(t, "220 B ready", first.Text)
	assert.Equal(t, 4, first.Frame, "after SYN, SYN-ACK, ACK")
	assert.Equal(t, "PSH ACK", first.Flags)
	assert.Equal(t, len("220 B ready\r\n"), first.Size)
	assert.Equal(t, first.Time, s.tss[3])
	for _, e := range l.Events {
		assert.Positive(t, e.Frame, "%+v", e)
		assert.GreaterOrEqual(t, e.LastFrame, e.Frame)
		assert.Less(t, e.Conn, len(l.Conns))
	}
	// The thief's reset connection and the real one share B's announcements.
	var data []Event
	for _, e := range l.Events {
		if e.Kind == DataOpen {
			data = append(data, e)
		}
	}
	require.Len(t, data, 2)
	for _, d := range data {
		var texts []string
		for _, i := range d.Announced {
			texts = append(texts, l.Events[i].Text)
		}
		assert.Equal(t, []string{"SOCK 10,0,0,2,0,20", "227 Entering Passive Mode (10,0,0,2,0,20)"}, texts)
	}
	c := l.Conns[data[1].Conn]
	assert.Equal(t, int64(2000), c.Bytes)
	assert.Equal(t, 1, c.Retransmits, "the segment sent twice")
	assert.Equal(t, "10.0.0.3:20", c.Sender.String())
	var sum int64
	for _, b := range c.Progress.Bytes {
		sum += b
	}
	assert.Equal(t, c.Bytes, sum)
}

// TestWidth: the ladder fits the terminal, cutting labels with ….
func TestWidth(t *testing.T) {
	s := newSynth(t, layers.LinkTypeEthernet)
	rfc478(s)
	l, err := Read(bytes.NewReader(s.pcap()))
	require.NoError(t, err)
	for _, width := range []int{40, 60, 80} {
		var b bytes.Buffer
		require.NoError(t, l.Render(&b, Options{Width: width}))
		cut := 0
		for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
			if strings.HasPrefix(line, "(") {
				continue
			}
			assert.LessOrEqual(t, utf8.RuneCountInString(line), width, "%q", line)
			if strings.HasSuffix(line, "…") {
				cut++
			}
		}
		assert.Positive(t, cut, "long labels are cut at width %d", width)
	}
}

// TestSeriesConstantSize: a long transfer's progress keeps a bounded number
// of intervals and every byte.
func TestSeriesConstantSize(t *testing.T) {
	t0 := time.Unix(0, 0)
	b := newSeriesBuilder(t0)
	var total int64
	for i := range 1_000_000 {
		b.add(t0.Add(time.Duration(i)*3600*time.Microsecond), 1448, i%1000/999)
		total += 1448
	}
	s := b.series()
	assert.LessOrEqual(t, len(s.Bytes), maxBuckets)
	assert.Greater(t, len(s.Bytes), maxBuckets/2)
	var sum int64
	var re int
	for i := range s.Bytes {
		sum += s.Bytes[i]
		re += s.Retransmits[i]
	}
	assert.Equal(t, total, sum)
	assert.Equal(t, 1000, re)
	assert.GreaterOrEqual(t, s.Step*time.Duration(len(s.Bytes)), time.Hour-time.Second)
}
