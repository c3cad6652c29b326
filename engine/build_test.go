package engine

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
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
			workers := 1 << (runs % 4) // 2, 4, 1, 2, 4
			t.Run(fmt.Sprintf("runs=%d/n=%d/workers=%d", runs, n, workers), func(t *testing.T) {
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
				got, bounds := sortRecords(splitRuns(slices.Clone(recs), runs), workers)
				if !slices.IsSortedFunc(got, cmpRecord) {
					t.Fatal("not sorted by pseudonym")
				}
				if bounds[0] != 0 || bounds[len(bounds)-1] != n || !slices.IsSorted(bounds) {
					t.Fatalf("segments %v of %d records", bounds, n)
				}
				for w := 1; w < len(bounds)-1; w++ {
					if lo := bounds[w]; lo > 0 && lo < n && got[lo-1].p == got[lo].p {
						t.Fatalf("segment %d starts inside a person's records", w)
					}
				}
				slices.SortFunc(got, full)
				if !slices.Equal(got, want) {
					t.Fatal("not the same records")
				}
			})
		}
	}
}

// TestBuildWorkers: a build shared by 2, 4 or 8 workers makes the snapshot
// one worker makes, to the byte: uniform pseudonyms, people listed by
// several regions in both colours, pseudonyms crowded into one segment
// (and into buckets the counting pass cannot split), and runs of
// neighbouring pseudonyms that share bloom blocks across a segment's edge.
func TestBuildWorkers(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	cases := map[string][]record{
		"uniform": benchRecords(200_000),
		"small":   benchRecords(3000),
	}
	var crowded, conflicts, edges []record
	for i := range 100_000 {
		crowded = append(crowded, record{p: r.Uint64N(1 << 40), region: uint8(i % 4), color: Status(1 + i%2), since: uint16(i % 5)})
		p := r.Uint64N(30_000) << 48 // about three a person, all regions, both colours
		conflicts = append(conflicts, record{p: p, region: uint8(r.IntN(4)), color: Status(1 + r.IntN(2)), since: uint16(r.IntN(4))})
		// Around each segment edge of 2, 4 and 8 workers: consecutive
		// pseudonyms, hence shared bloom blocks and bitmap containers.
		edge := uint64(i%8) << 61
		edges = append(edges, record{p: edge - uint64(i/8) - 1, region: 1, color: Red}, record{p: edge + uint64(i/8), region: 2, color: Yellow, since: 3})
	}
	cases["crowded"], cases["conflicts"], cases["edges"] = crowded, conflicts, edges
	for name, recs := range cases {
		t.Run(name, func(t *testing.T) {
			var want []byte
			for _, workers := range []int{1, 2, 4, 8} {
				b, err := NewBuilder(Options{Key: testKey, Version: 3, Built: time.Unix(1e9, 0)})
				if err != nil {
					t.Fatal(err)
				}
				b.recs = slices.Clone(recs)
				got, err := b.build(workers).MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				if workers == 1 {
					want = got
					continue
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("%d workers: the file differs from one worker's (%d bytes, want %d)", workers, len(got), len(want))
				}
			}
		})
	}
}

// splitRuns cuts recs into k runs of about equal length (some may be
// empty), as a build takes them from lists.
func splitRuns(recs []record, k int) [][]record {
	var runs [][]record
	for i := range k {
		runs = append(runs, recs[i*len(recs)/k:(i+1)*len(recs)/k])
	}
	return runs
}

// TestAddList: a build from lists (AddList) makes the snapshot one from
// the same records added one by one makes, to the byte, with and without
// records added by Add beside them.
func TestAddList(t *testing.T) {
	recs := benchRecords(100_000)
	opts := Options{Key: testKey, Version: 2, Built: time.Unix(1e9, 0)}
	one, _ := NewBuilder(opts)
	for _, r := range recs {
		if err := one.Add(int(r.region), Pseudonym(r.p), r.color, sinceDay(r.since)); err != nil {
			t.Fatal(err)
		}
	}
	want, _ := one.Build().MarshalBinary()
	for _, split := range []int{1, 2, 4} {
		b, _ := NewBuilder(opts)
		lists := make([]*List, 4)
		for i := range lists {
			lists[i] = NewList(i, 0)
		}
		for k, r := range recs {
			if k%split == 1 { // every other record (split 2) through Add
				_ = b.Add(int(r.region), Pseudonym(r.p), r.color, sinceDay(r.since))
				continue
			}
			if err := lists[r.region].Add(Pseudonym(r.p), r.color, sinceDay(r.since)); err != nil {
				t.Fatal(err)
			}
		}
		for _, l := range lists {
			if err := b.AddList(l); err != nil {
				t.Fatal(err)
			}
		}
		if got, _ := b.Build().MarshalBinary(); !bytes.Equal(got, want) {
			t.Fatalf("split %d: the build from lists differs", split)
		}
	}
	if err := NewList(0, 0).Add(1, Green, NoDay); !errors.Is(err, ErrColor) {
		t.Fatalf("a green listing: %v, want ErrColor", err)
	}
	b, _ := NewBuilder(opts)
	if err := b.AddList(NewList(4, 0)); !errors.Is(err, ErrRegion) {
		t.Fatalf("region 4 of 4: %v, want ErrRegion", err)
	}
}
