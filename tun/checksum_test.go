package tun

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// packet serializes an IP packet with correct checksums (gopacket computes
// them) and returns it with the offset of its transport checksum field.
func packet(t *testing.T, v6 bool, proto string) ([]byte, int) {
	t.Helper()
	var netLayer gopacket.NetworkLayer
	var ls []gopacket.SerializableLayer
	ipLen := 20
	if v6 {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, SrcIP: net.ParseIP("fd99::2"), DstIP: net.ParseIP("fd99::1")}
		netLayer, ipLen = ip, 40
		ls = append(ls, ip)
	} else {
		ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: net.ParseIP("10.99.0.2"), DstIP: net.ParseIP("10.99.0.1")}
		netLayer = ip
		ls = append(ls, ip)
	}
	setProto := func(p layers.IPProtocol) {
		if ip, ok := netLayer.(*layers.IPv6); ok {
			ip.NextHeader = p
		} else {
			netLayer.(*layers.IPv4).Protocol = p
		}
	}
	off := 0
	switch proto {
	case "tcp":
		setProto(layers.IPProtocolTCP)
		tcp := &layers.TCP{SrcPort: 21, DstPort: 40000, Seq: 1, ACK: true, Ack: 2, Window: 100}
		require.NoError(t, tcp.SetNetworkLayerForChecksum(netLayer))
		ls, off = append(ls, tcp), 16
	case "udp":
		setProto(layers.IPProtocolUDP)
		udp := &layers.UDP{SrcPort: 53, DstPort: 40000}
		require.NoError(t, udp.SetNetworkLayerForChecksum(netLayer))
		ls, off = append(ls, udp), 6
	case "icmp":
		if v6 {
			setProto(layers.IPProtocolICMPv6)
			icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoReply, 0)}
			require.NoError(t, icmp.SetNetworkLayerForChecksum(netLayer))
			ls = append(ls, icmp, &layers.ICMPv6Echo{Identifier: 7, SeqNumber: 1})
		} else {
			setProto(layers.IPProtocolICMPv4)
			ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoReply, 0), Id: 7, Seq: 1})
		}
		off = 2
	}
	ls = append(ls, gopacket.Payload("RETR rfc478.txt\r\n"))
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...))
	return buf.Bytes(), ipLen + off
}

// TestFixChecksums: a packet whose checksum was left to offload (zero or
// stale) gets exactly the checksum gopacket computes; a valid packet is
// left alone.
func TestFixChecksums(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, proto := range []string{"tcp", "udp", "icmp"} {
			good, off := packet(t, v6, proto)
			require.NoError(t, checksumsValid(good))
			name := proto + map[bool]string{false: "/v4", true: "/v6"}[v6]
			t.Run(name, func(t *testing.T) {
				assert.True(t, checksumsOK(split(good)), "valid packet judged bad")
				same := append([]byte(nil), good...)
				assert.False(t, fixChecksums(same), "valid packet changed")
				assert.Equal(t, good, same)

				for _, stale := range []uint16{0, 0x1234} {
					bad := append([]byte(nil), good...)
					binary.BigEndian.PutUint16(bad[off:], stale)
					if string(bad) == string(good) {
						continue
					}
					require.Error(t, checksumsValid(bad))
					assert.False(t, checksumsOK(split(bad)), "bad checksum judged valid")
					assert.True(t, fixChecksums(bad), "bad checksum not fixed")
					assert.Equal(t, good, bad)
				}
			})
		}
	}
	t.Run("ipv4 header", func(t *testing.T) {
		good, _ := packet(t, false, "tcp")
		bad := append([]byte(nil), good...)
		bad[8]-- // TTL decremented without a new header checksum
		good[8]--
		assert.False(t, checksumsOK(split(bad)))
		assert.True(t, fixChecksums(bad))
		require.NoError(t, checksumsValid(bad))
		assert.Equal(t, bad[:20][10:12], recomputedHeaderSum(good))
	})
	t.Run("garbage", func(t *testing.T) {
		for _, b := range [][]byte{nil, {0x45}, {0x60, 0, 0}, make([]byte, 20)} {
			assert.False(t, fixChecksums(b))
		}
	})
}

// split cuts b into parts of odd and even lengths, the way a packet
// buffer's header and payload views lie.
func split(b []byte) [][]byte {
	var parts [][]byte
	for i, n := 0, 7; len(b) > 0; i, n = i+1, n+i%3 {
		k := min(n, len(b))
		parts, b = append(parts, b[:k]), b[k:]
	}
	return parts
}

// recomputedHeaderSum is the IPv4 header checksum gopacket computes for
// the header of b.
func recomputedHeaderSum(b []byte) []byte {
	p := gopacket.NewPacket(b, layers.LayerTypeIPv4, gopacket.Default)
	ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	buf := gopacket.NewSerializeBuffer()
	_ = ip.SerializeTo(buf, gopacket.SerializeOptions{ComputeChecksums: true})
	return buf.Bytes()[10:12]
}
