package engine

import (
	"slices"
	"testing"
	"time"
)

// BenchmarkLookupBatch answers the pool 1,000 IDs at a time, as a batch
// request brings them, three ways over the same IDs: path=loop calls
// Lookup for each (what a batch cost before the batch path), path=batch
// is LookupBatch, path=screen is Screen (only the non-green answers kept).
// ns/op is per ID. Compare with
//
//	benchstat -col /path old.txt
//
// path=paired runs the three, one batch each, in turn over adjacent IDs and
// reports the medians of the per-batch ratios (batch/loop, screen/loop):
// adjacent batches 100 µs apart see the same load from other work, so on a
// shared machine these ratios hold when the ns/op of separate runs do not.
func BenchmarkLookupBatch(b *testing.B) {
	const size = 1000
	for _, n := range benchSizes(b) {
		set := getBenchSet(b, n, false, Options{})
		out := make([]Result, size)
		hits := make([]Hit, 0, size)
		paths := []struct {
			name string
			run  func(ids []string) int // listed among ids
		}{
			{"loop", func(ids []string) int {
				listed := 0
				for i, id := range ids {
					out[i] = set.snap.Lookup(id)
					if out[i].Status > Green {
						listed++
					}
				}
				return listed
			}},
			{"batch", func(ids []string) int {
				listed := 0
				for _, r := range set.snap.LookupBatch(ids, out) {
					if r.Status > Green {
						listed++
					}
				}
				return listed
			}},
			{"screen", func(ids []string) int {
				return len(set.snap.Screen(ids, hits[:0]))
			}},
		}
		for _, p := range paths {
			b.Run(sizeName(n)+"/path="+p.name, func(b *testing.B) {
				b.ReportAllocs()
				listed, at := 0, 0
				for i := 0; b.Loop(); i++ {
					if i%size == 0 {
						listed += p.run(set.pool[at : at+size])
						if at += size; at+size > len(set.pool) {
							at = 0
						}
					}
				}
				if b.N >= size && listed == 0 {
					b.Fatal("no listed IDs: the query mix is broken")
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
			})
		}
		b.Run(sizeName(n)+"/path=paired", func(b *testing.B) {
			var ns [3][]float64
			at := 0
			for i := 0; b.Loop(); i++ {
				if i%size != 0 {
					continue
				}
				for k, p := range paths {
					// Each path its own IDs (the next ones in the pool), so
					// that none finds the bloom blocks another brought into
					// the cache; their strings read once first, as a request
					// body is in cache when it is answered.
					ids := set.pool[at : at+size]
					if at += size; at+size > len(set.pool) {
						at = 0
					}
					warm := 0
					for _, id := range ids {
						warm += int(id[len(id)-1])
					}
					sinkInt = warm
					t := time.Now()
					p.run(ids)
					ns[k] = append(ns[k], float64(time.Since(t).Nanoseconds())/size)
				}
			}
			if len(ns[0]) == 0 {
				return
			}
			ratio := func(k int) float64 {
				r := make([]float64, len(ns[0]))
				for i := range r {
					r[i] = ns[k][i] / ns[0][i]
				}
				return median(r)
			}
			b.ReportMetric(median(ns[0]), "loop-ns/ID")
			b.ReportMetric(median(ns[1]), "batch-ns/ID")
			b.ReportMetric(median(ns[2]), "screen-ns/ID")
			b.ReportMetric(ratio(1), "batch/loop")
			b.ReportMetric(ratio(2), "screen/loop")
		})
	}
}

func median(x []float64) float64 {
	x = slices.Clone(x)
	slices.Sort(x)
	return x[len(x)/2]
}

var sinkInt int
