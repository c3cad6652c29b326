package loader

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"

	"github.com/yrd-hcx/hcx/engine"
)

// Record is one person on a region's list, pseudonymised. Raw IDs never
// leave Parse. 16 bytes.
type Record struct {
	P     engine.Pseudonym
	Color engine.Status // engine.Red or engine.Yellow
	seen  uint8         // the colours rows gave while merging (people.go); 0 once returned
	Since engine.Day    // engine.NoDay if unknown
}

// ParseOptions configure Parse. The zero value (apart from Key) is the
// strict default: no bad rows tolerated, 4 GiB at most, plain text,
// DefaultCalendar, and since dates checked against today.
type ParseOptions struct {
	Key engine.Key
	// Calendar decides future birth dates in IDs; nil is engine.DefaultCalendar.
	Calendar *engine.Calendar
	// Date is the file's list date; a since after it is invalid. Zero
	// (1970-01-01, never a real list date) or engine.NoDay means today in
	// Calendar.
	Date engine.Day
	// MaxInvalid is how many bad rows are tolerated (--max-invalid,
	// ?maxInvalid); 0 (or less) means none.
	MaxInvalid int
	// MaxBytes is the decompressed size limit; 0 (or less) is
	// DefaultMaxBytes. At most MaxBytes+1 bytes are ever decompressed.
	MaxBytes int64
	// Gzip says the input is gzip (.csv.gz or Content-Encoding: gzip).
	Gzip bool
	// Progress, if set, is called now and then (about every MiB, and once
	// at the end) with the bytes consumed from the input so far: compressed
	// bytes when Gzip is set, so a caller can compare it with the file's size.
	Progress func(bytesRead int64)
	// OnValid, if set, sees the ID (trimmed, not yet pseudonymised; the
	// slice is valid only during the call and must not be kept or logged)
	// and colour of the first valid row of each person in each colour: a
	// person listed red and yellow is seen twice, a repeated row once. It is
	// how the edge filter, keyed by a public salt rather than the secret
	// key, is built while the raw IDs are at hand, at a cost bounded by the
	// people in the file. Rows of a file that is then rejected have been
	// seen too: discard what was built.
	OnValid func(id []byte, color engine.Status)
}

// Parse reads a whole daily file, validates it strictly (docs/daily-files.md)
// and returns its records sorted by pseudonym with duplicates merged, plus
// the report. err != nil (a *RejectError whose Error() is the report's
// Reason) when the file is rejected; the records are then nil. The report is
// always returned and filled in, even for a rejected file: its counts cover
// what was read (a file rejected for a stream-level fault stops at the
// fault; one rejected for bad rows is read to the end, so Invalid is exact).
//
// Rules, in more detail than docs/daily-files.md states them:
//   - Blank lines (empty or only spaces and tabs) are skipped anywhere and
//     are not rows. The header is the first non-blank line.
//   - Lines are records: a quoted field may hold commas and "" escapes but
//     not a newline. A quote left open at the end of a line makes that row
//     invalid; left open on the file's last non-blank line it rejects the
//     file (ErrQuote), since that is what a truncated export looks like.
//   - Spaces and tabs around a quoted field are allowed and, like those
//     inside it, trimmed.
//   - A since must also lie within engine.MinSince..engine.MaxSince.
//   - A row with a NUL byte or invalid UTF-8 is an invalid row, like any
//     other; a header with them rejects the file (UTF-16 is recognised and
//     named).
//   - Stream-level faults reject the file at once: a bad header, a line
//     over MaxLineLength, more than MaxBytes, bad gzip, a read error. Those
//     with a line (the header, a long line) name it among the report's
//     Errors, as every bad row is.
//
// Reasons never contain an ID or any other long digit string from the
// input: a bad value is quoted only when it cannot be one (a colour without
// digits, a since of at most 8 digits, a column name without digits).
//
// Parse is safe for concurrent use on different readers. Rows are merged
// by person as they are read (people.go), so memory follows the distinct
// people, not the rows: about 48 bytes a row at the peak for a file of
// distinct people, about 150 a person for one that repeats them, 16 a
// person in the records returned, plus fixed buffers of about 300 KiB
// (and 256 KiB inflated ahead of the rows for gzip, readahead.go);
// rows do not allocate (docs/daily-files.md, "Memory").
func Parse(r io.Reader, opts ParseOptions) ([]Record, *Report, error) {
	recs, _, rep, err := parse(r, opts, nil)
	return recs, rep, err
}

// parse is Parse that, with edge set, also hashes each valid row's ID for
// the edge part edge builds, as the row is read, and returns one hash a
// person, in the records' order (people.go).
func parse(r io.Reader, opts ParseOptions, edge *engine.EdgeRegionBuilder) ([]Record, []uint64, *Report, error) {
	start := time.Now()
	p := &parser{opts: opts, rep: &Report{}, sinceCol: -1}
	p.people.edge = edge
	if p.opts.Calendar == nil {
		p.opts.Calendar = engine.DefaultCalendar
	}
	if p.opts.MaxBytes <= 0 {
		p.opts.MaxBytes = DefaultMaxBytes
	}
	if p.opts.MaxInvalid < 0 {
		p.opts.MaxInvalid = 0
	}
	p.date = p.opts.Date
	if p.date == 0 || p.date == engine.NoDay {
		p.date = p.opts.Calendar.Today()
	} else {
		p.rep.Date = p.date.String()
	}

	in := &inputCounter{r: r, progress: opts.Progress, next: progressStep}
	cause, reason := p.run(in)
	if opts.Progress != nil {
		opts.Progress(in.n)
	}
	rep := p.rep
	if cause == nil && rep.Invalid > p.opts.MaxInvalid {
		cause, reason = ErrInvalidRows, p.invalidReason()
	}
	onValid := opts.OnValid
	if cause != nil {
		onValid = nil // rejected: nobody needs the rest
	}
	recs, hashes := p.people.records(rep, onValid)
	rep.Seconds = time.Since(start).Seconds()
	if cause != nil {
		rep.Accepted, rep.Reason = false, reason
		return nil, nil, rep, &RejectError{Report: rep, cause: cause}
	}
	rep.Accepted = true
	return recs, hashes, rep, nil
}

const (
	bufSize      = 64 << 10
	progressStep = 1 << 20
	maxCols      = 3 // id, color, since
)

type parser struct {
	opts   ParseOptions
	date   engine.Day
	rep    *Report
	people people // the valid rows, merged by person as they arrive

	haveHeader                bool
	ncols                     int
	idCol, colorCol, sinceCol int
	fields                    [maxCols][]byte
	sinces                    sinceCache // since fields lately parsed
	// scratch holds unescaped quoted fields; a line is at most
	// MaxLineLength bytes, so it never needs to grow.
	scratch [MaxLineLength]byte

	out      *outputLimiter
	line     int // physical line number of the last line read
	openLine int // a row whose quote stayed open, if no non-blank line followed yet
}

// run reads the stream; a non-nil cause rejects the file with reason.
//
//lint:ignore ST1008 the cause (errors.Is) comes first, then the words for the report
func (p *parser) run(in *inputCounter) (cause error, reason string) {
	out := &outputLimiter{limit: p.opts.MaxBytes + 1}
	p.out = out
	if p.opts.Gzip {
		zr, err := gzip.NewReader(bufio.NewReaderSize(in, bufSize))
		if err != nil {
			return p.streamError(in, err)
		}
		defer zr.Close()
		out.r = zr
	} else {
		out.r = in
	}
	defer func() { p.rep.Bytes = out.n }()
	var src io.Reader = out
	if p.opts.Gzip && bodySize(in.r) >= aheadMinSize {
		ra := newReadAhead(out)
		src = ra
		defer ra.close() // before out is looked at: the goroutine reads it
	}
	br := bufio.NewReaderSize(src, bufSize)

	// The first bytes say what kind of file this is; Peek's error, if any,
	// comes back from the first ReadSlice.
	head, _ := br.Peek(3)
	switch {
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}), bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		return ErrEncoding, fmt.Sprintf("the file starts with a UTF-16 byte order mark (%X %X): it looks like UTF-16; save it as UTF-8", head[0], head[1])
	case bytes.HasPrefix(head, []byte{0x1F, 0x8B}) && !p.opts.Gzip:
		return ErrEncoding, "the file is gzip data but was not declared gzip: name it .csv.gz or send Content-Encoding: gzip"
	case bytes.HasPrefix(head, []byte{0x1F, 0x8B}):
		return ErrEncoding, "the file is gzip-compressed twice (a .csv.gz sent with Content-Encoding: gzip?)"
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		br.Discard(3)
	}

	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			return ErrLineTooLong, p.stop(p.line+1, longLine(line))
		}
		if err != nil && err != io.EOF {
			// The stream broke: a partial line before it is not a row.
			return p.streamError(in, err)
		}
		if len(line) > 0 {
			p.line++
			line = stripEOL(line)
			if len(line) > MaxLineLength {
				return ErrLineTooLong, p.stop(p.line, longLine(line))
			}
			sc := scanLine(line)
			var enc fault // not text: a bad row, or a bad header
			switch {
			case sc.flags&lineNUL != 0:
				enc = faultNUL
				if bytes.Count(line, []byte{0})*3 >= len(line) {
					enc = faultUTF16 // ASCII saved as UTF-16 without a byte order mark
				}
			case sc.flags&lineHigh != 0 && !utf8.Valid(line):
				enc = faultUTF8
			}
			switch {
			case enc != 0 && !p.haveHeader:
				return ErrEncoding, p.stop(p.line, p.faultReason(enc, nil, 0))
			case enc != 0:
				p.openLine = 0
				p.rep.Rows++
				p.bad(enc, nil, 0)
			case blankLine(line):
			case p.haveHeader:
				p.openLine = 0
				p.row(line, &sc)
			default:
				if reason := p.header(line); reason != "" {
					return ErrHeader, p.stop(p.line, reason)
				}
			}
		}
		if err == io.EOF {
			break
		}
	}
	if !p.haveHeader {
		return ErrHeader, "empty file: no header line (want id,color[,since])"
	}
	if p.openLine != 0 {
		// The row is listed already, with its own fault.
		return ErrQuote, "line " + strconv.Itoa(p.openLine) + ": a quoted field is still open at the end of the file (truncated file?)"
	}
	return nil, ""
}

// header reads the column names; it returns a rejection reason or "".
func (p *parser) header(line []byte) string {
	p.haveHeader = true
	// Of any maxCols+1 columns one is unknown, unnamed or repeated, so
	// looking at that many finds the fault of a header however wide.
	var names [maxCols + 1][]byte
	n, q := splitFields(line, names[:], &p.scratch)
	if q != quoteOK {
		return "header: " + quoteReasons[q]
	}
	p.idCol, p.colorCol, p.sinceCol = -1, -1, -1
	for i, name := range names[:min(n, len(names))] {
		name = trimBlanks(name)
		var col *int
		switch {
		case len(name) == 0:
			return "header: column " + strconv.Itoa(i+1) + " has no name (want id, color and optionally since)"
		case asciiEqualFold(name, "id"):
			col = &p.idCol
		case asciiEqualFold(name, "color"):
			col = &p.colorCol
		case asciiEqualFold(name, "since"):
			col = &p.sinceCol
		case echoable(name, 32, 0):
			return fmt.Sprintf("header: unknown column %q (files carry only id, color and since)", name)
		default:
			return "header: column " + strconv.Itoa(i+1) + " is not id, color or since (is the header line missing?)"
		}
		if *col >= 0 {
			return fmt.Sprintf("header: column %q appears twice", bytes.ToLower(name))
		}
		*col = i
	}
	switch {
	case p.idCol < 0:
		return `header: no "id" column (want id,color[,since])`
	case p.colorCol < 0:
		return `header: no "color" column (want id,color[,since])`
	}
	p.ncols = n
	return ""
}

// row reads one data row: a Record, or an invalid row.
func (p *parser) row(line []byte, sc *lineScan) {
	p.rep.Rows++
	var n int
	var q quoteFault
	if sc.flags&lineQuote == 0 {
		n = sc.fields(line, &p.fields)
	} else {
		n, q = splitFields(line, p.fields[:], &p.scratch)
	}
	if q != quoteOK {
		if q == quoteOpen {
			p.openLine = p.line
		}
		p.bad(faultQuote, nil, int(q))
		return
	}
	if n != p.ncols {
		p.bad(faultFields, nil, n)
		return
	}
	id := trimBlanks(p.fields[p.idCol])
	if len(id) == 0 {
		p.bad(faultIDEmpty, nil, 0)
		return
	}
	ps, err := p.opts.Key.ParseBytes(p.opts.Calendar, id)
	if err != nil {
		p.bad(faultID, id, idReason(err))
		return
	}
	c := trimBlanks(p.fields[p.colorCol])
	color, ok := engine.ParseColor(c)
	if !ok {
		p.bad(faultColor, c, 0)
		return
	}
	since := engine.NoDay
	if p.sinceCol >= 0 {
		if s := trimBlanks(p.fields[p.sinceCol]); len(s) > 0 {
			var f fault
			since, f = p.parseSince(s)
			if f != 0 {
				p.bad(f, s, 0)
				return
			}
		}
	}
	p.people.add(ps, color, since, id, p.opts.OnValid)
}

// parseSince reads a since date. A file's since dates are a few hundred
// days at most, repeated over its rows, so each is kept by its ten bytes
// in a table indexed by its month and day (sinceCache): a hit costs a load
// and a compare where parsing and validating the date cost most of a row's
// date handling (BenchmarkParse, BenchmarkIngest rows=1e7).
func (p *parser) parseSince(s []byte) (engine.Day, fault) {
	if len(s) != 10 {
		return p.parseSinceSlow(s)
	}
	k := sinceKey{binary.LittleEndian.Uint64(s), binary.LittleEndian.Uint16(s[8:])}
	month, day := int(s[5]&15)*10+int(s[6]&15), int(s[8]&15)*10+int(s[9]&15)
	e := &p.sinces[(month*32+day)%len(p.sinces)]
	if !e.ok || e.key != k {
		e.day, e.fault = p.parseSinceSlow(s)
		e.key, e.ok = k, true
	}
	return e.day, e.fault
}

// sinceKey is a since field of ten bytes, as two words.
type sinceKey struct {
	lo uint64
	hi uint16
}

// sinceCache holds since fields read lately and what they parsed to (for
// the one file's list date): one entry for each month and day of a year
// (12 KiB).
type sinceCache [512]struct {
	key   sinceKey
	ok    bool
	day   engine.Day
	fault fault
}

// parseSinceSlow is parseSince without the cache.
func (p *parser) parseSinceSlow(s []byte) (engine.Day, fault) {
	d, ok := engine.ParseDay(s)
	if !ok {
		if !dateShaped(s) {
			return engine.NoDay, faultSinceFormat
		}
		y, m, dd := digitsValue(s[0:4]), digitsValue(s[5:7]), digitsValue(s[8:10])
		if m < 1 || m > 12 || dd < 1 || dd > monthDays(y, m) {
			return engine.NoDay, faultSinceDate
		}
		return engine.NoDay, faultSinceRange // a real date before 1800
	}
	if d < engine.MinSince || d > engine.MaxSince {
		return engine.NoDay, faultSinceRange
	}
	if d > p.date {
		return engine.NoDay, faultSinceAfter
	}
	return d, 0
}

// dateShaped reports whether s looks like NNNN-NN-NN.
func dateShaped(s []byte) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	for i, c := range s {
		if i != 4 && i != 7 && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func digitsValue(s []byte) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func monthDays(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
