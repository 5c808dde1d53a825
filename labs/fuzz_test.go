package labs

import (
	"errors"
	"strings"
	"testing"
)

// FuzzLoad feeds Load arbitrary bytes: it must never panic, and whatever it
// refuses it refuses with an error naming the file. The seed corpus
// (testdata/fuzz/FuzzLoad) holds the embedded labs and hostile files.
func FuzzLoad(f *testing.F) {
	infos, err := List()
	if err != nil {
		f.Fatal(err)
	}
	for _, in := range infos {
		src, err := EmbeddedSource(in.Name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	for _, tc := range hostileCases {
		if len(tc.yaml) < 4096 {
			f.Add([]byte(tc.yaml))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lab, err := Load("fuzz.yaml", data)
		if err == nil {
			if lab == nil || len(lab.Hosts) == 0 {
				t.Fatalf("Load accepted a lab without hosts: %+v", lab)
			}
			return
		}
		var list Errors
		var one *Error
		switch {
		case errors.As(err, &list):
			if len(list) == 0 {
				t.Fatal("empty Errors")
			}
			for _, e := range list {
				if e.File != "fuzz.yaml" || e.Msg == "" {
					t.Fatalf("error without file or message: %#v", e)
				}
			}
		case errors.As(err, &one):
			if one.File != "fuzz.yaml" || one.Msg == "" {
				t.Fatalf("error without file or message: %#v", one)
			}
		default:
			t.Fatalf("Load returned %T, not *Error or Errors: %v", err, err)
		}
		if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
			t.Fatalf("error does not start with the file name: %v", err)
		}
	})
}
