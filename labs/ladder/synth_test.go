package ladder

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/stretchr/testify/require"
)

// synth builds captures packet by packet for edge cases that real tools
// rarely produce on demand (IAC bytes, reordering, duplicates, resets).
type synth struct {
	t    testing.TB
	lt   layers.LinkType
	ts   time.Time
	pkts [][]byte
	tss  []time.Time
}

func newSynth(t testing.TB, lt layers.LinkType) *synth {
	return &synth{t: t, lt: lt, ts: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// tcpConn is one synthetic TCP connection.
type tcpConn struct {
	s          *synth
	c, sv      netip.AddrPort
	cseq, sseq uint32
}

func (s *synth) packet(from, to netip.AddrPort, tcp *layers.TCP, payload []byte) []byte {
	s.t.Helper()
	tcp.SrcPort, tcp.DstPort = layers.TCPPort(from.Port()), layers.TCPPort(to.Port())
	tcp.Window = 65535
	var ip gopacket.SerializableLayer
	var netl gopacket.NetworkLayer
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	family := layers.ProtocolFamilyIPv4
	if from.Addr().Is4() {
		v4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: from.Addr().AsSlice(), DstIP: to.Addr().AsSlice()}
		ip, netl, eth.EthernetType = v4, v4, layers.EthernetTypeIPv4
	} else {
		v6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: from.Addr().AsSlice(), DstIP: to.Addr().AsSlice()}
		ip, netl, eth.EthernetType, family = v6, v6, layers.EthernetTypeIPv6, layers.ProtocolFamilyIPv6Linux
	}
	require.NoError(s.t, tcp.SetNetworkLayerForChecksum(netl))
	var stack []gopacket.SerializableLayer
	switch s.lt {
	case layers.LinkTypeEthernet:
		stack = append(stack, eth)
	case layers.LinkTypeNull:
		stack = append(stack, &layers.Loopback{Family: family})
	}
	stack = append(stack, ip, tcp, gopacket.Payload(payload))
	buf := gopacket.NewSerializeBuffer()
	require.NoError(s.t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, stack...))
	if s.lt == layers.LinkTypeLinuxSLL { // gopacket cannot serialize SLL: 16-byte header by hand
		sll := []byte{0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0} // type, ARPHRD, address length, address
		sll = binary.BigEndian.AppendUint16(sll, uint16(eth.EthernetType))
		return append(sll, buf.Bytes()...)
	}
	return bytes.Clone(buf.Bytes())
}

func (s *synth) emit(frame []byte) {
	s.ts = s.ts.Add(time.Millisecond)
	s.pkts = append(s.pkts, frame)
	s.tss = append(s.tss, s.ts)
}

// dial opens a connection with a full handshake.
func (s *synth) dial(client, server string) *tcpConn {
	return s.dialISN(client, server, 1000, 5000)
}

// dialISN opens a connection whose sides start at the initial sequence
// numbers given.
func (s *synth) dialISN(client, server string, cisn, sisn uint32) *tcpConn {
	k := &tcpConn{s: s, c: netip.MustParseAddrPort(client), sv: netip.MustParseAddrPort(server), cseq: cisn, sseq: sisn}
	s.emit(s.packet(k.c, k.sv, &layers.TCP{SYN: true, Seq: k.cseq}, nil))
	s.emit(s.packet(k.sv, k.c, &layers.TCP{SYN: true, ACK: true, Seq: k.sseq, Ack: k.cseq + 1}, nil))
	k.cseq++
	k.sseq++
	s.emit(s.packet(k.c, k.sv, &layers.TCP{ACK: true, Seq: k.cseq, Ack: k.sseq}, nil))
	return k
}

// refused is a SYN answered by a RST.
func (s *synth) refused(client, server string) {
	c, sv := netip.MustParseAddrPort(client), netip.MustParseAddrPort(server)
	s.emit(s.packet(c, sv, &layers.TCP{SYN: true, Seq: 77}, nil))
	s.emit(s.packet(sv, c, &layers.TCP{RST: true, ACK: true, Ack: 78}, nil))
}

// segment builds (without emitting) the next data segment of one side.
func (k *tcpConn) segment(fromClient bool, payload string) []byte {
	from, to, seq, ack := k.c, k.sv, &k.cseq, k.sseq
	if !fromClient {
		from, to, seq, ack = k.sv, k.c, &k.sseq, k.cseq
	}
	f := k.s.packet(from, to, &layers.TCP{ACK: true, PSH: true, Seq: *seq, Ack: ack}, []byte(payload))
	*seq += uint32(len(payload))
	return f
}

func (k *tcpConn) cmd(line string)   { k.s.emit(k.segment(true, line+"\r\n")) }
func (k *tcpConn) reply(line string) { k.s.emit(k.segment(false, line+"\r\n")) }

// close sends FIN both ways.
func (k *tcpConn) close() {
	k.s.emit(k.s.packet(k.c, k.sv, &layers.TCP{FIN: true, ACK: true, Seq: k.cseq, Ack: k.sseq}, nil))
	k.s.emit(k.s.packet(k.sv, k.c, &layers.TCP{FIN: true, ACK: true, Seq: k.sseq, Ack: k.cseq + 1}, nil))
}

// pcap serializes the packets as a classic pcap file.
func (s *synth) pcap() []byte {
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	require.NoError(s.t, w.WriteFileHeader(65536, s.lt))
	for i, p := range s.pkts {
		require.NoError(s.t, w.WritePacket(gopacket.CaptureInfo{Timestamp: s.tss[i], CaptureLength: len(p), Length: len(p)}, p))
	}
	return b.Bytes()
}

// pcapng serializes the packets as pcapng, each frame recorded twice (on
// two interfaces, as ftplab records a frame at both ends of a link).
func (s *synth) pcapngTwice() []byte {
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&b, pcapgo.NgInterface{Name: "A:eth0", Description: "host A NIC eth0 MAC 02:00:00:00:00:01 addresses [10.0.0.1/24 fd00::1/64]", LinkType: s.lt, SnapLength: 65536}, pcapgo.DefaultNgWriterOptions)
	require.NoError(s.t, err)
	second, err := w.AddInterface(pcapgo.NgInterface{Name: "B:eth0", Description: "host B NIC eth0 MAC 02:00:00:00:00:02 addresses [10.0.0.2/24]", LinkType: s.lt, SnapLength: 65536})
	require.NoError(s.t, err)
	for i, p := range s.pkts {
		for _, iface := range []int{0, second} {
			ci := gopacket.CaptureInfo{Timestamp: s.tss[i].Add(time.Duration(iface) * 10 * time.Microsecond), CaptureLength: len(p), Length: len(p), InterfaceIndex: iface}
			require.NoError(s.t, w.WritePacket(ci, p))
		}
	}
	require.NoError(s.t, w.Flush())
	return b.Bytes()
}
