package store

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"
)

// uploadPrefix starts the names of files being uploaded; they are hidden
// from listings.
const uploadPrefix = ".ftplab-upload-"

// Dir is an FS on an operating-system directory. Every access goes through
// an os.Root, so no path, ".." or symbolic link reaches outside it.
type Dir struct {
	root *os.Root
}

var _ FS = (*Dir)(nil)

// NewDir opens directory path as the root of a store. Close releases it.
func NewDir(path string) (*Dir, error) {
	r, err := os.OpenRoot(path)
	if err != nil {
		return nil, fmt.Errorf("open store root %s: %w", path, err)
	}
	return &Dir{root: r}, nil
}

// Close releases the root directory.
func (d *Dir) Close() error { return d.root.Close() }

// rel turns a store path into a name relative to the root.
func rel(name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	if name == "/" {
		return ".", nil
	}
	return name[1:], nil
}

// mapErr wraps syscall errors os does not map onto the store's errors.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("%w: %w", err, ErrNotDir)
	case errors.Is(err, syscall.EISDIR):
		return fmt.Errorf("%w: %w", err, ErrIsDir)
	case errors.Is(err, syscall.ENOTEMPTY):
		return fmt.Errorf("%w: %w", err, ErrNotEmpty)
	case strings.Contains(err.Error(), "escapes"):
		return fmt.Errorf("%w: %w", err, fs.ErrPermission)
	}
	return err
}

func osInfo(name string, fi fs.FileInfo) FileInfo {
	out := FileInfo{Name: name, ModTime: fi.ModTime(), IsDir: fi.IsDir()}
	if !out.IsDir {
		out.Size = fi.Size()
	}
	return out
}

// Stat implements FS. Symbolic links are followed inside the root only.
func (d *Dir) Stat(name string) (FileInfo, error) {
	r, err := rel(name)
	if err != nil {
		return FileInfo{}, err
	}
	fi, err := d.root.Stat(r)
	if err != nil {
		return FileInfo{}, mapErr(err)
	}
	_, base := split(name)
	return osInfo(base, fi), nil
}

// ReadDir implements FS. A symbolic link is shown as what it points to when
// that is inside the root, and left out otherwise.
func (d *Dir) ReadDir(name string) ([]FileInfo, error) {
	r, err := rel(name)
	if err != nil {
		return nil, err
	}
	f, err := d.root.Open(r)
	if err != nil {
		return nil, mapErr(err)
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil {
		return nil, mapErr(fmt.Errorf("list %s: %w", name, err))
	}
	out := make([]FileInfo, 0, len(ents))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), uploadPrefix) {
			continue
		}
		fi, err := d.root.Stat(r + "/" + e.Name())
		if err != nil {
			continue // dangling, or pointing out of the jail
		}
		out = append(out, osInfo(e.Name(), fi))
	}
	slices.SortFunc(out, func(a, b FileInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Open implements FS.
func (d *Dir) Open(name string, offset int64) (io.ReadCloser, error) {
	r, err := rel(name)
	if err != nil {
		return nil, err
	}
	f, err := d.root.Open(r)
	if err != nil {
		return nil, mapErr(err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, mapErr(err)
	}
	if fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, ErrIsDir)
	}
	if offset < 0 || offset > fi.Size() {
		f.Close()
		return nil, fmt.Errorf("%s: offset %d of %d bytes: %w", name, offset, fi.Size(), ErrRange)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: seek to %d: %w", name, offset, err)
	}
	return f, nil
}

// Create implements FS: the upload goes to a hidden file in the target's
// directory and is renamed over the target on Commit.
func (d *Dir) Create(name string, keep int64) (Upload, error) {
	r, err := rel(name)
	if err != nil {
		return nil, err
	}
	if r == "." {
		return nil, fmt.Errorf("%s: %w", name, ErrIsDir)
	}
	old, oerr := d.root.Stat(r)
	switch {
	case oerr == nil && old.IsDir():
		return nil, fmt.Errorf("%s: %w", name, ErrIsDir)
	case keep == Append && oerr == nil:
		keep = old.Size()
	case keep == Append || keep == 0:
		keep = 0
	case oerr != nil:
		return nil, mapErr(oerr)
	case keep < 0 || keep > old.Size():
		return nil, fmt.Errorf("%s: resume at %d of %d bytes: %w", name, keep, old.Size(), ErrRange)
	}
	dir, _ := split(r)
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := dir + "/" + uploadPrefix + hex.EncodeToString(rnd[:])
	f, err := d.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, mapErr(err)
	}
	u := &dirUpload{d: d, f: f, tmp: tmp, target: r}
	if keep > 0 {
		if err := u.copyPrefix(keep); err != nil {
			_ = u.Abort()
			return nil, fmt.Errorf("%s: copy first %d bytes: %w", name, keep, err)
		}
	}
	return u, nil
}

// dirUpload is an upload written to a hidden file beside its target.
type dirUpload struct {
	d           *Dir
	f           *os.File
	tmp, target string
	done        bool
}

func (u *dirUpload) copyPrefix(n int64) error {
	src, err := u.d.root.Open(u.target)
	if err != nil {
		return err
	}
	defer src.Close()
	_, err = io.CopyN(u.f, src, n)
	return err
}

// Write writes to the hidden file.
func (u *dirUpload) Write(p []byte) (int, error) { return u.f.Write(p) }

// Commit renames the hidden file over the target.
func (u *dirUpload) Commit() error {
	if u.done {
		return fmt.Errorf("upload of %s: already finished", u.target)
	}
	u.done = true
	if err := u.f.Close(); err != nil {
		_ = u.d.root.Remove(u.tmp)
		return fmt.Errorf("upload of %s: %w", u.target, err)
	}
	if fi, err := u.d.root.Lstat(u.target); err == nil && fi.IsDir() {
		_ = u.d.root.Remove(u.tmp)
		return fmt.Errorf("upload of %s: %w", u.target, ErrIsDir)
	}
	if err := u.d.root.Rename(u.tmp, u.target); err != nil {
		_ = u.d.root.Remove(u.tmp)
		return fmt.Errorf("upload of %s: %w", u.target, mapErr(err))
	}
	return nil
}

// Abort removes the hidden file.
func (u *dirUpload) Abort() error {
	if u.done {
		return nil
	}
	u.done = true
	_ = u.f.Close()
	return mapErr(u.d.root.Remove(u.tmp))
}

// Mkdir implements FS.
func (d *Dir) Mkdir(name string) error {
	r, err := rel(name)
	if err != nil {
		return err
	}
	return mapErr(d.root.Mkdir(r, 0o755))
}

// Remove implements FS.
func (d *Dir) Remove(name string) error { return d.remove(name, false) }

// RemoveDir implements FS.
func (d *Dir) RemoveDir(name string) error { return d.remove(name, true) }

func (d *Dir) remove(name string, dir bool) error {
	r, err := rel(name)
	if err != nil {
		return err
	}
	if r == "." {
		return fmt.Errorf("%s: the root cannot be removed: %w", name, fs.ErrPermission)
	}
	fi, err := d.root.Lstat(r)
	if err != nil {
		return mapErr(err)
	}
	switch {
	case dir && !fi.IsDir():
		return fmt.Errorf("%s: %w", name, ErrNotDir)
	case !dir && fi.IsDir():
		return fmt.Errorf("%s: %w", name, ErrIsDir)
	}
	return mapErr(d.root.Remove(r))
}

// Rename implements FS.
func (d *Dir) Rename(from, to string) error {
	rf, err := rel(from)
	if err != nil {
		return err
	}
	rt, err := rel(to)
	if err != nil {
		return err
	}
	if rf == "." || rt == "." {
		return fmt.Errorf("rename %s to %s: the root cannot move: %w", from, to, fs.ErrPermission)
	}
	return mapErr(d.root.Rename(rf, rt))
}

// Sum returns the SHA-256 of file name, reading it once, streaming.
func (d *Dir) Sum(name string) ([32]byte, error) {
	r, err := d.Open(name, 0)
	if err != nil {
		return [32]byte{}, err
	}
	defer r.Close()
	return SumReader(r)
}
