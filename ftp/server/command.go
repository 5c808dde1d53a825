package server

import (
	"bufio"
	"errors"
	"fmt"
	"strings"
)

// Telnet bytes that may precede commands on the control connection (RFC 854).
const (
	telnetIAC  = 255
	telnetDONT = 254
	telnetWILL = 251
	telnetSE   = 240 // lowest two-byte telnet command
)

// MaxLine bounds a command line, CRLF excluded.
const MaxLine = 4096

var errLineTooLong = fmt.Errorf("command line longer than %d bytes", MaxLine)

// command is one parsed command line.
type command struct {
	verb string // upper case; "" for an empty line
	arg  string
	err  error // set when the line could not be read as a command
}

// readLine reads one command line, without its CR LF, and strips the Telnet
// sequences a client may send in front of commands: IAC IP and IAC DM (the
// Synch lftp sends before STAT and ABOR), option negotiation, and an IAC
// whose DM was taken out of the stream as TCP urgent data, which leaves the
// IAC followed by the command's first letter. IAC IAC is a 255 byte.
func readLine(br *bufio.Reader) (string, error) {
	var line []byte
	tooLong := false
	for {
		b, err := br.ReadByte()
		if err != nil {
			return "", err
		}
		if b == telnetIAC {
			c, err := br.ReadByte()
			if err != nil {
				return "", err
			}
			switch {
			case c == telnetIAC:
				// an escaped 255 data byte
			case c >= telnetWILL && c <= telnetDONT:
				if _, err := br.ReadByte(); err != nil { // the option
					return "", err
				}
				continue
			case c >= telnetSE:
				continue // IP, DM, AO, AYT, NOP, ...: nothing to do here
			default:
				b = c // the urgent DM was removed: c is data
			}
		}
		if b == '\n' {
			if tooLong {
				return "", errLineTooLong
			}
			return strings.TrimSuffix(string(line), "\r"), nil
		}
		if len(line) >= MaxLine+1 {
			tooLong = true
			continue
		}
		line = append(line, b)
	}
}

// parseCommand splits a command line into an upper-case verb and its
// argument (what follows the single space after the verb). A verb is 3 or 4
// ASCII letters (RFC 959 §5.3.1).
func parseCommand(line string) command {
	line = strings.TrimLeft(line, " ")
	verb, arg, _ := strings.Cut(line, " ")
	if len(verb) < 3 || len(verb) > 4 {
		if verb == "" {
			return command{err: errors.New("empty command line")}
		}
		return command{err: fmt.Errorf("command %q: want 3 or 4 letters", clip(verb))}
	}
	for i := 0; i < len(verb); i++ {
		c := verb[i] | 0x20
		if c < 'a' || c > 'z' {
			return command{err: fmt.Errorf("command %q: want letters only", clip(verb))}
		}
	}
	return command{verb: strings.ToUpper(verb), arg: arg}
}

// clip shortens s for a reply or log line.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
