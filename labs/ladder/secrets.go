package ladder

import (
	"encoding/binary"
	"io"

	"github.com/ftplab/ftplab/labs/ladder/tlsdec"
)

// pcapng blocks the secrets reader knows (pcapng §4).
const (
	blockSectionHeader = 0x0A0D0D0A
	blockSecrets       = 0x0000000A
	secretsTLSKeyLog   = 0x544c534b // "TLSK": NSS key log text
	byteOrderMagic     = 0x1A2B3C4D
	// maxSecretsBlock bounds a Decryption Secrets Block kept to be read:
	// a larger one is skipped.
	maxSecretsBlock = 16 << 20
)

// secretsReader passes a pcapng stream through unchanged and, as the bytes
// go by, reads the TLS key log of its Decryption Secrets Blocks into keys
// (pcapgo's reader skips those between packets). The pcapng reader reads
// through it, so secrets are known before the frames after them are
// analysed, as the blocks' order promises. A stream it cannot follow
// (not pcapng, a block length that makes no sense) it passes through
// without reading further: pcapgo reports what is wrong.
type secretsReader struct {
	r      io.Reader
	keys   *tlsdec.KeyLog
	order  binary.ByteOrder
	head   [12]byte // block type, length, a section header's byte-order magic
	nhead  int
	remain int    // bytes of the current block still to go by
	body   []byte // the current secrets block's body, kept to be read
	keep   bool
	lost   bool  // a block was not followed: the stream is not read further
	err    error // the first malformed key log
}

// Read implements io.Reader.
func (s *secretsReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.scan(p[:n])
	return n, err
}

// scan follows the block structure through b.
func (s *secretsReader) scan(b []byte) {
	for len(b) > 0 && !s.lost {
		if s.remain > 0 {
			n := min(s.remain, len(b))
			if s.keep {
				s.body = append(s.body, b[:n]...)
			}
			s.remain, b = s.remain-n, b[n:]
			if s.remain == 0 && s.keep {
				s.secretsBlock()
			}
			continue
		}
		// A block's type and length; a section header's byte-order magic
		// too. (The section header's type reads the same both ways.)
		need := 8
		shb := s.nhead >= 4 && binary.LittleEndian.Uint32(s.head[:4]) == blockSectionHeader
		if shb {
			need = 12
		}
		n := copy(s.head[s.nhead:need], b)
		s.nhead, b = s.nhead+n, b[n:]
		if s.nhead == need && (shb || binary.LittleEndian.Uint32(s.head[:4]) != blockSectionHeader) {
			s.startBlock()
		}
	}
}

// startBlock starts the block whose header was read.
func (s *secretsReader) startBlock() {
	n := s.nhead
	s.nhead = 0
	if binary.LittleEndian.Uint32(s.head[:4]) == blockSectionHeader {
		switch {
		case binary.LittleEndian.Uint32(s.head[8:12]) == byteOrderMagic:
			s.order = binary.LittleEndian
		case binary.BigEndian.Uint32(s.head[8:12]) == byteOrderMagic:
			s.order = binary.BigEndian
		default:
			s.lost = true
			return
		}
	}
	if s.order == nil {
		s.lost = true // no section header first: not pcapng
		return
	}
	length := int(s.order.Uint32(s.head[4:8]))
	if length < 12 || length%4 != 0 {
		s.lost = true
		return
	}
	s.remain = length - n
	s.keep = s.order.Uint32(s.head[:4]) == blockSecrets && length <= maxSecretsBlock
	s.body = s.body[:0]
}

// secretsBlock reads the secrets block in body: secrets type, length,
// secrets, padding, options and the block's trailing length.
func (s *secretsReader) secretsBlock() {
	s.keep = false
	b := s.body
	if len(b) < 8 || s.order.Uint32(b[:4]) != secretsTLSKeyLog {
		return
	}
	n := int(s.order.Uint32(b[4:8]))
	if n > len(b)-8 {
		return
	}
	if err := s.keys.Add(b[8 : 8+n]); err != nil && s.err == nil {
		s.err = err
	}
}
