package server

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/ftplab/ftplab/ftp/proto"
)

// FuzzCommandLine feeds raw control-connection bytes (Telnet sequences
// included) through the line reader and the command parser: no panic, no
// line longer than MaxLine, no CR/LF inside a line, verbs of 3-4 upper-case
// letters only, and a plain line parses back to its verb and argument.
func FuzzCommandLine(f *testing.F) {
	for _, s := range []string{
		"USER anonymous\r\n", "PASS secret\r\n", "RETR a file with spaces\r\n",
		"\xff\xf4\xff\xf2STAT\r\n", "\xff\xf4\xffABOR\r\n", "\xff\xfb\x01NOOP\r\n", "\xff\xffX\r\n",
		"stat\n", "\r\n", " PWD\r\n", "PORT 127,0,0,1,4,1\r\nEPRT |1|1.2.3.4|5|\r\n", "SOCK\r\n\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		br := bufio.NewReader(bytes.NewReader(raw))
		for i := range 64 {
			line, err := readLine(br)
			if err == errLineTooLong {
				continue
			}
			if err != nil {
				break
			}
			if len(line) > MaxLine+1 || strings.Contains(line, "\n") {
				t.Fatalf("readLine gave %q", line)
			}
			if i == 0 && bytes.IndexByte(raw, proto.TelnetIAC) < 0 {
				// without Telnet bytes the first line comes back verbatim
				want, _, _ := bytes.Cut(raw, []byte("\n"))
				if w := string(bytes.TrimSuffix(want, []byte("\r"))); line != w {
					t.Fatalf("readLine gave %q, want %q", line, w)
				}
			}
			c := parseCommand(line)
			if c.err != nil {
				continue
			}
			for j := 0; j < len(c.verb); j++ {
				if c.verb[j] < 'A' || c.verb[j] > 'Z' || len(c.verb) < 3 || len(c.verb) > 4 {
					t.Fatalf("parseCommand(%q): verb %q", line, c.verb)
				}
			}
			again := parseCommand(c.verb + " " + c.arg)
			if again.err != nil || again.verb != c.verb || again.arg != c.arg {
				t.Fatalf("parseCommand(%q) = %q %q; reparsed %+v", line, c.verb, c.arg, again)
			}
		}
	})
}
