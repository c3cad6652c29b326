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
