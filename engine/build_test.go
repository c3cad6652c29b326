package engine

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSortRecords: records in any number of ascending runs (as the loader
// gives them: one or two a region), repeated keys included, come out
// sorted by pseudonym, the same records.
func TestSortRecords(t *testing.T) {
	full := func(a, b record) int {
		return cmp.Or(cmp.Compare(a.p, b.p), cmp.Compare(a.region, b.region), cmp.Compare(a.color, b.color), cmp.Compare(a.since, b.since))
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, runs := range []int{1, 2, 4, 9, 50} {
		for _, n := range []int{0, 1, 10, 5000, 100_000} {
			t.Run(fmt.Sprintf("runs=%d/n=%d", runs, n), func(t *testing.T) {
				recs := make([]record, n)
				for i := range recs {
					recs[i] = record{p: r.Uint64N(uint64(n)/2 + 1), region: uint8(i % runs), color: Status(1 + r.IntN(2)), since: uint16(r.IntN(3))}
					if i%7 == 0 {
						recs[i].p = r.Uint64() // spread over the whole range too
					}
				}
				slices.SortStableFunc(recs, func(a, b record) int { return cmp.Or(cmp.Compare(a.region, b.region), cmp.Compare(a.p, b.p)) })
				want := slices.Clone(recs)
				slices.SortFunc(want, full)
				got := sortRecords(slices.Clone(recs))
				if !slices.IsSortedFunc(got, cmpRecord) {
					t.Fatal("not sorted by pseudonym")
				}
				slices.SortFunc(got, full)
				if !slices.Equal(got, want) {
					t.Fatal("not the same records")
				}
			})
		}
	}
}
