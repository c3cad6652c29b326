package engine

import (
	"math/rand/v2"
	"testing"
)

func BenchmarkParseID(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	pool := make([]string, 1<<16)
	for i := range pool {
		pool[i] = randomID(r)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := testCal.ParseID(pool[i&(len(pool)-1)]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPseudonym(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	pool := make([]string, 1<<16)
	for i := range pool {
		pool[i] = randomID(r)
	}
	b.ReportAllocs()
	var x Pseudonym
	for i := 0; b.Loop(); i++ {
		p, _ := testKey.Parse(testCal, pool[i&(len(pool)-1)])
		x ^= p
	}
	_ = x
}

// idPool is a pool of valid ID strings, as the parse benchmarks read them.
func idPool() []string {
	r := rand.New(rand.NewPCG(1, 2))
	pool := make([]string, 1<<16)
	for i := range pool {
		pool[i] = randomID(r)
	}
	return pool
}

// BenchmarkValidateID: the validation alone (trim, digits, date, check
// character), which every lookup and edge check pays before hashing; in
// WebAssembly it cost 6 to 8 times its native time (BENCHMARKS.md).
func BenchmarkValidateID(b *testing.B) {
	pool := idPool()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, e := validate(testCal, pool[i&(len(pool)-1)]); e != 0 {
			b.Fatal(e)
		}
	}
}

// BenchmarkSip17: one SipHash-2-4 of a 17-digit body, as a pseudonym and
// each region of an edge check compute it.
func BenchmarkSip17(b *testing.B) {
	pool := idPool()
	var x uint64
	for i := 0; b.Loop(); i++ {
		s := pool[i&(len(pool)-1)]
		x ^= sip17(testKey.k0, testKey.k1, load64(s[0:8]), load64(s[8:16]), s[16])
	}
	_ = x
}

// BenchmarkSip17x2: the pseudonyms of pairs of IDs, path=single as two
// sip17 calls, path=x2 as one sip17x2; ns/op is per pair. path=x8: eight
// IDs (their bodies copied into lanes, as the batch does) in one sip17x8,
// in vectors where the build and processor have them
// (engine/wide_simd.go); its ns/op is per eight IDs.
func BenchmarkSip17x2(b *testing.B) {
	pool := idPool()
	bodies := make([]idBody, len(pool))
	for i, s := range pool {
		bodies[i] = idBody{load64(s[0:8]), load64(s[8:16]), s[16]}
	}
	k0, k1 := testKey.k0, testKey.k1
	b.Run("path=single", func(b *testing.B) {
		var x uint64
		for i := 0; b.Loop(); i += 2 {
			p, q := &bodies[i&(len(bodies)-1)], &bodies[(i+1)&(len(bodies)-1)]
			x ^= sip17(k0, k1, p.m0, p.m1, p.last) ^ sip17(k0, k1, q.m0, q.m1, q.last)
		}
		sinkInt = int(x)
	})
	b.Run("path=x2", func(b *testing.B) {
		var x uint64
		for i := 0; b.Loop(); i += 2 {
			h, g := sip17x2(k0, k1, &bodies[i&(len(bodies)-1)], &bodies[(i+1)&(len(bodies)-1)])
			x ^= h ^ g
		}
		sinkInt = int(x)
	})
	b.Run("path=x8", func(b *testing.B) {
		var m0, m1, last, out [8]uint64
		var x uint64
		for i := 0; b.Loop(); i += 8 {
			for j := range 8 {
				p := &bodies[(i+j)&(len(bodies)-1)]
				m0[j], m1[j], last[j] = p.m0, p.m1, uint64(p.last)
			}
			sip17x8(k0, k1, &m0, &m1, &last, &out)
			x ^= out[0] ^ out[7]
		}
		sinkInt = int(x)
	})
}
