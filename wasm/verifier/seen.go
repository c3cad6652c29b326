package verifier

import (
	"errors"
	"strconv"
	"time"

	"github.com/yrd-hcx/hcx/engine"
)

// The two reasons a verifier refuses a filter whose signature is good
// (docs/edge-verifier.md, "No rollback").
var (
	// ErrRollback: the filter is older than one this verifier has already
	// accepted. An old filter is genuinely signed, so only this check stops
	// someone from feeding a device yesterday's lists, from before a person
	// was listed.
	ErrRollback = errors.New("edge filter is older than one this verifier has already loaded (rollback refused)")
	// ErrExpired: the filter is past its signed deadline (built + maximum
	// age); it would answer nothing but "stale".
	ErrExpired = errors.New("edge filter is past its signed deadline")
)

// Seen is the newest filter a verifier has accepted: its snapshot version
// and build time. The zero value has seen nothing and admits any filter
// that is not expired.
type Seen struct {
	Version uint64
	Built   time.Time
}

// SeenOf is what a filter's Info says about it.
func SeenOf(in engine.EdgeInfo) Seen { return Seen{Version: in.Version, Built: in.Built} }

// Older reports whether a filter described by o is older than s: a lower
// snapshot version or an earlier build time. A publisher's versions and
// build times rise together, so either going backwards is a rollback; the
// same filter again is not.
func (s Seen) Older(o Seen) bool { return o.Version < s.Version || o.Built.Before(s.Built) }

// Max is the newer of s and o (field by field, so a verifier that saw a
// higher version and, elsewhere, a later build keeps both).
func (s Seen) Max(o Seen) Seen {
	if o.Version > s.Version {
		s.Version = o.Version
	}
	if o.Built.After(s.Built) {
		s.Built = o.Built
	}
	return s
}

// Admit returns nil when the filter in may replace what s has seen at now:
// not older (ErrRollback) and not past its deadline (ErrExpired). The
// error's dynamic type is *RefusedError (a type assertion finds it:
// errors.As would add 12 KB, gzipped, to the browser's module).
func (s Seen) Admit(in engine.EdgeInfo, now time.Time) error {
	got := SeenOf(in)
	switch {
	case s.Older(got):
		return &RefusedError{Err: ErrRollback, Filter: got, Seen: s, StaleAt: in.StaleAt}
	case now.After(in.StaleAt):
		return &RefusedError{Err: ErrExpired, Filter: got, Seen: s, StaleAt: in.StaleAt}
	}
	return nil
}

// BuiltLayout is how verifiers write a filter's build time for callers to
// keep and hand back (the JS API's info().built and load's lastSeen): RFC
// 3339 in UTC with all nine fraction digits, so that it round-trips exactly
// and sorts as text. ParseBuilt reads it back without time.Parse, which
// would add 14 KB (gzipped) to the browser's module.
const BuiltLayout = "2006-01-02T15:04:05.000000000Z07:00"

// FormatBuilt writes t in BuiltLayout.
func FormatBuilt(t time.Time) string { return t.UTC().Format(BuiltLayout) }

// ParseBuilt reads a time written by FormatBuilt; ok is false for anything
// else (another layout, a zone other than Z, a date that does not exist).
func ParseBuilt(s string) (t time.Time, ok bool) {
	const n = len("2006-01-02T15:04:05.000000000Z")
	if len(s) != n || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' || s[n-1] != 'Z' {
		return time.Time{}, false
	}
	num := func(i, j int) int {
		v := 0
		for ; i < j; i++ {
			c := s[i] - '0'
			if c > 9 {
				return -1
			}
			v = v*10 + int(c)
		}
		return v
	}
	y, mo, d, h, mi, sec, ns := num(0, 4), num(5, 7), num(8, 10), num(11, 13), num(14, 16), num(17, 19), num(20, 29)
	if y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 || ns < 0 {
		return time.Time{}, false
	}
	t = time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC)
	if t.Day() != d { // 31 April rolled over into May
		return time.Time{}, false
	}
	return t, true
}

// RefusedError says why a signed filter was refused, with what the
// verifier knew. errors.Is matches ErrRollback or ErrExpired.
type RefusedError struct {
	Err     error     // ErrRollback or ErrExpired
	Filter  Seen      // the refused filter
	Seen    Seen      // the newest the verifier had accepted
	StaleAt time.Time // the refused filter's deadline
}

func (e *RefusedError) Unwrap() error { return e.Err }

// Code is the reason as one word: "rollback" or "expired".
func (e *RefusedError) Code() string {
	if e.Err == ErrRollback {
		return "rollback"
	}
	return "expired"
}

func (e *RefusedError) Error() string {
	msg := e.Err.Error() + ": this filter is version " + strconv.FormatUint(e.Filter.Version, 10) +
		", built " + e.Filter.Built.UTC().Format(time.RFC3339)
	if e.Err == ErrRollback {
		return msg + "; already loaded: version " + strconv.FormatUint(e.Seen.Version, 10) +
			", built " + e.Seen.Built.UTC().Format(time.RFC3339)
	}
	return msg + ", stale since " + e.StaleAt.UTC().Format(time.RFC3339)
}
