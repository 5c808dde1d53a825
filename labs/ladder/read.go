// Package ladder draws a ladder diagram of the FTP exchanges in a packet
// capture: one column per host, an arrow per command and reply in time
// order, and the data connections (SYN and FIN, with bytes moved) that the
// commands announced. It reads pcap and pcapng files (Ethernet, raw IP,
// Linux cooked SLL/SLL2 as `tcpdump -i any` writes, BSD loopback/null),
// reassembles the TCP control streams with gopacket/reassembly, and
// recognises a control connection by port 21 or by a server that speaks a
// 220 greeting first.
package ladder

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// pcapngMagic is the block type of a pcapng Section Header Block.
var pcapngMagic = []byte{0x0a, 0x0d, 0x0d, 0x0a}

// packetSource yields packets with their link type.
type packetSource interface {
	next() (data []byte, ci gopacket.CaptureInfo, lt layers.LinkType, err error)
}

type pcapSource struct{ r *pcapgo.Reader }

func (s pcapSource) next() ([]byte, gopacket.CaptureInfo, layers.LinkType, error) {
	data, ci, err := s.r.ReadPacketData()
	return data, ci, s.r.LinkType(), err
}

type ngSource struct{ r *pcapgo.NgReader }

func (s ngSource) next() ([]byte, gopacket.CaptureInfo, layers.LinkType, error) {
	data, ci, err := s.r.ReadPacketData()
	if err != nil {
		return nil, ci, 0, err
	}
	iface, err := s.r.Interface(ci.InterfaceIndex)
	if err != nil {
		return nil, ci, 0, fmt.Errorf("packet on unknown interface %d: %w", ci.InterfaceIndex, err)
	}
	return data, ci, iface.LinkType, nil
}

// openSource detects pcap or pcapng from the first bytes.
func openSource(r io.Reader) (packetSource, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	head, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("not a pcap or pcapng file: too short (%d bytes)", len(head))
	}
	if bytes.Equal(head, pcapngMagic) {
		ng, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, fmt.Errorf("pcapng header: %w", err)
		}
		return ngSource{ng}, nil
	}
	pr, err := pcapgo.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("not a pcap or pcapng file: %w", err)
	}
	return pcapSource{pr}, nil
}

// Read reads a whole pcap or pcapng capture and returns its FTP exchanges.
// A file that is not a capture, or is cut off in the middle of a record,
// is an error; single packets that do not decode are skipped and counted.
func Read(r io.Reader) (*Ladder, error) {
	src, err := openSource(r)
	if err != nil {
		return nil, err
	}
	a := newAnalyzer()
	for n := 1; ; n++ {
		data, ci, lt, err := src.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("capture truncated in packet %d: %w", n, err)
			}
			return nil, fmt.Errorf("capture packet %d: %w", n, err)
		}
		a.packet(data, ci, lt)
	}
	return a.finish(), nil
}

// ReadFile reads the capture at path.
func ReadFile(path string) (*Ladder, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	defer f.Close()
	l, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("capture %s: %w", path, err)
	}
	return l, nil
}
