package client

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/ftp/proto"
)

// noEPSVServer is a minimal FTP server that refuses EPSV (as old servers
// and some NAT boxes do) and serves "hello" to RETR in PASV mode. It
// records the verbs it was sent.
func noEPSVServer(t *testing.T) (netip.AddrPort, func() []string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var verbs []string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		var data net.Listener
		fmt.Fprint(c, "220 old server\r\n")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			verb := strings.ToUpper(strings.Fields(line + " x")[0])
			mu.Lock()
			verbs = append(verbs, verb)
			mu.Unlock()
			switch verb {
			case "USER":
				fmt.Fprint(c, "331 password\r\n")
			case "PASS":
				fmt.Fprint(c, "230 in\r\n")
			case "TYPE":
				fmt.Fprint(c, "200 ok\r\n")
			case "EPSV":
				fmt.Fprint(c, "500 EPSV not understood\r\n")
			case "PASV":
				if data, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
					return
				}
				text, _ := proto.FormatPASVReply(proto.AddrPortOf(data.Addr()))
				fmt.Fprintf(c, "227 %s\r\n", text)
			case "RETR":
				fmt.Fprint(c, "150 here it comes\r\n")
				d, err := data.Accept()
				data.Close()
				if err != nil {
					return
				}
				fmt.Fprint(d, "hello")
				d.Close()
				fmt.Fprint(c, "226 done\r\n")
			default:
				fmt.Fprint(c, "502 no\r\n")
			}
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return proto.AddrPortOf(ln.Addr()), func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), verbs...) }
}

func TestEPSVFallsBackToPASV(t *testing.T) {
	ctx := testCtx(t)
	addr, verbs := noEPSVServer(t)
	c := dialUser(t, ctx, addr, Options{})
	for range 2 {
		var got bytes.Buffer
		_, err := c.Retr(ctx, "f", &got)
		require.NoError(t, err)
		assert.Equal(t, "hello", got.String())
	}
	c.Close()
	assert.Equal(t, []string{"USER", "PASS", "TYPE", "EPSV", "PASV", "RETR", "PASV", "RETR"}, verbs(),
		"EPSV refused once, then PASV only")
}
