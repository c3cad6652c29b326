package server

import (
	"encoding/json"
	"slices"
	"testing"
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
