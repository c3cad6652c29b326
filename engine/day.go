package engine

import "time"

// Day is a calendar date as days since 1970-01-01. It carries no zone: the
// zone only matters when "today" is read from a clock (Calendar).
// NoDay (the zero value of a since column) means unknown.
type Day int32

// NoDay means "no date": an unknown since, a region with no list.
const NoDay Day = -1 << 31

// DateOf returns the Day of a Gregorian date. It does not validate; callers
// check with ParseDay or validDate first.
func DateOf(y, m, d int) Day {
	// Days from civil, Howard Hinnant's algorithm: exact for any Gregorian
	// date, no time.Time (and no allocation) needed.
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return Day(era*146097 + doe - 719468)
}

// DayOf returns the date of t in t's own location.
func DayOf(t time.Time) Day {
	return DateOf(t.Year(), int(t.Month()), t.Day())
}

// Civil returns the year, month and day of d.
func (d Day) Civil() (y, m, dd int) {
	z := int(d) + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	dd = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return y, m, dd
}

// AppendFormat appends d as YYYY-MM-DD (nothing for NoDay).
func (d Day) AppendFormat(dst []byte) []byte {
	if d == NoDay {
		return dst
	}
	y, m, dd := d.Civil()
	return append(dst,
		byte('0'+y/1000%10), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+m/10), byte('0'+m%10), '-',
		byte('0'+dd/10), byte('0'+dd%10))
}

// String returns YYYY-MM-DD, or "" for NoDay.
func (d Day) String() string {
	var b [10]byte
	return string(d.AppendFormat(b[:0]))
}

// Time returns midnight of d in loc.
func (d Day) Time(loc *time.Location) time.Time {
	y, m, dd := d.Civil()
	return time.Date(y, time.Month(m), dd, 0, 0, 0, 0, loc)
}

// ParseDay parses YYYY-MM-DD (years 1800-9999) without allocating.
func ParseDay[T string | []byte](s T) (Day, bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return NoDay, false
	}
	if !allDigits(s[0:4]) || !allDigits(s[5:7]) || !allDigits(s[8:10]) {
		return NoDay, false
	}
	y, m, d := digits(s[0:4]), digits(s[5:7]), digits(s[8:10])
	if !validDate(int32(y*10000 + m*100 + d)) {
		return NoDay, false
	}
	return DateOf(y, m, d), true
}
