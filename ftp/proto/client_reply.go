package proto

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseSizeReply parses the text of a 213 reply to SIZE (RFC 3659 §4): a
// decimal byte count.
func ParseSizeReply(msg string) (int64, error) {
	s := strings.TrimSpace(msg)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || s[0] == '+' {
		return 0, fmt.Errorf("213 reply %q: not a size", msg)
	}
	return n, nil
}

// ParseByteCount finds a byte count in the free text of a reply, as servers
// write it in a 226 reply ("Transfer complete (1048576 bytes)") or in STAT
// during a transfer ("... 524288 bytes ..."): the number right before the
// first word "bytes" (or "byte"), in any case. ok is false if there is none.
func ParseByteCount(msg string) (n int64, ok bool) {
	f := strings.FieldsFunc(msg, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '(' || r == ')' || r == ',' || r == ':' || r == ';'
	})
	for i := 1; i < len(f); i++ {
		w := strings.ToLower(strings.TrimRight(f[i], "."))
		if w != "bytes" && w != "byte" {
			continue
		}
		v, err := strconv.ParseInt(f[i-1], 10, 64)
		if err == nil && v >= 0 && f[i-1][0] != '+' {
			return v, true
		}
	}
	return 0, false
}
