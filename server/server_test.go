package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/answer"
	"github.com/yrd-hcx/hcx/internal/auth"
	"github.com/yrd-hcx/hcx/internal/fixture"
	"github.com/yrd-hcx/hcx/loader"
)

var testCal = engine.NewCalendar(engine.CST, func() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, engine.CST) })

// env is a data directory with two regions' lists, tokens of every role and
// a server on a real loopback port.
type env struct {
	store  *loader.Store
	srv    *Server
	base   string
	tokens map[string]string // role -> token
	sh, ah []string          // IDs listed by sh and ah
}

func newEnv(t testing.TB, cfg Config, ingest bool, setup ...func(*loader.Store)) *env {
	t.Helper()
	st, err := loader.Init(t.TempDir()+"/data", nil)
	if err != nil {
		t.Fatal(err)
	}
	st.Calendar = testCal
	for _, f := range setup {
		f(st)
	}
	e := &env{store: st, tokens: map[string]string{}, sh: fixture.IDs(1, 300), ah: fixture.IDs(2, 200)}
	for _, role := range []string{auth.Lookup, auth.Replica, auth.Edge, auth.Admin, auth.Upload("sh"), auth.Upload("js")} {
		tok, _ := auth.NewToken()
		line, _ := auth.Line(tok, []string{role})
		if err := st.AddToken(line); err != nil {
			t.Fatal(err)
		}
		e.tokens[role] = tok
	}
	if ingest {
		_, _, err := st.Ingest([]loader.Upload{
			{Name: "sh-2026-11-26.csv", Body: strings.NewReader(fixture.CSV(e.sh))},
			{Name: "ah-2026-11-26.csv", Body: strings.NewReader(fixture.CSV(e.ah))},
		}, loader.IngestOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	cfg.Store = st
	if cfg.Poll == 0 {
		cfg.Poll = 50 * time.Millisecond
	}
	e.srv, e.base = startServer(t, cfg)
	return e
}

type resp struct {
	code int
	hdr  http.Header
	body []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("not JSON (%d): %s", r.code, r.body)
	}
	return m
}

// do sends a request with a real HTTP client.
func (e *env) do(t *testing.T, method, path, role string, body []byte, hdr ...string) resp {
	t.Helper()
	req, err := http.NewRequest(method, e.base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if role != "" {
		tok := e.tokens[role]
		if tok == "" {
			tok = role // a literal token
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, b}
}

func mask(id string) string { return id[:4] + "**********" + id[14:] }

func TestLookups(t *testing.T) {
	e := newEnv(t, Config{}, true)
	green := fixture.IDs(3, 1)[0]
	for _, c := range []struct {
		id, status, since string
		sources           int
	}{{e.sh[0], "red", "2026-11-01", 1}, {e.ah[1], "yellow", "2026-11-02", 1}, {green, "green", "", 0}} {
		r := e.do(t, "GET", "/v1/status/"+c.id, auth.Lookup, nil)
		m := r.json(t)
		if r.code != 200 || m["status"] != c.status || m["id"] != mask(c.id) || m["asOf"] != "2026-11-26" || r.hdr.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %d %s", c.status, r.code, r.body)
		}
		if bytes.Contains(r.body, []byte(c.id)) || bytes.Contains(r.body, []byte(c.id[:17])) {
			t.Fatal("raw ID in the answer")
		}
		if src, _ := m["sources"].([]any); len(src) != c.sources || c.since != "" && m["since"] != c.since {
			t.Fatalf("%s: %s", c.status, r.body)
		}
		if stale, ok := m["stale"].([]any); !ok || len(stale) != 2 { // js and zj have no list
			t.Fatalf("stale: %s", r.body)
		}
	}
	bad := e.sh[0][:17] + "0"
	if bad == e.sh[0] {
		bad = e.sh[0][:17] + "1"
	}
	r := e.do(t, "GET", "/v1/status/"+bad, auth.Lookup, nil)
	if m := r.json(t); r.code != 400 || m["error"] != "invalid_id" || m["detail"] != "check digit" {
		t.Fatalf("invalid: %d %s", r.code, r.body)
	}
	// Per region.
	r = e.do(t, "GET", "/v1/regions/sh/status/"+e.sh[0], auth.Lookup, nil)
	if m := r.json(t); r.code != 200 || m["status"] != "red" {
		t.Fatalf("sh: %s", r.body)
	}
	r = e.do(t, "GET", "/v1/regions/ah/status/"+e.sh[0], auth.Lookup, nil)
	if m := r.json(t); r.code != 200 || m["status"] != "green" {
		t.Fatalf("ah: %s", r.body)
	}
	if r = e.do(t, "GET", "/v1/regions/xx/status/"+e.sh[0], auth.Lookup, nil); r.code != 404 || r.json(t)["error"] != "unknown_region" {
		t.Fatalf("unknown region: %d %s", r.code, r.body)
	}
}

func TestAuth(t *testing.T) {
	e := newEnv(t, Config{}, true)
	path := "/v1/status/" + e.sh[0]
	for _, c := range []struct {
		method, path, role string
		want               int
	}{
		{"GET", path, "", 401}, {"GET", path, "hcx_nope", 401}, {"GET", path, auth.Upload("sh"), 403},
		{"GET", path, auth.Replica, 403}, {"GET", path, auth.Admin, 200}, {"GET", path, auth.Lookup, 200},
		{"GET", "/v1/snapshot/file", auth.Lookup, 403}, {"GET", "/v1/snapshot/file", auth.Replica, 200},
		{"GET", "/v1/snapshot", "", 401}, {"GET", "/v1/snapshot", auth.Upload("js"), 200},
		{"PUT", "/v1/uploads/sh/2026-11-27", auth.Upload("js"), 403}, {"PUT", "/v1/uploads/sh/2026-11-27", auth.Lookup, 403},
		{"PUT", "/v1/uploads/sh/2026-11-27", "", 401},
		{"GET", "/healthz", "", 200}, {"GET", "/readyz", "", 200}, {"GET", "/metrics", "", 200}, {"GET", "/", "", 200},
		{"GET", "/v1/edge/filter", "", 401}, {"GET", "/v1/edge/filter", auth.Edge, 200}, {"GET", "/v1/edge/filter", auth.Replica, 200},
		{"GET", "/v1/edge/filter", auth.Lookup, 403}, {"GET", path, auth.Edge, 403}, {"GET", "/v1/snapshot/file", auth.Edge, 403},
		{"OPTIONS", "/v1/edge/filter", "", 204},
		{"GET", "/v1/nope", auth.Lookup, 404}, {"POST", path, auth.Lookup, 405},
		{"DELETE", "/v1/status", auth.Lookup, 405},
	} {
		r := e.do(t, c.method, c.path, c.role, nil)
		if r.code != c.want {
			t.Errorf("%s %s as %q: %d, want %d: %s", c.method, c.path, c.role, r.code, c.want, r.body)
		}
		if r.code >= 400 {
			if m := r.json(t); m["error"] == nil || m["detail"] == nil {
				t.Errorf("%s %s: error body %s", c.method, c.path, r.body)
			}
		}
	}
}

// TestBatchBytes: a batch's answer is, byte for byte, each ID's answer as
// AppendJSON renders the single lookup's result, in order: NDJSON lines,
// or a JSON array; with ?only=listed, only those that are not green, each
// with its position. The bodies mix listed IDs (adjacent, first, last) with
// green, padded, lowercase-x, CRLF-ended, blank and invalid lines.
func TestBatchBytes(t *testing.T) {
	e := newEnv(t, Config{}, true)
	st := e.srv.cur.Load()
	green := fixture.IDs(9, 400)
	r := rand.New(rand.NewPCG(7, 8))
	for round := range 40 {
		var lines []string
		for range r.IntN(120) {
			switch id := green[r.IntN(len(green))]; r.IntN(12) {
			case 0:
				lines = append(lines, e.sh[r.IntN(len(e.sh))])
			case 1:
				lines = append(lines, e.ah[r.IntN(len(e.ah))])
			case 2:
				lines = append(lines, " "+id+"\t")
			case 3:
				lines = append(lines, strings.ToLower(e.sh[r.IntN(len(e.sh))]))
			case 4:
				lines = append(lines, id[:17])
			case 5:
				lines = append(lines, id+"\r")
			case 6:
				lines = append(lines, "")
			default:
				lines = append(lines, id)
			}
		}
		if round%4 == 0 { // IDs of 18 bytes only, the stride's path
			lines = slices.DeleteFunc(lines, func(l string) bool { return len(l) != engine.IDLen })
		}
		var ids []string // what the server answers: lines not blank, CR dropped
		for _, l := range lines {
			if l = strings.TrimSuffix(l, "\r"); strings.TrimSpace(l) != "" {
				ids = append(ids, l)
			}
		}
		jsonBody, _ := json.Marshal(map[string][]string{"ids": ids})
		for _, screen := range []bool{false, true} {
			var answers [][]byte
			for i, id := range ids {
				res := st.snap.Lookup(id)
				if screen && res.Status == engine.Green {
					continue
				}
				a := answer.AppendJSON(nil, st.view, id, res)
				if screen {
					a = append([]byte(fmt.Sprintf(`{"i":%d,`, i)), a[1:]...)
				}
				answers = append(answers, a)
			}
			path, tail := "/v1/status", "]}\n"
			if screen {
				path, tail = "/v1/status?only=listed", fmt.Sprintf(`],"count":%d}`+"\n", len(ids))
			}
			wantText := string(bytes.Join(append(answers, nil), []byte("\n")))
			if len(answers) == 0 {
				wantText = ""
			}
			got := e.do(t, "POST", path, auth.Lookup, []byte(strings.Join(lines, "\n")), "Content-Type", "text/plain")
			if got.code != 200 || string(got.body) != wantText {
				t.Fatalf("round %d, %s, text:\n got %d %.400s\nwant %.400s", round, path, got.code, got.body, wantText)
			}
			wantJSON := `{"results":[` + string(bytes.Join(answers, []byte(","))) + tail
			got = e.do(t, "POST", path, auth.Lookup, jsonBody, "Content-Type", "application/json")
			if got.code != 200 || string(got.body) != wantJSON {
				t.Fatalf("round %d, %s, JSON:\n got %d %.400s\nwant %.400s", round, path, got.code, got.body, wantJSON)
			}
		}
	}
}

func TestBatch(t *testing.T) {
	e := newEnv(t, Config{}, true)
	green := fixture.IDs(3, 1)[0]
	ids := []string{e.sh[0], e.ah[1], green, "12345", e.sh[3]}
	want := []string{"red", "yellow", "green", "invalid", "red"}
	r := e.do(t, "POST", "/v1/status", auth.Lookup, []byte(strings.Join(ids, "\r\n")+"\n\n"), "Content-Type", "text/plain")
	lines := strings.Split(strings.TrimSpace(string(r.body)), "\n")
	if r.code != 200 || len(lines) != len(ids) || r.hdr.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("text batch: %d %s", r.code, r.body)
	}
	for i, l := range lines {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) != nil || m["status"] != want[i] {
			t.Fatalf("line %d: %s", i, l)
		}
	}
	body, _ := json.Marshal(map[string]any{"ids": ids})
	r = e.do(t, "POST", "/v1/status", auth.Lookup, body, "Content-Type", "application/json")
	var out struct{ Results []map[string]any }
	if json.Unmarshal(r.body, &out) != nil || r.code != 200 || len(out.Results) != len(ids) {
		t.Fatalf("json batch: %d %s", r.code, r.body)
	}
	for i, m := range out.Results {
		if m["status"] != want[i] {
			t.Fatalf("result %d: %v", i, m)
		}
	}
	if out.Results[3]["error"] != "length" {
		t.Fatalf("invalid item: %v", out.Results[3])
	}
	r = e.do(t, "POST", "/v1/status", auth.Lookup, []byte(strings.Repeat(green+"\n", 10001)), "Content-Type", "text/plain")
	if r.code != 413 || r.json(t)["error"] != "batch_too_large" {
		t.Fatalf("10,001 IDs: %d %s", r.code, r.body)
	}
	r = e.do(t, "POST", "/v1/status", auth.Lookup, []byte(strings.Repeat(green+"\n", 10000)), "Content-Type", "text/plain")
	if r.code != 200 || bytes.Count(r.body, []byte("\n")) != 10000 {
		t.Fatalf("10,000 IDs: %d", r.code)
	}
	r = e.do(t, "POST", "/v1/status", auth.Lookup, bytes.Repeat([]byte("x"), 2<<20), "Content-Type", "text/plain")
	if r.code != 413 {
		t.Fatalf("2 MiB body: %d %s", r.code, r.body)
	}
	r = e.do(t, "POST", "/v1/status", auth.Lookup, []byte(`{"ids":`), "Content-Type", "application/json")
	if r.code != 400 {
		t.Fatalf("bad JSON: %d %s", r.code, r.body)
	}
}

func gz(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

func TestUpload(t *testing.T) {
	e := newEnv(t, Config{}, true)
	newcomer := fixture.IDs(4, 1)[0]
	// A bad file: 422 with the report, and sh's list stays live.
	bad := fixture.CSV(e.sh) + e.sh[0][:16] + "ab,red\n"
	r := e.do(t, "PUT", "/v1/uploads/sh/2026-11-27", auth.Upload("sh"), []byte(bad), "Content-Type", "text/csv")
	m := r.json(t)
	rep, _ := m["report"].(map[string]any)
	if r.code != 422 || m["error"] != "rejected" || rep["invalid"] != 1.0 {
		t.Fatalf("bad upload: %d %s", r.code, r.body)
	}
	if errs, _ := rep["errors"].([]any); len(errs) != 1 || errs[0].(map[string]any)["line"] != float64(len(e.sh)+2) {
		t.Fatalf("bad upload lines: %s", r.body)
	}
	if e.do(t, "GET", "/v1/status/"+newcomer, auth.Lookup, nil).json(t)["status"] != "green" {
		t.Fatal("bad upload changed the answers")
	}
	// A good gzip upload, live before the 200.
	good := gz(fixture.CSV(append([]string{newcomer}, e.sh...)))
	r = e.do(t, "PUT", "/v1/uploads/sh/2026-11-27", auth.Upload("sh"), good, "Content-Type", "text/csv", "Content-Encoding", "gzip")
	if m := r.json(t); r.code != 200 || m["ok"] != true || m["accepted"] != float64(len(e.sh)+1) {
		t.Fatalf("good upload: %d %s", r.code, r.body)
	}
	if got := e.do(t, "GET", "/v1/status/"+newcomer, auth.Lookup, nil).json(t); got["status"] != "red" {
		t.Fatalf("upload not live: %v", got)
	}
	// Replay and shrink guards through the API.
	r = e.do(t, "PUT", "/v1/uploads/sh/2026-11-26", auth.Upload("sh"), []byte(fixture.CSV(e.sh)))
	if r.code != 422 || !strings.Contains(string(r.body), "older than") {
		t.Fatalf("replay: %d %s", r.code, r.body)
	}
	r = e.do(t, "PUT", "/v1/uploads/sh/2026-11-27", auth.Upload("sh"), []byte(fixture.CSV(e.sh[:10])))
	if r.code != 422 || !strings.Contains(string(r.body), "allowShrink") {
		t.Fatalf("shrink: %d %s", r.code, r.body)
	}
	r = e.do(t, "PUT", "/v1/uploads/sh/2026-11-27?allowShrink=true", auth.Upload("sh"), []byte(fixture.CSV(e.sh[:10])))
	if r.code != 200 {
		t.Fatalf("confirmed shrink: %d %s", r.code, r.body)
	}
	r = e.do(t, "PUT", "/v1/uploads/sh/2026-11-27?maxInvalid=1", auth.Upload("sh"), []byte(fixture.CSV(e.sh[:10])+"x,red\n"))
	if m := r.json(t); r.code != 200 || m["invalid"] != 1.0 {
		t.Fatalf("tolerated: %d %s", r.code, r.body)
	}
	if r = e.do(t, "PUT", "/v1/uploads/sh/2026-11-31", auth.Upload("sh"), nil); r.code != 400 || r.json(t)["error"] != "bad_date" {
		t.Fatalf("bad date: %d", r.code)
	}
	// Two days after today (testCal's 2026-11-27) is too far ahead: also a
	// bad date, answered from the path before the body counts.
	if r = e.do(t, "PUT", "/v1/uploads/sh/2026-11-29", auth.Upload("sh"), []byte(fixture.CSV(e.sh[:10]))); r.code != 400 || r.json(t)["error"] != "bad_date" {
		t.Fatalf("list dated two days ahead: %d %s", r.code, r.body)
	}
	// Snapshot metadata follows.
	r = e.do(t, "GET", "/v1/snapshot", auth.Lookup, nil)
	var info struct {
		Version uint64
		Regions []struct {
			Region   string
			ListDate *string
			Red      int
		}
	}
	if json.Unmarshal(r.body, &info) != nil || info.Version != 4 || *info.Regions[0].ListDate != "2026-11-27" || info.Regions[1].ListDate != nil {
		t.Fatalf("snapshot: %s", r.body)
	}
}

func TestSnapshotFileETag(t *testing.T) {
	e := newEnv(t, Config{}, true)
	r := e.do(t, "GET", "/v1/snapshot/file", auth.Replica, nil)
	etag := r.hdr.Get("ETag")
	if r.code != 200 || etag == "" {
		t.Fatalf("%d etag %q", r.code, etag)
	}
	if _, err := e.store.OpenSnapshot(r.body); err != nil {
		t.Fatalf("served file does not verify: %v", err)
	}
	if r = e.do(t, "GET", "/v1/snapshot/file", auth.Replica, nil, "If-None-Match", etag); r.code != 304 || len(r.body) != 0 {
		t.Fatalf("If-None-Match: %d", r.code)
	}
}

func TestNotReady(t *testing.T) {
	e := newEnv(t, Config{}, false)
	if r := e.do(t, "GET", "/readyz", "", nil); r.code != 503 {
		t.Fatalf("readyz: %d", r.code)
	}
	if r := e.do(t, "GET", "/v1/status/"+e.sh[0], auth.Lookup, nil); r.code != 503 {
		t.Fatalf("lookup: %d", r.code)
	}
	if r := e.do(t, "GET", "/healthz", "", nil); r.code != 200 {
		t.Fatalf("healthz: %d", r.code)
	}
	// The first upload makes it ready.
	if r := e.do(t, "PUT", "/v1/uploads/sh/2026-11-26", auth.Upload("sh"), []byte(fixture.CSV(e.sh))); r.code != 200 {
		t.Fatalf("upload: %d %s", r.code, r.body)
	}
	if r := e.do(t, "GET", "/readyz", "", nil); r.code != 200 {
		t.Fatalf("readyz after upload: %d", r.code)
	}
}

// TestWatch: a snapshot written by another process is picked up; a newer
// but corrupt one is refused and counted, and so is an older one (from its
// header alone), and the live one stays.
func TestWatch(t *testing.T) {
	e := newEnv(t, Config{}, true)
	v1, err := os.ReadFile(e.store.SnapshotPath())
	if err != nil {
		t.Fatal(err)
	}
	other, err := loader.Open(e.store.Dir, testCal) // as `hcx ingest` would
	if err != nil {
		t.Fatal(err)
	}
	newcomer := fixture.IDs(5, 1)[0]
	if _, _, err := other.Ingest([]loader.Upload{{Name: "zj-2026-11-27.csv", Body: strings.NewReader(fixture.CSV([]string{newcomer}))}}, loader.IngestOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return e.srv.Snapshot().Info().Version == 2 })
	if e.do(t, "GET", "/v1/status/"+newcomer, auth.Lookup, nil).json(t)["status"] != "red" {
		t.Fatal("new snapshot not answering")
	}
	// Version 3, built in a copy of the directory, damaged on the way.
	dir := t.TempDir() + "/copy"
	if err := os.CopyFS(dir, os.DirFS(e.store.Dir)); err != nil {
		t.Fatal(err)
	}
	cp, err := loader.Open(dir, testCal)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := cp.Ingest([]loader.Upload{{Name: "js-2026-11-27.csv", Body: strings.NewReader(fixture.CSV(fixture.IDs(8, 5)))}}, loader.IngestOptions{}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(cp.SnapshotPath())
	b[len(b)/2] ^= 1
	metric := func(line string) bool { return bytes.Contains(e.do(t, "GET", "/metrics", "", nil).body, []byte(line)) }
	if err := loader.WriteFileAtomic(e.store.SnapshotPath(), b, 0o640); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return metric("hcx_snapshot_reload_failures_total 1") })
	if err := loader.WriteFileAtomic(e.store.SnapshotPath(), v1, 0o640); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		return metric("hcx_snapshot_reload_failures_total 2") && metric("hcx_snapshot_refused_older_total 1")
	})
	if e.srv.Snapshot().Info().Version != 2 || e.do(t, "GET", "/v1/status/"+newcomer, auth.Lookup, nil).json(t)["status"] != "red" {
		t.Fatal("the live snapshot did not stay")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 200 {
		if cond() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatal("condition not met in 5 s")
}

// truth is what the API must answer for an ID on one day: merged status,
// sources ("region:colour", in region order) and since.
type truth struct{ status, sources, since string }

// dayTruth models the merge of the regions' lists (each region a CSV as
// fixture.CSV writes it) for the IDs asked about.
func dayTruth(lists map[string][]string, regions []string, ids []string) map[string]truth {
	type entry struct{ color, since string }
	listed := map[string]map[string]entry{}
	for region, list := range lists {
		for i, id := range list {
			if listed[id] == nil {
				listed[id] = map[string]entry{}
			}
			listed[id][region] = entry{fixture.Color(i), fmt.Sprintf("2026-11-%02d", 1+i%20)}
		}
	}
	rank := map[string]int{"green": 0, "yellow": 1, "red": 2}
	out := map[string]truth{}
	for _, id := range ids {
		tr := truth{status: "green"}
		var srcs []string
		for _, r := range regions {
			if e, ok := listed[id][r]; ok {
				srcs = append(srcs, r+":"+e.color)
				if rank[e.color] > rank[tr.status] {
					tr.status, tr.since = e.color, e.since
				} else if e.color == tr.status && e.since < tr.since {
					tr.since = e.since
				}
			}
		}
		tr.sources = strings.Join(srcs, ",")
		out[id] = tr
	}
	return out
}

// answerTruth reads an answer object in the form of dayTruth.
func answerTruth(m map[string]any) truth {
	tr := truth{status: fmt.Sprint(m["status"])}
	if s, ok := m["since"].(string); ok {
		tr.since = s
	}
	var srcs []string
	list, _ := m["sources"].([]any)
	for _, x := range list {
		src, _ := x.(map[string]any)
		srcs = append(srcs, fmt.Sprint(src["region"])+":"+fmt.Sprint(src["status"]))
	}
	tr.sources = strings.Join(srcs, ",")
	return tr
}

// TestHotSwapUnderLoad: lookups, single and batched, run while 10 uploads
// swap sh's list between two days. Every answer is exactly the truth of one
// of the two days (status, sources, since): people both days list keep
// their colour, ah's people stay listed, unlisted people stay green, and a
// batch comes whole from one day. None fails. (A server that answered green
// to everyone, or mixed the days within a request, fails it.)
func TestHotSwapUnderLoad(t *testing.T) {
	e := newEnv(t, Config{}, true)
	common, onlyA, onlyB := e.sh[:30], e.sh[30:], fixture.IDs(6, 270)
	dayA := append(append([]string{}, common...), onlyA...) // = e.sh, what newEnv ingested
	dayB := append(append([]string{}, common...), onlyB...) // common keep their positions, so their colours
	probe := append(append(append(append(append([]string{}, common...), onlyA[:40]...), onlyB[:40]...), e.ah[:20]...), fixture.IDs(9, 20)...)
	regions := e.store.Regions
	days := []map[string]truth{
		dayTruth(map[string][]string{"sh": dayA, "ah": e.ah}, regions, probe),
		dayTruth(map[string][]string{"sh": dayB, "ah": e.ah}, regions, probe),
	}
	// Which days an answer agrees with (a bit each).
	agrees := func(id string, m map[string]any) int {
		got, bits := answerTruth(m), 0
		for d, tr := range days {
			if got == tr[id] {
				bits |= 1 << d
			}
		}
		return bits
	}
	var stop atomic.Bool
	var answers, batches atomic.Int64
	var onlyDay [2]atomic.Int64 // answers only one day's truth explains: both days were seen
	var mu sync.Mutex
	var wrong []string
	bad := func(format string, args ...any) {
		mu.Lock()
		if len(wrong) < 10 {
			wrong = append(wrong, fmt.Sprintf(format, args...))
		}
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			client := &http.Client{Timeout: 5 * time.Second}
			for i := w; !stop.Load(); i++ {
				if i%5 == 4 { // a batch: every item from one and the same day
					ids := []string{common[i%len(common)], onlyA[i%40], onlyB[i%40], e.ah[i%20], probe[i%len(probe)]}
					req, _ := http.NewRequest("POST", e.base+"/v1/status", strings.NewReader(strings.Join(ids, "\n")))
					req.Header.Set("Authorization", "Bearer "+e.tokens[auth.Lookup])
					res, err := client.Do(req)
					if err != nil {
						bad("batch: %v", err)
						continue
					}
					body, _ := io.ReadAll(res.Body)
					res.Body.Close()
					lines := strings.Split(strings.TrimSpace(string(body)), "\n")
					if res.StatusCode != 200 || len(lines) != len(ids) {
						bad("batch: %d %s", res.StatusCode, body)
						continue
					}
					both := 3
					for k, l := range lines {
						var m map[string]any
						json.Unmarshal([]byte(l), &m)
						both &= agrees(ids[k], m)
					}
					if both == 0 {
						bad("batch answered from neither day alone: %s", body)
					}
					batches.Add(1)
					continue
				}
				id := probe[i%len(probe)]
				req, _ := http.NewRequest("GET", e.base+"/v1/status/"+id, nil)
				req.Header.Set("Authorization", "Bearer "+e.tokens[auth.Lookup])
				res, err := client.Do(req)
				if err != nil {
					bad("%s: %v", mask(id), err)
					continue
				}
				var m map[string]any
				err = json.NewDecoder(res.Body).Decode(&m)
				res.Body.Close()
				if err != nil || res.StatusCode != 200 {
					bad("%s: %d %v", mask(id), res.StatusCode, err)
					continue
				}
				switch agrees(id, m) {
				case 0:
					bad("%s: %+v is the truth of neither day (%+v, %+v)", mask(id), answerTruth(m), days[0][id], days[1][id])
				case 1, 2:
					onlyDay[agrees(id, m)-1].Add(1)
				}
				answers.Add(1)
			}
		})
	}
	for d := range 10 {
		list := dayA
		if d%2 == 0 {
			list = dayB
		}
		// Each a correction of the same day (today in testCal).
		r := e.do(t, "PUT", "/v1/uploads/sh/2026-11-27?allowShrink=true", auth.Upload("sh"), []byte(fixture.CSV(list)))
		if r.code != 200 {
			t.Fatalf("upload %d: %d %s", d, r.code, r.body)
		}
		time.Sleep(30 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	if len(wrong) > 0 || answers.Load() < 100 || batches.Load() < 20 || onlyDay[0].Load() == 0 || onlyDay[1].Load() == 0 {
		t.Fatalf("%d answers (%d of day A only, %d of day B only) and %d batches; wrong or failed: %q",
			answers.Load(), onlyDay[0].Load(), onlyDay[1].Load(), batches.Load(), wrong)
	}
	t.Logf("%d answers and %d batches during 10 swaps, each the truth of one day", answers.Load(), batches.Load())
}

// stopLog records the components the server logs as stopped.
type stopLog struct {
	mu    sync.Mutex
	order []string
}

func (l *stopLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *stopLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *stopLog) WithGroup(string) slog.Handler            { return l }
func (l *stopLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "stopped" {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "component" {
				l.mu.Lock()
				l.order = append(l.order, a.Value.String())
				l.mu.Unlock()
			}
			return true
		})
	}
	return nil
}

// TestShutdownOrder: Shutdown stops what Serve started in the reverse
// order (the HTTP server, then the replica's follower, then the watcher),
// and once it returns nothing polls any more.
func TestShutdownOrder(t *testing.T) {
	pub := newEnv(t, Config{}, true)
	var polls atomic.Int64
	publisher := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		polls.Add(1)
		r.URL.Host = strings.TrimPrefix(pub.base, "http://")
		r.URL.Scheme = "http"
		res, err := http.DefaultTransport.RoundTrip(&http.Request{Method: r.Method, URL: r.URL, Header: r.Header})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer res.Body.Close()
		w.WriteHeader(res.StatusCode)
		io.Copy(w, res.Body)
	}))
	defer publisher.Close()
	log := &stopLog{}
	rst := replicaDir(t, pub.store, pub.tokens[auth.Lookup])
	srv, err := New(Config{Store: rst, ReplicaOf: publisher.URL, ReplicaToken: pub.tokens[auth.Replica], ReplicaPoll: 10 * time.Millisecond,
		Poll: 10 * time.Millisecond, Logger: slog.New(log)})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	waitFor(t, func() bool { return srv.Ready() && polls.Load() > 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	n := polls.Load()
	time.Sleep(100 * time.Millisecond)
	if polls.Load() != n {
		t.Fatal("the follower still polls after Shutdown")
	}
	want := []string{"http server", "replica follower", "data directory watcher"}
	if strings.Join(log.order, ",") != strings.Join(want, ",") {
		t.Fatalf("stopped %q, want %q", log.order, want)
	}
	if err := srv.Serve(ln); err != ErrStopped {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
}
