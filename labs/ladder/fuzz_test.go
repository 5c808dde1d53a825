package ladder

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzRead feeds the capture reader arbitrary bytes (seeded with the test
// captures, pcap and pcapng, and an ftplab lab's): it may refuse them, but
// must not panic, and what it reads must render.
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
