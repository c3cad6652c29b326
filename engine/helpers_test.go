package engine

import (
	"math/rand/v2"
	"testing"
	"time"
)

// fixedNow is the clock tests validate birth dates against.
var fixedNow = time.Date(2026, 11, 27, 12, 0, 0, 0, CST)

var testCal = NewCalendar(CST, func() time.Time { return fixedNow })

var testKey = KeyFromBytes([KeySize]byte{0: 1, 5: 2, 15: 3})

// randomID returns a structurally valid ID: an address code from a small
// realistic set, a birth date between 1930 and 2025, a random sequence, and
// the right check character.
func randomID(r *rand.Rand) string {
	codes := [...]string{"310101", "310115", "320102", "320583", "330106", "330282", "340104", "341802", "110105", "440305"}
	var b [IDLen]byte
	copy(b[:6], codes[r.IntN(len(codes))])
	d := DateOf(1930, 1, 1) + Day(r.IntN(int(DateOf(2025, 12, 31)-DateOf(1930, 1, 1))))
	y, m, dd := d.Civil()
	ymd := y*10000 + m*100 + dd
	for i := 13; i >= 6; i-- {
		b[i] = byte('0' + ymd%10)
		ymd /= 10
	}
	seq := r.IntN(1000)
	b[14], b[15], b[16] = byte('0'+seq/100), byte('0'+seq/10%10), byte('0'+seq%10)
	b[17] = CheckChar(b[:17])
	return string(b[:])
}

// distinctIDs returns n distinct random valid IDs.
func distinctIDs(r *rand.Rand, n int) []string {
	seen := make(map[string]bool, n)
	out := make([]string, 0, n)
	for len(out) < n {
		id := randomID(r)
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

func mustParse(t testing.TB, s string) ID {
	t.Helper()
	id, err := testCal.ParseID(s)
	if err != nil {
		t.Fatalf("ParseID(%q): %v", s, err)
	}
	return id
}
