// Package ladder draws a ladder diagram of the FTP exchanges in a packet
// capture: one column per host, an arrow per command and reply in time
// order, and the data connections (SYN and FIN, with bytes moved) that the
// commands announced. It reads pcap and pcapng files (Ethernet, raw IP,
// Linux cooked SLL/SLL2 as `tcpdump -i any` writes, BSD loopback/null),
// reassembles the TCP control streams with gopacket/reassembly, and
// recognises a control connection by port 21 or by a server that speaks a
// 220 greeting first.
//
// FTPS (RFC 4217): after a 234 reply to AUTH, or from the first byte of
// a connection to port 990 (implicit FTPS), a control connection is
// encrypted and a TLS event (naming the TLS client) marks where. With the
// TLS secrets a pcapng capture carries (Decryption Secrets Blocks, which
// ftplab writes into its captures), the ladder decrypts the control
// connection (package tlsdec) and reads the commands and replies inside
// TLS as it reads those in the clear, marked as inside TLS (🔒); without
// them (an eavesdropper's view) a control connection ends at its TLS
// event and ciphertext is never parsed as FTP. A data connection that
// starts with a TLS ClientHello gets a TLS event too (with SSCN or CPSV a
// server is the TLS client) and, decrypted, the count of its plaintext
// bytes (never its content); when its announcement was inside TLS and not
// decrypted it is drawn as long as it joins hosts of the exchange, one of
// them with an encrypted control connection, and its direction is the
// side that sent more bytes.
package ladder

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"github.com/ftplab/ftplab/labs/ladder/tlsdec"
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

// commenter is a packetSource whose packets may carry comments.
type commenter interface {
	lastComment() string
}

// namer is a packetSource whose interfaces may tell host names.
type namer interface {
	names(into map[netip.Addr]string)
}

type pcapSource struct{ r *pcapgo.Reader }

func (s pcapSource) next() ([]byte, gopacket.CaptureInfo, layers.LinkType, error) {
	data, ci, err := s.r.ReadPacketData()
	return data, ci, s.r.LinkType(), err
}

type ngSource struct {
	r       *pcapgo.NgReader
	comment string // the last packet's comment
}

func (s *ngSource) next() ([]byte, gopacket.CaptureInfo, layers.LinkType, error) {
	data, ci, opts, err := s.r.ReadPacketDataWithOptions()
	if err != nil {
		return nil, ci, 0, err
	}
	s.comment = strings.Join(opts.Comments, "; ")
	iface, err := s.r.Interface(ci.InterfaceIndex)
	if err != nil {
		return nil, ci, 0, fmt.Errorf("packet on unknown interface %d: %w", ci.InterfaceIndex, err)
	}
	return data, ci, iface.LinkType, nil
}

// names reads host names from interfaces named "HOST:NIC" whose
// description lists the NIC's addresses, as ftplab writes them ("host B
// NIC eth0 MAC 02:… addresses [10.0.0.2/24]").
// lastComment implements commenter.
func (s *ngSource) lastComment() string { return s.comment }

func (s *ngSource) names(into map[netip.Addr]string) {
	for i := range s.r.NInterfaces() {
		iface, err := s.r.Interface(i)
		if err != nil {
			continue
		}
		host, _, ok := strings.Cut(iface.Name, ":")
		_, list, found := strings.Cut(iface.Description, "addresses [")
		if !ok || !found || host == "" {
			continue
		}
		list, _, _ = strings.Cut(list, "]")
		for _, f := range strings.Fields(list) {
			if p, err := netip.ParsePrefix(f); err == nil {
				into[p.Addr()] = host
			} else if a, err := netip.ParseAddr(f); err == nil {
				into[a] = host
			}
		}
	}
}

// openSource detects pcap or pcapng from the first bytes; a pcapng
// source's Decryption Secrets Blocks go into keys as they are read.
func openSource(r io.Reader, keys *tlsdec.KeyLog) (packetSource, *secretsReader, error) {
	sr := &secretsReader{r: r, keys: keys}
	br := bufio.NewReaderSize(sr, 1<<16)
	head, err := br.Peek(4)
	if err != nil {
		return nil, nil, fmt.Errorf("not a pcap or pcapng file: too short (%d bytes)", len(head))
	}
	if bytes.Equal(head, pcapngMagic) {
		ng, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, nil, fmt.Errorf("pcapng header: %w", err)
		}
		return &ngSource{r: ng}, sr, nil
	}
	pr, err := pcapgo.NewReader(br)
	if err != nil {
		return nil, nil, fmt.Errorf("not a pcap or pcapng file: %w", err)
	}
	return pcapSource{pr}, nil, nil
}

// Read reads a whole pcap or pcapng capture and returns its FTP exchanges.
// A file that is not a capture is an error; one that stops in the middle
// of a record (a capture still being written, or cut with head -c) gives
// the ladder of what was read, with a note that says where it stopped.
// Single packets that do not decode are skipped and counted.
func Read(r io.Reader) (*Ladder, error) {
	a := newAnalyzer()
	src, secrets, err := openSource(r, a.keys)
	if err != nil {
		return nil, err
	}
	a.secrets = secrets
	var stopped string
	for n := 1; ; n++ {
		data, ci, lt, err := src.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			stopped = fmt.Sprintf("the capture stops in frame %d (%v): later frames are unknown", n, err)
			break
		}
		a.packet(data, ci, lt, n, capPoint{iface: ci.InterfaceIndex})
		if cm, ok := src.(commenter); ok {
			a.note(n, cm.lastComment())
		}
	}
	if nm, ok := src.(namer); ok {
		nm.names(a.names)
	}
	l := a.finish()
	if stopped != "" {
		l.Notes = append(l.Notes, stopped)
	}
	return l, nil
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
