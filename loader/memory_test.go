//go:build !race

package loader

import (
	"bytes"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
)

// Memory figures under the race detector are not the program's (its
// instrumentation allocates), hence the build tag.

// TestMemoryFollowsPeople: ten million copies of one row, gzip-compressed
// (0.6 MB), cost an ingest what one row costs (docs/daily-files.md,
// "Memory"): measured through Store.Ingest, the real gzip path and the edge
// filter part, as everything allocated during the ingest (an upper bound
// on how far the heap can grow) and as the heap's sampled peak.
func TestMemoryFollowsPeople(t *testing.T) {
	if testing.Short() {
		t.Skip("parses ten million rows")
	}
	one := oneRowFile(t, 1)
	many := oneRowFile(t, 10_000_000)
	alloc1, peak1 := ingestCost(t, one)
	allocN, peakN := ingestCost(t, many)
	t.Logf("1 row (%d bytes of gzip): %d KiB allocated, heap peak +%d KiB", len(one), alloc1>>10, peak1>>10)
	t.Logf("10M rows (%d bytes of gzip): %d KiB allocated, heap peak +%d KiB", len(many), allocN>>10, peakN>>10)
	if allocN > alloc1+1<<20 {
		t.Errorf("10M copies of one row allocate %d KiB, one row %d KiB: more than 1 MiB apart", allocN>>10, alloc1>>10)
	}
	if peakN > peak1+4<<20 {
		t.Errorf("10M copies of one row raise the heap by %d KiB, one row by %d KiB", peakN>>10, peak1>>10)
	}
}

// oneRowFile is a daily file of n copies of one row, gzip-compressed as a
// careless export would be (fastest level).
func oneRowFile(t *testing.T, n int) []byte {
	t.Helper()
	var out bytes.Buffer
	zw, err := gzip.NewWriterLevel(&out, gzip.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write([]byte("id,color\n"))
	const block = 1 << 14
	row := idA + ",red\n"
	chunk := []byte(strings.Repeat(row, block))
	for ; n >= block; n -= block {
		zw.Write(chunk)
	}
	zw.Write(chunk[:n*len(row)])
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// ingestCost ingests file into a fresh store and returns the bytes
// allocated meanwhile and how far the heap's objects grew at their peak
// (sampled every 100 us).
func ingestCost(t *testing.T, file []byte) (alloc, peak uint64) {
	t.Helper()
	s := newStore(t)
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	base := read()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var top uint64
	wg.Go(func() {
		tick := time.NewTicker(100 * time.Microsecond)
		defer tick.Stop()
		for {
			top = max(top, read())
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	reps, _, err := s.Ingest([]Upload{{Name: "sh-2026-11-26.csv.gz", Body: bytes.NewReader(file)}}, IngestOptions{})
	close(stop)
	wg.Wait()
	runtime.ReadMemStats(&after)
	if err != nil || reps[0].Records != 1 {
		t.Fatalf("%v %+v", err, reps[0])
	}
	return after.TotalAlloc - before.TotalAlloc, max(top, base) - base
}
