package store

import (
	"bytes"
	"crypto/sha256"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestResolve(t *testing.T) {
	cases := []struct {
		cwd, arg, want string
		bad            bool
	}{
		{"/", "", "/", false},
		{"/a/b", "", "/a/b", false},
		{"/a/b", "c", "/a/b/c", false},
		{"/a/b", "..", "/a", false},
		{"/a/b", "../../../..", "/", false},
		{"/a/b", "/x/./y/", "/x/y", false},
		{"/a", "/../../etc/passwd", "/etc/passwd", false},
		{"/a", "c//d/../e", "/a/c/e", false},
		{"/", `..\..\x`, `/..\..\x`, false},
		{"/", "a\x00b", "", true},
		{"/", "a\r\nDELE b", "", true},
		{"/", string(make([]byte, MaxPathLen+1)), "", true},
	}
	for _, tc := range cases {
		got, err := Resolve(tc.cwd, tc.arg)
		if tc.bad {
			require.ErrorIs(t, err, ErrBadName, "%q", tc.arg)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "Resolve(%q, %q)", tc.cwd, tc.arg)
	}
}

// stores returns one of each FS implementation, empty.
func stores(t *testing.T) map[string]FS {
	t.Helper()
	d, err := NewDir(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	return map[string]FS{"mem": NewMem(), "dir": d}
}

func put(t *testing.T, f FS, name, data string, keep int64) {
	t.Helper()
	u, err := f.Create(name, keep)
	require.NoError(t, err)
	_, err = io.WriteString(u, data)
	require.NoError(t, err)
	require.NoError(t, u.Commit())
}

func read(t *testing.T, f FS, name string, off int64) string {
	t.Helper()
	r, err := f.Open(name, off)
	require.NoError(t, err)
	defer r.Close()
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return string(b)
}

func TestFS(t *testing.T) {
	for name, f := range stores(t) {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, f.Mkdir("/d"))
			require.ErrorIs(t, f.Mkdir("/d"), fs.ErrExist)
			require.ErrorIs(t, f.Mkdir("/no/such"), fs.ErrNotExist)
			put(t, f, "/d/f", "0123456789", 0)
			assert.Equal(t, "0123456789", read(t, f, "/d/f", 0))
			assert.Equal(t, "789", read(t, f, "/d/f", 7))
			assert.Equal(t, "", read(t, f, "/d/f", 10))
			_, err := f.Open("/d/f", 11)
			require.ErrorIs(t, err, ErrRange)

			put(t, f, "/d/f", "abc", Append)
			assert.Equal(t, "0123456789abc", read(t, f, "/d/f", 0))
			put(t, f, "/d/f", "XY", 4)
			assert.Equal(t, "0123XY", read(t, f, "/d/f", 0))
			_, err = f.Create("/d/f", 100)
			require.ErrorIs(t, err, ErrRange)
			_, err = f.Create("/d/new", 3)
			require.ErrorIs(t, err, fs.ErrNotExist)

			u, err := f.Create("/d/f", 0)
			require.NoError(t, err)
			_, err = u.Write([]byte("never committed"))
			require.NoError(t, err)
			require.NoError(t, u.Abort())
			assert.Equal(t, "0123XY", read(t, f, "/d/f", 0), "an aborted upload changes nothing")

			_, err = f.Create("/d", 0)
			require.ErrorIs(t, err, ErrIsDir)
			_, err = f.Open("/d", 0)
			require.ErrorIs(t, err, ErrIsDir)
			_, err = f.Open("/d/f/x", 0)
			require.Error(t, err)
			_, err = f.ReadDir("/d/f")
			require.ErrorIs(t, err, ErrNotDir)

			put(t, f, "/d/a", "", 0)
			ents, err := f.ReadDir("/d")
			require.NoError(t, err)
			require.Len(t, ents, 2, "uploads in progress are not listed")
			assert.Equal(t, "a", ents[0].Name)
			assert.Equal(t, FileInfo{Name: "f", Size: 6, ModTime: ents[1].ModTime}, ents[1])
			fi, err := f.Stat("/d")
			require.NoError(t, err)
			assert.True(t, fi.IsDir)
			_, err = f.Stat("/nope")
			require.ErrorIs(t, err, fs.ErrNotExist)

			require.ErrorIs(t, f.RemoveDir("/d"), ErrNotEmpty)
			require.ErrorIs(t, f.RemoveDir("/d/a"), ErrNotDir)
			require.ErrorIs(t, f.Remove("/d"), ErrIsDir)
			require.ErrorIs(t, f.Remove("/d/zz"), fs.ErrNotExist)
			require.NoError(t, f.Rename("/d/a", "/b"))
			require.NoError(t, f.Rename("/d/f", "/b"), "rename replaces a file")
			assert.Equal(t, "0123XY", read(t, f, "/b", 0))
			require.NoError(t, f.RemoveDir("/d"))
			require.NoError(t, f.Remove("/b"))
			ents, err = f.ReadDir("/")
			require.NoError(t, err)
			assert.Empty(t, ents)
			require.Error(t, f.RemoveDir("/"))

			for _, bad := range []string{"", "rel", "/a/../b", "/a/", "/a\x00"} {
				_, err := f.Stat(bad)
				require.ErrorIs(t, err, ErrBadName, "%q", bad)
			}
		})
	}
}

func TestMemRenameDirIntoItself(t *testing.T) {
	m := NewMem()
	require.NoError(t, m.Mkdir("/a"))
	require.ErrorIs(t, m.Rename("/a", "/a/b"), fs.ErrInvalid)
}

func TestDirSymlinksStayInside(t *testing.T) {
	top := t.TempDir()
	root := filepath.Join(top, "root")
	require.NoError(t, os.Mkdir(root, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(top, "secret"), []byte("s"), 0o644))
	require.NoError(t, os.Symlink("../secret", filepath.Join(root, "up")))
	require.NoError(t, os.Symlink(filepath.Join(top, "secret"), filepath.Join(root, "abs")))
	require.NoError(t, os.Symlink(top, filepath.Join(root, "topdir")))
	d, err := NewDir(root)
	require.NoError(t, err)
	defer d.Close()
	for _, p := range []string{"/up", "/abs", "/topdir/secret"} {
		_, err := d.Open(p, 0)
		require.Error(t, err, p)
		_, err = d.Stat(p)
		require.Error(t, err, p)
	}
	_, err = d.Create("/topdir/planted", 0)
	require.Error(t, err)
	ents, err := d.ReadDir("/")
	require.NoError(t, err)
	assert.Empty(t, ents, "links out of the root are not listed")
	_, err = os.Stat(filepath.Join(top, "planted"))
	require.ErrorIs(t, err, fs.ErrNotExist)
}

func TestGenerate(t *testing.T) {
	const size = 3*chunkSize + 12345
	whole := make([]byte, size)
	Generate(whole, 9, 0)
	for _, off := range []int64{0, 1, 7, 8, 9, chunkSize - 3, size - 5} {
		part := make([]byte, 13)
		Generate(part, 9, off)
		n := min(int64(len(part)), size-off)
		assert.Equal(t, whole[off:off+n], part[:n], "offset %d", off)
	}
	other := make([]byte, 64)
	Generate(other, 10, 0)
	assert.NotEqual(t, whole[:64], other, "seeds differ")

	m := NewMem()
	require.NoError(t, m.AddGenerated("/g", size, 9))
	got, err := m.ReadFile("/g")
	require.NoError(t, err)
	assert.True(t, bytes.Equal(whole, got))
	r, err := m.Open("/g", 100)
	require.NoError(t, err)
	var buf bytes.Buffer
	_, err = io.Copy(&buf, r) // WriterTo path
	require.NoError(t, err)
	assert.True(t, bytes.Equal(whole[100:], buf.Bytes()))
	fromReader, err := io.ReadAll(GeneratedReader(9, size))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(whole, fromReader))
	require.Error(t, m.AddGenerated("/neg", -1, 0))
}

func TestMemUploadReadFromAndCopy(t *testing.T) {
	m := NewMem()
	data := make([]byte, 2*chunkSize+77)
	Generate(data, 1, 0)
	u, err := m.Create("/x", 0)
	require.NoError(t, err)
	_, err = io.Copy(u, struct{ io.Reader }{bytes.NewReader(data)}) // ReaderFrom path
	require.NoError(t, err)
	require.NoError(t, u.Commit())
	require.Error(t, u.Commit(), "commit twice")
	r, err := m.Open("/x", 0)
	require.NoError(t, err)
	var buf bytes.Buffer
	_, err = io.Copy(&buf, r)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(data, buf.Bytes()))
	put(t, m, "/x", "tail", chunkSize+5)
	got, err := m.ReadFile("/x")
	require.NoError(t, err)
	assert.True(t, bytes.Equal(append(data[:chunkSize+5:chunkSize+5], "tail"...), got))
	require.NoError(t, m.WriteFile("/deep/er/f", []byte("d")))
	require.Error(t, m.WriteFile("/deep/er/f/g", []byte("d")))
}

func BenchmarkMemRead(b *testing.B) {
	m := NewMem()
	const size = 64 << 20
	require.NoError(b, m.WriteFile("/f", make([]byte, size)))
	b.SetBytes(size)
	for b.Loop() {
		r, _ := m.Open("/f", 0)
		_, _ = io.Copy(io.Discard, r)
	}
}

func BenchmarkGenerate(b *testing.B) {
	p := make([]byte, 256<<10)
	b.SetBytes(int64(len(p)))
	var off int64
	for b.Loop() {
		Generate(p, 1, off)
		off += int64(len(p))
	}
}

func TestSummers(t *testing.T) {
	var _ Summer = (*Mem)(nil)
	var _ Summer = (*Dir)(nil)
	d, err := NewDir(t.TempDir())
	require.NoError(t, err)
	u, err := d.Create("/x", 0)
	require.NoError(t, err)
	_, err = u.Write([]byte("on disk"))
	require.NoError(t, err)
	require.NoError(t, u.Commit())
	sum, err := d.Sum("/x")
	require.NoError(t, err)
	assert.Equal(t, sha256.Sum256([]byte("on disk")), sum)
}
