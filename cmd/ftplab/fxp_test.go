package main

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestFXPCommand(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // runs last, after the servers stop
	a, b := randomLoopback(), randomLoopback()
	for a == b {
		b = randomLoopback()
	}
	srcRoot, dstRoot := t.TempDir(), t.TempDir()
	data := bytes.Repeat([]byte("0123456789abcdef\n"), 1<<16)
	require.NoError(t, os.WriteFile(filepath.Join(srcRoot, "data.bin"), data, 0o644))
	srcAddr := netip.AddrPortFrom(a, 2121).String()
	dstAddr := netip.AddrPortFrom(b, 2121).String()
	serveInTest(t, srcAddr, "--root", srcRoot, "--user", "alice:s3cret", "--trust", b.String())
	serveInTest(t, dstAddr, "--root", dstRoot, "--anonymous", "--trust", b.String()+"/32", "--trust", a.String())
	for _, dialect := range []string{"rfc959", "rfc478"} {
		for _, passive := range []string{"source", "destination"} {
			t.Run(dialect+"/"+passive, func(t *testing.T) {
				name := fmt.Sprintf("copy-%s-%s", dialect, passive)
				text, err := execute(newFXPCmd(), "--dialect", dialect, "--passive", passive,
					"ftp://alice:s3cret@"+srcAddr+"/data.bin", "ftp://"+dstAddr+"/"+name)
				require.NoError(t, err, text)
				got, err := os.ReadFile(filepath.Join(dstRoot, name))
				require.NoError(t, err)
				assert.True(t, bytes.Equal(data, got), "copied content differs")
				assert.Contains(t, text, fmt.Sprintf("copied %d bytes", len(data)))
				assert.Contains(t, text, "src > PASS ****")
				assert.NotContains(t, text, "s3cret", "the password is masked")
				pasv := map[string]string{"source": "src > PASV", "destination": "dst > PASV"}[passive]
				assert.Contains(t, text, pasv, "PASV goes to the %s", passive)
				if dialect == "rfc478" {
					assert.Contains(t, text, "src > RTRV data.bin")
					assert.Contains(t, text, "dst > SOCK ")
				} else {
					assert.Contains(t, text, "src > RETR data.bin")
				}
				assert.Contains(t, text, "dst < 226")
			})
		}
	}
	t.Run("failure-names-the-side", func(t *testing.T) {
		text, err := execute(newFXPCmd(), "ftp://alice:s3cret@"+srcAddr+"/missing", "ftp://"+dstAddr+"/x")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "source server "+srcAddr+" failed: SIZE missing: 550")
		assert.NoFileExists(t, filepath.Join(dstRoot, "x"))
		assert.NotContains(t, text, "dst > STOR", "a missing source sends nothing to the destination")
	})
}

func TestFXPBadArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"http://h/f", "ftp://h/g"}, `source: URL "http://h/f": scheme must be ftp://`},
		{[]string{"ftp://h/f", "ftp:///g"}, `destination: URL "ftp:///g": no host`},
		{[]string{"ftp://h", "ftp://k/g"}, `source: URL "ftp://h": no file name in the path`},
		{[]string{"ftp://h/dir/", "ftp://k/g"}, `source: URL "ftp://h/dir/": no file name`},
		{[]string{"ftp://h/f?x=1", "ftp://k/g"}, "no ?query"},
		{[]string{"ftp://h:99999/f", "ftp://k/g"}, `port "99999"`},
		{[]string{"ftp://h/f", "::bad"}, `destination: URL "::bad"`},
		{[]string{"--passive", "middle", "ftp://h/f", "ftp://k/g"}, `--passive: side "middle"`},
		{[]string{"--dialect", "rfc1", "ftp://h/f", "ftp://k/g"}, `--dialect: dialect "rfc1"`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			_, err := execute(newFXPCmd(), tc.args...)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Equal(t, 2, exitCode(err))
		})
	}
}

func TestParseFTPURL(t *testing.T) {
	u, err := parseFTPURL("ftp://bob:p%40ss@[::1]:2121/dir/f%20x")
	require.NoError(t, err)
	assert.Equal(t, ftpURL{user: "bob", pass: "p@ss", addr: "[::1]:2121", path: "dir/f x"}, u)
	u, err = parseFTPURL("ftp://host/%2Fetc/motd")
	require.NoError(t, err)
	assert.Equal(t, ftpURL{user: "anonymous", pass: "ftplab@", addr: "host:21", path: "/etc/motd"}, u)
}
