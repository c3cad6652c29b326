package loader

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/fixture"
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

// FuzzPeople drives the merge of rows by person (people.go) with arbitrary
// sequences: each input byte is a run of rows of one of 64 people in one
// colour, with a since and a count of 1 to 16 from the next byte; with room
// for only 8 rows to wait, short inputs reach the early merges of long
// files. The records,
// counts and what OnValid saw must be those of a plain map.
func FuzzPeople(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3})
	f.Add([]byte{0x81, 0xff, 0x81, 0xff, 0x01, 0xff})
	f.Add(bytes.Repeat([]byte{7, 200, 9, 3}, 40))
	ids := fixture.IDs(70, 64)
	pseudo := make([]engine.Pseudonym, len(ids))
	for i, id := range ids {
		pseudo[i], _ = testKey.Parse(testCal, id)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		type ref struct {
			since   [2]engine.Day // yellow, red
			n       [2]int
			present bool
		}
		var want [64]ref
		tab := people{min: 8} // early merges within short inputs
		seen := map[string]bool{}
		onValid := func(id []byte, c engine.Status) { seen[string(id[:17])+c.String()] = true }
		rows := 0
		for i := 0; i+1 < len(data) && rows < 1<<14; i += 2 {
			who, c, red := int(data[i]&63), engine.Yellow, 0
			if data[i]&64 != 0 {
				c, red = engine.Red, 1
			}
			since := engine.NoDay
			if data[i+1]&7 != 0 {
				since = testDate - engine.Day(data[i+1]&7)
			}
			w := &want[who]
			for range 1 + int(data[i+1]>>4) {
				tab.add(pseudo[who], c, since, []byte(ids[who]), onValid)
				w.present = true
				w.n[red]++
				if w.n[red] == 1 {
					w.since[red] = since
				} else {
					w.since[red] = earlierSince(w.since[red], since)
				}
				rows++
			}
		}
		var rep Report
		recs, _ := tab.records(&rep, onValid)
		var exp []Record
		dups, conflicts := 0, 0
		wantSeen := map[string]bool{}
		for who, w := range want {
			if !w.present {
				continue
			}
			r := Record{P: pseudo[who], Color: engine.Yellow, Since: w.since[0]}
			if w.n[1] > 0 {
				r.Color, r.Since = engine.Red, w.since[1]
				wantSeen[ids[who][:17]+"red"] = true
			}
			if w.n[0] > 0 {
				wantSeen[ids[who][:17]+"yellow"] = true
			}
			exp = append(exp, r)
			dups += max(w.n[0]-1, 0) + max(w.n[1]-1, 0)
			if w.n[0] > 0 && w.n[1] > 0 {
				conflicts++
			}
		}
		slices.SortFunc(exp, func(a, b Record) int { return cmpP(a.P, b.P) })
		if !slices.Equal(recs, exp) || rep.Duplicates != dups || rep.Conflicts != conflicts || rep.Records != len(exp) {
			t.Fatalf("%d rows: got %d records, %d duplicates, %d conflicts; want %d, %d, %d", rows, len(recs), rep.Duplicates, rep.Conflicts, len(exp), dups, conflicts)
		}
		if fmt.Sprint(seen) != fmt.Sprint(wantSeen) {
			t.Fatalf("OnValid saw %v, want %v", seen, wantSeen)
		}
	})
}
