package engine

// Status is a person's colour. The order encodes severity: a merged status is
// the maximum over the regions that list the person. The zero value is
// Invalid, so a Result nobody filled in never reads as green.
type Status uint8

const (
	Invalid Status = iota // the queried string is not a valid ID
	Green                 // listed by no region
	Yellow
	Red
)

var statusNames = [...]string{Invalid: "invalid", Green: "green", Yellow: "yellow", Red: "red"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "unknown"
}

// ParseColor parses a list colour, "red" or "yellow" in any case, without
// allocating. Green is not a list colour: nobody is listed green.
func ParseColor[T string | []byte](s T) (Status, bool) {
	switch len(s) {
	case 3:
		if lower(s[0]) == 'r' && lower(s[1]) == 'e' && lower(s[2]) == 'd' {
			return Red, true
		}
	case 6:
		const y = "yellow"
		for i := range 6 {
			if lower(s[i]) != y[i] {
				return Invalid, false
			}
		}
		return Yellow, true
	}
	return Invalid, false
}

func lower(c byte) byte { return c | 0x20 }
