package server

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSmoke(t *testing.T) {
	ts := startServer(t, "127.0.0.2", nil)
	require.NoError(t, ts.fs.WriteFile("/a.txt", []byte("hello\n")))
	c := dial(t, ts, "127.0.0.2")
	c.login("u", "p")
	require.Equal(t, "hello\n", string(c.retr("a.txt")))
	c.stor("STOR", "b.txt", []byte("world"))
	got, err := ts.fs.ReadFile("/b.txt")
	require.NoError(t, err)
	require.Equal(t, "world", string(got))
	t.Log(c.list("LIST"))
	c.cmd(221, "QUIT")
}
