package loader

import (
	"bytes"
	"compress/gzip"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/yrd-hcx/hcx/engine"
)

// benchFile is a realistic daily file: n rows of id,color,since, about a
// fifth red, half with a since date, a few duplicates.
func benchFile(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	b.Grow(n * 40)
	b.WriteString("id,color,since\n")
	codes := [...]string{"310101", "310115", "320102", "320583", "330106", "330282", "340104", "341802"}
	first, span := engine.DateOf(1930, 1, 1), int(engine.DateOf(2020, 12, 31)-engine.DateOf(1930, 1, 1))
	var id [18]byte
	for range n {
		copy(id[:6], codes[r.IntN(len(codes))])
		y, m, d := (first + engine.Day(r.IntN(span))).Civil()
		ymd := y*10000 + m*100 + d
		for i := 13; i >= 6; i-- {
			id[i] = byte('0' + ymd%10)
			ymd /= 10
		}
		seq := r.IntN(1000)
		id[14], id[15], id[16] = byte('0'+seq/100), byte('0'+seq/10%10), byte('0'+seq%10)
		id[17] = engine.CheckChar(id[:17])
		b.Write(id[:])
		if r.IntN(5) == 0 {
			b.WriteString(",red,")
		} else {
			b.WriteString(",yellow,")
		}
		if r.IntN(2) == 0 {
			b.Write((engine.DateOf(2026, 1, 1) + engine.Day(r.IntN(300))).AppendFormat(nil))
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

var (
	benchOnce          sync.Once
	benchPlain, benchZ []byte
)

const benchRows = 1_000_000

// BenchmarkParse measures whole-file parsing, sort and merge included, of
// a one-million-row file, plain and gzip.
func BenchmarkParse(b *testing.B) {
	benchOnce.Do(func() {
		benchPlain = benchFile(benchRows)
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(benchPlain)
		zw.Close()
		benchZ = z.Bytes()
	})
	for _, bc := range []struct {
		name string
		data []byte
		gzip bool
	}{
		{"plain", benchPlain, false},
		{"gzip", benchZ, true},
	} {
		b.Run(bc.name+"/n=1e6", func(b *testing.B) {
			opts := testOptions()
			opts.Gzip = bc.gzip
			b.SetBytes(int64(len(benchPlain)))
			b.ReportAllocs()
			for b.Loop() {
				recs, rep, err := Parse(bytes.NewReader(bc.data), opts)
				if err != nil || rep.Rows != benchRows || len(recs) == 0 {
					b.Fatalf("%v: %d rows", err, rep.Rows)
				}
			}
			b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkSortInto: rows/s to sort a file's pending rows by pseudonym at
// the final merge (2.5M rows: a region's file of a 10M-row day).
func BenchmarkSortInto(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	var cs chunks
	for i := range 2_500_000 {
		cs.add(pendingRow{p: engine.Pseudonym(r.Uint64()), packed: uint64(i)})
	}
	buf := make([]pendingRow, cs.n)
	cpu0 := processCPU()
	for b.Loop() {
		cs.sortInto(buf)
	}
	b.ReportMetric(float64(cs.n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
	}
}
