package engine

import "testing"

// BenchmarkLookupBatch answers the pool 1,000 IDs at a time, as a batch
// request brings them, three ways over the same IDs: path=loop calls
// Lookup for each (what a batch cost before the batch path), path=batch
// is LookupBatch, path=screen is Screen (only the non-green answers kept).
// ns/op is per ID. Compare with
//
//	benchstat -col /path old.txt
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
	}
}
