package store

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"io"
	"sync"
)

// chunkSize is the size of one chunk of an in-memory file. Files grow by
// whole chunks, so a 256 MiB upload never copies what it already holds.
const chunkSize = 1 << 20

// content is the data of an in-memory file.
type content interface {
	size() int64
	// readAt reads like io.ReaderAt.
	readAt(p []byte, off int64) (int, error)
	// writeTo writes bytes [off, size) to w, without copying where it can.
	writeTo(w io.Writer, off int64) (int64, error)
	// sum is the SHA-256 of the content.
	sum() [sha256.Size]byte
}

// chunks is file data held in memory as full chunks of chunkSize bytes
// followed by one partial chunk. A committed (sealed) chunks value is never
// written again, so readers may hold its slices. Its SHA-256 is computed as
// the bytes are appended.
type chunks struct {
	bufs   [][]byte
	n      int64
	h      hash.Hash // running digest while being written
	digest [sha256.Size]byte
	hashed int64 // bytes of bufs the running digest has seen
}

func newChunks() *chunks { return &chunks{h: sha256.New()} }

// seal finishes the digest; the content is read-only from now on.
func (c *chunks) seal() *chunks {
	c.hashTail()
	c.h.Sum(c.digest[:0])
	c.h = nil
	return c
}

// hashTail feeds the running digest the bytes appended since last time,
// so each byte is hashed once, while it is still in the cache of the copy
// that stored it.
func (c *chunks) hashTail() {
	for c.hashed < c.n {
		b := c.bufs[c.hashed/chunkSize][c.hashed%chunkSize:]
		c.h.Write(b)
		c.hashed += int64(len(b))
	}
}

func (c *chunks) sum() [sha256.Size]byte { return c.digest }

func (c *chunks) size() int64 { return c.n }

func (c *chunks) readAt(p []byte, off int64) (int, error) {
	if off >= c.n {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && off < c.n {
		b := c.bufs[off/chunkSize][off%chunkSize:]
		m := copy(p[n:], b)
		n += m
		off += int64(m)
	}
	return n, nil
}

func (c *chunks) writeTo(w io.Writer, off int64) (int64, error) {
	var total int64
	for off < c.n {
		b := c.bufs[off/chunkSize][off%chunkSize:]
		m, err := w.Write(b)
		total += int64(m)
		off += int64(m)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// tail returns free space at the end of the last chunk, adding a chunk when
// the last one is full.
func (c *chunks) tail() []byte {
	if len(c.bufs) == 0 || len(c.bufs[len(c.bufs)-1]) == chunkSize {
		c.bufs = append(c.bufs, make([]byte, 0, chunkSize))
	}
	last := c.bufs[len(c.bufs)-1]
	return last[len(last):chunkSize]
}

// grew records that n bytes were written into the slice tail returned,
// and hashes them.
func (c *chunks) grew(n int) {
	i := len(c.bufs) - 1
	c.bufs[i] = c.bufs[i][:len(c.bufs[i])+n]
	c.n += int64(n)
	c.hashTail()
}

// Write appends p.
func (c *chunks) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m := copy(c.tail(), p[n:])
		c.grew(m)
		n += m
	}
	return n, nil
}

// ReadFrom reads r straight into the chunks, with no buffer in between.
func (c *chunks) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		m, err := r.Read(c.tail())
		c.grew(m)
		total += int64(m)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// copyPrefix appends the first n bytes of src.
func (c *chunks) copyPrefix(src content, n int64) error {
	var off int64
	for off < n {
		t := c.tail()
		if rest := n - off; int64(len(t)) > rest {
			t = t[:rest]
		}
		m, err := src.readAt(t, off)
		c.grew(m)
		off += int64(m)
		if err != nil && off < n {
			return err
		}
	}
	return nil
}

// generated is a file whose bytes come from a seeded generator: Generate.
// It costs no memory however large it is.
type generated struct {
	seed uint64
	n    int64
}

func (g *generated) size() int64 { return g.n }

func (g *generated) sum() [sha256.Size]byte { return GeneratedSum(g.seed, g.n) }

func (g *generated) readAt(p []byte, off int64) (int, error) {
	if off >= g.n {
		return 0, io.EOF
	}
	if rest := g.n - off; int64(len(p)) > rest {
		p = p[:rest]
	}
	Generate(p, g.seed, off)
	return len(p), nil
}

// genBufs holds the buffers generated files are written out through.
var genBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

func (g *generated) writeTo(w io.Writer, off int64) (int64, error) {
	bp := genBufs.Get().(*[]byte)
	defer genBufs.Put(bp)
	var total int64
	for off < g.n {
		n, _ := g.readAt(*bp, off)
		m, err := w.Write((*bp)[:n])
		total += int64(m)
		off += int64(m)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// patternWords is the length, in 8-byte words, of a seed's pattern.
const patternWords = 1 << 17 // 1 MiB

// Generate fills p with the bytes at offset off of the pseudo-random stream
// of seed. Word i (bytes 8i to 8i+7, little-endian) of the stream is
// pattern(seed)[i mod 2^17] XOR mix(seed, i / 2^17): a 1 MiB random
// pattern, masked differently in every MiB, so the stream never repeats and
// costs one XOR per word to make. Any range can be produced on its own, so a
// test can check a large transfer piecewise.
func Generate(p []byte, seed uint64, off int64) {
	pat := pattern(seed)
	word := uint64(off) / 8
	if skip := int(off % 8); skip != 0 {
		var tmp [8]byte
		binary.LittleEndian.PutUint64(tmp[:], genWord(pat, seed, word))
		n := copy(p, tmp[skip:])
		p = p[n:]
		word++
	}
	for len(p) >= 8 {
		block, i := word/patternWords, int(word%patternWords)
		mask := mix(seed, block)
		n := min(len(p)/8, patternWords-i)
		dst := p[:8*n]
		for _, w := range pat[i : i+n] {
			binary.LittleEndian.PutUint64(dst[:8], w^mask)
			dst = dst[8:]
		}
		p = p[8*n:]
		word += uint64(n)
	}
	if len(p) > 0 {
		var tmp [8]byte
		binary.LittleEndian.PutUint64(tmp[:], genWord(pat, seed, word))
		copy(p, tmp[:])
	}
}

func genWord(pat *[patternWords]uint64, seed, word uint64) uint64 {
	return pat[word%patternWords] ^ mix(seed, word/patternWords)
}

// mix is SplitMix64's output function applied to word i of stream seed.
func mix(seed, i uint64) uint64 {
	z := seed + (i+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// patterns caches the patterns of the last few seeds used.
var patterns struct {
	sync.Mutex
	m map[uint64]*[patternWords]uint64
}

// pattern returns the 1 MiB random pattern of seed.
func pattern(seed uint64) *[patternWords]uint64 {
	patterns.Lock()
	defer patterns.Unlock()
	if p, ok := patterns.m[seed]; ok {
		return p
	}
	if len(patterns.m) >= 8 || patterns.m == nil {
		patterns.m = map[uint64]*[patternWords]uint64{} // forget the old ones
	}
	p := new([patternWords]uint64)
	for i := range p {
		p[i] = mix(^seed, uint64(i))
	}
	patterns.m[seed] = p
	return p
}

// GeneratedReader returns a reader of the first size bytes of the stream
// Generate produces for seed: what a file added with Mem.AddGenerated holds.
func GeneratedReader(seed uint64, size int64) io.Reader {
	return io.NewSectionReader(readerAt{&generated{seed: seed, n: size}}, 0, size)
}

// readerAt adapts content to io.ReaderAt.
type readerAt struct{ c content }

// ReadAt implements io.ReaderAt.
func (r readerAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.c.readAt(p, off)
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

// reader reads a content from an offset; it implements io.WriterTo so that
// io.Copy hands the content's own slices to the destination.
type reader struct {
	c   content
	off int64
}

// Read implements io.Reader.
func (r *reader) Read(p []byte) (int, error) {
	n, err := r.c.readAt(p, r.off)
	r.off += int64(n)
	return n, err
}

// WriteTo hands w the content from the offset on.
func (r *reader) WriteTo(w io.Writer) (int64, error) {
	n, err := r.c.writeTo(w, r.off)
	r.off += n
	return n, err
}

// Close does nothing: the content stays in memory.
func (r *reader) Close() error { return nil }
