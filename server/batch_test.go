package server

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/yrd-hcx/hcx/internal/auth"
	"github.com/yrd-hcx/hcx/internal/fixture"
)

// TestScreening: ?only=listed answers only the people who are not green,
// each at its position, in both body forms; invalid IDs are answered as
// such; an all-green manifest answers nothing.
func TestScreening(t *testing.T) {
	e := newEnv(t, Config{}, true)
	ids := fixture.IDs(20, 50) // nobody lists them
	want := map[int]string{}
	for _, p := range []int{0, 7, 49} {
		ids[p] = e.sh[p] // red, yellow, yellow by fixture.Color
		want[p] = fixture.Color(p)
	}
	ids[12], want[12] = e.ah[1], "yellow"
	ids[30], want[30] = "110105194912310021", "invalid" // bad check digit
	ids[31], want[31] = "12345", "invalid"
	check := func(name string, items []map[string]any) {
		t.Helper()
		if len(items) != len(want) {
			t.Fatalf("%s: %d items, want %d: %v", name, len(items), len(want), items)
		}
		for _, m := range items {
			i, ok := m["i"].(float64)
			if !ok || want[int(i)] != m["status"] {
				t.Errorf("%s: item %v, want %v at its position", name, m, want[int(i)])
				continue
			}
			if id := ids[int(i)]; len(id) == 18 && m["id"] != mask(id) {
				t.Errorf("%s: item %d id %v, want %s", name, int(i), m["id"], mask(id))
			}
			if m["status"] == "invalid" && m["error"] == nil {
				t.Errorf("%s: invalid item without a reason: %v", name, m)
			}
		}
	}

	r := e.do(t, "POST", "/v1/status?only=listed", auth.Lookup, []byte(strings.Join(ids, "\n")), "Content-Type", "text/plain")
	if r.code != 200 || r.hdr.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("text: %d %s", r.code, r.body)
	}
	var items []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(r.body)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		items = append(items, m)
	}
	check("text", items)

	body, _ := json.Marshal(map[string]any{"ids": ids})
	r = e.do(t, "POST", "/v1/status?only=listed", auth.Lookup, body, "Content-Type", "application/json")
	var out struct {
		Results []map[string]any
		Count   *int
	}
	if err := json.Unmarshal(r.body, &out); err != nil || r.code != 200 || out.Count == nil || *out.Count != len(ids) {
		t.Fatalf("json: %d %s", r.code, r.body)
	}
	check("json", out.Results)

	green := strings.Join(fixture.IDs(21, 100), "\n")
	if r := e.do(t, "POST", "/v1/status?only=listed", auth.Lookup, []byte(green), "Content-Type", "text/plain"); r.code != 200 || len(r.body) != 0 {
		t.Fatalf("all green, text: %d %q", r.code, r.body)
	}
	body, _ = json.Marshal(map[string]any{"ids": fixture.IDs(21, 100)})
	if r := e.do(t, "POST", "/v1/status?only=listed", auth.Lookup, body, "Content-Type", "application/json"); r.code != 200 || string(r.body) != `{"results":[],"count":100}`+"\n" {
		t.Fatalf("all green, json: %d %s", r.code, r.body)
	}
	// The batch's limits hold; another filter is refused.
	if r := e.do(t, "POST", "/v1/status?only=listed", auth.Lookup, []byte(strings.Repeat(ids[1]+"\n", 10001))); r.code != 413 {
		t.Fatalf("10,001 IDs: %d", r.code)
	}
	if r := e.do(t, "POST", "/v1/status?only=red", auth.Lookup, []byte(ids[0])); r.code != 400 || r.json(t)["error"] != "bad_request" {
		t.Fatalf("only=red: %d %s", r.code, r.body)
	}
	if r := e.do(t, "POST", "/v1/status?only=listed", auth.Upload("sh"), []byte(ids[0])); r.code != 403 {
		t.Fatalf("upload token: %d", r.code)
	}
}
