package engine

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestParseID(t *testing.T) {
	f := func(in string, want IDError) {
		t.Helper()
		id, err := testCal.ParseID(in)
		if want == 0 {
			if err != nil {
				t.Fatalf("ParseID(%q): %v, want valid", in, err)
			}
			if got, norm := id.String(), trim(in); got[:17] != norm[:17] || got[17] != upper(norm[17]) {
				t.Fatalf("ParseID(%q).String() = %q", in, got)
			}
			return
		}
		var e IDError
		if !errors.As(err, &e) || e != want {
			t.Fatalf("ParseID(%q) error %v, want %v", in, err, want)
		}
		if err.Error() != "invalid ID: "+want.Reason() {
			t.Fatalf("ParseID(%q) error text %q", in, err.Error())
		}
	}
	// GB 11643's own examples.
	f("11010519491231002X", 0)
	f("440524188001010014", 0)
	f("11010519491231002x", 0) // lowercase x folded
	f(" \t11010519491231002X \t", 0)
	f("110105194912310021", ErrIDCheckDigit)
	f("11010519491231002Y", ErrIDNonDigit)
	f("1101051949123100XX", ErrIDNonDigit)
	f("11010519491231002", ErrIDLength)
	f("11010519491231002X0", ErrIDLength)
	f("", ErrIDLength)
	f("   ", ErrIDLength)
	f("110105491231002", ErrIDLegacy)
	f("11010549123100X", ErrIDLength)    // 15 characters but not all digits
	f("１１０１０５１９４９１２３１００２Ｘ", ErrIDLength) // full-width digits: 54 bytes
	f("11010５19491231002X", ErrIDLength) // one full-width digit makes it 20 bytes
	f("1101051949123100\x002X", ErrIDLength)
	f("11010519491231\x0002X", ErrIDNonDigit)
	f("11010519491231/02X", ErrIDNonDigit)
	f("1101051949123:002X", ErrIDNonDigit)
	f("11010519491231 02X", ErrIDNonDigit) // inner space is not trimmed
	f("\n11010519491231002X", ErrIDLength) // only spaces and tabs are trimmed
	f("11010519491231002 ", ErrIDLength)   // 18 bytes with the padding
	f("\t1101051949123100X", ErrIDLength)
	f("11010519491231002\xb8", ErrIDNonDigit)
	f("\xa111010519491231002", ErrIDNonDigit)

	// Dates: leap days, centuries, the 1800 floor and "today" (2026-11-27 CST).
	for _, c := range []struct {
		ymd  string
		want IDError
	}{
		{"20000229", 0}, {"19000229", ErrIDDate}, {"20240229", 0}, {"20230229", ErrIDDate},
		{"18000101", 0}, {"17991231", ErrIDDate}, {"19491231", 0}, {"19491232", ErrIDDate},
		{"19490431", ErrIDDate}, {"19491301", ErrIDDate}, {"19491701", ErrIDDate}, {"19499901", ErrIDDate}, {"19492001", ErrIDDate}, {"19490001", ErrIDDate}, {"19490100", ErrIDDate},
		{"20261127", 0}, {"20261128", ErrIDDate}, {"21000101", ErrIDDate}, {"00000000", ErrIDDate},
	} {
		f(withCheck("110105"+c.ymd+"002"), c.want)
	}
}

func upper(c byte) byte {
	if c == 'x' {
		return 'X'
	}
	return c
}

// withCheck appends the right check character to a 17-digit body.
func withCheck(body string) string { return body + string(CheckChar(body)) }

func TestCalendarToday(t *testing.T) {
	// At 23:30 UTC on 26 November it is already 27 November in China.
	now := time.Date(2026, 11, 26, 23, 30, 0, 0, time.UTC)
	cal := NewCalendar(CST, func() time.Time { return now })
	if _, err := cal.ParseID(withCheck("11010520261127001")); err != nil {
		t.Fatalf("born today (CST): %v", err)
	}
	utc := NewCalendar(time.UTC, func() time.Time { return now })
	if _, err := utc.ParseID(withCheck("11010520261127001")); err != ErrIDDate {
		t.Fatalf("born tomorrow (UTC): %v", err)
	}
	// The cache trusts the clock not to step back more than a day: 20 hours
	// back (26 November CST again), the 27th is in the future once more.
	now = now.Add(-20 * time.Hour)
	if _, err := cal.ParseID(withCheck("11010520261127001")); err != ErrIDDate {
		t.Fatalf("after the clock stepped back: %v", err)
	}
	if _, err := cal.ParseID(withCheck("11010520261126001")); err != nil {
		t.Fatalf("born yesterday: %v", err)
	}
}

// The date a Calendar fixes when it is made only ever accepts more quickly:
// a person born after it is checked against the clock as it is now.
func TestCalendarClockForward(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, CST)
	cal := NewCalendar(CST, func() time.Time { return now })
	tomorrow := withCheck("11010520261128001")
	if _, err := cal.ParseID(tomorrow); err != ErrIDDate {
		t.Fatalf("born tomorrow: %v", err)
	}
	now = now.Add(24 * time.Hour)
	if _, err := cal.ParseID(tomorrow); err != nil {
		t.Fatalf("a day later, born today: %v", err)
	}
	if _, err := cal.ParseID(withCheck("11010520261129001")); err != ErrIDDate {
		t.Fatalf("a day later, born tomorrow: %v", err)
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"11010519491231002X":     "1101**********002X",
		" 11010519491231002x ":   "1101**********002x",
		"1234":                   "****",
		"123456789":              "1234*6789",
		"<script>12345678901234": "?scr**********7890", // cut to 18 first
		"1101051949123100\"2X":   "1101**********00?2",
	} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDay(t *testing.T) {
	for _, s := range []string{"1800-01-01", "1970-01-01", "2000-02-29", "2026-11-27", "2149-06-05", "9999-12-31"} {
		d, ok := ParseDay(s)
		if !ok || d.String() != s {
			t.Fatalf("ParseDay(%q) = %v %v", s, d, ok)
		}
		if tm := d.Time(time.UTC); tm.Format(time.DateOnly) != s || DayOf(tm) != d {
			t.Fatalf("Day(%q).Time = %v", s, tm)
		}
	}
	if d, _ := ParseDay("1970-01-01"); d != 0 {
		t.Fatalf("epoch is day %d", d)
	}
	for _, s := range []string{"", "2026-11-31", "2026-13-01", "1799-12-31", "2026/11/27", "2026-1-27", "２026-11-27"} {
		if _, ok := ParseDay(s); ok {
			t.Fatalf("ParseDay(%q) accepted", s)
		}
	}
	if MaxSince.String() != "2149-06-05" {
		t.Fatalf("MaxSince = %s", MaxSince)
	}
}

func TestParseColor(t *testing.T) {
	for in, want := range map[string]Status{"red": Red, "RED": Red, "Red": Red, "yellow": Yellow, "YeLLoW": Yellow,
		"green": Invalid, "": Invalid, "re": Invalid, "rde": Invalid, "yelloe": Invalid, "r\x00d": Invalid} {
		got, ok := ParseColor(in)
		if got != want || ok != (want != Invalid) {
			t.Errorf("ParseColor(%q) = %v %v", in, got, ok)
		}
	}
}

// refValidate is validate written plainly (time.Date for the calendar, the
// clock read for every date): validate's bit tricks must accept and reject
// exactly what it does, with the same reasons.
func refValidate(cal *Calendar, s string) IDError {
	s = trim(s)
	if len(s) != IDLen {
		if len(s) == 15 && allDigits(s) {
			return ErrIDLegacy
		}
		return ErrIDLength
	}
	check := upper(s[bodyLen])
	if !allDigits(s[:bodyLen]) || check != 'X' && check-'0' > 9 {
		return ErrIDNonDigit
	}
	y, m, d := digits(s[6:10]), digits(s[10:12]), digits(s[12:14])
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	now := cal.Now().In(cal.Location())
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	if y < 1800 || m < 1 || m > 12 || d < 1 || t.Day() != d || t.After(today) {
		return ErrIDDate
	}
	if CheckChar(s[:bodyLen]) != check {
		return ErrIDCheckDigit
	}
	return 0
}

// TestValidateDates compares validate with refValidate on every month and
// day field from 00 to 99 (days to 40, and 99) of the years around the
// 1800 floor, the centuries' leap rules and today.
func TestValidateDates(t *testing.T) {
	years := []int{0, 1, 4, 100, 400, 1000, 1600, 1700, 2100, 2400, 9996, 9999}
	for y := 1796; y <= 2031; y++ {
		years = append(years, y)
	}
	var b [IDLen]byte
	copy(b[:], "110105")
	copy(b[14:], "002")
	var dates []string // every ID below, for validate8 too
	for _, y := range years {
		for m := range 100 {
			for d := range 42 {
				if d == 41 {
					d = 99
				}
				ymd := y*10000 + m*100 + d
				for i := 13; i >= 6; i-- {
					b[i] = byte('0' + ymd%10)
					ymd /= 10
				}
				b[17] = CheckChar(b[:17])
				s := string(b[:])
				_, got := validate(testCal, s)
				if want := refValidate(testCal, s); got != want {
					t.Fatalf("%s: validate %v, reference %v", s[6:14], got, want)
				}
				dates = append(dates, s)
			}
		}
	}
	checkValidate8(t, testCal, dates)
}

// checkValidate8 runs validate8 over ids eight at a time (the last group
// padded with its last ID; ids of another length are left to validate, as
// the batch does): with vectors, a lane's bit is set exactly when validate
// accepts the ID and its date is not past c's floor; without them, never.
func checkValidate8(t *testing.T, c *Calendar, ids []string) {
	t.Helper()
	var ids18 []string
	for _, s := range ids {
		if len(s) == IDLen {
			ids18 = append(ids18, s)
		}
	}
	for g := 0; g < len(ids18); g += 8 {
		var a, b, last, chk [8]uint64
		lane := func(i int) string { return ids18[min(g+i, len(ids18)-1)] }
		for i := range 8 {
			s := lane(i)
			a[i], b[i], last[i], chk[i] = load64(s[0:8]), load64(s[8:16]), uint64(s[16]), uint64(s[17])
		}
		bits := validate8(c, &a, &b, &last, &chk)
		for i := range 8 {
			s := lane(i)
			_, e := validate(c, s)
			key := uint32(0)
			if e == 0 {
				n := func(i int) uint32 { return uint32(s[i]-'0')*10 + uint32(s[i+1]-'0') }
				key = n(6)<<24 | n(8)<<16 | n(10)<<8 | n(12)
			}
			want := hasAVX512 && e == 0 && key <= c.floor
			if got := bits>>i&1 != 0; got != want {
				t.Fatalf("%q: validate8 %v, want %v (validate accepts it: %v, error %d; vectors: %v)", s, got, want, e == 0, e, hasAVX512)
			}
		}
	}
}

// TestValidate8: one valid ID for each check value (0-9, X), then each
// with every byte value at every position, and random IDs with one byte
// replaced, through validate8 as checkValidate8 says; TestValidateDates
// runs it over its dates.
func TestValidate8(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	var ids []string
	for want := range checkChars {
		s := randomID(r)
		for s[bodyLen] != checkChars[want] {
			s = randomID(r)
		}
		for i := range IDLen {
			b := []byte(s)
			for c := range 256 {
				b[i] = byte(c)
				ids = append(ids, string(b))
			}
		}
	}
	subs := []byte{0, ' ', '/', '0', '1', '5', '9', ':', 'X', 'x', 'Y', 0x7f, 0x80, 0xb0, 0xba, 0xff}
	for range 3000 {
		s := randomID(r)
		ids = append(ids, s, strings.ToLower(s))
		b := []byte(s)
		i := r.IntN(IDLen)
		b[i] = subs[r.IntN(len(subs))]
		ids = append(ids, string(b))
	}
	fresh := []byte(randomID(r))
	copy(fresh[6:14], testCal.now().In(testCal.loc).Format("20060102")) // today: past the floor
	fresh[17] = CheckChar(fresh[:17])
	ids = append(ids, string(fresh))
	checkValidate8(t, testCal, ids)
}
