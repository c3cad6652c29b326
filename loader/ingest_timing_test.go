package loader

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/internal/gen"
)

// BenchmarkIngest: a generated day (.csv.gz, all four regions) from files to
// a stored, signed snapshot: parse, pseudonymise, merge, build, sign, write.
// rows/s counts the rows of all files; cpu-s/op is the process's CPU time
// (user and system) per ingest, which a machine shared with other work
// changes far less than the wall time; peak-B/row the heap's objects at
// their largest (sampled every millisecond), heap-B/row the heap in use
// after an ingest. HCX_BENCH_LARGE=1 adds 10M rows.
func BenchmarkIngest(b *testing.B) {
	sizes := []int{1e6}
	if os.Getenv("HCX_BENCH_LARGE") == "1" {
		sizes = append(sizes, 1e7)
	}
	for _, n := range sizes {
		name := map[int]string{1e6: "rows=1e6", 1e7: "rows=1e7"}[n]
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			date := testCal.Today() - 1
			paths, err := gen.Write(filepath.Join(dir, "files"), gen.Options{Date: date, Records: n, Seed: 1}, nil)
			if err != nil {
				b.Fatal(err)
			}
			st, err := Init(filepath.Join(dir, "data"), nil)
			if err != nil {
				b.Fatal(err)
			}
			st.Calendar = testCal
			var peak uint64
			b.ReportAllocs()
			var cpu int64
			var top uint64 // the heap's objects (live and not yet swept) at their largest
			sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				tick := time.NewTicker(time.Millisecond)
				defer tick.Stop()
				for {
					metrics.Read(sample)
					top = max(top, sample[0].Value.Uint64())
					select {
					case <-stop:
						return
					case <-tick.C:
					}
				}
			})
			for b.Loop() {
				cpu0 := processCPU()
				ups := make([]Upload, len(paths))
				for i, p := range paths {
					f, err := os.Open(p)
					if err != nil {
						b.Fatal(err)
					}
					ups[i] = Upload{Name: p, Body: f}
				}
				if _, _, err := st.Ingest(ups, IngestOptions{}); err != nil {
					b.Fatal(err)
				}
				for _, u := range ups {
					u.Body.(*os.File).Close()
				}
				cpu += processCPU() - cpu0
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
			close(stop)
			wg.Wait()
			b.ReportMetric(float64(top)/float64(n), "peak-B/row")
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(peak)/float64(n), "heap-B/row")
			if cpu > 0 {
				b.ReportMetric(float64(cpu)/1e9/float64(b.N), "cpu-s/op")
			}
		})
	}
}
