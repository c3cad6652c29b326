package engine

import (
	"sync/atomic"
	"time"
)

// ID is a validated GB 11643-1999 resident ID number, held as its 17-digit
// body (address code, birth date, sequence) in an integer. The check
// character is implied by the body; String renders all 18 characters.
type ID uint64

// IDLen is the length of a resident ID number.
const IDLen = 18

// bodyLen is the number of digits the check character is computed over, and
// the bytes a pseudonym hashes.
const bodyLen = 17

// IDError is why a string is not a valid ID. It is a small integer so that
// returning it as an error does not allocate; callers compare it with the
// constants below or use errors.As.
type IDError uint8

// Rejection reasons, each one a person can act on (docs/http-api.md).
const (
	ErrIDLength     IDError = iota + 1 // not 18 characters after trimming
	ErrIDNonDigit                      // a character other than 0-9 (or X/x last)
	ErrIDDate                          // no such calendar date, before 1800, or in the future
	ErrIDCheckDigit                    // the ISO 7064 MOD 11-2 check character is wrong
	ErrIDLegacy                        // a 15-digit first-generation number
)

var idReasons = [...]string{
	ErrIDLength:     "length",
	ErrIDNonDigit:   "non-digit",
	ErrIDDate:       "date",
	ErrIDCheckDigit: "check digit",
	ErrIDLegacy:     "legacy 15-digit",
}

// Reason is the short machine-readable reason: "length", "non-digit",
// "date", "check digit" or "legacy 15-digit".
func (e IDError) Reason() string {
	if int(e) < len(idReasons) && e != 0 {
		return idReasons[e]
	}
	return "invalid"
}

func (e IDError) Error() string { return "invalid ID: " + e.Reason() }

// checkWeights are the ISO 7064 MOD 11-2 weights of the 17 body digits.
var checkWeights = [bodyLen]uint8{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

const checkChars = "10X98765432"

// checkWeights packed for validate: digits 0,2,4,6 / 1,3,5,7 / 8,10,12,14 /
// 9,11,13,15, each weight in the 16-bit lane that meets its digit in the
// top lane of the product.
const (
	wEven0 = 2 | 8<<16 | 10<<32 | 7<<48
	wOdd0  = 1 | 4<<16 | 5<<32 | 9<<48
	wEven1 = 8 | 10<<16 | 7<<32 | 6<<48
	wOdd1  = 4 | 5<<16 | 9<<32 | 3<<48
)

// CheckChar returns the check character ('0'-'9' or 'X') for a 17-digit body
// given as ASCII digits. It does not validate its input.
func CheckChar[T string | []byte](body T) byte {
	sum := 0
	for i := range bodyLen {
		sum += int(body[i]-'0') * int(checkWeights[i])
	}
	return checkChars[sum%11]
}

// Calendar decides which birth dates lie in the future, in the zone whose
// "today" counts (China Standard Time by default). It caches the newest date
// known to be in the past, so validating an ID reads the clock only for
// people born in the last day or two (NewCalendar reads it once, for the
// date most IDs are compared with). Safe for concurrent use.
type Calendar struct {
	loc *time.Location
	now func() time.Time
	// floor is the date before the one the clock read when the calendar
	// was made: never written again, so the test almost every ID takes is
	// a plain compare (BenchmarkValidateID under wazero and Node: the
	// atomic load below is a call there that is not inlined). Both dates
	// are dateKeys, which validate builds from its date lanes with shifts
	// alone.
	floor uint32
	// known is a newer date that is not after today, for IDs of people
	// born since: dates up to it are accepted without reading the clock
	// (BenchmarkLookup: time.Now costs as much as the rest of a lookup).
	known atomic.Uint32
}

// CST is China Standard Time (UTC+8), the zone list dates and "today" are in
// unless configured otherwise.
var CST = time.FixedZone("CST", 8*3600)

// NewCalendar returns a calendar for loc. now is the clock (nil means
// time.Now); tests pass a fixed one.
func NewCalendar(loc *time.Location, now func() time.Time) *Calendar {
	if loc == nil {
		loc = CST
	}
	if now == nil {
		now = time.Now
	}
	c := &Calendar{loc: loc, now: now}
	c.floor = yesterday(now().In(loc))
	return c
}

// DefaultCalendar is China Standard Time on the real clock.
var DefaultCalendar = NewCalendar(CST, nil)

// Location returns the calendar's zone.
func (c *Calendar) Location() *time.Location { return c.loc }

// Now reads the calendar's clock.
func (c *Calendar) Now() time.Time { return c.now() }

// Today returns today's date in the calendar's zone.
func (c *Calendar) Today() Day {
	return DayOf(c.now().In(c.loc))
}

// notFuture reports whether the date (a dateKey) is not after today. The
// first test inlines; the clock is read only past the cached dates.
func (c *Calendar) notFuture(key uint32) bool {
	return key <= c.floor || c.recent(key)
}

// recent is the test for a date past floor. Kept out of line so that
// notFuture stays small enough to inline (BenchmarkValidateID: 21
// instructions more a call natively when it did not).
//
//go:noinline
func (c *Calendar) recent(key uint32) bool {
	return key <= c.known.Load() || c.readClock(key)
}

func (c *Calendar) readClock(key uint32) bool {
	t := c.now().In(c.loc)
	c.known.Store(yesterday(t))
	return key <= dateKeyOf(t)
}

// yesterday is the dateKey of the date before t's. The caches remember
// yesterday, not today: the clock may step back a little (up to a day) and
// a cache must not accept a date a fresh reading refuses.
func yesterday(t time.Time) uint32 {
	return dateKeyOf(t.AddDate(0, 0, -1))
}

// ParseID validates s as Calendar.ParseID does, with today taken from
// DefaultCalendar. It does not allocate.
func ParseID(s string) (ID, error) { return DefaultCalendar.ParseID(s) }

// ParseID validates s and returns the ID. Surrounding ASCII spaces and tabs
// are ignored and a lowercase x check character is accepted. The error is
// always an IDError. It does not allocate.
func (c *Calendar) ParseID(s string) (ID, error) { return parseID(c, s) }

// ParseIDBytes is ParseID for a byte slice (a request path, a CSV field); it
// does not retain b.
func (c *Calendar) ParseIDBytes(b []byte) (ID, error) { return parseID(c, b) }

// trim drops ASCII spaces and tabs from both ends.
func trim[T string | []byte](s T) T {
	for len(s) > 0 && blank(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && blank(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// blank reports the bytes trim drops.
func blank(c byte) bool { return c == ' ' || c == '\t' }

// parseID validates s and returns the ID.
func parseID[T string | []byte](c *Calendar, s T) (ID, error) {
	b, e := validate(c, s)
	if e != 0 {
		return 0, e
	}
	return b.id(), nil
}

// idBody is a valid ID's 17 body digits as validate read them: two
// little-endian words of eight ASCII digits and the last digit, what a
// pseudonym and an edge check hash (sip17).
type idBody struct {
	m0, m1 uint64
	last   byte
}

// id is the body's integer value.
func (b idBody) id() ID {
	var n uint64
	for _, w := range [2]uint64{b.m0, b.m1} {
		for range 8 {
			n = n*10 + w&0xff - '0'
			w >>= 8
		}
	}
	return ID(n*10 + uint64(b.last-'0'))
}

// validate checks s and returns its body digits as read (the words it
// tested), or why it is not a valid ID. The lookup and edge-check hot paths
// hash the words directly: nothing is read twice, the ID's integer value is
// never computed (BenchmarkPseudonym: the serial multiply-add chain cost as
// much as the rest of the parse), and a plain IDError is cheaper to return
// and test than an error interface (BenchmarkEdgeCheck under wazero).
func validate[T string | []byte](c *Calendar, s T) (idBody, IDError) {
	// Each test below is one branch on the path a valid ID takes: in
	// WebAssembly a branch costs half a dozen instructions besides its
	// compare, so tests are merged arithmetically (BenchmarkValidateID
	// under wazero).
	if len(s) != IDLen || ((s[0]-0x21)|(s[IDLen-1]-0x21))&0x80 != 0 {
		// Only an ID that is the wrong length or starts or ends with a
		// byte at or below a space (or above 0xA0) pays for the loops
		// (BenchmarkValidateID under wazero).
		if s = trim(s); len(s) != IDLen {
			if len(s) == 15 && allDigits(s) {
				return idBody{}, ErrIDLegacy
			}
			return idBody{}, ErrIDLength
		}
	}
	// Resliced, s's capacity is known to the compiler, which then drops
	// the four bounds checks below for one (bench/instructions.sh on
	// BenchmarkScreeningHandler/text, 200,000 IDs, two counts each: 603
	// instructions an ID before, 595-598 after; a small gain, kept because
	// it costs nothing).
	s = s[:IDLen]
	a, b := load64(s[0:8]), load64(s[8:16])
	last, check := s[16], checkClass[s[bodyLen]]
	// Eight digits at a time: byte x is a digit iff neither x-0x30 nor
	// x+0x46 has its top bit set. A borrow or carry crosses into the next
	// byte only out of a byte that fails itself.
	const three, top = 0x3030303030303030, 0x8080808080808080
	da, db := a-three, b-three // digit values, one per byte
	lw := uint64(last)
	if (da|(a+0x4646464646464646)|db|(b+0x4646464646464646)|(lw-0x30)|(lw+0x46)|(uint64(check)-1))&top != 0 {
		return idBody{}, ErrIDNonDigit
	}
	const lanes = 0x00FF00FF00FF00FF
	// The date's eight digits (bytes 6-13), one per byte, into four 2-digit
	// lanes with one multiply: byte 2i becomes 10*digit(2i) + digit(2i+1),
	// nothing carries (at most 99). Lane 0 is the century, then the year in
	// it, month, day (BenchmarkValidateID).
	dx := da>>48 | db<<16
	dl := (dx*10 + dx>>8) & lanes
	cent, yy, m, d := dl&0xff, dl>>16&0xff, dl>>32&0xff, dl>>48
	// A year from 1800, a month 1-12, a day 1 to the month's length: each
	// difference below is negative exactly when its test fails.
	if int64((cent-18)|(m-1)|(12-m)|(d-1)|(daysInLanes(cent, yy, m)-d)) < 0 ||
		!c.notFuture(dateKey(cent, yy, m, d)) {
		return idBody{}, ErrIDDate
	}
	// The weighted sum four digits per multiply: digits spread into 16-bit
	// lanes times the weights in reverse lane order leave their dot product
	// in the top lane (no lane exceeds 4*9*10, so nothing carries).
	sum := (da&lanes)*wEven0>>48 + (da>>8&lanes)*wOdd0>>48 +
		(db&lanes)*wEven1>>48 + (db>>8&lanes)*wOdd1>>48 + (lw-'0')*2
	if checkOfSum[sum&1023] != check {
		return idBody{}, ErrIDCheckDigit
	}
	return idBody{a, b, last}, 0
}

// checkClass maps a check character to itself, x to X, and anything else
// to 0: one load, no branch, in validate.
var checkClass = func() (t [256]byte) {
	for c := byte('0'); c <= '9'; c++ {
		t[c] = c
	}
	t['X'], t['x'] = 'X', 'X'
	return t
}()

// checkOfSum is the check character of each weighted sum of a body's
// digits (at most 900): a load in place of the remainder by 11, a
// division in WebAssembly (BenchmarkValidateID).
var checkOfSum = func() (t [1024]byte) {
	for i := range t {
		t[i] = checkChars[i%11]
	}
	return t
}()

// load64 reads 8 bytes little-endian; the compiler turns it into one load.
func load64[T string | []byte](s T) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func allDigits[T string | []byte](s T) bool {
	for i := range len(s) {
		if s[i]-'0' > 9 {
			return false
		}
	}
	return true
}

// digits converts ASCII digits already known to be 0-9.
func digits[T string | []byte](s T) int {
	n := 0
	for i := range len(s) {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// validDate reports whether yyyymmdd is a real Gregorian date in 1800 or later.
func validDate(ymd int32) bool {
	y, m, d := int(ymd/10000), int(ymd/100%100), int(ymd%100)
	return y >= 1800 && m >= 1 && m <= 12 && d >= 1 && d <= daysIn(y, m)
}

// daysIn returns the days in month m (1-12) of year y.
func daysIn(y, m int) int {
	if m == 2 && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		return 29
	}
	return int(monthDays[m])
}

var monthDays = [13]uint8{1: 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// monthLengths holds each month's length less 28 in two bits at bit 2m,
// for common years in the low half and leap years in the high half: the
// month-length test is a shift of a constant, no memory read (a bounds
// checked load in WebAssembly; BenchmarkValidateID).
const monthLengths = 0b11_10_11_10_11_11_10_11_10_11_00_11_00 | 0b11_10_11_10_11_11_10_11_10_11_01_11_00<<32

// daysInLanes is daysIn for month m (1-12) of the year cent*100+yy, without
// a multiply or division: the year's remainder by 100 is yy, so it is a
// multiple of 4 when yy is, and of 400 when yy is 0 and cent a multiple of 4.
func daysInLanes(cent, yy, m uint64) uint64 {
	q := yy
	if yy == 0 {
		q = cent
	}
	leap := (q&3 - 1) >> 63 // 1 when q%4 == 0
	// &63: m is only 1-12 when the result counts, and a shift known to be
	// below 64 needs no fix-up for larger counts.
	return 28 + monthLengths>>((2*m+32*leap)&63)&3
}

// dateKey orders dates as yyyymmdd does, from the century, year in it,
// month and day, with shifts alone: what the Calendar's cached dates are
// kept as, so that the future-date test is one compare.
func dateKey(cent, yy, m, d uint64) uint32 {
	return uint32(cent<<24 | yy<<16 | m<<8 | d)
}

// dateKeyOf is the dateKey of t's date.
func dateKeyOf(t time.Time) uint32 {
	y := uint64(t.Year())
	return dateKey(y/100, y%100, uint64(t.Month()), uint64(t.Day()))
}

// Body writes the 17 body digits into dst.
func (id ID) Body(dst *[bodyLen]byte) {
	n := uint64(id)
	for i := bodyLen - 1; i >= 0; i-- {
		dst[i] = byte('0' + n%10)
		n /= 10
	}
}

// String returns the full 18-character ID. It allocates; never log it.
func (id ID) String() string {
	var b [IDLen]byte
	id.Body((*[bodyLen]byte)(b[:bodyLen]))
	b[bodyLen] = CheckChar(b[:bodyLen])
	return string(b[:])
}

// Birth returns the birth date encoded in the ID.
func (id ID) Birth() Day {
	ymd := int(uint64(id) / 1000 % 100000000)
	return DateOf(ymd/10000, ymd/100%100, ymd%100)
}

// Mask returns the display form of an ID, keeping only its first and last
// four characters: "3101**********123X". The input is
// trimmed; anything shorter than 9 characters is masked whole.
func Mask(s string) string {
	var buf [64]byte
	return string(AppendMask(buf[:0], s))
}

// AppendMask appends the masked form of s to dst (no allocation when dst has
// room), for response writers.
func AppendMask[T string | []byte](dst []byte, s T) []byte {
	s = trim(s)
	if len(s) > IDLen {
		// Never echo more than an ID's worth of whatever was sent.
		s = s[:IDLen]
	}
	if len(s) < 9 {
		for range len(s) {
			dst = append(dst, '*')
		}
		return dst
	}
	dst = appendPrintable(dst, s[:4])
	for range len(s) - 8 {
		dst = append(dst, '*')
	}
	return appendPrintable(dst, s[len(s)-4:])
}

// appendPrintable keeps printable ASCII and replaces anything else with '?',
// so a masked echo is always safe in JSON, logs and HTML.
func appendPrintable[T string | []byte](dst []byte, s T) []byte {
	for i := range len(s) {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			c = '?'
		}
		dst = append(dst, c)
	}
	return dst
}
