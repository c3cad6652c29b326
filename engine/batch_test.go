package engine

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// batchInput is a random batch for the property tests: listed IDs, valid
// IDs nobody lists, and invalid strings of every kind, in random order.
func batchInput(r *rand.Rand, listed []string, n int) []string {
	out := make([]string, n)
	for i := range out {
		switch r.IntN(10) {
		case 0, 1, 2:
			out[i] = listed[r.IntN(len(listed))]
		case 3:
			// Padding and a lowercase x are trimmed and folded, not invalid.
			id := listed[r.IntN(len(listed))]
			out[i] = " " + strings.Replace(id, "X", "x", 1) + "\t"
		case 4:
			out[i] = invalidID(r, listed[r.IntN(len(listed))])
		default:
			out[i] = randomID(r) // almost surely absent
		}
	}
	return out
}

// invalidID spoils a valid ID in one of the ways a person gets wrong.
func invalidID(r *rand.Rand, id string) string {
	b := []byte(id)
	switch r.IntN(6) {
	case 0: // wrong check character
		b[17] = "10X98765432"[(strings.IndexByte("10X98765432", b[17])+1)%11]
	case 1:
		return id[:17]
	case 2:
		b[r.IntN(17)] = 'a'
	case 3:
		return "2099" + id[4:] // not a date: month 20..
	case 4:
		return id[:6] + id[8:17] // a 15-digit first-generation number
	case 5:
		return ""
	}
	return string(b)
}

// TestBatchMatchesLookup: for random batches of every size around the
// group boundary, LookupBatch and LookupBatchBytes answer each ID exactly as
// Lookup does, and Screen and ScreenBytes keep exactly the answers that are
// not green, with their positions, in order, appended after what dst held.
func TestBatchMatchesLookup(t *testing.T) {
	for _, o := range []struct {
		name string
		opts Options
	}{{"bloom", Options{}}, {"bloom of another k", Options{BloomFPR: 0.001}}, {"exact only", Options{ExactOnly: true}}, {"no bloom", Options{BloomFPR: -1}}} {
		t.Run(o.name, func(t *testing.T) {
			s, _, listed := randomSnapshot(t, 7, 3000, 5, o.opts)
			r := rand.New(rand.NewPCG(3, 4))
			sizes := []int{0, 1, 2, batchGroup - 1, batchGroup, batchGroup + 1, 2*batchGroup + 5, 1000}
			for range 20 {
				sizes = append(sizes, r.IntN(300))
			}
			for _, n := range sizes {
				ids := batchInput(r, listed, n)
				checkBatch(t, s, ids)
			}
		})
	}
	t.Run("empty snapshot", func(t *testing.T) {
		b, err := NewBuilder(Options{Key: testKey, Calendar: testCal})
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(5, 6))
		checkBatch(t, b.Build(), batchInput(r, []string{randomID(r)}, 100))
	})
}

// checkBatch runs checkBatchPath on the batch's scalar path and on its
// wide one (vectors where the build and processor have them, else the
// vector functions' scalar forms), restoring the processor's choice after.
func checkBatch(t *testing.T, s *Snapshot, ids []string) {
	t.Helper()
	defer func(w bool) { wide = w }(wide)
	for _, w := range []bool{false, true} {
		wide = w
		checkBatchPath(t, s, ids)
	}
}

func checkBatchPath(t *testing.T, s *Snapshot, ids []string) {
	t.Helper()
	bs := make([][]byte, len(ids))
	for i, id := range ids {
		bs[i] = []byte(id)
	}
	got := s.LookupBatch(ids, make([]Result, len(ids)+2))
	gotBytes := s.LookupBatchBytes(bs, make([]Result, len(ids)))
	prefix := []Hit{{Index: -1}}
	hits := s.Screen(ids, prefix)
	hitsBytes := s.ScreenBytes(bs, nil)
	if len(got) != len(ids) || len(gotBytes) != len(ids) {
		t.Fatalf("%d IDs (wide %v): batch answered %d, bytes %d", len(ids), wide, len(got), len(gotBytes))
	}
	var want []Hit
	for i, id := range ids {
		w := s.Lookup(id)
		if got[i] != w || gotBytes[i] != w {
			t.Fatalf("ID %d of %d (%q, wide %v): Lookup %+v, LookupBatch %+v, LookupBatchBytes %+v", i, len(ids), id, wide, w, got[i], gotBytes[i])
		}
		if w.Status != Green {
			want = append(want, Hit{i, w})
		}
	}
	if hits[0].Index != -1 {
		t.Fatalf("Screen overwrote what dst held: %+v", hits[0])
	}
	if a, b := fmt.Sprint(hits[1:]), fmt.Sprint(want); a != b {
		t.Fatalf("%d IDs (wide %v): Screen\n%s\nwant\n%s", len(ids), wide, a, b)
	}
	if a, b := fmt.Sprint(hitsBytes), fmt.Sprint(want); len(want) > 0 && a != b {
		t.Fatalf("%d IDs (wide %v): ScreenBytes\n%s\nwant\n%s", len(ids), wide, a, b)
	}
}

// FuzzLookupBatch: whatever lines a request body holds, the batch paths
// answer them as Lookup does, one by one.
func FuzzLookupBatch(f *testing.F) {
	s, _, listed := randomSnapshot(f, 8, 500, 4, Options{})
	r := rand.New(rand.NewPCG(1, 1))
	f.Add(strings.Join(batchInput(r, listed, 70), "\n"))
	f.Add(listed[0] + "\n\n" + listed[1] + "\r\n11010519491231002X")
	f.Add("")
	f.Fuzz(func(t *testing.T, body string) {
		checkBatch(t, s, strings.Split(body, "\n"))
	})
}
