package ladder

import (
	"bytes"
	"crypto/tls"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzRead feeds the capture reader arbitrary bytes (seeded with the test
// captures, pcap and pcapng, an ftplab lab's, and FTPS captures with
// their TLS secrets): it may refuse them, but must not panic, and what it
// reads must render.
func FuzzRead(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.pcap*")
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		f.Add(data[:len(data)/2]) // cut in the middle of a record
	}
	f.Add([]byte{0x0a, 0x0d, 0x0d, 0x0a})
	// FTPS with its secrets: the TLS records and the decryption.
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		capture, _, _ := ftpsCapture(f, v, secretsBefore, "")
		f.Add(capture)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, _ := Read(bytes.NewReader(data)) // a cut capture reads as far as it goes
		if l == nil {
			return
		}
		if err := l.Render(io.Discard, Options{}); err != nil {
			t.Fatalf("render of a capture that read: %v", err)
		}
		_ = l.Render(io.Discard, Options{Brief: true})
	})
}
