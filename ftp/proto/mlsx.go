package proto

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// TimeFormat is RFC 3659's time-val (UTC) as used by MDTM and the modify fact.
const TimeFormat = "20060102150405"

// Entry is one MLST/MLSD line: the standard facts a server sends and a
// client reads, plus any other facts by lower-case name.
type Entry struct {
	Name   string
	Type   string // "file", "dir", "cdir", "pdir", or other
	Size   int64  // -1 when unknown
	Modify time.Time
	Perm   string
	Unique string
	Other  map[string]string
}

// FormatEntry renders e as an MLSx line ("fact=value;... name") with the
// facts named in want (lower-case; nil means all the entry has).
func FormatEntry(e Entry, want []string) string {
	on := func(f string) bool {
		if want == nil {
			return true
		}
		for _, w := range want {
			if strings.EqualFold(w, f) {
				return true
			}
		}
		return false
	}
	var b strings.Builder
	add := func(k, v string) {
		if v != "" && on(k) {
			b.WriteString(k + "=" + v + ";")
		}
	}
	add("type", e.Type)
	if e.Size >= 0 {
		add("size", strconv.FormatInt(e.Size, 10))
	}
	if !e.Modify.IsZero() {
		add("modify", e.Modify.UTC().Format(TimeFormat))
	}
	add("perm", e.Perm)
	add("unique", e.Unique)
	keys := make([]string, 0, len(e.Other))
	for k := range e.Other {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add(k, e.Other[k])
	}
	return b.String() + " " + e.Name
}

// ParseEntry parses an MLSx line. Fact names are case-insensitive; unknown
// facts land in Other.
func ParseEntry(line string) (Entry, error) {
	line = strings.TrimRight(line, "\r\n")
	sp := strings.IndexByte(line, ' ')
	if sp < 0 {
		return Entry{}, fmt.Errorf("MLSx line %q: no space before the name", line)
	}
	e := Entry{Name: line[sp+1:], Size: -1}
	if e.Name == "" {
		return Entry{}, fmt.Errorf("MLSx line %q: empty name", line)
	}
	for _, f := range strings.Split(line[:sp], ";") {
		if f == "" {
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return Entry{}, fmt.Errorf("MLSx line %q: fact %q is not name=value", line, f)
		}
		switch k = strings.ToLower(k); k {
		case "type":
			e.Type = strings.ToLower(v)
		case "size":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return Entry{}, fmt.Errorf("MLSx line %q: bad size %q", line, v)
			}
			e.Size = n
		case "modify":
			t, err := ParseTime(v)
			if err != nil {
				return Entry{}, fmt.Errorf("MLSx line %q: %w", line, err)
			}
			e.Modify = t
		case "perm":
			e.Perm = v
		case "unique":
			e.Unique = v
		default:
			if e.Other == nil {
				e.Other = map[string]string{}
			}
			e.Other[k] = v
		}
	}
	return e, nil
}

// ParseTime parses an RFC 3659 time-val, "YYYYMMDDHHMMSS[.sss]", in UTC.
func ParseTime(v string) (time.Time, error) {
	main, frac, _ := strings.Cut(v, ".")
	t, err := time.ParseInLocation(TimeFormat, main, time.UTC)
	if err != nil || len(main) != 14 {
		return time.Time{}, fmt.Errorf("bad time-val %q: want YYYYMMDDHHMMSS[.sss]", v)
	}
	if frac != "" {
		if len(frac) > 9 {
			return time.Time{}, fmt.Errorf("bad time-val %q: fraction too long", v)
		}
		n, err := strconv.ParseUint(frac, 10, 32)
		if err != nil {
			return time.Time{}, fmt.Errorf("bad time-val %q: bad fraction", v)
		}
		for i := len(frac); i < 9; i++ {
			n *= 10
		}
		t = t.Add(time.Duration(n))
	}
	return t, nil
}
