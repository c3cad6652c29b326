package loader

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/flate"
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

// Limits of a daily file (DESIGN section 3).
const (
	// MaxLineLength is the longest line accepted, in bytes, not counting
	// its LF or CRLF.
	MaxLineLength = 1024
	// DefaultMaxBytes is the decompressed size limit when
	// ParseOptions.MaxBytes is zero.
	DefaultMaxBytes int64 = 4 << 30
)

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
	// MaxInvalid is how many bad rows are tolerated (DESIGN --max-invalid);
	// 0 (or less) means none.
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

// Parse reads a whole daily file, validates it strictly (DESIGN section 3)
// and returns its records sorted by pseudonym with duplicates merged, plus
// the report. err != nil (a *RejectError whose Error() is the report's
// Reason) when the file is rejected; the records are then nil. The report is
// always returned and filled in, even for a rejected file: its counts cover
// what was read (a file rejected for a stream-level fault stops at the
// fault; one rejected for bad rows is read to the end, so Invalid is exact).
//
// Rules, beyond DESIGN section 3:
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
// by person as they arrive, so memory follows the distinct people, not the
// rows: at most 64 bytes a person while the table of people doubles, 16 a
// person in the records returned, plus fixed buffers of about 200 KiB (and
// the gzip reader's); rows do not allocate (docs/daily-files.md, "Memory").
func Parse(r io.Reader, opts ParseOptions) ([]Record, *Report, error) {
	start := time.Now()
	p := &parser{opts: opts, rep: &Report{}, sinceCol: -1}
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
	recs := p.people.records(rep, onValid)
	rep.Seconds = time.Since(start).Seconds()
	if cause != nil {
		rep.Accepted, rep.Reason = false, reason
		return nil, rep, &RejectError{Report: rep, cause: cause}
	}
	rep.Accepted = true
	return recs, rep, nil
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
	// scratch holds unescaped quoted fields; a line is at most
	// MaxLineLength bytes, so it never needs to grow.
	scratch [MaxLineLength]byte

	out      *outputLimiter
	line     int // physical line number of the last line read
	openLine int // a row whose quote stayed open, if no non-blank line followed yet
}

// run reads the stream; a non-nil cause rejects the file with reason.
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
	br := bufio.NewReaderSize(out, bufSize)
	defer func() { p.rep.Bytes = out.n }()

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

// stop names line n as the one that stopped the file (why) among the
// report's bad lines, and returns the file's reason.
func (p *parser) stop(n int, why string) string {
	if len(p.rep.Errors) < MaxLineErrors {
		p.rep.Errors = append(p.rep.Errors, LineError{Line: n, Reason: why})
	}
	return "line " + strconv.Itoa(n) + ": " + why
}

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

func longLine(line []byte) string {
	s := "longer than " + strconv.Itoa(MaxLineLength) + " bytes"
	if bytes.IndexByte(line, '\r') >= 0 {
		s += " (lines ending in a lone CR? use LF or CRLF line ends)"
	}
	return s
}

// streamError turns a read failure into a rejection reason.
func (p *parser) streamError(in *inputCounter, err error) (error, string) {
	switch {
	case errors.Is(err, errTooLarge):
		return ErrTooLarge, "the file is larger than the " + sizeString(p.opts.MaxBytes) + " limit (decompressed)"
	case in.err != nil:
		// The input itself failed (a broken upload, a disk error), whatever
		// the gzip reader made of it.
		return in.err, "reading the file: " + in.err.Error()
	case !p.opts.Gzip:
		return err, "reading the file: " + err.Error()
	}
	var corrupt flate.CorruptInputError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return ErrGzip, "gzip: unexpected end of data (truncated upload?)"
	case err == io.EOF && in.n == 0:
		return ErrGzip, "not gzip data: the input is empty"
	case errors.Is(err, gzip.ErrHeader) && !p.gzipStarted():
		return ErrGzip, "not gzip data (the file was declared gzip: .csv.gz or Content-Encoding: gzip)"
	case errors.Is(err, gzip.ErrHeader):
		return ErrGzip, "gzip: data after the end of the compressed stream is not gzip (corrupt file?)"
	case errors.Is(err, gzip.ErrChecksum):
		return ErrGzip, "gzip: checksum mismatch (corrupt or truncated file)"
	case errors.As(err, &corrupt):
		return ErrGzip, "gzip: corrupt data at byte " + strconv.FormatInt(int64(corrupt), 10)
	}
	return ErrGzip, "gzip: " + err.Error()
}

// gzipStarted tells a bad first header (not gzip at all) from a bad later
// member header: any decompressed output means a first member was read.
func (p *parser) gzipStarted() bool { return p.out != nil && p.out.n > 0 }

func sizeString(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + " GiB"
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
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

func (p *parser) parseSince(s []byte) (engine.Day, fault) {
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

// fault is why a row is invalid; its text is built only for the rows the
// report lists, so counting bad rows does not allocate.
type fault uint8

const (
	faultQuote fault = iota + 1
	faultFields
	faultIDEmpty
	faultID
	faultColor
	faultSinceFormat
	faultSinceDate
	faultSinceRange
	faultSinceAfter
	faultNUL
	faultUTF16
	faultUTF8
)

// bad counts an invalid row at the current line. val is the offending
// (trimmed) field, aux a detail (quote fault, field count, ID error).
func (p *parser) bad(f fault, val []byte, aux int) {
	p.rep.Invalid++
	if len(p.rep.Errors) < MaxLineErrors {
		p.rep.Errors = append(p.rep.Errors, LineError{Line: p.line, Reason: p.faultReason(f, val, aux)})
	}
}

// faultReason says what is wrong with a line, as bad's arguments describe.
func (p *parser) faultReason(f fault, val []byte, aux int) string {
	var s string
	switch f {
	case faultNUL:
		s = "contains a NUL byte: not a text file"
	case faultUTF16:
		s = "contains NUL bytes: the file looks like UTF-16; save it as UTF-8"
	case faultUTF8:
		s = "not valid UTF-8 (GBK or another encoding?): save the file as UTF-8"
	case faultQuote:
		s = quoteReasons[aux]
	case faultFields:
		s = strconv.Itoa(aux) + " fields, header has " + strconv.Itoa(p.ncols)
		if aux == 1 {
			s = "1 field, header has " + strconv.Itoa(p.ncols)
		}
	case faultIDEmpty:
		s = "id: empty"
	case faultID:
		s = "id: " + engine.IDError(aux).Reason()
		if asciiEqualFold(val, "id") {
			s = "id: a repeated header line"
		}
	case faultColor:
		switch {
		case len(val) == 0:
			s = "color: empty"
		case echoable(val, 16, 0):
			s = fmt.Sprintf("color: %q is not red or yellow", val)
		default:
			s = "color: not red or yellow"
		}
	case faultSinceFormat:
		if echoable(val, 12, 8) {
			s = fmt.Sprintf("since: %q is not a date (want YYYY-MM-DD)", val)
		} else {
			s = "since: not a date (want YYYY-MM-DD)"
		}
	case faultSinceDate:
		s = "since: " + string(val) + " is not a real date"
	case faultSinceRange:
		s = "since: " + string(val) + " is outside " + engine.MinSince.String() + " to " + engine.MaxSince.String()
	case faultSinceAfter:
		s = "since: " + string(val) + " is after the list date " + p.date.String()
	}
	return s
}

func idReason(err error) int {
	if e, ok := err.(engine.IDError); ok {
		return int(e)
	}
	return 0
}

func (p *parser) invalidReason() string {
	r := p.rep
	s := strconv.Itoa(r.Invalid) + " invalid rows"
	if r.Invalid == 1 {
		s = "1 invalid row"
	}
	if p.opts.MaxInvalid > 0 {
		s += ", more than the " + strconv.Itoa(p.opts.MaxInvalid) + " allowed"
	}
	if len(r.Errors) > 0 {
		e := r.Errors[0]
		s += "; the first is line " + strconv.Itoa(e.Line) + ": " + e.Reason
	}
	return s
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

// echoable reports whether a bad value may be quoted in a reason: short,
// printable ASCII, and with at most maxDigits digits, so that it can never
// be an ID (or most of one) put in the wrong column.
func echoable(b []byte, maxLen, maxDigits int) bool {
	if len(b) > maxLen {
		return false
	}
	digits := 0
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
		if '0' <= c && c <= '9' {
			digits++
		}
	}
	return digits <= maxDigits
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

// inputCounter counts the bytes consumed from the caller's reader, reports
// progress, and remembers the reader's own error (to tell a broken upload
// from corrupt gzip data).
type inputCounter struct {
	r        io.Reader
	n        int64
	err      error
	progress func(int64)
	next     int64
}

func (c *inputCounter) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	if c.progress != nil && c.n >= c.next {
		c.progress(c.n)
		c.next = c.n + progressStep
	}
	return n, err
}

var errTooLarge = errors.New("size limit")

// outputLimiter hands on at most limit bytes of the (decompressed) stream
// and then fails with errTooLarge: a gzip bomb is never inflated further.
type outputLimiter struct {
	r     io.Reader
	n     int64
	limit int64
}

func (l *outputLimiter) Read(b []byte) (int, error) {
	if l.n >= l.limit {
		return 0, errTooLarge
	}
	if rest := l.limit - l.n; int64(len(b)) > rest {
		b = b[:rest]
	}
	n, err := l.r.Read(b)
	l.n += int64(n)
	if l.n >= l.limit {
		err = errTooLarge // even with io.EOF: the limit is one byte past MaxBytes
	}
	return n, err
}
