package verifier

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/engine"
)

// TestSeenAdmit: a filter older than the newest seen (lower version or
// earlier build) is refused as a rollback, one past its deadline as
// expired; the same filter again, and newer ones, are admitted.
func TestSeenAdmit(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	info := func(v uint64, built time.Time) engine.EdgeInfo {
		return engine.EdgeInfo{Version: v, Built: built, StaleAt: built.Add(36 * time.Hour)}
	}
	seen := Seen{Version: 7, Built: t0}
	for _, c := range []struct {
		name string
		in   engine.EdgeInfo
		now  time.Time
		want error
	}{
		{"same filter", info(7, t0), t0, nil},
		{"newer", info(8, t0.Add(time.Hour)), t0.Add(time.Hour), nil},
		{"lower version", info(6, t0.Add(time.Hour)), t0.Add(time.Hour), ErrRollback},
		{"earlier build", info(7, t0.Add(-time.Nanosecond)), t0, ErrRollback},
		{"older and expired", info(6, t0.Add(-48*time.Hour)), t0, ErrRollback},
		{"expired", info(9, t0.Add(time.Hour)), t0.Add(37*time.Hour + time.Nanosecond), ErrExpired},
		{"at the deadline", info(9, t0.Add(time.Hour)), t0.Add(37 * time.Hour), nil},
	} {
		err := seen.Admit(c.in, c.now)
		if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
			continue
		}
		var re *RefusedError
		if c.want != nil && (!errors.As(err, &re) || re.Code() != map[error]string{ErrRollback: "rollback", ErrExpired: "expired"}[c.want] ||
			!strings.Contains(err.Error(), "this filter is version "+strconv.FormatUint(c.in.Version, 10)+",")) {
			t.Errorf("%s: %#v %q", c.name, err, err)
		}
	}
	if err := (Seen{}).Admit(info(0, time.Unix(0, 0)), time.Unix(0, 0)); err != nil {
		t.Fatalf("zero Seen refused a current filter: %v", err)
	}
	if m := seen.Max(Seen{Version: 5, Built: t0.Add(time.Hour)}); m.Version != 7 || !m.Built.Equal(t0.Add(time.Hour)) {
		t.Fatalf("Max %+v", m)
	}
}

// TestParseBuilt: FormatBuilt's text reads back to the same instant; any
// other text is refused.
func TestParseBuilt(t *testing.T) {
	for _, tm := range []time.Time{time.Unix(0, 0), time.Date(2026, 11, 27, 8, 0, 0, 123456789, time.FixedZone("CST", 8*3600)), time.Now()} {
		s := FormatBuilt(tm)
		if got, ok := ParseBuilt(s); !ok || !got.Equal(tm) {
			t.Errorf("%s: %v %v", s, got, ok)
		}
	}
	for _, s := range []string{"", "2026-11-27T08:00:00Z", "2026-11-27T08:00:00.000000000+08:00", "2026-02-30T08:00:00.000000000Z",
		"2026-13-01T08:00:00.000000000Z", "2026-11-27T24:00:00.000000000Z", "2026-11-27T08:60:00.000000000Z", "2026-11-27 08:00:00.000000000Z",
		"2026-11-27T08:00:00.00000000xZ", "-026-11-27T08:00:00.000000000Z"} {
		if _, ok := ParseBuilt(s); ok {
			t.Errorf("%q accepted", s)
		}
	}
}

func FuzzParseBuilt(f *testing.F) {
	f.Add("2026-11-27T08:00:00.123456789Z")
	f.Add("2026-02-29T23:59:59.999999999Z")
	f.Fuzz(func(t *testing.T, s string) {
		tm, ok := ParseBuilt(s)
		if ok && FormatBuilt(tm) != s {
			t.Fatalf("%q read as %v, written %q", s, tm, FormatBuilt(tm))
		}
	})
}
