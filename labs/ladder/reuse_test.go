package ladder

import (
	"bytes"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clientHello is the start of a TLS record holding a ClientHello: all the
// ladder reads of it without secrets.
const clientHello = "\x16\x03\x01\x00\x08\x01\x00\x00\x04\x03\x03\x00\x00"

// TestReusedFourTuple: FXP data connections from C's port 20 to a passive
// port of B that B hands out again, where B (the TLS client, as after
// SSCN) sends the ClientHello. However the connection before on the same
// 4-tuple ended (FINs then a stray ACK and RST, or a RST alone, which
// closes one direction only), the next one is read afresh: its SYN, its
// TLS handshake and its bytes.
func TestReusedFourTuple(t *testing.T) {
	ends := map[string]func(s *synth, d *tcpConn){
		"fin-then-ack-and-rst": func(s *synth, d *tcpConn) {
			d.close()
			s.emit(s.packet(d.c, d.sv, &layers.TCP{ACK: true, Seq: d.cseq + 1, Ack: d.sseq + 1}, nil))
			s.emit(s.packet(d.sv, d.c, &layers.TCP{RST: true, ACK: true, Seq: d.sseq + 1, Ack: d.cseq + 1}, nil))
		},
		"rst": func(s *synth, d *tcpConn) {
			s.emit(s.packet(d.sv, d.c, &layers.TCP{RST: true, ACK: true, Seq: d.sseq, Ack: d.cseq}, nil))
		},
	}
	for name, end := range ends {
		t.Run(name, func(t *testing.T) {
			s := newSynth(t, layers.LinkTypeEthernet)
			k := s.dial("10.0.0.1:40000", "10.0.0.2:21")
			k.reply("220 ready")
			for i := range 3 {
				k.cmd("PASV")
				k.reply("227 Entering Passive Mode (10,0,0,2,195,85)") // port 50005 each time
				k.cmd("STOR f")
				d := s.dialISN("10.0.0.3:20", "10.0.0.2:50005", uint32(1000+100000*i), uint32(5000+100000*i))
				s.emit(d.segment(false, clientHello))
				s.emit(d.segment(true, "twenty bytes of data"))
				k.reply("150 go")
				end(s, d)
				k.reply("226 done")
			}
			l, err := Read(bytes.NewReader(s.pcap()))
			require.NoError(t, err)
			got := labels(t, l, map[string]string{"10.0.0.1": "A", "10.0.0.2": "B", "10.0.0.3": "C"})
			var syn, hello, data int
			for _, g := range got {
				switch g {
				case "C→B  SYN data connection :20 → :50005":
					syn++
				case "B→C  TLS handshake (B is the TLS client): data connection encrypted from here on":
					hello++
				case "C⇒B  data 20 bytes, FIN", "C⇒B  data 20 bytes, RST":
					data++
				}
			}
			assert.Equal(t, []int{3, 3, 3}, []int{syn, hello, data}, "SYN, TLS and data lines of three connections in:\n%v", got)
			for _, c := range l.Conns {
				if !c.Control {
					assert.True(t, c.TLS)
					assert.Equal(t, "10.0.0.2:50005", c.TLSClient.String())
				}
			}
		})
	}
}
