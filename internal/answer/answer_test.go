package answer

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/fixture"
)

func snapshot(t testing.TB) *engine.Snapshot {
	t.Helper()
	b, _ := engine.NewBuilder(engine.Options{})
	id, _ := engine.ParseID("11010519491231002X")
	since, _ := engine.ParseDay("2026-11-20")
	b.Add(3, engine.Key{}.Of(id), engine.Red, since)
	b.Add(0, engine.Key{}.Of(id), engine.Yellow, engine.NoDay)
	d, _ := engine.ParseDay("2026-11-26")
	b.SetListDate(0, d)
	b.SetListDate(3, d-2)
	b.SetListDate(1, d)
	return b.Build()
}

func TestAppendJSON(t *testing.T) {
	s := snapshot(t)
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, engine.CST) // 33h after the 26th began
	v := NewView(s, now, DefaultMaxAge, engine.CST)
	for _, c := range []struct{ id, want string }{
		{"11010519491231002x", `{"id":"1101**********002x","status":"red","since":"2026-11-20","sources":[{"region":"sh","status":"yellow"},{"region":"ah","status":"red"}],"asOf":"2026-11-26","stale":["zj","ah"]}`},
		{"440524188001010014", `{"id":"4405**********0014","status":"green","since":null,"sources":[],"asOf":"2026-11-26","stale":["zj","ah"]}`},
		{"110105194912310021", `{"id":"1101**********0021","status":"invalid","error":"check digit"}`},
		{" 440524188001010014\t", `{"id":"4405**********0014","status":"green","since":null,"sources":[],"asOf":"2026-11-26","stale":["zj","ah"]}`},
		{"1101051949123\"<>&X", `{"id":"1101**********???X","status":"invalid","error":"non-digit"}`},
	} {
		got := string(AppendJSON(nil, v, c.id, s.Lookup(c.id)))
		if got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.id, got, c.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("invalid JSON %s", got)
		}
	}
	buf := make([]byte, 0, 512)
	r := s.Lookup("11010519491231002X")
	if n := testing.AllocsPerRun(100, func() { buf = AppendJSON(buf[:0], v, "11010519491231002X", r) }); n != 0 {
		t.Errorf("%v allocs", n)
	}
}

// TestStaleFromIngest: a list counts from the earlier of the start of its
// date and its ingest time, so tomorrow's list uploaded tonight is not a
// day younger than it is.
func TestStaleFromIngest(t *testing.T) {
	b, _ := engine.NewBuilder(engine.Options{})
	d, _ := engine.ParseDay("2026-11-27")
	tonight := time.Date(2026, 11, 26, 20, 0, 0, 0, engine.CST)
	for i := range 4 {
		b.SetListDate(i, d)
	}
	b.SetIngested(0, tonight)                                         // tomorrow's list, uploaded tonight
	b.SetIngested(1, time.Date(2026, 11, 27, 6, 0, 0, 0, engine.CST)) // after its date began: the date counts
	s := b.Build()                                                    // zj and ah: ingest time unknown
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		{tonight.Add(DefaultMaxAge), "[]"},
		{tonight.Add(DefaultMaxAge + time.Second), "[sh]"},
		{d.Time(engine.CST).Add(DefaultMaxAge + time.Second), "[sh js zj ah]"},
	} {
		if got := fmt.Sprint(NewView(s, c.at, DefaultMaxAge, engine.CST).StaleList); got != c.want {
			t.Errorf("at %v: stale %s, want %s", c.at, got, c.want)
		}
	}
}

// TestAppendGreens: AppendGreens writes exactly what AppendJSON and the
// separator write for each ID, for runs shorter and longer than greenRun,
// with padded and lowercase-x IDs anywhere in them, for either separator
// and for one it keeps no copies for.
func TestAppendGreens(t *testing.T) {
	s := snapshot(t)
	v := NewView(s, time.Date(2026, 11, 27, 9, 0, 0, 0, engine.CST), DefaultMaxAge, engine.CST)
	r := rand.New(rand.NewPCG(1, 2))
	for _, sep := range []byte{'\n', ',', ' '} {
		for _, n := range []int{0, 1, greenRun - 1, greenRun, greenRun + 1, 3*greenRun + 7, 1000} {
			ids := fixture.IDs(uint64(n), n)
			for i, id := range ids {
				switch r.IntN(40) {
				case 0:
					ids[i] = " " + id
				case 1:
					ids[i] = id + "\t"
				case 2:
					ids[i] = strings.ToLower(id) // an x, where there is one
				}
			}
			var want []byte
			for _, id := range ids {
				if st := s.Lookup(id).Status; st != engine.Green {
					t.Fatalf("%s is %v, not green", id, st)
				}
				want = append(AppendJSON(want, v, id, s.Lookup(id)), sep)
			}
			prefix := []byte("[")
			got := AppendGreens(prefix, v, ids, sep)
			if string(got[:1]) != "[" || string(got[1:]) != string(want) {
				t.Fatalf("sep %q, %d IDs:\n got %.300s\nwant %.300s", sep, n, got[1:], want)
			}
		}
	}
	buf := make([]byte, 0, 200<<10)
	ids := fixture.IDs(7, 1000)
	if n := testing.AllocsPerRun(20, func() { buf = AppendGreens(buf[:0], v, ids, '\n') }); n != 0 {
		t.Errorf("%v allocs", n)
	}
}
