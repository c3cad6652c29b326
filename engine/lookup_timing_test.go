package engine

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"testing"
)

// Query mix of the engine benchmarks: 99% absent, 1% present, from a pool of
// 1M distinct ID strings visited in random order, as a gate sees them.
const (
	benchPool       = 1 << 20
	benchPresentPct = 1
)

type benchSet struct {
	snap   *Snapshot
	byID   map[uint64]Status // the baseline: parse + Go map
	pool   []string
	listed []ID
	bytes  float64 // resident bytes per record of the snapshot
}

func benchSizes(b *testing.B) []int {
	sizes := []int{1e6}
	if os.Getenv("HCX_BENCH_LARGE") == "1" {
		sizes = append(sizes, 1e7)
	}
	return sizes
}

func sizeName(n int) string { return fmt.Sprintf("n=1e%d", len(fmt.Sprint(n))-1) }

// getBenchSet builds a snapshot of n listed valid IDs (a third red, one in
// ten listed by a second region) and a pool of query strings,
// benchPresentPct% of them listed.
func getBenchSet(b *testing.B, n int, baseline bool, opts Options) *benchSet {
	b.Helper()
	r := rand.New(rand.NewPCG(1, uint64(n)))
	listed := make([]ID, n)
	for i := range listed {
		listed[i] = mustParse(b, randomID(r))
	}
	opts.Key = testKey
	opts.Calendar = testCal
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	bl, err := NewBuilder(opts)
	if err != nil {
		b.Fatal(err)
	}
	bl.Grow(n)
	nreg := len(bl.regions)
	for i, id := range listed {
		c := Yellow
		if i%3 == 0 {
			c = Red
		}
		if err := bl.Add(i%nreg, testKey.Of(id), c, NoDay); err != nil {
			b.Fatal(err)
		}
		if i%10 == 0 { // one person in ten listed by a second region too
			_ = bl.Add((i+1)%nreg, testKey.Of(id), Yellow, NoDay)
		}
	}
	s := bl.Build()
	bl = nil
	runtime.GC()
	runtime.ReadMemStats(&after)
	set := &benchSet{snap: s, bytes: float64(after.HeapAlloc-before.HeapAlloc) / float64(s.Len())}
	if baseline {
		set.byID = make(map[uint64]Status, n)
		for i, id := range listed {
			set.byID[uint64(id)] = Status(2 + i%3%2)
		}
	}
	set.pool, set.listed = make([]string, benchPool), listed
	for i := range set.pool {
		if r.IntN(100) < benchPresentPct {
			set.pool[i] = listed[r.IntN(n)].String()
		} else {
			set.pool[i] = randomID(r)
		}
	}
	return set
}

func BenchmarkLookup(b *testing.B) {
	for _, n := range benchSizes(b) {
		b.Run(sizeName(n), func(b *testing.B) {
			set := getBenchSet(b, n, false, Options{})
			benchLookup(b, set)
			b.ReportMetric(set.bytes, "B/record")
		})
	}
}

// BenchmarkLookupExactOnly is Lookup without the bloom filter in front of
// the exact index: the evidence for keeping it there (Options.ExactOnly).
func BenchmarkLookupExactOnly(b *testing.B) {
	for _, n := range benchSizes(b) {
		b.Run(sizeName(n), func(b *testing.B) {
			set := getBenchSet(b, n, false, Options{ExactOnly: true})
			benchLookup(b, set)
			b.ReportMetric(set.bytes, "B/record")
		})
	}
}

// BenchmarkLookupListed looks up listed IDs only: the exact index and a
// listed person's answer (Snapshot.at), which the 1% of the usual mix pay,
// with the default 4 regions and with 40 (a national deployment's).
func BenchmarkLookupListed(b *testing.B) {
	national := make([]string, 40)
	for i := range national {
		national[i] = fmt.Sprintf("r%02d", i)
	}
	for _, n := range benchSizes(b) {
		for _, regions := range [][]string{DefaultRegions, national} {
			b.Run(fmt.Sprintf("%s/regions=%d", sizeName(n), len(regions)), func(b *testing.B) {
				set := getBenchSet(b, n, false, Options{Regions: regions})
				r := rand.New(rand.NewPCG(2, uint64(n)))
				held := make([]string, benchPool)
				for i := range held {
					held[i] = set.listed[r.IntN(n)].String()
				}
				benchLookupPool(b, set.snap, held)
			})
		}
	}
}

func benchLookup(b *testing.B, set *benchSet) { benchLookupPool(b, set.snap, set.pool) }

// benchLookupPool looks up pool's IDs in turn; pool's length is benchPool.
func benchLookupPool(b *testing.B, snap *Snapshot, pool []string) {
	b.ReportAllocs()
	hits := 0
	b.ResetTimer()
	cpu := processCPU()
	for i := 0; b.Loop(); i++ {
		if snap.Lookup(pool[i&(benchPool-1)]).Status > Green {
			hits++
		}
	}
	cpu = processCPU() - cpu
	if hits == 0 {
		b.Fatal("no hits: the query mix is broken")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op") // beside wall time: on a shared machine wall time measures the contention
}

func BenchmarkBaselineMapLookup(b *testing.B) {
	for _, n := range benchSizes(b) {
		b.Run(sizeName(n), func(b *testing.B) {
			set := getBenchSet(b, n, true, Options{})
			b.ReportAllocs()
			pool := set.pool
			hits := 0
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				id, err := testCal.ParseID(pool[i&(benchPool-1)])
				if err != nil {
					continue
				}
				if set.byID[uint64(id)] > Green {
					hits++
				}
			}
			if hits == 0 {
				b.Fatal("no hits: the query mix is broken")
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
		})
	}
}

// BenchmarkBloomTest: one test of a 1,000,000-key filter at the default
// rate (1.1 MB, about the second-level cache), path=loop the general
// bloomTestAny, path=unrolled bloomTest (k = 7), path=vector bloomTestVec
// (its scalar form in a build without vectors), over the same 4,096 keys.
func BenchmarkBloomTest(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	words, m, k, _ := randomBloom(r, 1000000, DefaultBloomFPR)
	ps := make([]uint64, 4096)
	for i := range ps {
		ps[i] = r.Uint64()
	}
	for _, c := range []struct {
		name string
		test func(p uint64) bool
	}{
		{"loop", func(p uint64) bool { return bloomTestAny(words, bloomBlock(p, m), k, p) }},
		{"unrolled", func(p uint64) bool { return bloomTest(words, bloomBlock(p, m), k, p) }},
		{"vector", func(p uint64) bool { return bloomTestVec(words, bloomBlock(p, m), p) }},
	} {
		b.Run("path="+c.name, func(b *testing.B) {
			yes := 0
			for i := 0; b.Loop(); i++ {
				if c.test(ps[i&(len(ps)-1)]) {
					yes++
				}
			}
			sinkInt = yes
		})
	}
}
