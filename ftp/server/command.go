package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ftplab/ftplab/ftp/proto"
)

// MaxLine bounds a command line, CRLF excluded.
const MaxLine = 4096

var errLineTooLong = fmt.Errorf("command line longer than %d bytes", MaxLine)

// command is one parsed command line.
type command struct {
	verb string // upper case; "" for an empty line
	arg  string
	err  error // set when the line could not be read as a command

	// AUTH and CCC only: the reader's buffer, and where the reader waits
	// for what to read from next, TLS or the clear (nil: go on as before).
	br      *bufio.Reader
	upgrade chan io.Reader
}

// switches reports whether verb may switch the control connection to TLS
// or back: the reader then waits for the session to say.
func switches(verb string) bool { return verb == "AUTH" || verb == "CCC" }

// release lets the reader go on after an AUTH or CCC whose handler did not
// switch.
func (c command) release() {
	if c.upgrade != nil {
		select {
		case c.upgrade <- nil:
		default:
		}
	}
}

// readLine reads one command line, without its CR LF and with the Telnet
// sequences a client may send stripped (proto.LineDecoder has the rules:
// option negotiation, IAC IP and the Synch in every form clients send).
func readLine(br *bufio.Reader) (string, error) {
	d := proto.LineDecoder{Max: MaxLine}
	for {
		b, err := br.ReadByte()
		if err != nil {
			return "", err
		}
		if !d.Feed(b) {
			continue
		}
		line, err := d.Line()
		if errors.Is(err, proto.ErrLineTooLong) {
			return "", errLineTooLong
		}
		return line, err
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
