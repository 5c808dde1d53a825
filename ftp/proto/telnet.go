package proto

import (
	"errors"
	"fmt"
)

// Telnet bytes that may appear on an FTP control connection (RFC 854, RFC
// 959 §4.1.3).
const (
	TelnetIAC = 255 // Interpret As Command
	TelnetIP  = 244 // Interrupt Process
	TelnetDM  = 242 // Data Mark, the end of a Synch

	telnetDONT = 254
	telnetWILL = 251
	telnetSE   = 240 // the lowest two-byte Telnet command
)

// ErrLineTooLong is reported by LineDecoder.Line for a line longer than
// its Max.
var ErrLineTooLong = errors.New("line too long")

// LineDecoder splits the byte stream of an FTP control connection into
// lines (ended by LF, a CR before it dropped) and strips the Telnet layer
// from them: option negotiation (IAC WILL/WONT/DO/DONT x), two-byte
// commands such as IAC IP and IAC DM, and IAC IAC, which is a 255 data byte.
//
// It also undoes what the kernel does to a Telnet Synch (RFC 854), the
// urgent data clients send before ABOR and STAT (RFC 959 §4.1.3). A socket
// without SO_OOBINLINE removes the urgent byte from the stream, so a server
// sees one of these forms, each of which decodes to the plain command:
//
//	IAC IP IAC DM ABOR   the urgent byte kept in line (or a capture)
//	IAC IP IAC ABOR      lftp: DM sent urgent and lost; an IAC before a byte
//	                     that is no Telnet command is dropped
//	IAC IP DM ABOR       tnftp: "IAC IP IAC" sent urgent, its last IAC lost;
//	                     a bare DM after a Telnet command at the start of a
//	                     line is dropped
//	ABOR                 a client that sends no Synch
//
// The zero value has no line limit; set Max to bound lines. A LineDecoder
// is for one direction of one connection.
type LineDecoder struct {
	// Max is the longest line accepted, CR LF excluded; 0 means no limit.
	Max int

	line    []byte
	state   uint8 // one of the decode* states
	telnet  bool  // a Telnet command came before any data of this line
	tooLong bool
}

// Decoder states.
const (
	decodeData   = iota
	decodeIAC    // after IAC
	decodeOption // after IAC WILL/WONT/DO/DONT: the option byte is next
)

// Feed takes the next byte of the stream. It returns true when b ended a
// line; Line then returns it.
func (d *LineDecoder) Feed(b byte) bool {
	switch d.state {
	case decodeIAC:
		d.state = decodeData
		switch {
		case b == TelnetIAC:
			return d.data(b) // IAC IAC: an escaped 255
		case b >= telnetWILL && b <= telnetDONT:
			d.state = decodeOption
			return false
		case b >= telnetSE:
			d.telnet = true // IP, DM, AO, AYT, NOP, ...: nothing to do here
			return false
		}
		// The urgent byte after this IAC was taken out of band: b is data.
		d.telnet = true
	case decodeOption:
		d.state = decodeData
		d.telnet = true
		return false
	}
	switch {
	case b == TelnetIAC:
		d.state = decodeIAC
		return false
	case b == TelnetDM && d.telnet && len(d.line) == 0:
		return false // the DM of a Synch whose IAC was taken out of band
	case b == '\n':
		return true
	}
	return d.data(b)
}

// data appends a data byte to the line.
func (d *LineDecoder) data(b byte) bool {
	if d.Max > 0 && len(d.line) > d.Max { // room for Max bytes and a CR
		d.tooLong = true
		return false
	}
	d.line = append(d.line, b)
	return false
}

// Line returns the line the last Feed ended, without its CR LF, and starts
// the next one. A line longer than Max is an error wrapping ErrLineTooLong.
func (d *LineDecoder) Line() (string, error) {
	line := d.line
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	tooLong := d.tooLong || (d.Max > 0 && len(line) > d.Max)
	s := string(line)
	d.line, d.telnet, d.tooLong = d.line[:0], false, false
	if tooLong {
		return "", fmt.Errorf("line longer than %d bytes: %w", d.Max, ErrLineTooLong)
	}
	return s, nil
}

// Pending reports how many bytes of an unfinished line are held.
func (d *LineDecoder) Pending() int { return len(d.line) }
