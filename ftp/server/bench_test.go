package server

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/ftp/store"
)

// benchRETR downloads a size-byte file from an in-memory store over
// loopback (passive mode) b.N times and reports MB/s.
func benchRETR(b *testing.B, size int64, add func(m *store.Mem) error) {
	ts := startServer(b, "127.0.0.2", nil)
	require.NoError(b, add(ts.fs))
	c := dial(b, ts, "127.0.0.2")
	c.login("u", "p")
	buf := make([]byte, 256<<10)
	measure(b, size, func() {
		dc := c.pasv()
		c.cmd(150, "RETR /f")
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{dc}, buf)
		require.NoError(b, err)
		require.Equal(b, size, n)
		dc.Close()
		c.expect(226)
	})
}

// measure runs one transfer of size bytes b.N times and reports MB/s.
func measure(b *testing.B, size int64, transfer func()) {
	b.SetBytes(size)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		transfer()
	}
	b.ReportMetric(float64(size)*float64(b.N)/1e6/time.Since(start).Seconds(), "MB/s")
}

// BenchmarkRETR measures the download hot path: a 64 MiB file held in
// memory (written to the data connection as the store's own slices) and a
// generated one (made as it is sent).
func BenchmarkRETR(b *testing.B) {
	const size = 64 << 20
	b.Run("mem", func(b *testing.B) {
		benchRETR(b, size, func(m *store.Mem) error { return m.WriteFile("/f", make([]byte, size)) })
	})
	b.Run("generated", func(b *testing.B) {
		benchRETR(b, size, func(m *store.Mem) error { return m.AddGenerated("/f", size, 1) })
	})
}

// BenchmarkSTOR measures the upload hot path into the in-memory store.
func BenchmarkSTOR(b *testing.B) {
	const size = 64 << 20
	ts := startServer(b, "127.0.0.2", nil)
	c := dial(b, ts, "127.0.0.2")
	c.login("u", "p")
	data := make([]byte, 1<<20)
	measure(b, size, func() {
		dc := c.pasv()
		c.cmd(150, "STOR /f")
		for range size / len(data) {
			_, err := dc.Write(data)
			require.NoError(b, err)
		}
		dc.Close()
		c.expect(226)
	})
}
