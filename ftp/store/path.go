package store

import (
	"fmt"
	"path"
	"strings"
)

// MaxPathLen bounds the length of a path argument.
const MaxPathLen = 4096

// Resolve joins an FTP path argument to the current directory cwd (itself
// absolute and clean) and returns the absolute, clean path it names inside
// the store. An absolute arg starts from the store's root; ".." never climbs
// above "/". It fails for arguments holding NUL or CR/LF, or too long.
func Resolve(cwd, arg string) (string, error) {
	if len(arg) > MaxPathLen {
		return "", fmt.Errorf("path of %d bytes: longer than %d: %w", len(arg), MaxPathLen, ErrBadName)
	}
	if strings.ContainsAny(arg, "\x00\r\n") {
		return "", fmt.Errorf("path %q: holds NUL, CR or LF: %w", arg, ErrBadName)
	}
	if !strings.HasPrefix(arg, "/") {
		arg = cwd + "/" + arg
	}
	return path.Clean("/" + arg), nil
}

// checkName verifies that name is what Resolve returns.
func checkName(name string) error {
	if !strings.HasPrefix(name, "/") || path.Clean(name) != name || strings.ContainsRune(name, 0) {
		return fmt.Errorf("path %q: want an absolute clean path: %w", name, ErrBadName)
	}
	return nil
}

// split returns the parent directory and base name of a checked name.
func split(name string) (dir, base string) {
	return path.Dir(name), path.Base(name)
}
