package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// refListing is one region's view of a person in the reference model.
type refListing struct {
	color Status
	since Day
}

// reference is the independent model: id -> region -> listing.
type reference map[string]map[int]refListing

// add applies the merge rules within one region: red beats yellow, the
// earliest known since at the kept colour wins, unknown loses to any date.
func (ref reference) add(id string, region int, c Status, since Day) {
	regs := ref[id]
	if regs == nil {
		regs = map[int]refListing{}
		ref[id] = regs
	}
	cur, ok := regs[region]
	switch {
	case !ok || c > cur.color:
		regs[region] = refListing{c, since}
	case c == cur.color && since != NoDay && (cur.since == NoDay || since < cur.since):
		regs[region] = refListing{c, since}
	}
}

// want is the merged answer the model expects.
func (ref reference) want(id string) Result {
	regs, ok := ref[id]
	if !ok {
		return Result{Status: Green, Since: NoDay}
	}
	r := Result{Status: Yellow, Since: NoDay}
	for i, l := range regs {
		if l.color == Red {
			r.Status = Red
			r.Red |= 1 << i
		} else {
			r.Yellow |= 1 << i
		}
	}
	for _, l := range regs {
		if l.color == r.Status && l.since != NoDay && (r.Since == NoDay || l.since < r.Since) {
			r.Since = l.since
		}
	}
	return r
}

func regionNames(n int) []string {
	if n == 4 {
		return DefaultRegions
	}
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("r%d", i)
	}
	return out
}

// randomSnapshot builds a snapshot and its reference: n people over nreg
// regions, some listed by several regions, some twice by one region with the
// same or the other colour, since dates known or not.
func randomSnapshot(t testing.TB, seed uint64, n, nreg int, opts Options) (*Snapshot, reference, []string) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	ids := distinctIDs(r, n)
	opts.Key, opts.Calendar, opts.Regions = testKey, testCal, regionNames(nreg)
	b, err := NewBuilder(opts)
	if err != nil {
		t.Fatal(err)
	}
	ref := reference{}
	base := DateOf(2026, 11, 1)
	for _, id := range ids {
		for range 1 + r.IntN(3) {
			region := r.IntN(nreg)
			c := Yellow + Status(r.IntN(2))
			since := NoDay
			if r.IntN(4) > 0 {
				since = base + Day(r.IntN(20))
			}
			if err := b.Add(region, testKey.Of(mustParse(t, id)), c, since); err != nil {
				t.Fatal(err)
			}
			ref.add(id, region, c, since)
		}
	}
	for i := range nreg {
		if err := b.SetListDate(i, base+Day(25+i%3)); err != nil {
			t.Fatal(err)
		}
	}
	return b.Build(), ref, ids
}

// checkAgainst compares every listed ID, and as many absent ones, with the
// reference, through every lookup entry point.
func checkAgainst(t *testing.T, s *Snapshot, ref reference, ids []string, nreg int) {
	t.Helper()
	r := rand.New(rand.NewPCG(99, uint64(len(ids))))
	absent := make([]string, 0, len(ids)+10)
	for len(absent) < len(ids)+10 {
		if id := randomID(r); ref[id] == nil {
			absent = append(absent, id)
		}
	}
	all := append(append([]string{}, ids...), absent...)
	batch := s.LookupBatch(all, make([]Result, len(all)+3))
	if len(batch) != len(all) {
		t.Fatalf("batch answered %d of %d", len(batch), len(all))
	}
	for k, id := range all {
		want := ref.want(id)
		if got := s.Lookup(id); got != want {
			t.Fatalf("Lookup(%s) = %+v, want %+v", id, got, want)
		}
		if got := s.LookupBytes([]byte(" " + id + "\t")); got != want {
			t.Fatalf("LookupBytes(%s) = %+v, want %+v", id, got, want)
		}
		if batch[k] != want {
			t.Fatalf("LookupBatch[%d] = %+v, want %+v", k, batch[k], want)
		}
		reg := r.IntN(nreg)
		l, listed := ref[id][reg]
		wantReg := Result{Status: Green, Since: NoDay}
		if listed {
			wantReg = Result{Status: l.color, Since: l.since}
			if l.color == Red {
				wantReg.Red = 1 << reg
			} else {
				wantReg.Yellow = 1 << reg
			}
		}
		if got := s.LookupRegion(reg, id); got != wantReg {
			t.Fatalf("LookupRegion(%d, %s) = %+v, want %+v", reg, id, got, wantReg)
		}
	}
	// Counts from the bitmaps against the model.
	red, yellow := 0, 0
	perRed, perYellow := make([]int, nreg), make([]int, nreg)
	for id, regs := range ref {
		if ref.want(id).Status == Red {
			red++
		} else {
			yellow++
		}
		for i, l := range regs {
			if l.color == Red {
				perRed[i]++
			} else {
				perYellow[i]++
			}
		}
	}
	regions, gotRed, gotYellow := s.Counts()
	if gotRed != red || gotYellow != yellow || s.Len() != len(ref) {
		t.Fatalf("counts red %d yellow %d len %d, want %d %d %d", gotRed, gotYellow, s.Len(), red, yellow, len(ref))
	}
	for i, ri := range regions {
		if ri.Red != perRed[i] || ri.Yellow != perYellow[i] {
			t.Fatalf("region %s: %d red %d yellow, want %d %d", ri.Name, ri.Red, ri.Yellow, perRed[i], perYellow[i])
		}
	}
}

// TestAtMatchesBitmaps: for every person of files a builder never writes
// but a reader accepts (yellow people no region lists; the last person
// red in the last region and yellow in all the others), and at the
// several index's block edges, at answers from src as the bitmaps do.
// (With srcRegions regions or fewer at is bitmapAt; checkAgainst compares
// both with the reference model.)
func TestAtMatchesBitmaps(t *testing.T) {
	for _, nreg := range []int{4, 9, 40, 64} {
		for _, n := range []int{1, 255, 256, 257, 513, 3000} {
			t.Run(fmt.Sprintf("regions=%d/n=%d", nreg, n), func(t *testing.T) {
				s, _, _ := randomSnapshot(t, 7, n, nreg, Options{})
				for ord := uint32(0); ord < uint32(n); ord += 3 {
					if !s.red.Contains(ord) {
						for i := range nreg {
							s.regYellow[i].Remove(ord)
						}
					}
				}
				last := uint32(n - 1)
				s.yellow.Remove(last)
				s.red.Add(last)
				for i := range nreg {
					s.regRed[i].Remove(last)
					s.regYellow[i].Add(last)
				}
				s.regYellow[nreg-1].Remove(last)
				s.regRed[nreg-1].Add(last)
				o := reopen(t, s)
				if (o.src != nil) != (nreg > srcRegions) {
					t.Fatalf("src built: %v, with %d regions", o.src != nil, nreg)
				}
				for ord := uint32(0); ord < uint32(n); ord++ {
					if got, want := o.at(ord), o.bitmapAt(ord); got != want {
						t.Fatalf("ordinal %d: %+v, the bitmaps say %+v", ord, got, want)
					}
				}
			})
		}
	}
}

func TestSnapshotMatchesReference(t *testing.T) {
	for _, n := range []int{0, 1, 7, 300, 6000, 40000} {
		for _, nreg := range []int{1, 4, 40, 64} {
			for _, opts := range []Options{{}, {ExactOnly: true}, {BloomFPR: -1}} {
				name := fmt.Sprintf("n=%d/regions=%d/exact=%v/bloom=%v", n, nreg, opts.ExactOnly, opts.BloomFPR >= 0)
				t.Run(name, func(t *testing.T) {
					if testing.Short() && n > 6000 {
						t.Skip("large case in -short mode")
					}
					s, ref, ids := randomSnapshot(t, 1, n, nreg, opts)
					checkAgainst(t, s, ref, ids, nreg)
					// And after a trip through the file format.
					o := reopen(t, s)
					checkAgainst(t, o, ref, ids, nreg)
					if has, hot := o.HasBloom(); has != (opts.BloomFPR >= 0 && n > 0) || hot != (has && !opts.ExactOnly) {
						t.Fatalf("reopened bloom: has %v hot %v", has, hot)
					}
				})
			}
		}
	}
}

func TestLookupInvalid(t *testing.T) {
	s, _, _ := randomSnapshot(t, 2, 100, 4, Options{})
	for in, want := range map[string]IDError{"": ErrIDLength, "110105491231002": ErrIDLegacy, "110105194912310021": ErrIDCheckDigit} {
		got := s.Lookup(in)
		if got.Status != Invalid || got.Err != want || got.Red|got.Yellow != 0 {
			t.Fatalf("Lookup(%q) = %+v", in, got)
		}
		if got := s.LookupRegion(0, in); got.Status != Invalid || got.Err != want {
			t.Fatalf("LookupRegion(%q) = %+v", in, got)
		}
	}
	if got := s.LookupRegion(9, "11010519491231002X"); got.Status != Green {
		t.Fatalf("unknown region: %+v", got)
	}
}

func TestBuilderErrors(t *testing.T) {
	if _, err := NewBuilder(Options{Regions: []string{}}); err == nil {
		t.Fatal("no regions accepted")
	}
	if _, err := NewBuilder(Options{Regions: regionNames(65)}); err == nil {
		t.Fatal("65 regions accepted")
	}
	if _, err := NewBuilder(Options{Regions: []string{"sh", "sh"}}); err == nil {
		t.Fatal("duplicate region accepted")
	}
	if _, err := NewBuilder(Options{Regions: []string{"SH"}}); err == nil {
		t.Fatal("bad region name accepted")
	}
	b, _ := NewBuilder(Options{})
	for _, c := range []struct {
		region int
		color  Status
		since  Day
		want   error
	}{
		{4, Red, NoDay, ErrRegion}, {-1, Red, NoDay, ErrRegion}, {0, Green, NoDay, ErrColor},
		{0, Invalid, NoDay, ErrColor}, {0, Red, MinSince - 1, ErrSince}, {0, Red, MaxSince + 1, ErrSince},
		{0, Red, MaxSince, nil}, {0, Yellow, MinSince, nil},
	} {
		if err := b.Add(c.region, 1, c.color, c.since); err != c.want {
			t.Errorf("Add(%d, %v, %v) = %v, want %v", c.region, c.color, c.since, err, c.want)
		}
	}
}

// randomBloom is a blocked filter for n random keys at rate fpr, and the keys.
func randomBloom(r *rand.Rand, n int, fpr float64) (words []uint64, m, k uint64, keys []uint64) {
	m, k = bloomSize(n, fpr)
	words = make([]uint64, m/64)
	keys = make([]uint64, n)
	for i := range keys {
		keys[i] = r.Uint64()
		bloomAdd(words, m, k, keys[i])
	}
	return words, m, k, keys
}

// TestBloomFalsePositiveRate: the blocked filter keeps its promise, seeded.
func TestBloomFalsePositiveRate(t *testing.T) {
	for _, fpr := range []float64{0.01, 0.001} {
		const n = 200000
		r := rand.New(rand.NewPCG(5, 6))
		words, m, k, _ := randomBloom(r, n, fpr)
		fp := 0
		const trials = 1000000
		for range trials {
			if p := r.Uint64(); bloomTest(words, bloomBlock(p, m), k, p) {
				fp++
			}
		}
		if got := float64(fp) / trials; got > fpr*1.1 {
			t.Errorf("fpr %g: measured %g (m=%d k=%d, %.1f bits/key)", fpr, got, m, k, float64(m)/n)
		} else {
			t.Logf("fpr %g: measured %g (m=%d k=%d, %.1f bits/key)", fpr, got, m, k, float64(m)/n)
		}
	}
}

func TestInfo(t *testing.T) {
	built := time.Date(2026, 11, 27, 1, 2, 3, 0, time.UTC)
	s, _, _ := randomSnapshot(t, 3, 50, 4, Options{Version: 7, Built: built})
	info := s.Info()
	if info.Version != 7 || !info.Built.Equal(built) || info.Key != testKey.Fingerprint() || len(info.Regions) != 4 {
		t.Fatalf("info %+v", info)
	}
	if s.RegionIndex("zj") != 2 || s.RegionIndex("xx") != -1 {
		t.Fatal("RegionIndex")
	}
	if got := info.Regions[1].ListDate.String(); got != "2026-11-27" {
		t.Fatalf("js list date %s", got)
	}
}

// TestAddRegion: carrying every region over gives the same answers.
func TestAddRegion(t *testing.T) {
	s, ref, ids := randomSnapshot(t, 5, 3000, 4, Options{})
	b, _ := NewBuilder(Options{Key: testKey, Calendar: testCal})
	for i := range 4 {
		if err := b.AddRegion(i, s, i); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.AddRegion(4, s, 0); err != ErrRegion {
		t.Fatalf("bad region: %v", err)
	}
	c := b.Build()
	checkAgainst(t, c, ref, ids, 4)
	for i := range 4 {
		if c.Info().Regions[i].ListDate != s.Info().Regions[i].ListDate {
			t.Fatalf("region %d list date not carried", i)
		}
	}
}

// TestBloomTest7: the unrolled test (k = 7) and its vector form answer as
// the loop does, for keys added and keys not, on a filter of
// DefaultBloomFPR's k.
func TestBloomTest7(t *testing.T) {
	const n = 50000
	r := rand.New(rand.NewPCG(7, 8))
	words, m, k, added := randomBloom(r, n, DefaultBloomFPR)
	if k != maxBloomK {
		t.Fatalf("k = %d at the default rate: the unrolled test is never used", k)
	}
	yes := 0
	for i := range 4 * n {
		p := r.Uint64()
		if i < n {
			p = added[i]
		}
		at := bloomBlock(p, m)
		got, want, vec := bloomTest(words, at, k, p), bloomTestAny(words, at, k, p), bloomTestVec(words, at, p)
		if got != want || vec != want {
			t.Fatalf("%#x: unrolled %v, vector form (vectors: %v) %v, loop %v", p, got, hasAVX512, vec, want)
		}
		if got {
			yes++
		}
	}
	if yes < n || yes > n+n/10 {
		t.Fatalf("%d of %d keys pass (%d added)", yes, 4*n, n)
	}
}
