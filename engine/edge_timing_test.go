//go:build !race

package engine

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/bits-and-blooms/bloom/v3"
)

// The edge verifier's hot path. The same benchmark runs natively, under
// Node (GOOS=js GOARCH=wasm go test with go_js_wasm_exec on PATH) and
// under wazero (GOOS=wasip1 with -exec wasirun); BENCHMARKS.md has the
// ratios and the commands. (The race detector's instrumentation allocates,
// hence the build tag.)

// edgeBench is a day at the default scale: 1e6 listings over four regions
// at the default rate, and a gate's query mix (1% listed).
type edgeBench struct {
	f       *EdgeFilter
	plain   []*bloom.BloomFilter // baseline: bits-and-blooms' own murmur hashing
	queries []string
	listed  []string
}

var (
	edgeBenchOnce sync.Once
	edgeBenchData *edgeBench
)

func loadEdgeBench(b *testing.B) *edgeBench {
	edgeBenchOnce.Do(func() {
		const n = 1_000_000
		r := rand.New(rand.NewPCG(21, 22))
		ids := distinctIDs(r, n+50_000)
		listed, absent := ids[:n], ids[n:]
		q := EdgeFPRPerFilter(DefaultEdgeFPR, 4)
		var regions []*EdgeRegion
		d := &edgeBench{listed: listed}
		for i, name := range DefaultRegions {
			l := edgeList{name: name}
			plain := bloom.NewWithEstimates(n/4, q)
			for j := i; j < n; j += 4 {
				l.ids = append(l.ids, listed[j])
				l.color = append(l.color, []Status{Red, Yellow, Yellow, Yellow}[j%4])
				plain.Add([]byte(listed[j][:17]))
			}
			regions = append(regions, buildEdgeRegion(b, l, byte(i), q))
			d.plain = append(d.plain, plain)
		}
		d.f = openEdge(b, signedEdge(b, regions, DefaultEdgeFPR))
		for i := range 4096 {
			if i%100 == 0 {
				d.queries = append(d.queries, listed[r.IntN(n)])
			} else {
				d.queries = append(d.queries, absent[r.IntN(len(absent))])
			}
		}
		// Settle: collect the setup's garbage and touch the filters once,
		// so the first sub-benchmark does not pay for them.
		runtime.GC()
		for _, q := range d.queries {
			d.f.Check(q)
		}
		edgeBenchData = d
	})
	if edgeBenchData == nil {
		b.Fatal("setup failed")
	}
	return edgeBenchData
}

// BenchmarkEdgeCheck: one ID against all four regions (validate, one
// SipHash-128 and a red and a yellow bloom test per region).
func BenchmarkEdgeCheck(b *testing.B) {
	d := loadEdgeBench(b)
	now := edgeBuilt.Add(time.Hour)
	b.Run("n=1e6", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			d.f.CheckAt(d.queries[i&4095], now)
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
	})
	b.Run("n=1e6/listed", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			d.f.CheckAt(d.listed[i%len(d.listed)], now)
			i++
		}
	})
	b.Run("n=1e6/clock", func(b *testing.B) { // Check reads the clock each time
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			d.f.Check(d.queries[i&4095])
			i++
		}
	})
}

// BenchmarkEdgeCheckBaselineMurmur is the same query mix against
// bits-and-blooms filters with their own murmur3 hashing of the 17 digits
// and no salt: what the keyed SipHash and the validation cost.
func BenchmarkEdgeCheckBaselineMurmur(b *testing.B) {
	d := loadEdgeBench(b)
	b.Run("n=1e6", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			q := d.queries[i&4095]
			for _, f := range d.plain {
				if f.TestString(q[:17]) {
					break
				}
			}
			i++
		}
	})
}

// BenchmarkEdgeBuild: building one region's part from 250k IDs (what an
// ingest adds per region).
func BenchmarkEdgeBuild(b *testing.B) {
	d := loadEdgeBench(b)
	ids := d.listed[:250_000]
	var salt [EdgeSaltSize]byte
	b.ReportAllocs()
	for b.Loop() {
		eb, _ := NewEdgeRegionBuilder("sh", edgeDay, salt, 1.25e-5)
		for i, id := range ids {
			eb.Add([]byte(id), Status(2+i%2))
		}
		eb.Build(edgeBuilt, 0)
	}
	b.ReportMetric(float64(len(ids)*b.N)/b.Elapsed().Seconds(), "ids/s")
}

// BenchmarkOpenEdge: verifying and decoding a 1e6-listing filter (what a
// page does once after download).
func BenchmarkOpenEdge(b *testing.B) {
	d := loadEdgeBench(b)
	file, _ := d.f.MarshalBinary()
	SignEdge(file, edgeKey)
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := OpenEdge(file, EdgeOpenOptions{PublicKey: edgePub()}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestEdgeCheckAllocs(t *testing.T) {
	f := openEdge(t, goldenEdge(t))
	b := []byte("440524188001010014")
	now := edgeBuilt.Add(time.Hour)
	for name, fn := range map[string]func(){
		"Check listed":  func() { f.Check("11010519491231002X") },
		"Check absent":  func() { f.Check("310115198512120014") },
		"Check invalid": func() { f.Check("110105194912310021") },
		"CheckBytesAt":  func() { f.CheckBytesAt(b, now) },
	} {
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s: %v allocs", name, n)
		}
	}
}
