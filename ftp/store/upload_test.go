package store

import (
	"bytes"
	"crypto/sha256"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// upload stores data in m at name through Create, written in pieces of
// step bytes (via ReadFrom when step is 0, as io.Copy from a connection).
func upload(t *testing.T, m *Mem, name string, data []byte, step int) {
	t.Helper()
	u, err := m.Create(name, 0)
	require.NoError(t, err)
	if step == 0 {
		_, err = io.Copy(u, struct{ io.Reader }{bytes.NewReader(data)})
		require.NoError(t, err)
	}
	for len(data) > 0 && step > 0 {
		n := min(step, len(data))
		_, err := u.Write(data[:n])
		require.NoError(t, err)
		data = data[n:]
	}
	require.NoError(t, u.Commit())
}

// TestUploadRecognisesGeneratedStream: an upload of a generated file's
// bytes is kept as that generator (no memory), and any upload reads back,
// hashes and lists exactly as the bytes it received, however it diverges.
func TestUploadRecognisesGeneratedStream(t *testing.T) {
	const size = 3<<20 + 12345
	src := NewMem()
	require.NoError(t, src.AddGenerated("/g.bin", size, 77))
	gen, err := src.ReadFile("/g.bin")
	require.NoError(t, err)
	flip := func(at int) []byte {
		b := bytes.Clone(gen)
		b[at] ^= 1
		return b
	}
	tests := []struct {
		name      string
		data      []byte
		step      int
		generated bool
	}{
		{"whole stream, io.Copy", gen, 0, true},
		{"whole stream, odd writes", gen, 4097, true},
		{"a prefix of the stream", gen[:size/2], 1000, true},
		{"differs at byte 0", flip(0), 0, false},
		{"differs in the middle of a write", flip(2<<20 + 7), 65536, false},
		{"differs at the last byte", flip(size - 1), 0, false},
		{"goes on past the file, not as the stream", append(bytes.Clone(gen), gen[:100]...), 0, false},
		{"unrelated bytes", bytes.Repeat([]byte("ftplab "), 1000), 0, false},
		{"empty", nil, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMem()
			upload(t, m, "/u.bin", tc.data, tc.step)
			got, err := m.ReadFile("/u.bin")
			require.NoError(t, err)
			require.True(t, bytes.Equal(tc.data, got), "content differs from the upload")
			sum, err := m.Sum("/u.bin")
			require.NoError(t, err)
			assert.Equal(t, sha256.Sum256(tc.data), sum)
			fi, err := m.Stat("/u.bin")
			require.NoError(t, err)
			assert.Equal(t, int64(len(tc.data)), fi.Size)
			m.mu.RLock()
			_, isGen := m.root.children["u.bin"].data.(*generated)
			m.mu.RUnlock()
			assert.Equal(t, tc.generated, isGen, "kept as a generator")
		})
	}
}

// TestSumAsStored: written and resumed files hash as their bytes.
func TestSumAsStored(t *testing.T) {
	m := NewMem()
	require.NoError(t, m.WriteFile("/a", []byte("hello ")))
	u, err := m.Create("/a", Append)
	require.NoError(t, err)
	_, err = u.Write([]byte("world"))
	require.NoError(t, err)
	require.NoError(t, u.Commit())
	sum, err := m.Sum("/a")
	require.NoError(t, err)
	assert.Equal(t, sha256.Sum256([]byte("hello world")), sum)
	_, err = m.Sum("/")
	assert.ErrorIs(t, err, ErrIsDir)
	assert.Equal(t, GeneratedSum(5, 1000), func() [32]byte {
		b := make([]byte, 1000)
		Generate(b, 5, 0)
		return sha256.Sum256(b)
	}())
}
