package proto

import (
	"testing"
)

// FuzzParsePORT checks that ParsePORT never panics and that whatever it
// accepts survives FormatPORT and ParsePORT again unchanged: the server
// decides on third-party safety from exactly this address.
func FuzzParsePORT(f *testing.F) {
	for _, s := range []string{
		"127,0,0,1,4,1", "10,0,0,2,0,20", " 1,2,3,4,5,6 ", "1,2,3,4,5", "1,2,3,4,5,6,7",
		"256,0,0,1,0,21", "-1,0,0,1,0,21", "1, 2, 3, 4, 5, 6", "+1,2,3,4,5,6", "a,b,c,d,e,f", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		ap, err := ParsePORT(arg)
		if err != nil {
			return
		}
		if !ap.Addr().Is4() {
			t.Fatalf("ParsePORT(%q) = %s: not IPv4", arg, ap)
		}
		s, err := FormatPORT(ap)
		if err != nil {
			t.Fatalf("FormatPORT(%s): %v", ap, err)
		}
		back, err := ParsePORT(s)
		if err != nil || back != ap {
			t.Fatalf("ParsePORT(%q) = %s; its FormatPORT %q parses to %s, %v", arg, ap, s, back, err)
		}
	})
}

// FuzzParseEPRT checks that ParseEPRT never panics, accepts only a
// protocol that matches the address family and a non-zero port, and that
// what it accepts survives FormatEPRT and ParseEPRT unchanged.
func FuzzParseEPRT(f *testing.F) {
	for _, s := range []string{
		"|1|132.235.1.2|6275|", "|2|1080::8:800:200C:417A|5282|", "!1!10.0.0.1!21!", "|1|::1|80|",
		"|2|1.2.3.4|80|", "|3|1.2.3.4|80|", "|1|1.2.3.4|0|", "|1|1.2.3.4|65536|", "|2|fe80::1%eth0|22|",
		"|2|::ffff:1.2.3.4|80|", "||||", "|1|1.2.3.4|80", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		ap, err := ParseEPRT(arg)
		if err != nil {
			return
		}
		if ap.Port() == 0 || ap.Addr().Zone() != "" {
			t.Fatalf("ParseEPRT(%q) = %s: zero port or zoned address accepted", arg, ap)
		}
		s := FormatEPRT(ap)
		back, err := ParseEPRT(s)
		if err != nil || back != ap {
			t.Fatalf("ParseEPRT(%q) = %s; its FormatEPRT %q parses to %s, %v", arg, ap, s, back, err)
		}
	})
}
