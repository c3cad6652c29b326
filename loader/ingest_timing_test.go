package loader

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/yrd-hcx/hcx/internal/gen"
)

// BenchmarkIngest: a generated day (.csv.gz, all four regions) from files to
// a stored, signed snapshot: parse, pseudonymise, merge, build, sign, write.
// rows/s counts the rows of all files; cpu-s/op is the process's CPU time
// (user and system) per ingest, which a machine shared with other work
// changes far less than the wall time. HCX_BENCH_LARGE=1 adds 10M rows.
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
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(peak)/float64(n), "heap-B/row")
			if cpu > 0 {
				b.ReportMetric(float64(cpu)/1e9/float64(b.N), "cpu-s/op")
			}
		})
	}
}
