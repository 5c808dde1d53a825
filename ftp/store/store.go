// Package store is the storage seam of the FTP server: the FS interface and
// two implementations, an in-memory file system (NewMem) for labs and
// benchmarks and an operating-system directory jailed to a root (NewDir).
//
// Every path given to an FS is absolute, slash-separated and clean, as
// Resolve returns it: "/" is the root of the store, and nothing can name a
// place above it. Uploads are written aside and only replace the target when
// committed, so a failed or aborted STOR/APPE never truncates an existing
// file.
package store

import (
	"errors"
	"io"
	"time"
)

// FileInfo describes a file or directory of an FS.
type FileInfo struct {
	Name    string    // base name ("/" for the root)
	Size    int64     // bytes; 0 for directories
	ModTime time.Time // last modification
	IsDir   bool
}

// Append, given as keep to FS.Create, keeps the whole existing file and
// appends to it (APPE).
const Append int64 = -1

// FS is where the server's files live. Paths are absolute and clean (see
// Resolve). Errors wrap fs.ErrNotExist, fs.ErrExist, fs.ErrPermission,
// ErrIsDir, ErrNotDir or ErrNotEmpty where one of those is the cause.
type FS interface {
	// Stat describes the file or directory at name.
	Stat(name string) (FileInfo, error)
	// ReadDir lists directory name, sorted by name.
	ReadDir(name string) ([]FileInfo, error)
	// Open opens file name for reading from byte offset.
	Open(name string, offset int64) (io.ReadCloser, error)
	// Create starts an upload to file name. keep is how many bytes of the
	// existing file precede the new data: 0 replaces the file (STOR), n > 0
	// resumes after REST n, Append keeps all of it (APPE). The file changes
	// only when the Upload is committed.
	Create(name string, keep int64) (Upload, error)
	// Mkdir creates directory name; its parent must exist.
	Mkdir(name string) error
	// Remove deletes file name (not a directory).
	Remove(name string) error
	// RemoveDir deletes the empty directory name.
	RemoveDir(name string) error
	// Rename moves from to to, replacing a file at to.
	Rename(from, to string) error
}

// Upload is an upload in progress, written aside from its target.
type Upload interface {
	io.Writer
	// Commit puts the written data in place of the target, atomically.
	Commit() error
	// Abort discards the upload; the target is left as it was.
	Abort() error
}

var (
	// ErrIsDir: a file operation named a directory.
	ErrIsDir = errors.New("is a directory")
	// ErrNotDir: a directory operation named a file.
	ErrNotDir = errors.New("not a directory")
	// ErrNotEmpty: RemoveDir of a directory that has entries.
	ErrNotEmpty = errors.New("directory not empty")
	// ErrBadName: a path that is not absolute and clean, or holds a NUL.
	ErrBadName = errors.New("bad path name")
	// ErrRange: a resume offset beyond the end of the existing file.
	ErrRange = errors.New("offset beyond end of file")
)

// Summer is implemented by stores that give a file's SHA-256 without the
// caller reading the file: Mem from what it computed as the bytes were
// stored, Dir by streaming the file once.
type Summer interface {
	Sum(name string) ([32]byte, error)
}
