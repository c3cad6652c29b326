package engine

import (
	"runtime"
	"testing"
)

// BenchmarkLookupOpened is BenchmarkLookup on the snapshot as a server
// holds it: built, encoded, then opened from the file (in place: view.go).
// B/record is what the opened snapshot keeps, the file included.
func BenchmarkLookupOpened(b *testing.B) {
	for _, n := range benchSizes(b) {
		b.Run(sizeName(n), func(b *testing.B) {
			set := getBenchSet(b, n, false, Options{})
			file, err := set.snap.MarshalBinary()
			if err != nil {
				b.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			s, err := OpenBytes(file, OpenOptions{Key: testKey, Calendar: testCal})
			if err != nil {
				b.Fatal(err)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			set.snap = s
			set.bytes = float64(len(file)+int(after.HeapAlloc)-int(before.HeapAlloc)) / float64(s.Len())
			benchLookup(b, set)
			b.ReportMetric(set.bytes, "B/record")
		})
	}
}
