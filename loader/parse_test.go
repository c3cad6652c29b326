package loader

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/fixture"
)

// The clock and key every test validates against: "today" is 2026-11-27 in
// China Standard Time; files are dated the day before.
var (
	testCal  = engine.NewCalendar(engine.CST, func() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, engine.CST) })
	testKey  = engine.KeyFromBytes([engine.KeySize]byte{0: 7, 8: 9, 15: 1})
	testDate = engine.DateOf(2026, 11, 26)
)

// Valid IDs.
var (
	idA = "11010519491231002X"
	idB = "440524188001010014"
	idC = makeID("31010119900101123")
	idD = makeID("32058320001231456")
	idE = makeID("81000019850615001") // a residence permit
)

// seqID returns the i'th of a run of distinct valid IDs.
func seqID(i int) string {
	y, m, d := (engine.DateOf(1950, 1, 1) + engine.Day(i/1000)).Civil()
	return makeID(fmt.Sprintf("310101%04d%02d%02d%03d", y, m, d, i%1000))
}

// makeID appends the right check character to a 17-digit body.
func makeID(body string) string { return body + string(engine.CheckChar(body)) }

func testOptions() ParseOptions {
	return ParseOptions{Key: testKey, Calendar: testCal, Date: testDate}
}

// counts are a report's tallies, compared whole.
type counts struct {
	Rows, Records, Red, Yellow, Duplicates, Conflicts, Invalid int
}

func countsOf(r *Report) counts {
	return counts{r.Rows, r.Records, r.Red, r.Yellow, r.Duplicates, r.Conflicts, r.Invalid}
}

// rec is an expected record, by raw ID.
type rec struct {
	id, color, since string
}

type parseCase struct {
	name string
	in   string
	opts func(*ParseOptions) // changes to testOptions, if any
	gzip bool                // gzip in before parsing (and set Gzip)

	ok     bool
	reason string // the exact Reason; with a leading "~", a substring of it
	cause  error  // errors.Is of the rejection
	errs   []LineError
	counts counts
	want   []rec // the records of an accepted file; nil: not checked
}

func rows(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

func TestParseTable(t *testing.T) {
	badIDs := rows("id,color",
		"1101051949123100,red",             // 16 characters
		"1101051949A231002X,red",           // a letter
		"110105194913310021,red",           // month 13
		makeID("11010520261201002")+",red", // born in the future
		"110105194912310021,red",           // X is right
		"110105491231002,red",              // first generation
		"１１０１０５１９４９１２３１００２Ｘ,red",           // full-width digits
		idA+",red",
	)
	many := []string{"id,color"}
	for range 150 {
		many = append(many, idA+",blue")
	}
	many = append(many, idB+",red")

	tests := []parseCase{
		{
			name: "basic", in: rows("id,color,since", idA+",red,2026-11-01", idB+",yellow,"),
			ok: true, counts: counts{Rows: 2, Records: 2, Red: 1, Yellow: 1},
			want: []rec{{idA, "red", "2026-11-01"}, {idB, "yellow", ""}},
		},
		{
			name: "UTF-8 BOM", in: "\uFEFFid,color\n" + idA + ",red\n",
			ok: true, counts: counts{Rows: 1, Records: 1, Red: 1}, want: []rec{{idA, "red", ""}},
		},
		{
			name: "CRLF", in: "id,color,since\r\n" + idA + ",red,2026-11-26\r\n" + idB + ",Yellow,\r\n",
			ok: true, counts: counts{Rows: 2, Records: 2, Red: 1, Yellow: 1},
			want: []rec{{idA, "red", "2026-11-26"}, {idB, "yellow", ""}},
		},
		{
			name: "CRLF without a final line end", in: "id,color\r\n" + idA + ",red\r",
			ok: true, counts: counts{Rows: 1, Records: 1, Red: 1}, want: []rec{{idA, "red", ""}},
		},
		{
			name: "no final line end", in: "id,color\n" + idA + ",red",
			ok: true, counts: counts{Rows: 1, Records: 1, Red: 1}, want: []rec{{idA, "red", ""}},
		},
		{
			name: "quoted fields",
			in: rows(`"id","color","since"`,
				`"`+idA+`","red","2026-11-01"`,
				` "`+idB+`" ,	"YELLOW"	,""`,
				`" `+idC+` ",red," 2026-01-02 "`),
			ok: true, counts: counts{Rows: 3, Records: 3, Red: 2, Yellow: 1},
			want: []rec{{idA, "red", "2026-11-01"}, {idB, "yellow", ""}, {idC, "red", "2026-01-02"}},
		},
		{
			name: "quote escapes and commas in quotes",
			in: rows("id,color",
				idA+`,"re""d"`,
				idB+`,"red,yellow"`,
				idC+`,"red"x`,
				idD+`,re"d`,
				`"`+idE+`",red`),
			counts: counts{Rows: 5, Records: 1, Red: 1, Invalid: 4},
			cause:  ErrInvalidRows,
			reason: `4 invalid rows; the first is line 2: color: "re\"d" is not red or yellow`,
			errs: []LineError{
				{2, `color: "re\"d" is not red or yellow`},
				{3, `color: "red,yellow" is not red or yellow`},
				{4, "text after a closing quote"},
				{5, `a " inside an unquoted field (quote the whole field and double the ")`},
			},
		},
		{
			name:  "blank lines anywhere",
			in:    "\n\nid,color\n\n" + idA + ",red\n \t\n" + idB + ",red\n" + idC + ",blue\n\n  \n\t\n\r\n",
			cause: ErrInvalidRows, reason: `1 invalid row; the first is line 8: color: "blue" is not red or yellow`,
			counts: counts{Rows: 3, Records: 2, Red: 2, Invalid: 1},
			errs:   []LineError{{8, `color: "blue" is not red or yellow`}},
		},
		{
			name: "trailing blank lines", in: "id,color\n" + idA + ",red\n\n\n   \n\t\n",
			ok: true, counts: counts{Rows: 1, Records: 1, Red: 1},
		},
		{
			name: "columns in another order", in: rows(" Color ,SINCE,\tID", "red,2026-03-04,"+idA, "yellow,,"+idB),
			ok: true, counts: counts{Rows: 2, Records: 2, Red: 1, Yellow: 1},
			want: []rec{{idA, "red", "2026-03-04"}, {idB, "yellow", ""}},
		},
		{
			name: "since omitted", in: rows("color,id", "red,"+idA, "YeLLoW,"+idB),
			ok: true, counts: counts{Rows: 2, Records: 2, Red: 1, Yellow: 1},
			want: []rec{{idA, "red", ""}, {idB, "yellow", ""}},
		},
		{
			name: "fields trimmed, lowercase x", in: rows("id,color,since", " \t"+strings.ToLower(idA)+"\t , red ,\t2026-11-26 "),
			ok: true, counts: counts{Rows: 1, Records: 1, Red: 1}, want: []rec{{idA, "red", "2026-11-26"}},
		},
		{
			name: "header only", in: "id,color,since\n",
			ok: true, counts: counts{}, want: []rec{},
		},
		{
			name: "header only without a line end", in: "id,color",
			ok: true, counts: counts{}, want: []rec{},
		},

		// The header: its faults name its line.
		{
			name: "extra column", in: rows("id,color,name", idA+",red,x"),
			cause: ErrHeader, reason: `line 1: header: unknown column "name" (files carry only id, color and since)`,
			errs: []LineError{{1, `header: unknown column "name" (files carry only id, color and since)`}},
		},
		{
			name: "no header", in: rows(idA+",red", idB+",red"),
			cause: ErrHeader, reason: "line 1: header: column 1 is not id, color or since (is the header line missing?)",
			errs: []LineError{{1, "header: column 1 is not id, color or since (is the header line missing?)"}},
		},
		{
			name: "very wide header", in: rows("id,color" + strings.Repeat(",", 1000)),
			cause: ErrHeader, reason: "line 1: header: column 3 has no name (want id, color and optionally since)",
			errs: []LineError{{1, "header: column 3 has no name (want id, color and optionally since)"}},
		},
		{
			name: "four columns", in: rows("since,id,color,id"),
			cause: ErrHeader, reason: `line 1: header: column "id" appears twice`,
			errs: []LineError{{1, `header: column "id" appears twice`}},
		},
		{
			name: "missing color column", in: rows("id,since", idA+",2026-01-01"),
			cause: ErrHeader, reason: `line 1: header: no "color" column (want id,color[,since])`,
			errs: []LineError{{1, `header: no "color" column (want id,color[,since])`}},
		},
		{
			name: "missing id column", in: rows("color", "red"),
			cause: ErrHeader, reason: `line 1: header: no "id" column (want id,color[,since])`,
			errs: []LineError{{1, `header: no "id" column (want id,color[,since])`}},
		},
		{
			name: "duplicate column", in: rows("id,color,Color ", idA+",red,red"),
			cause: ErrHeader, reason: `line 1: header: column "color" appears twice`,
			errs: []LineError{{1, `header: column "color" appears twice`}},
		},
		{
			name: "unnamed column", in: rows("id,color,", idA+",red,"),
			cause: ErrHeader, reason: "line 1: header: column 3 has no name (want id, color and optionally since)",
			errs: []LineError{{1, "header: column 3 has no name (want id, color and optionally since)"}},
		},
		{
			name: "Unicode look-alike column name", in: rows("id,color,\u017Fince"),
			cause: ErrHeader, reason: "line 1: header: column 3 is not id, color or since (is the header line missing?)",
			errs: []LineError{{1, "header: column 3 is not id, color or since (is the header line missing?)"}},
		},
		{
			name: "bad quoting in the header", in: rows(`id,"color`),
			cause: ErrHeader, reason: "line 1: header: a quoted field is not closed on its line (a newline inside quotes is not allowed)",
			errs: []LineError{{1, "header: a quoted field is not closed on its line (a newline inside quotes is not allowed)"}},
		},
		{
			name: "header after blank lines", in: "\n \r\nid,colour\n" + idA + ",red\n",
			cause: ErrHeader, reason: `line 3: header: unknown column "colour" (files carry only id, color and since)`,
			errs: []LineError{{3, `header: unknown column "colour" (files carry only id, color and since)`}},
		},
		{
			name: "empty file", in: "",
			cause: ErrHeader, reason: "empty file: no header line (want id,color[,since])",
		},
		{
			name: "only blank lines", in: "\n \n\t\r\n",
			cause: ErrHeader, reason: "empty file: no header line (want id,color[,since])",
		},
		{
			name: "BOM only", in: "\uFEFF",
			cause: ErrHeader, reason: "empty file: no header line (want id,color[,since])",
		},

		// Encodings.
		{
			name: "NUL byte", in: rows("id,color", idA+",red", idB+"\x00,red"),
			cause: ErrInvalidRows, reason: "1 invalid row; the first is line 3: contains a NUL byte: not a text file",
			counts: counts{Rows: 2, Records: 1, Red: 1, Invalid: 1},
			errs:   []LineError{{3, "contains a NUL byte: not a text file"}},
		},
		{
			name: "NUL bytes on many lines", in: nulLines(150),
			cause: ErrInvalidRows, reason: "150 invalid rows; the first is line 3: contains a NUL byte: not a text file",
			counts: counts{Rows: 301, Records: 151, Red: 151, Invalid: 150},
			errs:   everyOther(3, MaxLineErrors, "contains a NUL byte: not a text file"),
		},
		{
			name: "NUL bytes tolerated", in: nulLines(3), opts: func(o *ParseOptions) { o.MaxInvalid = 3 },
			ok: true, counts: counts{Rows: 7, Records: 4, Red: 4, Invalid: 3},
			errs: everyOther(3, 3, "contains a NUL byte: not a text file"),
		},
		{
			name: "NUL byte in the header", in: rows("id,co\x00lor", idA+",red"),
			cause: ErrEncoding, reason: "line 1: contains a NUL byte: not a text file",
			errs: []LineError{{1, "contains a NUL byte: not a text file"}},
		},
		{
			name: "invalid UTF-8", in: rows("id,color", idA+",red", idB+",r\xffed"),
			cause: ErrInvalidRows, reason: "1 invalid row; the first is line 3: not valid UTF-8 (GBK or another encoding?): save the file as UTF-8",
			counts: counts{Rows: 2, Records: 1, Red: 1, Invalid: 1},
			errs:   []LineError{{3, "not valid UTF-8 (GBK or another encoding?): save the file as UTF-8"}},
		},
		{
			name: "GBK", in: rows("id,color", idA+",\xba\xec", idB+",\xbb\xc6"), // 红, 黄
			cause: ErrInvalidRows, reason: "2 invalid rows; the first is line 2: not valid UTF-8 (GBK or another encoding?): save the file as UTF-8",
			counts: counts{Rows: 2, Invalid: 2},
			errs:   repeatErr(2, 2, "not valid UTF-8 (GBK or another encoding?): save the file as UTF-8"),
		},
		{
			name: "GBK header", in: rows("\xc9\xed\xb7\xdd\xd6\xa4,color", idA+",red"), // 身份证
			cause: ErrEncoding, reason: "line 1: not valid UTF-8 (GBK or another encoding?): save the file as UTF-8",
			errs: []LineError{{1, "not valid UTF-8 (GBK or another encoding?): save the file as UTF-8"}},
		},
		{
			name: "UTF-16LE with BOM", in: utf16LE(true, rows("id,color", idA+",red")),
			cause: ErrEncoding, reason: "the file starts with a UTF-16 byte order mark (FF FE): it looks like UTF-16; save it as UTF-8",
		},
		{
			name: "UTF-16BE with BOM", in: utf16BE(rows("id,color", idA+",red")),
			cause: ErrEncoding, reason: "the file starts with a UTF-16 byte order mark (FE FF): it looks like UTF-16; save it as UTF-8",
		},
		{
			name: "UTF-16LE without BOM", in: utf16LE(false, rows("id,color", idA+",red")),
			cause: ErrEncoding, reason: "line 1: contains NUL bytes: the file looks like UTF-16; save it as UTF-8",
			errs: []LineError{{1, "contains NUL bytes: the file looks like UTF-16; save it as UTF-8"}},
		},
		{
			name: "gzip not declared", in: gzipString(rows("id,color", idA+",red")),
			cause: ErrEncoding, reason: "the file is gzip data but was not declared gzip: name it .csv.gz or send Content-Encoding: gzip",
		},
		{
			name: "gzip twice", in: gzipString(rows("id,color", idA+",red")), gzip: true,
			cause: ErrEncoding, reason: "the file is gzip-compressed twice (a .csv.gz sent with Content-Encoding: gzip?)",
		},

		// Quotes across lines.
		{
			name: "unterminated quote at the end of the file", in: rows("id,color", idA+",red", idB+`,"red`),
			cause: ErrQuote, reason: "line 3: a quoted field is still open at the end of the file (truncated file?)",
			counts: counts{Rows: 2, Records: 1, Red: 1, Invalid: 1},
			errs:   []LineError{{3, "a quoted field is not closed on its line (a newline inside quotes is not allowed)"}},
		},
		{
			name: "unterminated quote, then blank lines", in: "id,color\n" + idA + `,"red` + "\n\n \n",
			cause: ErrQuote, reason: "line 2: a quoted field is still open at the end of the file (truncated file?)",
			counts: counts{Rows: 1, Invalid: 1},
			errs:   []LineError{{2, "a quoted field is not closed on its line (a newline inside quotes is not allowed)"}},
		},
		{
			name: "newline inside quotes", in: rows("id,color", idA+`,"re`, `d"`, idB+",red"),
			cause: ErrInvalidRows, reason: "2 invalid rows; the first is line 2: a quoted field is not closed on its line (a newline inside quotes is not allowed)",
			counts: counts{Rows: 3, Records: 1, Red: 1, Invalid: 2},
			errs: []LineError{
				{2, "a quoted field is not closed on its line (a newline inside quotes is not allowed)"},
				{3, `a " inside an unquoted field (quote the whole field and double the ")`},
			},
		},

		// Line length.
		{
			name: "1024-byte line", in: rows("id,color", idA+",red"+strings.Repeat(" ", 1024-len(idA)-4)),
			ok: true, counts: counts{Rows: 1, Records: 1, Red: 1},
		},
		{
			name: "1024-byte line with CRLF", in: "id,color\r\n" + idA + ",red" + strings.Repeat(" ", 1024-len(idA)-4) + "\r\n",
			ok: true, counts: counts{Rows: 1, Records: 1, Red: 1},
		},
		{
			name: "1025-byte line", in: rows("id,color", idA+",red", idB+",red"+strings.Repeat(" ", 1025-len(idB)-4), idC+",red"),
			cause: ErrLineTooLong, reason: "line 3: longer than 1024 bytes",
			counts: counts{Rows: 1, Records: 1, Red: 1},
			errs:   []LineError{{3, "longer than 1024 bytes"}},
		},
		{
			name: "1025-byte line at the end, no line end", in: "id,color\n" + strings.Repeat("x", 1025),
			cause: ErrLineTooLong, reason: "line 2: longer than 1024 bytes",
			errs: []LineError{{2, "longer than 1024 bytes"}},
		},
		{
			name: "100 KiB line", in: rows("id,color", strings.Repeat("1", 100<<10)),
			cause: ErrLineTooLong, reason: "line 2: longer than 1024 bytes",
			errs: []LineError{{2, "longer than 1024 bytes"}},
		},
		{
			name: "lone CR line ends", in: strings.Repeat("id,color\r"+idA+",red\r", 40),
			cause: ErrLineTooLong, reason: "line 1: longer than 1024 bytes (lines ending in a lone CR? use LF or CRLF line ends)",
			errs: []LineError{{1, "longer than 1024 bytes (lines ending in a lone CR? use LF or CRLF line ends)"}},
		},

		// Row faults.
		{
			name: "bad IDs", in: badIDs, opts: func(o *ParseOptions) { o.MaxInvalid = 7 },
			ok: true, counts: counts{Rows: 8, Records: 1, Red: 1, Invalid: 7},
			errs: []LineError{
				{2, "id: length"}, {3, "id: non-digit"}, {4, "id: date"}, {5, "id: date"},
				{6, "id: check digit"}, {7, "id: legacy 15-digit"}, {8, "id: length"},
			},
			want: []rec{{idA, "red", ""}},
		},
		{
			name: "bad IDs rejected", in: badIDs,
			cause: ErrInvalidRows, reason: "7 invalid rows; the first is line 2: id: length",
			counts: counts{Rows: 8, Records: 1, Red: 1, Invalid: 7},
			errs: []LineError{
				{2, "id: length"}, {3, "id: non-digit"}, {4, "id: date"}, {5, "id: date"},
				{6, "id: check digit"}, {7, "id: legacy 15-digit"}, {8, "id: length"},
			},
		},
		{
			name:   "bad colours",
			in:     rows("id,color", idA+",blue", idA+",", idA+",  ", idA+",green", idA+","+idB, idA+",红", idA+",reds", idA+",Red"),
			opts:   func(o *ParseOptions) { o.MaxInvalid = 100 },
			ok:     true,
			counts: counts{Rows: 8, Records: 1, Red: 1, Invalid: 7},
			errs: []LineError{
				{2, `color: "blue" is not red or yellow`}, {3, "color: empty"}, {4, "color: empty"},
				{5, `color: "green" is not red or yellow`}, {6, "color: not red or yellow"},
				{7, "color: not red or yellow"}, {8, `color: "reds" is not red or yellow`},
			},
			want: []rec{{idA, "red", ""}},
		},
		{
			name: "bad since dates",
			in: rows("id,color,since",
				idA+",red,2026/11/01",
				idA+",red,2026-02-30",
				idA+",red,2026-13-01",
				idA+",red,2026-11-27",
				idA+",red,1969-12-31",
				idA+",red,1799-01-01",
				idA+",red,2150-01-01",
				idA+",red,"+idB,
				idA+",red,20261101",
				idA+",red,2026-11-26",
				idA+",red,1970-01-01",
			),
			opts:   func(o *ParseOptions) { o.MaxInvalid = 9 },
			ok:     true,
			counts: counts{Rows: 11, Records: 1, Red: 1, Duplicates: 1, Invalid: 9},
			errs: []LineError{
				{2, `since: "2026/11/01" is not a date (want YYYY-MM-DD)`},
				{3, "since: 2026-02-30 is not a real date"},
				{4, "since: 2026-13-01 is not a real date"},
				{5, "since: 2026-11-27 is after the list date 2026-11-26"},
				{6, "since: 1969-12-31 is outside 1970-01-01 to 2149-06-05"},
				{7, "since: 1799-01-01 is outside 1970-01-01 to 2149-06-05"},
				{8, "since: 2150-01-01 is outside 1970-01-01 to 2149-06-05"},
				{9, "since: not a date (want YYYY-MM-DD)"},
				{10, `since: "20261101" is not a date (want YYYY-MM-DD)`},
			},
			want: []rec{{idA, "red", "1970-01-01"}},
		},
		{
			name: "list date defaults to today", in: rows("id,color,since", idA+",red,2026-11-27", idB+",red,2026-11-28"),
			opts:  func(o *ParseOptions) { o.Date = 0 },
			cause: ErrInvalidRows, reason: "1 invalid row; the first is line 3: since: 2026-11-28 is after the list date 2026-11-27",
			counts: counts{Rows: 2, Records: 1, Red: 1, Invalid: 1},
			errs:   []LineError{{3, "since: 2026-11-28 is after the list date 2026-11-27"}},
		},
		{
			name: "empty id", in: rows("id,color", ",red", " \t ,red", `"",red`, idA+",red"),
			cause: ErrInvalidRows, reason: "3 invalid rows; the first is line 2: id: empty",
			counts: counts{Rows: 4, Records: 1, Red: 1, Invalid: 3},
			errs:   []LineError{{2, "id: empty"}, {3, "id: empty"}, {4, "id: empty"}},
		},
		{
			name: "wrong field count", in: rows("id,color", idA+",red,2026-11-01", idB, idC+",red,", ",", idD+",red"),
			cause: ErrInvalidRows, reason: "4 invalid rows; the first is line 2: 3 fields, header has 2",
			counts: counts{Rows: 5, Records: 1, Red: 1, Invalid: 4},
			errs: []LineError{
				{2, "3 fields, header has 2"}, {3, "1 field, header has 2"}, {4, "3 fields, header has 2"}, {5, "id: empty"},
			},
		},
		{
			name: "repeated header", in: rows("id,color", idA+",red", "ID,Color", idB+",red"),
			cause: ErrInvalidRows, reason: "1 invalid row; the first is line 3: id: a repeated header line",
			counts: counts{Rows: 3, Records: 2, Red: 2, Invalid: 1},
			errs:   []LineError{{3, "id: a repeated header line"}},
		},
		{
			name: "150 bad rows", in: rows(many...),
			cause: ErrInvalidRows, reason: `150 invalid rows; the first is line 2: color: "blue" is not red or yellow`,
			counts: counts{Rows: 151, Records: 1, Red: 1, Invalid: 150},
			errs:   repeatErr(2, 100, `color: "blue" is not red or yellow`),
		},
		{
			name: "150 bad rows tolerated", in: rows(many...), opts: func(o *ParseOptions) { o.MaxInvalid = 150 },
			ok: true, counts: counts{Rows: 151, Records: 1, Red: 1, Invalid: 150},
			errs: repeatErr(2, 100, `color: "blue" is not red or yellow`),
			want: []rec{{idB, "red", ""}},
		},
		{
			name: "max invalid: one short", in: rows("id,color", idA+",red", idB+",bleu", "x,red", idC+",yellow"),
			opts:  func(o *ParseOptions) { o.MaxInvalid = 1 },
			cause: ErrInvalidRows, reason: `2 invalid rows, more than the 1 allowed; the first is line 3: color: "bleu" is not red or yellow`,
			counts: counts{Rows: 4, Records: 2, Red: 1, Yellow: 1, Invalid: 2},
			errs:   []LineError{{3, `color: "bleu" is not red or yellow`}, {4, "id: length"}},
		},
		{
			name: "max invalid: enough", in: rows("id,color", idA+",red", idB+",bleu", "x,red", idC+",yellow"),
			opts: func(o *ParseOptions) { o.MaxInvalid = 2 },
			ok:   true, counts: counts{Rows: 4, Records: 2, Red: 1, Yellow: 1, Invalid: 2},
			errs: []LineError{{3, `color: "bleu" is not red or yellow`}, {4, "id: length"}},
			want: []rec{{idA, "red", ""}, {idC, "yellow", ""}},
		},

		// Merging.
		{
			name: "duplicates and conflicts",
			in: rows("id,color,since",
				idA+",red,2026-11-05", idA+",red,", idA+",red,2026-11-01", // two duplicates
				idB+",yellow,2026-10-01", idB+",red,", idB+",red,2026-11-20", idB+",yellow,2026-09-01", // one of each, and a conflict
				idC+",yellow,", idC+",YELLOW,2026-01-01", // a duplicate
				idD+",yellow,", idD+",red,", // a conflict, no dates
				idE+",yellow,2026-11-02",
			),
			ok: true, counts: counts{Rows: 12, Records: 5, Red: 3, Yellow: 2, Duplicates: 5, Conflicts: 2},
			want: []rec{
				{idA, "red", "2026-11-01"}, {idB, "red", "2026-11-20"}, {idC, "yellow", "2026-01-01"},
				{idD, "red", ""}, {idE, "yellow", "2026-11-02"},
			},
		},
		{
			name: "lowercase x is the same person", in: rows("id,color", idA+",yellow", strings.ToLower(idA)+",red"),
			ok: true, counts: counts{Rows: 2, Records: 1, Red: 1, Conflicts: 1}, want: []rec{{idA, "red", ""}},
		},

		// Gzip.
		{
			name: "gzip", in: rows("id,color,since", idA+",red,2026-11-01", idB+",yellow,"), gzip: true,
			ok: true, counts: counts{Rows: 2, Records: 2, Red: 1, Yellow: 1},
			want: []rec{{idA, "red", "2026-11-01"}, {idB, "yellow", ""}},
		},
		{
			name: "gzip, header only", in: "id,color\n", gzip: true,
			ok: true, counts: counts{}, want: []rec{},
		},
		{
			name: "gzip of an empty file", in: "", gzip: true,
			cause: ErrHeader, reason: "empty file: no header line (want id,color[,since])",
		},
		{
			name: "gzip of a bad file", in: rows("id,color", idA+",blue"), gzip: true,
			cause: ErrInvalidRows, reason: `1 invalid row; the first is line 2: color: "blue" is not red or yellow`,
			counts: counts{Rows: 1, Invalid: 1},
			errs:   []LineError{{2, `color: "blue" is not red or yellow`}},
		},
		{
			name: "not gzip", in: rows("id,color", idA+",red"), opts: func(o *ParseOptions) { o.Gzip = true },
			cause: ErrGzip, reason: "not gzip data (the file was declared gzip: .csv.gz or Content-Encoding: gzip)",
		},
		{
			name: "gzip declared, empty input", in: "", opts: func(o *ParseOptions) { o.Gzip = true },
			cause: ErrGzip, reason: "not gzip data: the input is empty",
		},
		{
			name: "gzip truncated", in: gzipString(rows("id,color", idA+",red", idB+",red"))[:30], opts: func(o *ParseOptions) { o.Gzip = true },
			cause: ErrGzip, reason: "gzip: unexpected end of data (truncated upload?)",
		},
		{
			name: "gzip truncated in the header", in: gzipString(rows("id,color"))[:5], opts: func(o *ParseOptions) { o.Gzip = true },
			cause: ErrGzip, reason: "gzip: unexpected end of data (truncated upload?)",
		},
		{
			name: "gzip without its trailer", in: dropTail(gzipString(rows("id,color", idA+",red")), 8), opts: func(o *ParseOptions) { o.Gzip = true },
			cause: ErrGzip, reason: "gzip: unexpected end of data (truncated upload?)",
			counts: counts{Rows: 1, Records: 1, Red: 1},
		},
		{
			name: "gzip checksum", in: flipByte(gzipString(rows("id,color", idA+",red")), -8), opts: func(o *ParseOptions) { o.Gzip = true },
			cause: ErrGzip, reason: "gzip: checksum mismatch (corrupt or truncated file)",
			counts: counts{Rows: 1, Records: 1, Red: 1},
		},
		{
			name: "gzip corrupt", in: corruptDeflate(), opts: func(o *ParseOptions) { o.Gzip = true },
			cause: ErrGzip, reason: "~gzip: corrupt data at byte ",
		},
		{
			name: "gzip with trailing garbage", in: gzipString(rows("id,color", idA+",red")) + "garbage!!!", opts: func(o *ParseOptions) { o.Gzip = true },
			cause: ErrGzip, reason: "gzip: data after the end of the compressed stream is not gzip (corrupt file?)",
			counts: counts{Rows: 1, Records: 1, Red: 1},
		},
		{
			name: "gzip, two members", in: gzipString(rows("id,color", idA+",red")) + gzipString(rows(idB+",yellow")), opts: func(o *ParseOptions) { o.Gzip = true },
			ok: true, counts: counts{Rows: 2, Records: 2, Red: 1, Yellow: 1},
		},

		// Size.
		{
			name: "over the size limit", in: rows("id,color", idA+",red", idB+",red", idC+",red"),
			opts:  func(o *ParseOptions) { o.MaxBytes = 40 },
			cause: ErrTooLarge, reason: "the file is larger than the 40 bytes limit (decompressed)",
			counts: counts{Rows: 1, Records: 1, Red: 1},
		},
		{
			name: "exactly the size limit", in: rows("id,color", idA+",red"),
			opts: func(o *ParseOptions) { o.MaxBytes = int64(len(rows("id,color", idA+",red"))) },
			ok:   true, counts: counts{Rows: 1, Records: 1, Red: 1},
		},
		{
			name: "gzip over the size limit", in: rows("id,color", idA+",red", idB+",red", idC+",red"), gzip: true,
			opts:  func(o *ParseOptions) { o.MaxBytes = 1 << 10 >> 4 },
			cause: ErrTooLarge, reason: "the file is larger than the 64 bytes limit (decompressed)",
			counts: counts{Rows: 2, Records: 2, Red: 2},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOptions()
			in := tc.in
			if tc.gzip {
				in = gzipString(in)
				opts.Gzip = true
			}
			if tc.opts != nil {
				tc.opts(&opts)
			}
			recs, rep, err := Parse(strings.NewReader(in), opts)
			checkReport(t, tc.in, recs, rep, err)
			if tc.ok != rep.Accepted || tc.ok != (err == nil) {
				t.Fatalf("accepted = %v, err = %v, want accepted %v", rep.Accepted, err, tc.ok)
			}
			switch {
			case strings.HasPrefix(tc.reason, "~"):
				if !strings.Contains(rep.Reason, tc.reason[1:]) {
					t.Errorf("reason %q does not contain %q", rep.Reason, tc.reason[1:])
				}
			case rep.Reason != tc.reason:
				t.Errorf("reason\n got %q\nwant %q", rep.Reason, tc.reason)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.cause)
			}
			if !slices.Equal(rep.Errors, tc.errs) {
				t.Errorf("errors\n got %+v\nwant %+v", rep.Errors, tc.errs)
			}
			if got := countsOf(rep); got != tc.counts {
				t.Errorf("counts\n got %+v\nwant %+v", got, tc.counts)
			}
			if tc.want != nil {
				checkRecords(t, recs, tc.want)
			}
			if tc.ok && !opts.Gzip && rep.Bytes != int64(len(in)) {
				t.Errorf("bytes = %d, want %d", rep.Bytes, len(in))
			}
		})
	}
}

// checkReport checks what holds for every parse: the report's invariants,
// the error's shape, and that no ID from the input leaks into the report.
func checkReport(t *testing.T, input string, recs []Record, rep *Report, err error) {
	t.Helper()
	if rep == nil {
		t.Fatal("nil report")
	}
	if msg := reportInvariants(recs, rep, err); msg != "" {
		t.Fatal(msg)
	}
	if leak := leakedID(input, rep); leak != "" {
		t.Fatalf("the report contains %q from the input", leak)
	}
}

// reportInvariants returns what is wrong with a parse's results, or "".
func reportInvariants(recs []Record, rep *Report, err error) string {
	switch {
	case rep.Records != rep.Red+rep.Yellow:
		return fmt.Sprintf("records %d != red %d + yellow %d", rep.Records, rep.Red, rep.Yellow)
	case rep.Rows != rep.Records+rep.Duplicates+rep.Conflicts+rep.Invalid:
		return fmt.Sprintf("rows %d != records %d + duplicates %d + conflicts %d + invalid %d",
			rep.Rows, rep.Records, rep.Duplicates, rep.Conflicts, rep.Invalid)
	case len(rep.Errors) > MaxLineErrors:
		return fmt.Sprintf("%d errors listed", len(rep.Errors))
	case len(rep.Errors) != min(rep.Invalid, MaxLineErrors) && (err == nil || len(rep.Errors) != min(rep.Invalid+1, MaxLineErrors)):
		// A rejected file may list the line that stopped it too.
		return fmt.Sprintf("%d errors listed, %d invalid", len(rep.Errors), rep.Invalid)
	case rep.Accepted != (err == nil):
		return fmt.Sprintf("accepted %v with err %v", rep.Accepted, err)
	case rep.Accepted != (rep.Reason == ""):
		return fmt.Sprintf("accepted %v with reason %q", rep.Accepted, rep.Reason)
	case rep.Seconds < 0 || rep.Bytes < 0:
		return "negative bytes or seconds"
	}
	for i := 1; i < len(rep.Errors); i++ {
		if rep.Errors[i].Line <= rep.Errors[i-1].Line {
			return fmt.Sprintf("error lines out of order: %v", rep.Errors)
		}
	}
	if err != nil {
		var re *RejectError
		if !errors.As(err, &re) || re.Report != rep || err.Error() != rep.Reason {
			return fmt.Sprintf("err %#v is not the report's *RejectError", err)
		}
		if errors.Unwrap(err) == nil {
			return "a rejection wraps no cause"
		}
		if recs != nil {
			return "records returned with a rejection"
		}
		return ""
	}
	if len(recs) != rep.Records {
		return fmt.Sprintf("%d records returned, report says %d", len(recs), rep.Records)
	}
	red := 0
	for i, r := range recs {
		if i > 0 && recs[i-1].P >= r.P {
			return fmt.Sprintf("records not sorted strictly at %d", i)
		}
		switch {
		case r.Color == engine.Red:
			red++
		case r.Color != engine.Yellow:
			return fmt.Sprintf("record colour %v", r.Color)
		}
		if r.Since != engine.NoDay && (r.Since < engine.MinSince || r.Since > engine.MaxSince) {
			return fmt.Sprintf("record since %d", r.Since)
		}
	}
	if red != rep.Red {
		return fmt.Sprintf("%d red records, report says %d", red, rep.Red)
	}
	return ""
}

// longDigits matches anything that could be an ID or most of one.
var longDigits = regexp.MustCompile(`[0-9]{9,}`)

// leakedID returns a run of 9 or more digits of the input (an ID, a part of
// one) that appears in the report's JSON or text, or "".
func leakedID(input string, rep *Report) string {
	r := *rep
	r.Seconds = 0 // a float's digits could match by chance
	js, err := json.Marshal(&r)
	if err != nil {
		panic(err)
	}
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		panic(err)
	}
	// Compare digit runs of both sides; any shared 9-digit window is a leak.
	windows := make(map[string]bool)
	for _, run := range longDigits.FindAllString(input, -1) {
		for i := 0; i+9 <= len(run); i++ {
			windows[run[i:i+9]] = true
		}
	}
	if len(windows) == 0 {
		return ""
	}
	for _, out := range []string{string(js), text.String()} {
		for _, run := range longDigits.FindAllString(out, -1) {
			for i := 0; i+9 <= len(run); i++ {
				if windows[run[i:i+9]] {
					return run
				}
			}
		}
	}
	return ""
}

func checkRecords(t *testing.T, got []Record, want []rec) {
	t.Helper()
	exp := make([]Record, 0, len(want))
	for _, w := range want {
		p, err := testKey.Parse(testCal, w.id)
		if err != nil {
			t.Fatalf("bad test ID %s: %v", w.id, err)
		}
		c, ok := engine.ParseColor(w.color)
		if !ok {
			t.Fatalf("bad test colour %q", w.color)
		}
		since := engine.NoDay
		if w.since != "" {
			since, _ = engine.ParseDay(w.since)
		}
		exp = append(exp, Record{P: p, Color: c, Since: since})
	}
	slices.SortFunc(exp, func(a, b Record) int {
		if a.P < b.P {
			return -1
		}
		return 1
	})
	if !slices.Equal(got, exp) {
		t.Errorf("records\n got %v\nwant %v", got, exp)
	}
}

// nulLines is a file of n rows with a NUL byte, each after a good row.
func nulLines(n int) string {
	lines := []string{"id,color"}
	for i := range n {
		lines = append(lines, seqID(i)+",red", seqID(i+n)+",red\x00")
	}
	return rows(append(lines, idA+",red")...)
}

// everyOther is the errors of n bad lines from first, one line in two.
func everyOther(first, n int, reason string) []LineError {
	out := make([]LineError, n)
	for i := range out {
		out[i] = LineError{first + 2*i, reason}
	}
	return out
}

func repeatErr(first, n int, reason string) []LineError {
	out := make([]LineError, n)
	for i := range out {
		out[i] = LineError{first + i, reason}
	}
	return out
}

func utf16LE(bom bool, s string) string {
	var b []byte
	if bom {
		b = append(b, 0xFF, 0xFE)
	}
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return string(b)
}

func utf16BE(s string) string {
	b := []byte{0xFE, 0xFF}
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u>>8), byte(u))
	}
	return string(b)
}

func gzipString(s string) string { return string(gzipBytes([]byte(s))) }

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func dropTail(s string, n int) string { return s[:len(s)-n] }

// flipByte inverts the byte at i (negative: from the end).
func flipByte(s string, i int) string {
	b := []byte(s)
	if i < 0 {
		i += len(b)
	}
	b[i] ^= 0xFF
	return string(b)
}

// corruptDeflate is a gzip file whose deflate stream uses a reserved block
// type (the third bit pair of the first block set to 11).
func corruptDeflate() string {
	g := []byte(gzipString(rows("id,color", idA+",red")))
	g[10] |= 0x06 // BTYPE = 11 (reserved) in the first block header
	return string(g)
}

// TestGzipBomb: 100 MB of blank lines compressed to about 100 KB, with a
// 1 MiB limit, is refused after inflating at most 1 MiB + 1 byte and
// reading only the compressed bytes that produce it.
func TestGzipBomb(t *testing.T) {
	bomb := gzipBomb(t)
	opts := testOptions()
	opts.Gzip, opts.MaxBytes = true, 1<<20
	in := &countingReader{r: bytes.NewReader(bomb)}
	recs, rep, err := Parse(in, opts)
	checkReport(t, "", recs, rep, err)
	if !errors.Is(err, ErrTooLarge) || rep.Reason != "the file is larger than the 1 MiB limit (decompressed)" {
		t.Fatalf("err %v, reason %q", err, rep.Reason)
	}
	if rep.Bytes != 1<<20+1 {
		t.Errorf("inflated %d bytes, want 1 MiB + 1", rep.Bytes)
	}
	// About 1 KB of deflate makes 1 MiB of newlines; allow the read-ahead
	// buffers on top.
	if in.n > 1<<20/1000+2*bufSize {
		t.Errorf("read %d compressed bytes of %d for 1 MiB out", in.n, len(bomb))
	}
	if rep.Rows != 0 {
		t.Errorf("rows %d", rep.Rows)
	}
}

// A bomb of zeros stops at its first line, long before the size limit.
func TestGzipBombOfZeros(t *testing.T) {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zeros := make([]byte, 1<<20)
	for range 100 {
		zw.Write(zeros)
	}
	zw.Close()
	opts := testOptions()
	opts.Gzip, opts.MaxBytes = true, 1<<20
	recs, rep, err := Parse(bytes.NewReader(buf.Bytes()), opts)
	checkReport(t, "", recs, rep, err)
	if !errors.Is(err, ErrLineTooLong) || rep.Reason != "line 1: longer than 1024 bytes" {
		t.Fatalf("err %v, reason %q", err, rep.Reason)
	}
	if rep.Bytes > 1<<20+1 {
		t.Errorf("inflated %d bytes", rep.Bytes)
	}
}

func gzipBomb(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write([]byte("id,color\n"))
	nl := bytes.Repeat([]byte{'\n'}, 1<<20)
	for range 100 {
		zw.Write(nl)
	}
	zw.Close()
	if buf.Len() > 200<<10 {
		t.Fatalf("bomb is %d bytes", buf.Len())
	}
	return buf.Bytes()
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += n
	return n, err
}

// errReader fails after its data.
type errReader struct {
	data []byte
	err  error
}

func (e *errReader) Read(b []byte) (int, error) {
	if len(e.data) == 0 {
		return 0, e.err
	}
	n := copy(b, e.data)
	e.data = e.data[n:]
	return n, nil
}

func TestReadError(t *testing.T) {
	boom := errors.New("connection reset")
	for _, gz := range []bool{false, true} {
		data := []byte(rows("id,color", idA+",red", idB+",red"))
		if gz {
			data = gzipBytes(data)[:20]
		}
		opts := testOptions()
		opts.Gzip = gz
		recs, rep, err := Parse(&errReader{data, boom}, opts)
		checkReport(t, "", recs, rep, err)
		if !errors.Is(err, boom) || rep.Reason != "reading the file: connection reset" {
			t.Errorf("gzip %v: err %v, reason %q", gz, err, rep.Reason)
		}
	}
}

func TestProgress(t *testing.T) {
	var lines []string
	lines = append(lines, "id,color")
	for i := range 100000 {
		lines = append(lines, seqID(i)+",red")
	}
	data := rows(lines...)
	for _, gz := range []bool{false, true} {
		in := []byte(data)
		if gz {
			in = gzipBytes(in)
		}
		var calls []int64
		opts := testOptions()
		opts.Gzip = gz
		opts.Progress = func(n int64) { calls = append(calls, n) }
		_, rep, err := Parse(bytes.NewReader(in), opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(calls) == 0 || calls[len(calls)-1] != int64(len(in)) {
			t.Fatalf("gzip %v: progress %v, want it to end at %d", gz, calls, len(in))
		}
		if !slices.IsSorted(calls) {
			t.Errorf("progress goes back: %v", calls)
		}
		if !gz && len(calls) < 2 {
			t.Errorf("progress called %d times for %d bytes", len(calls), len(in))
		}
		if rep.Records != 100000 || rep.Bytes != int64(len(data)) {
			t.Errorf("records %d, bytes %d", rep.Records, rep.Bytes)
		}
	}
}

func TestReportJSON(t *testing.T) {
	_, rep, err := Parse(strings.NewReader(rows("id,color", idA+",red", idA+",red", idB+",blue")), testOptions())
	if err == nil {
		t.Fatal("accepted")
	}
	rep.File, rep.Region = "sh-2026-11-26.csv", "sh"
	js, _ := json.Marshal(rep)
	var m map[string]any
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatal(err)
	}
	want := []string{"file", "region", "date", "ok", "reason", "rows", "accepted", "red", "yellow",
		"duplicates", "conflicts", "invalid", "errors", "bytes", "seconds"}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Errorf("JSON keys %v, want %v", keys, want)
	}
	if m["ok"] != false || m["accepted"] != 1.0 || m["rows"] != 3.0 || m["date"] != "2026-11-26" {
		t.Errorf("JSON %s", js)
	}
	errs := m["errors"].([]any)
	if e := errs[0].(map[string]any); e["line"] != 4.0 || e["reason"] != `color: "blue" is not red or yellow` {
		t.Errorf("errors %v", errs)
	}
}

func TestWriteText(t *testing.T) {
	_, rep, _ := Parse(strings.NewReader(rows(append([]string{"id,color"}, slices.Repeat([]string{idA + ",blue"}, 102)...)...)), testOptions())
	rep.File, rep.Seconds = "sh-2026-11-26.csv", 0.25
	var b strings.Builder
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	for _, want := range []string{
		"file:       sh-2026-11-26.csv\n",
		"date:       2026-11-26\n",
		"result:     rejected: 102 invalid rows; the first is line 2: color: \"blue\" is not red or yellow\n",
		"rows:       102\n",
		"accepted:   0 (red 0, yellow 0)\n",
		"invalid:    102\n",
		"  line 2: color: \"blue\" is not red or yellow\n",
		"  line 101: color",
		"  ... and 2 more\n",
		"seconds:    0.250\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "line 102:") {
		t.Errorf("text lists more than 100 errors")
	}
}

// TestSplitFields pins the CSV splitter on its own.
func TestSplitFields(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		q    quoteFault
	}{
		{"", []string{""}, quoteOK},
		{"a", []string{"a"}, quoteOK},
		{"a,b", []string{"a", "b"}, quoteOK},
		{"a,,", []string{"a", "", ""}, quoteOK},
		{`"a,b",c`, []string{"a,b", "c"}, quoteOK},
		{`"a""b"""`, []string{`a"b"`}, quoteOK},
		{`""`, []string{""}, quoteOK},
		{`"",""`, []string{"", ""}, quoteOK},
		{` "a" , "b" `, []string{"a", "b"}, quoteOK},
		{`a,"b",`, []string{"a", "b", ""}, quoteOK},
		{`a,"b`, nil, quoteOpen},
		{`a,"b""`, nil, quoteOpen},
		{`"a"b`, nil, quoteAfter},
		{`a"b`, nil, quoteBare},
		{`a,b"`, nil, quoteBare},
	}
	var scratch [MaxLineLength]byte
	for _, tc := range tests {
		dst := make([][]byte, 8)
		n, q := splitFields([]byte(tc.in), dst, &scratch)
		if q != tc.q {
			t.Errorf("%q: fault %d, want %d", tc.in, q, tc.q)
			continue
		}
		if q != quoteOK {
			continue
		}
		var got []string
		for _, f := range dst[:n] {
			got = append(got, string(f))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q: %q, want %q", tc.in, got, tc.want)
		}
	}
}

func ExampleParse() {
	file := "id,color,since\n" +
		"11010519491231002X,red,2026-11-01\n" +
		"440524188001010014,Yellow,\n" +
		"440524188001010014,red,2026-11-20\n" +
		"110105194912310021,red,\n"
	cal := engine.NewCalendar(engine.CST, func() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, engine.CST) })
	recs, rep, err := Parse(strings.NewReader(file), ParseOptions{
		Key:        engine.Key{}, // tests only: a real key comes from the data directory
		Calendar:   cal,
		Date:       engine.DateOf(2026, 11, 26),
		MaxInvalid: 1,
	})
	fmt.Println(len(recs), err)
	fmt.Println(rep.Rows, rep.Records, rep.Red, rep.Yellow, rep.Conflicts, rep.Invalid)
	for _, e := range rep.Errors {
		fmt.Printf("line %d: %s\n", e.Line, e.Reason)
	}
	// Output:
	// 2 <nil>
	// 4 2 2 0 1 1
	// line 5: id: check digit
}

// TestSinceCache: since fields read through the cache parse as they do
// without it, whatever the order and however many collide in it: valid
// dates, dates after the list date or before MinSince, impossible and
// badly shaped ones.
func TestSinceCache(t *testing.T) {
	p := &parser{date: engine.DateOf(2026, 11, 26)}
	var fields []string
	for d := engine.DateOf(2026, 9, 1); d <= engine.DateOf(2026, 12, 31); d++ {
		fields = append(fields, d.String())
	}
	fields = append(fields, "1799-12-31", "1800-01-01", "2026-02-30", "2026-13-01", "2026-11-2x", "2026/11/20", "20261120ab")
	r := rand.New(rand.NewPCG(5, 6))
	for range 20_000 {
		s := []byte(fields[r.IntN(len(fields))])
		d, f := p.parseSince(s)
		if wd, wf := p.parseSinceSlow(s); d != wd || f != wf {
			t.Fatalf("%s: cached %v, %v; parsed %v, %v", s, d, f, wd, wf)
		}
	}
}

// onlyReader hides what a reader knows of its size, so Parse does not read
// it ahead.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(b []byte) (int, error) { return o.r.Read(b) }

// TestReadAhead: a large gzip file read ahead (its size known) parses as
// it does read in line, to the report and the rejection (but for up to the
// buffers read ahead of a line that stopped it): whole, truncated, corrupt,
// over the size limit, and rejected early for a long line.
func TestReadAhead(t *testing.T) {
	var raw bytes.Buffer
	raw.WriteString("id,color,since\n")
	for i, id := range fixture.IDs(11, 250_000) {
		fmt.Fprintf(&raw, "%s,%s,2026-11-%02d\n", id, fixture.Color(i), 1+i%25)
	}
	whole := gzipBytes(raw.Bytes())
	corrupt := bytes.Clone(whole)
	corrupt[len(corrupt)/2] ^= 0xFF
	long := gzipBytes(append(bytes.Clone(raw.Bytes()[:raw.Len()*3/4]), bytes.Repeat([]byte{'1'}, 2*MaxLineLength)...))
	for _, tc := range []struct {
		name     string
		in       []byte
		maxBytes int64
	}{
		{"whole", whole, 0},
		{"truncated", whole[:len(whole)*3/4], 0},
		{"corrupt", corrupt, 0},
		{"over the limit", whole, 2 << 20},
		{"long line", long, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.in) < aheadMinSize {
				t.Fatalf("%d bytes compressed, too few to be read ahead", len(tc.in))
			}
			opts := ParseOptions{Key: testKey, Calendar: testCal, Date: testDate, Gzip: true, MaxBytes: tc.maxBytes, MaxInvalid: 1 << 20}
			recs, rep, err := Parse(bytes.NewReader(tc.in), opts)
			wantRecs, wantRep, wantErr := Parse(onlyReader{bytes.NewReader(tc.in)}, opts)
			rep.Seconds, wantRep.Seconds = 0, 0
			// A file rejected before its end may have been inflated a few
			// buffers further ahead, never past the limit.
			if ahead := rep.Bytes - wantRep.Bytes; ahead < 0 || ahead > aheadBuffers*aheadSize || err == nil && ahead != 0 ||
				tc.maxBytes > 0 && rep.Bytes > tc.maxBytes+1 {
				t.Fatalf("read ahead: %d bytes inflated; in line: %d", rep.Bytes, wantRep.Bytes)
			}
			rep.Bytes = wantRep.Bytes
			if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
				t.Fatalf("read ahead: %v; in line: %v", err, wantErr)
			}
			if !slices.Equal(recs, wantRecs) || fmt.Sprint(rep) != fmt.Sprint(wantRep) {
				t.Fatalf("read ahead: %d records, %+v\nin line: %d records, %+v", len(recs), rep, len(wantRecs), wantRep)
			}
		})
	}
}
