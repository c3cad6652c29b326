package server

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/yrd-hcx/hcx/internal/fixture"
)

// FuzzJSONIDs: the in-place scan of {"ids":[...]} finds what encoding/json
// finds whenever it accepts a body, and jsonIDs (scan, else encoding/json)
// agrees with encoding/json on every body: the same IDs, or an error.
func FuzzJSONIDs(f *testing.F) {
	for _, s := range []string{
		`{"ids":["11010519491231002X","x"]}`, ` { "ids" : [ ] } `, `{"ids":[]}x`, `{"ids":["a\"b"]}`, `{"IDS":["a"]}`,
		`{"ids":["a"],"ids":["b"]}`, `{"ids":null}`, `{"ids":[null]}`, `{"ids":[1]}`, `{"ids":["\u0031"]}`, "{\"ids\":[\"\xff\"]}",
		`{"ids":["a",]}`, `{"ids":["a"`, `[]`, `null`, ``, "{\"ids\":[\"\t\"]}", `{"other":1,"ids":["a"]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var want struct {
			IDs []string `json:"ids"`
		}
		werr := json.Unmarshal(body, &want)
		if ids, ok := scanJSONIDs(body, nil); ok {
			if werr != nil || !slices.Equal(strs(ids), want.IDs) && len(ids)+len(want.IDs) > 0 {
				t.Fatalf("%q: scanned %q, encoding/json %q (%v)", body, ids, want.IDs, werr)
			}
		}
		got, err := jsonIDs(body, nil)
		if (err != nil) != (werr != nil) || err == nil && !slices.Equal(strs(got), want.IDs) && len(got)+len(want.IDs) > 0 {
			t.Fatalf("%q: jsonIDs %q %v, encoding/json %q %v", body, got, err, want.IDs, werr)
		}
	})
}

func strs(b [][]byte) []string {
	out := make([]string, len(b))
	for i, x := range b {
		out[i] = string(x)
	}
	return out
}

// FuzzTextIDs: the text body's split equals the plain reading of its
// contract (docs/http-api.md): lines, a trailing "\r" dropped, blank lines
// (Unicode white space only) skipped; and it stops past max.
func FuzzTextIDs(f *testing.F) {
	for _, s := range []string{"11010519491231002X\n310101199001011234", "a\r\nb\r\n\r\n", " \t\n\u00a0\n\u0085x\n", "\r", "\n\n\n", "x\ry\n", "\x7f\n\x01\n é\n",
		// 18-byte lines, the IDs' fast path: plain, CR-ended, blank, and with
		// a newline inside the first 18 bytes.
		"110105194912310021\n110105194912310021", "11010519491231002\r\nx", "                  \nx", "1234567\n1234567890\nx", "\n23456789012345678\n", "12345678901234567\n\n",
		// Bodies of 18-byte lines only, strideIDs' path: with and without
		// the last newline, one line CR-ended or starting with a space,
		// and a newline moved off the stride (as many newlines as full
		// strides, one of them misplaced).
		"110105194912310021\n310101199001011234\n", "110105194912310021\n310101199001011234", "11010519491231002\r\n310101199001011234",
		" 10105194912310021\n310101199001011234", "1101051949\n2310021310101199001011234\n", "00000000000000\n0000", "1234567890\n12345678"} {
		f.Add([]byte(s), 5)
	}
	// max+1 lines (max is 6 here), taken, and max+2, refused by the stride
	// path and cut at max+1 by the line-by-line one.
	f.Add([]byte(strings.Repeat("110105194912310021\n", 7)), 5)
	f.Add([]byte(strings.Repeat("110105194912310021\n", 8)), 5)
	f.Fuzz(func(t *testing.T, body []byte, max int) {
		max = max&63 + 1
		var want []string
		for _, line := range bytes.Split(body, []byte{'\n'}) {
			if line = bytes.TrimSuffix(line, []byte{'\r'}); len(bytes.TrimSpace(line)) > 0 && len(want) <= max {
				want = append(want, string(line))
			}
		}
		if got := strs(textIDs(body, nil, max)); !slices.Equal(got, want) {
			t.Fatalf("%q (max %d): %q, want %q", body, max, got, want)
		}
	})
}

// BenchmarkTextIDs: splitting a 1,000-ID screening's body (wrk's form in
// the serving-cost comparison: IDs joined by "\n").
func BenchmarkTextIDs(b *testing.B) {
	ids := fixture.IDs(1, 1000)
	body := []byte(strings.Join(ids, "\n"))
	dst := make([][]byte, 0, 1001)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		dst = textIDs(body, dst[:0], 10000)
	}
	if len(dst) != len(ids) {
		b.Fatal(len(dst))
	}
}
