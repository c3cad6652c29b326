package engine

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// benchRecords returns n records over the default regions: a third red,
// one person in ten listed by two regions, most with a since date.
func benchRecords(n int) []record {
	r := rand.New(rand.NewPCG(7, uint64(n)))
	recs := make([]record, 0, n+n/10)
	for i := range n {
		p := r.Uint64()
		c := Yellow
		if i%3 == 0 {
			c = Red
		}
		recs = append(recs, record{p: p, since: sinceCode(DateOf(2026, 11, 1) + Day(i%20)), region: uint8(i % 4), color: c})
		if i%10 == 0 {
			recs = append(recs, record{p: p, region: uint8((i + 1) % 4), color: Yellow})
		}
	}
	return recs
}

// BenchmarkBuild: records/s from pseudonymised records to a Snapshot, and
// the CPU time per build (a large build shares the cores: -cpu 1 builds
// on one). The records come in any order, or (runs) as the loader gives
// them: each region's list sorted by pseudonym.
func BenchmarkBuild(b *testing.B) {
	for _, order := range []string{"any", "runs"} {
		for _, n := range benchSizes(b) {
			b.Run(order+"/"+sizeName(n), func(b *testing.B) {
				recs := benchRecords(n)
				if order == "runs" {
					slices.SortStableFunc(recs, func(x, y record) int {
						if c := int(x.region) - int(y.region); c != 0 {
							return c
						}
						return cmpRecord(x, y)
					})
				}
				b.ReportAllocs()
				cpu0 := processCPU()
				for b.Loop() {
					bl, _ := NewBuilder(Options{Key: testKey})
					bl.recs = append(bl.recs[:0], recs...)
					bl.Build()
				}
				b.ReportMetric(float64(len(recs))*float64(b.N)/b.Elapsed().Seconds(), "records/s")
				if cpu := processCPU() - cpu0; cpu > 0 {
					b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
				}
			})
		}
	}
}

// benchSnapshot is a snapshot of n generated records.
func benchSnapshot(n int) *Snapshot {
	bl, _ := NewBuilder(Options{Key: testKey})
	bl.recs = benchRecords(n)
	return bl.Build()
}

// BenchmarkOpen: records/s to verify (SHA-256, CRCs) and decode a file.
func BenchmarkOpen(b *testing.B) {
	for _, n := range benchSizes(b) {
		b.Run(sizeName(n), func(b *testing.B) {
			s := benchSnapshot(n)
			file, err := s.MarshalBinary()
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(file)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := OpenBytes(file, OpenOptions{Key: testKey}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(s.Len())*float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(len(file))/float64(s.Len()), "file-B/record")
		})
	}
}

// BenchmarkMarshal: records/s to encode a built snapshot into its file
// (unsigned), and the CPU time per encoding.
func BenchmarkMarshal(b *testing.B) {
	for _, n := range benchSizes(b) {
		b.Run(sizeName(n), func(b *testing.B) {
			s := benchSnapshot(n)
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				if _, err := s.MarshalBinary(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(s.Len())*float64(b.N)/b.Elapsed().Seconds(), "records/s")
			if cpu := processCPU() - cpu0; cpu > 0 {
				b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
			}
		})
	}
}
