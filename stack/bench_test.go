package stack_test

import (
	"context"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ftplab/ftplab/stack"
)

// BenchmarkTCPStream measures one TCP stream between two hosts through a
// switch (MTU 1500), with the capture off and on (to a file).
func BenchmarkTCPStream(b *testing.B) {
	for _, capture := range []bool{false, true} {
		b.Run("capture="+map[bool]string{false: "off", true: "on"}[capture], func(b *testing.B) {
			opts := stack.Options{}
			if capture {
				f, err := os.Create(filepath.Join(b.TempDir(), "bench.pcapng"))
				require.NoError(b, err)
				defer f.Close()
				opts.Capture = f
			}
			n, err := stack.New(context.Background(), lanConfig(stack.LinkParams{}, "A", "B"), opts)
			require.NoError(b, err)
			defer func() { require.NoError(b, n.Close()) }()
			ctx := testCtx(b, 10*time.Minute)
			ln, err := n.Host("B").Listen(ctx, "tcp", "10.0.0.2:5001")
			require.NoError(b, err)
			defer ln.Close()
			done := make(chan int64, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					done <- 0
					return
				}
				k, _ := io.Copy(io.Discard, c)
				c.Close()
				done <- k
			}()
			c, err := n.Host("A").Dial(ctx, "tcp", "10.0.0.2:5001")
			require.NoError(b, err)
			buf := make([]byte, 1<<20)
			const chunk = 1 << 20
			b.SetBytes(chunk)
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				_, err := c.Write(buf)
				require.NoError(b, err)
			}
			require.NoError(b, c.Close())
			got := <-done
			el := time.Since(start)
			b.StopTimer()
			require.Equal(b, int64(b.N)*chunk, got)
			b.ReportMetric(float64(got)*8/el.Seconds()/1e9, "Gbit/s")
			if capture {
				st := n.CaptureStats()
				b.ReportMetric(float64(st.Dropped), "capdrops")
			}
		})
	}
}

// BenchmarkHosts builds N idle hosts on one switch: IPv4-only hosts (the
// usual lab host) and dual-stack ones (which carry an NDP table too).
func BenchmarkHosts(b *testing.B) {
	for _, tc := range []struct {
		size int
		v6   bool
	}{{100, false}, {1000, false}, {100, true}, {1000, true}} {
		name := "N=" + strconv.Itoa(tc.size)
		if tc.v6 {
			name += ",dual-stack"
		}
		b.Run(name, func(b *testing.B) {
			cfg := hostsConfig(tc.size, tc.v6)
			var total time.Duration
			var heap float64
			for b.Loop() {
				runtime.GC()
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				start := time.Now()
				n, err := stack.New(context.Background(), cfg, stack.Options{})
				require.NoError(b, err)
				total += time.Since(start)
				runtime.GC()
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				heap = float64(after.HeapAlloc-before.HeapAlloc) / 1024 / float64(tc.size)
				b.StopTimer()
				require.NoError(b, n.Close())
				b.StartTimer()
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/build")
			b.ReportMetric(heap, "KiB/host")
		})
	}
}

// hostsConfig is size hosts on one switch, 10.0.0.0/16 (and fd00::/64).
func hostsConfig(size int, v6 bool) stack.Config {
	cfg := stack.Config{Switches: []stack.SwitchConfig{{Name: "sw"}}}
	for i := range size {
		name := "h" + strconv.Itoa(i)
		k := i + 1
		addrs := []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(k >> 8), byte(k)}), 16)}
		if v6 {
			addrs = append(addrs, netip.PrefixFrom(netip.AddrFrom16([16]byte{0: 0xfd, 14: byte(k >> 8), 15: byte(k)}), 64))
		}
		cfg.Hosts = append(cfg.Hosts, stack.HostConfig{Name: name, NICs: []stack.NICConfig{{Addrs: addrs}}})
		cfg.Links = append(cfg.Links, stack.LinkConfig{A: name, B: "sw"})
	}
	return cfg
}
