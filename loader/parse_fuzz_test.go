package loader

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse feeds arbitrary bytes to Parse, plain and as gzip. mode picks
// the variant: bits 0-1 plain (0), the raw bytes declared gzip (1), the bytes
// gzipped and declared gzip (2, which must give the same result as plain);
// bit 2 a size limit of half the input; bits 4-7 MaxInvalid.
// Parse must never panic, and its results must keep their invariants.
// Seeds: f.Add below and testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		rows("id,color,since", idA+",red,2026-11-01", idB+",yellow,", idA+",yellow,2026-01-01"),
		"\uFEFFid,color\r\n" + idA + ",red\r\n\r\n",
		rows(`"id","color"`, `"`+idA+`","re""d"`, ` "`+idB+`" , "red" `),
		rows("color,id", "blue,"+idA, ",", idB+",red,x"),
		rows("id,color", idA+`,"red`),
		utf16LE(true, rows("id,color", idA+",red")),
		"id,color",
		"id,color" + strings.Repeat(",", 600) + "\n",
		"",
	} {
		f.Add([]byte(s), byte(0))
		f.Add([]byte(s), byte(2|1<<4))
	}
	f.Add(gzipBytes([]byte(rows("id,color", idA+",red"))), byte(1))
	f.Fuzz(func(t *testing.T, data []byte, mode byte) {
		opts := testOptions()
		opts.MaxInvalid = int(mode >> 4)
		if mode&4 != 0 {
			opts.MaxBytes = int64(len(data)/2 + 1)
		}
		input := data
		switch mode & 3 {
		case 1:
			opts.Gzip = true
		case 2:
			opts.Gzip = true
			input = gzipBytes(data)
		}
		recs, rep, err := Parse(bytes.NewReader(input), opts)
		if msg := reportInvariants(recs, rep, err); msg != "" {
			t.Fatal(msg)
		}
		if leak := leakedID(string(data), rep); leak != "" {
			t.Fatalf("the report contains %q from the input", leak)
		}
		if rep.Bytes > opts.MaxBytes+1 && opts.MaxBytes > 0 {
			t.Fatalf("read %d bytes with a limit of %d", rep.Bytes, opts.MaxBytes)
		}
		if mode&3 == 2 && !bytes.HasPrefix(data, []byte{0x1F, 0x8B}) { // gzip twice is named as such
			// Compression changes nothing but the stream.
			popts := opts
			popts.Gzip = false
			precs, prep, perr := Parse(bytes.NewReader(data), popts)
			rep.Seconds, prep.Seconds = 0, 0
			if !reflect.DeepEqual(rep, prep) || !reflect.DeepEqual(recs, precs) || (err == nil) != (perr == nil) {
				t.Fatalf("gzip and plain differ:\n%+v\n%+v", rep, prep)
			}
		}
	})
}

// FuzzScanLine checks the one-pass line scanner against the plain way: the
// fields of a quote-free line, and its NUL, quote and non-ASCII flags.
func FuzzScanLine(f *testing.F) {
	for _, s := range []string{"", "a", ",", "a,b,c", "a,b,c,d,e", "1234567,9abcdef,", "\x00", "\"", "é,x", "12345678901234567,red,2026-01-01"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		sc := scanLine(line)
		want := func(cond bool, flag uint8) {
			if cond != (sc.flags&flag != 0) {
				t.Fatalf("%q: flags %b, flag %b should be %v", line, sc.flags, flag, cond)
			}
		}
		want(bytes.IndexByte(line, 0) >= 0, lineNUL)
		want(bytes.IndexByte(line, '"') >= 0, lineQuote)
		ascii := true
		for _, c := range line {
			ascii = ascii && c < utf8.RuneSelf
		}
		want(!ascii, lineHigh)
		if sc.ncommas != bytes.Count(line, []byte{','}) {
			t.Fatalf("%q: %d commas", line, sc.ncommas)
		}
		if sc.flags&lineQuote != 0 {
			return
		}
		var got [maxCols][]byte
		n := sc.fields(line, &got)
		parts := bytes.Split(line, []byte{','})
		if n != len(parts) {
			t.Fatalf("%q: %d fields, want %d", line, n, len(parts))
		}
		for i := range min(n, maxCols) {
			if !bytes.Equal(got[i], parts[i]) {
				t.Fatalf("%q: field %d is %q, want %q", line, i, got[i], parts[i])
			}
		}
		var scratch [MaxLineLength]byte
		if len(line) <= MaxLineLength {
			dst := make([][]byte, maxCols)
			m, q := splitFields(line, dst, &scratch)
			if q != quoteOK || m != n || fmt.Sprint(dst[:min(m, maxCols)]) != fmt.Sprint(got[:min(n, maxCols)]) {
				t.Fatalf("%q: splitFields %d %v, scanLine %d %v", line, m, dst, n, got)
			}
		}
	})
}
