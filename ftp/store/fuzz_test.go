package store

import (
	"path"
	"strings"
	"testing"
)

// FuzzResolve checks that whatever a client sends, Resolve yields a clean
// absolute path with no ".." in it (so it cannot leave the store's root),
// and that a relative argument without ".." stays under the working
// directory.
func FuzzResolve(f *testing.F) {
	for _, s := range [][2]string{
		{"/", ".."}, {"/a/b", "../../.."}, {"/a", "/etc/passwd"}, {"/a", "b/../../c"},
		{"/", "a\x00b"}, {"/x", "./././"}, {"/", "//a//b//"}, {"/a", `..\..\`}, {"/", "..."},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, cwd, arg string) {
		cwd, err := Resolve("/", cwd)
		if err != nil {
			return
		}
		got, err := Resolve(cwd, arg)
		if err != nil {
			if strings.ContainsAny(arg, "\x00\r\n") || len(arg) > MaxPathLen {
				return
			}
			t.Fatalf("Resolve(%q, %q): unexpected error %v", cwd, arg, err)
		}
		if checkName(got) != nil {
			t.Fatalf("Resolve(%q, %q) = %q: not absolute and clean", cwd, arg, got)
		}
		for _, part := range strings.Split(got, "/") {
			if part == ".." {
				t.Fatalf("Resolve(%q, %q) = %q: holds ..", cwd, arg, got)
			}
		}
		if !strings.HasPrefix(arg, "/") && !strings.Contains(arg, "..") {
			if got != cwd && !strings.HasPrefix(got, strings.TrimSuffix(cwd, "/")+"/") {
				t.Fatalf("Resolve(%q, %q) = %q: left the working directory", cwd, arg, got)
			}
		}
		if got != path.Clean(got) {
			t.Fatalf("not clean: %q", got)
		}
	})
}
