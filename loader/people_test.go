package loader

import (
	"bytes"
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/fixture"
)

// TestPeopleMerge: files that repeat their people, in many shapes (one
// person, a few, many; in runs, interleaved, shuffled), give exactly the
// records and counts of a plain reference merge, and OnValid sees each
// person in each colour they are listed in, and no more than the bound.
func TestPeopleMerge(t *testing.T) {
	ids := fixture.IDs(40, 3000)
	for _, c := range []struct {
		name   string
		people int
		rows   int
		order  string // "shuffled", "runs": each person's rows together, "rounds": all people, again and again
	}{
		{"one person", 1, 20000, "runs"},
		{"two alternating", 2, 20000, "rounds"},
		{"few shuffled", 7, 30000, "shuffled"},
		{"many rounds", 3000, 40000, "rounds"},
		{"many runs", 3000, 40000, "runs"},
		{"many shuffled", 3000, 40000, "shuffled"},
		{"distinct", 3000, 3000, "runs"},
		{"new people late", 3000, 40000, "late"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(c.people), uint64(c.rows)))
			type line struct {
				id, color, since string
			}
			lines := make([]line, c.rows)
			for i := range lines {
				var who int
				switch c.order {
				case "runs":
					who = i * c.people / c.rows
				case "rounds":
					who = i % c.people
				case "late": // one person repeated, then everyone else once each
					who = max(0, i-(c.rows-c.people))
				default:
					who = r.IntN(c.people)
				}
				l := line{id: ids[who], color: []string{"red", "yellow", "yellow"}[r.IntN(3)]}
				if r.IntN(3) > 0 {
					l.since = fmt.Sprintf("2026-%02d-%02d", 1+r.IntN(10), 1+r.IntN(28))
				}
				if who%2 == 0 {
					l.color = "yellow" // half the people never red
				}
				if who%5 == 0 {
					l.id = strings.ToLower(l.id) // a lower-case x check character, where it has one
				}
				lines[i] = l
			}
			var b strings.Builder
			b.WriteString("id,color,since\n")
			for _, l := range lines {
				fmt.Fprintf(&b, "%s,%s,%s\n", l.id, l.color, l.since)
			}

			// The reference: a map, row by row.
			type ref struct {
				red, yellow        int
				redSince, yelSince engine.Day
			}
			want := map[engine.Pseudonym]*ref{}
			wantSeen := map[string]bool{} // id digits + colour
			for _, l := range lines {
				p, err := testKey.Parse(testCal, l.id)
				if err != nil {
					t.Fatal(err)
				}
				since := engine.NoDay
				if l.since != "" {
					since, _ = engine.ParseDay(l.since)
				}
				w := want[p]
				if w == nil {
					w = &ref{redSince: engine.NoDay, yelSince: engine.NoDay}
					want[p] = w
				}
				if l.color == "red" {
					w.red++
					w.redSince = earlierSince(w.redSince, since)
				} else {
					w.yellow++
					w.yelSince = earlierSince(w.yelSince, since)
				}
				wantSeen[l.id[:17]+" "+l.color] = true
			}
			var wantRecs []Record
			dups, conflicts := 0, 0
			for p, w := range want {
				r := Record{P: p, Color: engine.Yellow, Since: w.yelSince}
				if w.red > 0 {
					r.Color, r.Since = engine.Red, w.redSince
				}
				wantRecs = append(wantRecs, r)
				dups += max(w.red-1, 0) + max(w.yellow-1, 0)
				if w.red > 0 && w.yellow > 0 {
					conflicts++
				}
			}
			slices.SortFunc(wantRecs, func(a, b Record) int { return cmpP(a.P, b.P) })

			seen := map[string]bool{}
			calls := 0
			opts := testOptions()
			opts.OnValid = func(id []byte, c engine.Status) {
				if _, err := testKey.ParseBytes(testCal, id); err != nil {
					t.Fatalf("OnValid got an invalid ID: %v", err)
				}
				seen[string(id[:17])+" "+c.String()] = true
				calls++
			}
			recs, rep, err := Parse(strings.NewReader(b.String()), opts)
			if err != nil {
				t.Fatal(err)
			}
			checkReport(t, b.String(), recs, rep, err)
			if !slices.Equal(recs, wantRecs) {
				t.Fatalf("records differ from the reference merge (%d, want %d)", len(recs), len(wantRecs))
			}
			if rep.Duplicates != dups || rep.Conflicts != conflicts {
				t.Fatalf("duplicates %d conflicts %d, want %d %d", rep.Duplicates, rep.Conflicts, dups, conflicts)
			}
			if fmt.Sprint(seen) != fmt.Sprint(wantSeen) {
				t.Fatalf("OnValid saw %d person-colours, want %d", len(seen), len(wantSeen))
			}
			if bound := minPending + 5*len(want); calls > min(bound, c.rows) {
				t.Fatalf("OnValid called %d times for %d people in %d rows (bound %d)", calls, len(want), c.rows, bound)
			}
			t.Logf("%d rows, %d people: OnValid called %d times", c.rows, len(want), calls)

			// The edge hashes parse carries beside the records, one a
			// person, build the part the IDs OnValid sees build when added
			// one by one (engine.EdgeRegionBuilder.Build dedupes them), in
			// the same parse.
			salt := [engine.EdgeSaltSize]byte{byte(c.people), byte(c.rows), 7}
			viaAdd, err := engine.NewEdgeRegionBuilder("sh", testCal.Today(), salt, 1e-5)
			if err != nil {
				t.Fatal(err)
			}
			viaHash, _ := engine.NewEdgeRegionBuilder("sh", testCal.Today(), salt, 1e-5)
			opts.OnValid = func(id []byte, c engine.Status) {
				if err := viaAdd.Add(id, c); err != nil {
					t.Fatal(err)
				}
			}
			recs, hashes, _, err := parse(strings.NewReader(b.String()), opts, viaHash)
			if err != nil || !slices.Equal(recs, wantRecs) || len(hashes) != len(recs) {
				t.Fatalf("with edge hashes: %v, %d records, %d hashes, want %d", err, len(recs), len(hashes), len(wantRecs))
			}
			for i, r := range recs {
				id := ids[slices.IndexFunc(ids, func(id string) bool { p, _ := testKey.Parse(testCal, id); return p == r.P })]
				if h := viaHash.Hash((*[engine.IDLen]byte)([]byte(id))); hashes[i] != h {
					t.Fatalf("record %d: edge hash %x, want %x", i, hashes[i], h)
				}
			}
			e := &edgeBuild{b: viaHash}
			e.finish(recs, hashes)
			if e.err != nil {
				t.Fatal(e.err)
			}
			got, _ := e.part.MarshalBinary()
			wantPart, _ := viaAdd.Build(e.part.Ingested, e.part.Digest).MarshalBinary()
			if !bytes.Equal(got, wantPart) {
				t.Fatalf("the edge part from the merged hashes differs from the one built by Add (%d, %d bytes)", len(got), len(wantPart))
			}
		})
	}
}

func cmpP(a, b engine.Pseudonym) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestPackID: the 47-bit form of an ID gives back its digits (the check
// character in upper case), from the first birth date an ID may carry to
// today.
func TestPackID(t *testing.T) {
	ids := append(fixture.IDs(41, 2000), idA, idB, idC, idD, idE,
		makeID("00000018000101000"), makeID("99999918000101999"), makeID("99999920261127999"), makeID("65432121580101123"))
	for _, id := range ids {
		v, ok := packID([]byte(id))
		if !ok || v >= noID {
			t.Fatalf("%s: not packed (%v, %x)", id, ok, v)
		}
		var b [engine.IDLen]byte
		if got := string(unpackID(v, &b)); got != strings.ToUpper(id) {
			t.Fatalf("%s came back as %s", id, got)
		}
	}
	for _, bad := range []string{"short", makeID("11010517991231002")} {
		if _, ok := packID([]byte(bad)); ok {
			t.Errorf("%s packed", bad)
		}
	}
	for _, d := range []engine.Day{engine.NoDay, engine.MinSince, engine.MaxSince, testDate} {
		if got := unpackSince(packSince(d)); got != d {
			t.Errorf("since %v came back as %v", d, got)
		}
	}
}

// TestDistinct: the sketch's estimate is within 5% (three standard errors)
// of the true count, small counts included.
func TestDistinct(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 10, 100, 1000, 10000, 100000, 1000000} {
		var d distinct
		for i := range n {
			p := engine.Pseudonym(r.Uint64())
			d.add(p)
			if i%2 == 0 {
				d.add(p) // repeats change nothing
			}
		}
		got := d.estimate()
		if diff := got - n; diff*diff*400 > n*n && diff*diff > 1 {
			t.Errorf("%d distinct: estimated %d", n, got)
		}
	}
}

// TestRecordSize: a Record is 16 bytes, and a row waiting for a merge 24
// (with its edge hash); the memory bound in docs/daily-files.md counts on
// it.
func TestRecordSize(t *testing.T) {
	if a, b := unsafe.Sizeof(Record{}), unsafe.Sizeof(pendingRow{}); a != 16 || b != 24 {
		t.Fatalf("Record %d bytes, pendingRow %d", a, b)
	}
}

// TestManyCopiesOneRowReport: the report of a file of one row repeated
// counts every copy as a duplicate.
func TestManyCopiesOneRowReport(t *testing.T) {
	body := "id,color\n" + strings.Repeat(idA+",red\n", 50000)
	recs, rep, err := Parse(bytes.NewReader([]byte(body)), testOptions())
	if err != nil || len(recs) != 1 || rep.Rows != 50000 || rep.Duplicates != 49999 || rep.Records != 1 || rep.Red != 1 {
		t.Fatalf("%v %d records, %+v", err, len(recs), rep)
	}
}

// TestSortInto: pending rows come out sorted by pseudonym, the same rows,
// for few and many rows, uniform pseudonyms and crowded ones (a bucket of
// one pseudonym repeated, pseudonyms differing only in their low bytes).
func TestSortInto(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	for _, n := range []int{1, 2, 100, 1500, 70_000, 300_000} {
		for _, kind := range []string{"uniform", "repeated", "low"} {
			var cs chunks
			var want []pendingRow
			for i := range n {
				p := r.Uint64()
				switch kind {
				case "repeated":
					p = 42 << 50
					if i%3 == 0 {
						p = r.Uint64()
					}
				case "low":
					p = 7<<56 | r.Uint64N(1<<20)
				}
				row := pendingRow{p: engine.Pseudonym(p), packed: uint64(i)}
				cs.add(row)
				want = append(want, row)
			}
			got := cs.sortInto(nil)
			if !slices.IsSortedFunc(got, func(a, b pendingRow) int { return cmp.Compare(a.p, b.p) }) {
				t.Fatalf("%s n=%d: not sorted", kind, n)
			}
			byAll := func(a, b pendingRow) int { return cmp.Or(cmp.Compare(a.p, b.p), cmp.Compare(a.packed, b.packed)) }
			slices.SortFunc(got, byAll)
			slices.SortFunc(want, byAll)
			if !slices.Equal(got, want) {
				t.Fatalf("%s n=%d: not the same rows", kind, n)
			}
		}
	}
}
