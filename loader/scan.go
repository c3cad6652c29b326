package loader

// CSV scanning: lines into fields (RFC 4180 quoting within a line), the
// bytes of a line that matter found in one pass, trimming and matching.

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

// stripEOL drops a trailing LF or CRLF.
func stripEOL(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
	} else if n > 0 && line[n-1] == '\r' {
		line = line[:n-1] // CRLF cut at the end of the file
	}
	return line
}

// Quoting faults of a line.
type quoteFault uint8

const (
	quoteOK    quoteFault = iota
	quoteBare             // a quote inside an unquoted field
	quoteAfter            // text after a closing quote
	quoteOpen             // a quoted field not closed on its line
)

var quoteReasons = [...]string{
	quoteOK:    "",
	quoteBare:  `a " inside an unquoted field (quote the whole field and double the ")`,
	quoteAfter: "text after a closing quote",
	quoteOpen:  "a quoted field is not closed on its line (a newline inside quotes is not allowed)",
}

// lineScan is what one pass over a line found: where its first commas are
// and whether it has quotes, NULs or non-ASCII bytes.
type lineScan struct {
	commas  [maxCols]int
	ncommas int
	flags   uint8
}

const (
	lineQuote uint8 = 1 << iota
	lineNUL
	lineHigh // a byte >= 0x80: check the line is UTF-8
)

// scanLine looks at a line eight bytes a step for the bytes that matter:
// commas, quotes, NULs and non-ASCII (BenchmarkParse: one pass instead of a
// bytes.IndexByte call each for NUL, quote and every comma, and
// utf8.Valid, took a third off the time per row).
func scanLine(line []byte) lineScan {
	const (
		lo7    = 0x7F7F7F7F7F7F7F7F
		quotes = 0x2222222222222222
		commas = 0x2C2C2C2C2C2C2C2C
	)
	// zero marks (with 0x80) exactly the bytes of x that are zero.
	zero := func(x uint64) uint64 { return ^((x&lo7 + lo7) | x | lo7) }
	var sc lineScan
	i := 0
	for ; i+8 <= len(line); i += 8 {
		w := binary.LittleEndian.Uint64(line[i:])
		for m := zero(w) | zero(w^quotes) | zero(w^commas) | w&^lo7; m != 0; m &= m - 1 {
			sc.note(line, i+bits.TrailingZeros64(m)>>3)
		}
	}
	for ; i < len(line); i++ {
		if c := line[i]; c == ',' || c == '"' || c == 0 || c >= 0x80 {
			sc.note(line, i)
		}
	}
	return sc
}

func (sc *lineScan) note(line []byte, i int) {
	switch line[i] {
	case ',':
		if sc.ncommas < maxCols {
			sc.commas[sc.ncommas] = i
		}
		sc.ncommas++
	case '"':
		sc.flags |= lineQuote
	case 0:
		sc.flags |= lineNUL
	default:
		sc.flags |= lineHigh
	}
}

// fields splits a quote-free line at the commas found, storing the first
// maxCols fields, and returns how many there are.
func (sc *lineScan) fields(line []byte, dst *[maxCols][]byte) int {
	start := 0
	for k := range min(sc.ncommas, maxCols) {
		dst[k] = line[start:sc.commas[k]]
		start = sc.commas[k] + 1
	}
	if sc.ncommas < maxCols {
		dst[sc.ncommas] = line[start:]
	}
	return sc.ncommas + 1
}

// splitFields splits a line into comma-separated fields (RFC 4180 quoting,
// spaces and tabs allowed around a quoted field), storing the first
// len(dst) in dst and returning how many there are. Unquoted fields are
// slices of line; quoted ones are unescaped into scratch. Fields are not
// trimmed.
func splitFields(line []byte, dst [][]byte, scratch *[MaxLineLength]byte) (int, quoteFault) {
	if bytes.IndexByte(line, '"') < 0 {
		// Fast path: the quote-free line every generated file has.
		n := 0
		for {
			i := bytes.IndexByte(line, ',')
			if i < 0 {
				if n < len(dst) {
					dst[n] = line
				}
				return n + 1, quoteOK
			}
			if n < len(dst) {
				dst[n] = line[:i]
			}
			n++
			line = line[i+1:]
		}
	}
	n, w, i := 0, 0, 0
	for {
		j := i
		for j < len(line) && (line[j] == ' ' || line[j] == '\t') {
			j++
		}
		if j < len(line) && line[j] == '"' {
			start := w
			k := j + 1
			for {
				q := bytes.IndexByte(line[k:], '"')
				if q < 0 {
					return n + 1, quoteOpen
				}
				w += copy(scratch[w:], line[k:k+q])
				k += q + 1
				if k < len(line) && line[k] == '"' {
					scratch[w] = '"'
					w++
					k++
					continue
				}
				break
			}
			for k < len(line) && (line[k] == ' ' || line[k] == '\t') {
				k++
			}
			if k < len(line) && line[k] != ',' {
				return n + 1, quoteAfter
			}
			if n < len(dst) {
				dst[n] = scratch[start:w]
			}
			n++
			if k == len(line) {
				return n, quoteOK
			}
			i = k + 1
			continue
		}
		end := len(line)
		if c := bytes.IndexByte(line[i:], ','); c >= 0 {
			end = i + c
		}
		f := line[i:end]
		if bytes.IndexByte(f, '"') >= 0 {
			return n + 1, quoteBare
		}
		if n < len(dst) {
			dst[n] = f
		}
		n++
		if end == len(line) {
			return n, quoteOK
		}
		i = end + 1
	}
}

// trim drops ASCII spaces and tabs from both ends.
func trimBlanks(s []byte) []byte {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

func blankLine(line []byte) bool { return len(trimBlanks(line)) == 0 }

// asciiEqualFold compares ASCII case-insensitively (bytes.EqualFold would
// also match Unicode look-alikes such as U+017F for s).
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}
