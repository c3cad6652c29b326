package gen

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/yrd-hcx/hcx/engine"
)

var benchDate = engine.DateOf(2026, 11, 26)

// BenchmarkWrite is the whole of `hcx gen`: generate, compress, write four
// files. HCX_BENCH_LARGE=1 adds n=1e7.
func BenchmarkWrite(b *testing.B) {
	sizes := []int{1e5, 1e6}
	if os.Getenv("HCX_BENCH_LARGE") != "" {
		sizes = append(sizes, 1e7)
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("n=%.0e", float64(n)), func(b *testing.B) {
			b.ReportAllocs()
			dir := b.TempDir()
			for b.Loop() {
				if _, err := Write(dir, Options{Date: benchDate, Records: n, Seed: 1}, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkGenerate is the baseline for BenchmarkWrite: the rows of all
// regions, not compressed, not written.
func BenchmarkGenerate(b *testing.B) {
	const n = 1e6
	b.ReportAllocs()
	for b.Loop() {
		g, err := newGenerator(Options{Date: benchDate, Records: n, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		outs := make([]*output, len(g.regions))
		for i := range outs {
			outs[i] = &output{buf: make([]byte, 0, bufSize), flush: func(b []byte) []byte { return b[:0] }}
		}
		g.run(outs, nil, func() bool { return false })
	}
	b.ReportMetric(n*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkGzipLevel justifies gzipLevel: compressing one region's file at
// BestSpeed and at the default level, with the compressed size per row.
func BenchmarkGzipLevel(b *testing.B) {
	var csv bytes.Buffer
	if err := WriteRegion(&csv, 1, Options{Date: benchDate, Records: 1e6, Seed: 1}); err != nil {
		b.Fatal(err)
	}
	rows := bytes.Count(csv.Bytes(), []byte{'\n'})
	for _, level := range []int{gzip.BestSpeed, gzip.DefaultCompression} {
		b.Run(fmt.Sprintf("level=%d", level), func(b *testing.B) {
			b.SetBytes(int64(csv.Len()))
			var size countWriter
			for b.Loop() {
				size = 0
				zw, _ := gzip.NewWriterLevel(&size, level)
				zw.Write(csv.Bytes())
				zw.Close()
			}
			b.ReportMetric(float64(size)/float64(rows), "B/row")
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

type countWriter int

func (w *countWriter) Write(b []byte) (int, error) { *w += countWriter(len(b)); return len(b), nil }

var _ io.Writer = (*countWriter)(nil)
