package labs

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// soakRuns is how many lab runs TestSoak makes: FTPLAB_SOAK_RUNS (make
// soak: 1000), else two rounds of the embedded labs.
func soakRuns(t *testing.T, labs int) int {
	if s := os.Getenv("FTPLAB_SOAK_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, "FTPLAB_SOAK_RUNS")
		return n
	}
	return 2 * labs
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd: " + err.Error())
	}
	return len(ents)
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestSoak runs the embedded labs in turn, many times in one process (a
// bounded soak: FTPLAB_SOAK_RUNS runs, 1000 with make soak), and checks
// that nothing accumulates: goroutines, file descriptors and the live heap
// are where they were after the first round.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("a soak: not with -short")
	}
	infos, err := List()
	require.NoError(t, err)
	runs := soakRuns(t, len(infos))
	dir := t.TempDir()
	run := func(i int) {
		lab, err := Embedded(infos[i%len(infos)].Name)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		rep, err := Run(ctx, lab, Options{CaptureFile: filepath.Join(dir, "soak.pcapng")})
		require.NoError(t, err, "run %d (%s)", i, lab.Name)
		require.True(t, rep.OK(), "run %d (%s): %v", i, lab.Name, rep.Failures())
	}
	// One round first: pools, caches and the runtime settle.
	for i := range len(infos) {
		run(i)
	}
	fds, heap := openFDs(t), liveHeap()
	for i := len(infos); i < runs; i++ {
		run(i)
	}
	require.NoError(t, goleak.Find(goleak.IgnoreCurrent()), "goroutines left after %d runs", runs)
	assert.Equal(t, fds, openFDs(t), "file descriptors after %d runs", runs)
	// The live heap may wander by the caches' worth (generated patterns,
	// digests, sync.Pools), not grow with the number of runs.
	after := liveHeap()
	t.Logf("%d runs: live heap %.1f MiB after the first round, %.1f MiB at the end; %d fds", runs, float64(heap)/(1<<20), float64(after)/(1<<20), fds)
	assert.Less(t, after, heap+32<<20, "live heap grew from %d to %d bytes over %d runs", heap, after, runs)
}
