package loader

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// LineError is one bad row: its physical line number in the file (1-based,
// the header is normally line 1) and why it was refused. Reasons never quote
// an ID, only what was wrong with it.
type LineError struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// MaxLineErrors is how many bad lines a Report lists; Invalid counts the
// bad rows all.
const MaxLineErrors = 100

// Report says what Parse found in one daily file. Parse always fills it in,
// whether the file is accepted or rejected; Ingest adds File, Region and
// Date, and sets the verdict and reason when it refuses a file Parse
// accepted (a replay, a shrink, a write that failed). A Report is a plain value: not safe for
// concurrent mutation, safe to read from several goroutines once Parse has
// returned.
//
// Naming: the report's JSON keys (docs/daily-files.md, "Report") are "rows,
// accepted, red, yellow, duplicates, conflicts, invalid, bytes, seconds",
// where "accepted" is a count. So in JSON the count of distinct accepted
// records is "accepted" (Go field Records) and the whole-file verdict is
// "ok" (Go field Accepted). The Go names follow the API the ingest code and
// CLI use.
type Report struct {
	File   string `json:"file,omitempty"`
	Region string `json:"region,omitempty"`
	Date   string `json:"date,omitempty"`
	// Accepted is the verdict: the file was (or, for a dry run, would be)
	// taken. JSON "ok".
	Accepted bool `json:"ok"`
	// Reason is why the file was rejected, one line a person can act on
	// (empty when accepted).
	Reason string `json:"reason,omitempty"`

	Rows int `json:"rows"` // data rows read: not the header, not blank lines
	// Records is the number of distinct people accepted (after merging
	// duplicates and conflicts). JSON "accepted".
	Records    int `json:"accepted"`
	Red        int `json:"red"`        // of Records, listed red
	Yellow     int `json:"yellow"`     // of Records, listed yellow
	Duplicates int `json:"duplicates"` // extra rows repeating an ID with the same colour
	Conflicts  int `json:"conflicts"`  // people listed both red and yellow (red kept), once each
	Invalid    int `json:"invalid"`    // bad rows in all
	// Errors lists the first MaxLineErrors bad lines, in file order: the
	// bad rows, and, for a file rejected at once, the line that stopped it
	// (the header, a line over MaxLineLength).
	Errors []LineError `json:"errors,omitempty"`

	Bytes   int64   `json:"bytes"` // decompressed bytes read
	Seconds float64 `json:"seconds"`
}

// Every row is accounted for once: Rows == Records + Duplicates + Conflicts
// + Invalid (a person listed red twice and yellow once is one record, one
// duplicate and one conflict).

// WriteText writes the report as readable lines, for `hcx validate`.
func (r *Report) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	field := func(name, value string) {
		bw.WriteString(name)
		bw.WriteString(":")
		for i := len(name) + 1; i < 12; i++ {
			bw.WriteByte(' ')
		}
		bw.WriteString(value)
		bw.WriteByte('\n')
	}
	if r.File != "" {
		field("file", r.File)
	}
	if r.Region != "" {
		field("region", r.Region)
	}
	if r.Date != "" {
		field("date", r.Date)
	}
	if r.Accepted {
		field("result", "accepted")
	} else {
		field("result", "rejected: "+r.Reason)
	}
	itoa := strconv.Itoa
	field("rows", itoa(r.Rows))
	field("accepted", fmt.Sprintf("%d (red %d, yellow %d)", r.Records, r.Red, r.Yellow))
	field("duplicates", itoa(r.Duplicates))
	field("conflicts", itoa(r.Conflicts))
	field("invalid", itoa(r.Invalid))
	for _, e := range r.Errors {
		fmt.Fprintf(bw, "  line %d: %s\n", e.Line, e.Reason)
	}
	if more := r.Invalid - len(r.Errors); more > 0 {
		fmt.Fprintf(bw, "  ... and %d more\n", more)
	}
	field("bytes", strconv.FormatInt(r.Bytes, 10))
	field("seconds", strconv.FormatFloat(r.Seconds, 'f', 3, 64))
	return bw.Flush()
}

// Why a file was rejected, for errors.Is on a *RejectError. Each rejection
// wraps exactly one of these, or, for a failed read of the input itself,
// the reader's own error.
var (
	// ErrHeader: no header line, or one that does not name exactly id,
	// color and optionally since.
	ErrHeader = errors.New("loader: bad header")
	// ErrEncoding: not UTF-8 text: UTF-16, gzip data not marked as such,
	// or a header line with a NUL byte or invalid UTF-8 (a data row with
	// those is an invalid row).
	ErrEncoding = errors.New("loader: not UTF-8 text")
	// ErrLineTooLong: a line over MaxLineLength bytes.
	ErrLineTooLong = errors.New("loader: line too long")
	// ErrTooLarge: more than ParseOptions.MaxBytes decompressed bytes.
	ErrTooLarge = errors.New("loader: file too large")
	// ErrGzip: a corrupt, truncated or missing gzip stream.
	ErrGzip = errors.New("loader: bad gzip data")
	// ErrQuote: a quoted field still open at the end of the file.
	ErrQuote = errors.New("loader: unterminated quote")
	// ErrInvalidRows: more bad rows than ParseOptions.MaxInvalid.
	ErrInvalidRows = errors.New("loader: too many invalid rows")
)

// RejectError is the error of a rejected file. Error() is the report's
// Reason; Unwrap gives one of the Err* sentinels above (or the input's read
// error), so callers can pick a status code with errors.Is.
type RejectError struct {
	Report *Report
	cause  error
}

func (e *RejectError) Error() string { return e.Report.Reason }

func (e *RejectError) Unwrap() error { return e.cause }
