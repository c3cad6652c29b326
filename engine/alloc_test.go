//go:build !race

package engine

import (
	"math/rand/v2"
	"testing"
	"time"
)

// The lookup paths must not allocate (the race detector's instrumentation
// allocates, hence the build tag).
func TestLookupAllocs(t *testing.T) {
	s, _, ids := randomSnapshot(t, 4, 1000, 4, Options{})
	b := []byte(ids[0])
	out := make([]Result, len(ids))
	trust := testTrust(t)
	code := []byte(goldenCode)
	bad := []byte(goldenCode[:len(goldenCode)-3])
	now := codeIssued.Add(time.Hour)
	edge := openEdge(t, goldenEdge(t))
	hits := make([]Hit, 0, len(ids))
	r := rand.New(rand.NewPCG(1, 2))
	mixed := batchInput(r, ids, 1000)
	mixedBytes := make([][]byte, len(mixed))
	for i, id := range mixed {
		mixedBytes[i] = []byte(id)
	}
	for name, f := range map[string]func(){
		"Lookup listed":    func() { s.Lookup(ids[1]) },
		"Lookup absent":    func() { s.Lookup("11010519491231002X") },
		"Lookup invalid":   func() { s.Lookup("110105194912310021") },
		"LookupBytes":      func() { s.LookupBytes(b) },
		"LookupRegion":     func() { s.LookupRegion(1, ids[2]) },
		"LookupBatch":      func() { s.LookupBatch(mixed, out) },
		"LookupBatchBytes": func() { s.LookupBatchBytes(mixedBytes, out) },
		"Screen":           func() { s.Screen(mixed, hits[:0]) },
		"ScreenBytes":      func() { s.ScreenBytes(mixedBytes, hits[:0]) },
		"ParseIDBytes":     func() { _, _ = testCal.ParseIDBytes(b) },
		"AppendMask":       func() { var buf [32]byte; _ = AppendMask(buf[:0], ids[3]) },
		"Day.AppendFormat": func() { var d [16]byte; _ = DateOf(2026, 1, 2).AppendFormat(d[:0]) },
		"VerifyCode valid": func() { VerifyCode(code, trust, now) },
		"VerifyCode bad":   func() { VerifyCode(bad, trust, now) },
		"LookupID":         func() { s.LookupID(11010519491231002) },
		"CheckIDAt":        func() { edge.CheckIDAt(11010519491231002, now) },
		"TrustList.Find":   func() { trust.Find(Kid{1}) },
	} {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %v allocs", name, n)
		}
	}
}
