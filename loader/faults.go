package loader

// Faults of a daily file: why a row is invalid, why a file is rejected, and
// the words for them. Reasons never contain an ID or any other long digit
// string from the input (echoable).

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"

	"github.com/yrd-hcx/hcx/engine"
)

// stop names line n as the one that stopped the file (why) among the
// report's bad lines, and returns the file's reason.
func (p *parser) stop(n int, why string) string {
	if len(p.rep.Errors) < MaxLineErrors {
		p.rep.Errors = append(p.rep.Errors, LineError{Line: n, Reason: why})
	}
	return "line " + strconv.Itoa(n) + ": " + why
}

func longLine(line []byte) string {
	s := "longer than " + strconv.Itoa(MaxLineLength) + " bytes"
	if bytes.IndexByte(line, '\r') >= 0 {
		s += " (lines ending in a lone CR? use LF or CRLF line ends)"
	}
	return s
}

// streamError turns a read failure into a rejection reason.
//
//lint:ignore ST1008 the cause and its reason are one pair, in run's order
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
