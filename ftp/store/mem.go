package store

import (
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"time"
)

// Mem is an in-memory FS. It is safe for concurrent use.
type Mem struct {
	mu   sync.RWMutex
	root *memNode
	now  func() time.Time
}

var _ FS = (*Mem)(nil)

type memNode struct {
	dir      bool
	children map[string]*memNode // directories only
	data     content             // files only
	mod      time.Time
}

// NewMem returns an empty in-memory file system.
func NewMem() *Mem {
	m := &Mem{now: time.Now}
	m.root = &memNode{dir: true, children: map[string]*memNode{}, mod: m.now()}
	return m
}

// lookup finds the node at name; the caller holds mu.
func (m *Mem) lookup(name string) (*memNode, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	n := m.root
	if name == "/" {
		return n, nil
	}
	for _, part := range strings.Split(name[1:], "/") {
		if !n.dir {
			return nil, fmt.Errorf("%s: %w", name, ErrNotDir)
		}
		c, ok := n.children[part]
		if !ok {
			return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
		}
		n = c
	}
	return n, nil
}

// parent finds the directory that holds name; the caller holds mu.
func (m *Mem) parent(name string) (*memNode, string, error) {
	if err := checkName(name); err != nil {
		return nil, "", err
	}
	if name == "/" {
		return nil, "", fmt.Errorf("%s: the root has no parent: %w", name, fs.ErrPermission)
	}
	dir, base := split(name)
	d, err := m.lookup(dir)
	if err != nil {
		return nil, "", err
	}
	if !d.dir {
		return nil, "", fmt.Errorf("%s: %w", dir, ErrNotDir)
	}
	return d, base, nil
}

func info(name string, n *memNode) FileInfo {
	fi := FileInfo{Name: name, ModTime: n.mod, IsDir: n.dir}
	if !n.dir {
		fi.Size = n.data.size()
	}
	return fi
}

// Stat implements FS.
func (m *Mem) Stat(name string) (FileInfo, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n, err := m.lookup(name)
	if err != nil {
		return FileInfo{}, err
	}
	_, base := split(name)
	return info(base, n), nil
}

// ReadDir implements FS.
func (m *Mem) ReadDir(name string) ([]FileInfo, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n, err := m.lookup(name)
	if err != nil {
		return nil, err
	}
	if !n.dir {
		return nil, fmt.Errorf("%s: %w", name, ErrNotDir)
	}
	out := make([]FileInfo, 0, len(n.children))
	for k, c := range n.children {
		out = append(out, info(k, c))
	}
	slices.SortFunc(out, func(a, b FileInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Open implements FS. The reader hands out the file's own memory.
func (m *Mem) Open(name string, offset int64) (io.ReadCloser, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n, err := m.lookup(name)
	if err != nil {
		return nil, err
	}
	if n.dir {
		return nil, fmt.Errorf("%s: %w", name, ErrIsDir)
	}
	if offset < 0 || offset > n.data.size() {
		return nil, fmt.Errorf("%s: offset %d of %d bytes: %w", name, offset, n.data.size(), ErrRange)
	}
	return &reader{c: n.data, off: offset}, nil
}

// Create implements FS.
func (m *Mem) Create(name string, keep int64) (Upload, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	d, base, err := m.parent(name)
	if err != nil {
		return nil, err
	}
	u := &memUpload{m: m, name: name, data: newChunks(), track: keep == 0}
	old, ok := d.children[base]
	switch {
	case ok && old.dir:
		return nil, fmt.Errorf("%s: %w", name, ErrIsDir)
	case keep == Append && ok:
		keep = old.data.size()
	case keep == Append || keep == 0:
		keep = 0
	case !ok:
		return nil, fmt.Errorf("%s: resume at %d: %w", name, keep, fs.ErrNotExist)
	case keep > old.data.size() || keep < 0:
		return nil, fmt.Errorf("%s: resume at %d of %d bytes: %w", name, keep, old.data.size(), ErrRange)
	}
	if keep > 0 {
		if err := u.data.copyPrefix(old.data, keep); err != nil {
			return nil, fmt.Errorf("%s: copy first %d bytes: %w", name, keep, err)
		}
	}
	return u, nil
}

// Mkdir implements FS.
func (m *Mem) Mkdir(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, base, err := m.parent(name)
	if err != nil {
		return err
	}
	if _, ok := d.children[base]; ok {
		return fmt.Errorf("%s: %w", name, fs.ErrExist)
	}
	now := m.now()
	d.children[base] = &memNode{dir: true, children: map[string]*memNode{}, mod: now}
	d.mod = now
	return nil
}

// Remove implements FS.
func (m *Mem) Remove(name string) error { return m.remove(name, false) }

// RemoveDir implements FS.
func (m *Mem) RemoveDir(name string) error { return m.remove(name, true) }

func (m *Mem) remove(name string, dir bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, base, err := m.parent(name)
	if err != nil {
		return err
	}
	n, ok := d.children[base]
	switch {
	case !ok:
		return fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	case dir && !n.dir:
		return fmt.Errorf("%s: %w", name, ErrNotDir)
	case !dir && n.dir:
		return fmt.Errorf("%s: %w", name, ErrIsDir)
	case dir && len(n.children) > 0:
		return fmt.Errorf("%s: %w", name, ErrNotEmpty)
	}
	delete(d.children, base)
	d.mod = m.now()
	return nil
}

// Rename implements FS.
func (m *Mem) Rename(from, to string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	fd, fbase, err := m.parent(from)
	if err != nil {
		return err
	}
	n, ok := fd.children[fbase]
	if !ok {
		return fmt.Errorf("%s: %w", from, fs.ErrNotExist)
	}
	td, tbase, err := m.parent(to)
	if err != nil {
		return err
	}
	if n.dir && (to == from || strings.HasPrefix(to, from+"/")) {
		return fmt.Errorf("rename %s to %s: a directory cannot move into itself: %w", from, to, fs.ErrInvalid)
	}
	if old, ok := td.children[tbase]; ok && (old.dir || n.dir) {
		return fmt.Errorf("rename %s to %s: %w", from, to, fs.ErrExist)
	}
	delete(fd.children, fbase)
	td.children[tbase] = n
	now := m.now()
	fd.mod, td.mod = now, now
	return nil
}

// WriteFile creates or replaces file name with a copy of data, creating
// missing parent directories.
func (m *Mem) WriteFile(name string, data []byte) error {
	c := newChunks()
	_, _ = c.Write(data)
	return m.put(name, c.seal())
}

// AddGenerated adds file name of size bytes whose content is Generate's
// stream for seed. It takes no memory: the bytes are made as they are read.
func (m *Mem) AddGenerated(name string, size int64, seed uint64) error {
	if size < 0 {
		return fmt.Errorf("generated file %s: negative size %d", name, size)
	}
	knownSeeds.add(seed)
	return m.put(name, &generated{seed: seed, n: size})
}

// Sum returns the SHA-256 of file name's content. The digest of uploaded
// and written files is computed as their bytes are stored; that of a
// generated file (AddGenerated, or an upload recognised as one) once per
// seed and size, streaming, and then remembered.
func (m *Mem) Sum(name string) ([sha256.Size]byte, error) {
	m.mu.RLock()
	n, err := m.lookup(name)
	m.mu.RUnlock()
	switch {
	case err != nil:
		return [sha256.Size]byte{}, err
	case n.dir:
		return [sha256.Size]byte{}, fmt.Errorf("%s: %w", name, ErrIsDir)
	}
	return n.data.sum(), nil
}

// ReadFile returns a copy of file name's content.
func (m *Mem) ReadFile(name string) ([]byte, error) {
	r, err := m.Open(name, 0)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func (m *Mem) put(name string, c content) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := checkName(name); err != nil {
		return err
	}
	dir, base := split(name)
	if err := m.mkdirAll(dir); err != nil {
		return err
	}
	d, _ := m.lookup(dir)
	if old, ok := d.children[base]; ok && old.dir {
		return fmt.Errorf("%s: %w", name, ErrIsDir)
	}
	d.children[base] = &memNode{data: c, mod: m.now()}
	return nil
}

// mkdirAll creates dir and its parents; the caller holds mu.
func (m *Mem) mkdirAll(dir string) error {
	n := m.root
	if dir == "/" {
		return nil
	}
	for _, part := range strings.Split(dir[1:], "/") {
		c, ok := n.children[part]
		if !ok {
			c = &memNode{dir: true, children: map[string]*memNode{}, mod: m.now()}
			n.children[part] = c
		}
		if !c.dir {
			return fmt.Errorf("%s: %s is a file: %w", dir, part, ErrNotDir)
		}
		n = c
	}
	return nil
}
