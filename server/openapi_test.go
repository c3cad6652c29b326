package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/auth"
	"github.com/yrd-hcx/hcx/internal/fixture"
	"github.com/yrd-hcx/hcx/internal/servertest"
	"github.com/yrd-hcx/hcx/loader"
	"github.com/yrd-hcx/hcx/server"
)

// The endpoints of docs/openapi.yaml and this test's coverage of them. An
// endpoint marked pending is one the contract promises and the server may
// not have yet: the test probes it, covers it if it answers, and otherwise
// says so with t.Log. Every operation in the YAML must be in this table,
// and every endpoint not pending must have been exercised.
var endpoints = []struct {
	method, path string // as in openapi.yaml; a query after ? is a form of that operation
	pending      bool
	run          func(t *testing.T, c *contract)
}{
	{"GET", "/v1/status/{id}", false, testGetStatus},
	{"GET", "/v1/regions/{region}/status/{id}", false, testGetRegionStatus},
	{"POST", "/v1/status", false, testPostStatus},
	{"POST", "/v1/status?only=listed", false, testScreening},
	{"PUT", "/v1/uploads/{region}/{date}", false, testUpload},
	{"GET", "/v1/snapshot", false, testSnapshot},
	{"GET", "/v1/snapshot/file", false, testSnapshotFile},
	{"GET", "/v1/edge/filter", false, testEdgeFilter},
	{"OPTIONS", "/v1/edge/filter", false, testEdgePreflight},
	{"GET", "/v1/trust", false, testTrust},
	{"POST", "/v1/codes", false, testIssueCode},
	{"POST", "/v1/codes/verify", false, testVerifyCodes},
	{"GET", "/healthz", false, testHealthz},
	{"GET", "/readyz", false, testReadyz},
	{"GET", "/metrics", false, testMetrics},
	{"GET", "/", false, testWeb},
}

// TestOpenAPI sends real requests to real servers on loopback (a
// publisher, its replica, one with no snapshot yet) and validates every
// request and every answer against docs/openapi.yaml with kin-openapi's
// openapi3filter, unknown answer codes included.
func TestOpenAPI(t *testing.T) {
	c := newContract(t)
	inTable := map[string]bool{}
	for _, e := range endpoints {
		op, _, _ := strings.Cut(e.path, "?")
		inTable[e.method+" "+op] = true
	}
	for path, item := range c.doc.Paths.Map() {
		for method := range item.Operations() {
			if !inTable[method+" "+path] {
				t.Errorf("%s %s is in openapi.yaml but not in this test's table", method, path)
			}
		}
	}
	for _, e := range endpoints {
		name := e.method + " " + e.path
		t.Run(name, func(t *testing.T) {
			c.pending = e.pending
			c.missing = ""
			before := c.hits[name]
			e.run(t, c)
			switch {
			case c.missing != "":
				if !e.pending {
					t.Errorf("not on this server (%s), yet not marked pending", c.missing)
				}
				t.Logf("NOT YET COVERED: %s: %s", name, c.missing)
			case c.hits[name] == before:
				t.Errorf("the test sent no request to %s", name)
			case e.pending:
				t.Logf("covered, though marked pending: the server has it now (unmark it)")
			}
		})
	}
}

// contract is the servers under test and the document they answer to.
type contract struct {
	doc    *openapi3.T
	router routers.Router
	client *http.Client

	pub, rep, empty string // base URLs
	tokens          map[string]string
	store           *loader.Store
	sh, ah          []string          // IDs listed by sh and by ah
	green           string            // a valid ID listed nowhere
	codes           map[string]string // colour -> a code issued for a person of that colour

	hits    map[string]int // requests sent, by table name
	pending bool
	missing string // why the endpoint under test is not there
}

var testCal = engine.NewCalendar(engine.CST, func() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, engine.CST) })

func newContract(t *testing.T) *contract {
	t.Helper()
	l := openapi3.NewLoader()
	doc, err := l.LoadFromFile(filepath.Join("..", "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi.yaml is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(l.Context); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	doc.Servers = nil // route by path, whatever loopback port a server got
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	registerDecoders()
	c := &contract{doc: doc, router: router, client: &http.Client{Timeout: 30 * time.Second},
		tokens: map[string]string{}, hits: map[string]int{}, codes: map[string]string{}}
	t.Cleanup(c.client.CloseIdleConnections)

	// The publisher: sh and ah lists for 2026-11-26, a token of every role.
	st, err := loader.Init(filepath.Join(t.TempDir(), "data"), nil)
	if err != nil {
		t.Fatal(err)
	}
	st.Calendar = testCal
	c.store = st
	roles := []string{auth.Lookup, auth.Replica, auth.Admin, auth.Upload("sh"), auth.Upload("ah"), auth.Edge, auth.Issue("sh"), auth.Issue("js")}
	for _, role := range roles {
		tok, _ := auth.NewToken()
		line, _ := auth.Line(tok, []string{role})
		if err := st.AddToken(line); err != nil {
			t.Fatal(err)
		}
		c.tokens[role] = tok
	}
	c.sh, c.ah = fixture.IDs(1, 300), fixture.IDs(2, 200)
	if _, _, err := st.Ingest([]loader.Upload{
		{Name: "sh-2026-11-26.csv", Body: strings.NewReader(fixture.CSV(c.sh))},
		{Name: "ah-2026-11-26.csv", Body: strings.NewReader(fixture.CSV(c.ah))},
	}, loader.IngestOptions{}); err != nil {
		t.Fatal(err)
	}
	// sh issues health codes with a key in the data directory; js has none.
	if _, err := st.AddIssuer("sh"); err != nil {
		t.Fatal(err)
	}
	for _, id := range fixture.IDs(3, 50) {
		if !slices.Contains(c.sh, id) && !slices.Contains(c.ah, id) {
			c.green = id
			break
		}
	}
	c.pub = serve(t, server.Config{Store: st, Poll: 50 * time.Millisecond})

	// A replica of it: the same pseudonym key, the publisher's public key,
	// no signing key, lookup tokens of its own.
	rdir := filepath.Join(t.TempDir(), "replica")
	if err := os.MkdirAll(rdir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{loader.KeyFile, loader.PublicFile, loader.RegionsFile} {
		b, err := os.ReadFile(filepath.Join(st.Dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(rdir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	line, _ := auth.Line(c.tokens[auth.Lookup], []string{auth.Lookup})
	if err := os.WriteFile(filepath.Join(rdir, loader.TokensFile), []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	rst, err := loader.Open(rdir, testCal)
	if err != nil {
		t.Fatal(err)
	}
	c.rep = serve(t, server.Config{Store: rst, ReplicaOf: c.pub, ReplicaToken: c.tokens[auth.Replica], ReplicaPoll: 50 * time.Millisecond})
	c.waitReady(t, c.rep)

	// A server with no snapshot yet.
	est, err := loader.Init(filepath.Join(t.TempDir(), "empty"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for role, tok := range c.tokens {
		line, _ := auth.Line(tok, []string{role})
		if err := est.AddToken(line); err != nil {
			t.Fatal(err)
		}
	}
	c.empty = serve(t, server.Config{Store: est})
	return c
}

func serve(t *testing.T, cfg server.Config) string {
	_, base := servertest.Start(t, cfg)
	return base
}

func (c *contract) waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := c.client.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s not ready", base)
}

var decodersOnce = make(chan struct{}, 1)

// registerDecoders teaches openapi3filter the bodies it has no decoder
// for. NDJSON becomes the array of its lines, as openapi.yaml describes it.
func registerDecoders() {
	select {
	case decodersOnce <- struct{}{}:
	default:
		return
	}
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		items := []any{}
		dec := json.NewDecoder(body)
		for {
			var v any
			if err := dec.Decode(&v); err == io.EOF {
				return items, nil
			} else if err != nil {
				return nil, err
			}
			items = append(items, v)
		}
	})
	for _, ct := range []string{"text/html", "text/javascript", "image/svg+xml"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
	}
	for _, ct := range []string{"application/wasm", "image/png"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
	}
}

// call is one request of a test case.
type call struct {
	name    string // the table entry it exercises
	base    string // server; "" is the publisher
	method  string
	target  string // path and query
	role    string // token to send ("" none)
	ctype   string
	body    []byte
	header  []string // name, value pairs
	invalid bool     // a deliberately invalid request: only the answer is validated
	want    int      // the status code expected
}

// answer is what came back, validated.
type answer struct {
	code int
	hdr  http.Header
	body []byte
}

func (a answer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range bytes.Lines(a.body) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("NDJSON line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func (a answer) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("%s: %v", a.body, err)
	}
	return m
}

// do sends the call, validates the request (unless invalid) and the answer
// against the document, and checks the status code.
func (c *contract) do(t *testing.T, k call) answer {
	t.Helper()
	if k.base == "" {
		k.base = c.pub
	}
	newReq := func() *http.Request {
		req, err := http.NewRequest(k.method, k.base+k.target, bytes.NewReader(k.body))
		if err != nil {
			t.Fatal(err)
		}
		if k.ctype != "" {
			req.Header.Set("Content-Type", k.ctype)
		}
		if k.role != "" {
			tok, ok := c.tokens[k.role]
			if !ok {
				tok = k.role // a literal token (an unknown one)
			}
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		for i := 0; i+1 < len(k.header); i += 2 {
			req.Header.Set(k.header[i], k.header[i+1])
		}
		return req
	}
	ctx := context.Background()
	vreq := newReq()
	route, params, err := c.router.FindRoute(vreq)
	if err != nil {
		t.Fatalf("%s %s: not in openapi.yaml: %v", k.method, k.target, err)
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: opts}
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil && !k.invalid {
		t.Errorf("%s %s: the request does not match openapi.yaml: %v", k.method, k.target, err)
	} else if err == nil && k.invalid {
		t.Errorf("%s %s: a request meant to be invalid matches openapi.yaml", k.method, k.target)
	}
	resp, err := c.client.Do(newReq())
	if err != nil {
		t.Fatalf("%s %s: %v", k.method, k.target, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if k.name == "" {
		k.name = k.method + " " + route.Path
	}
	c.hits[k.name]++
	a := answer{resp.StatusCode, resp.Header, body}
	if a.code == 404 && c.pending && bytes.Contains(body, []byte(`"not_found"`)) && bytes.Contains(body, []byte("no such endpoint")) {
		c.missing = k.method + " " + route.Path + " answers 404 no such endpoint"
		return a
	}
	// openapi3filter never validates some codes (304 among them): check
	// that they are documented, with their required headers, here.
	if doc := route.Operation.Responses.Status(resp.StatusCode); doc == nil {
		t.Errorf("%s %s: answered %d, which openapi.yaml does not list for %s %s", k.method, k.target, resp.StatusCode, route.Method, route.Path)
	} else {
		for name, h := range doc.Value.Headers {
			if h.Value.Required && resp.Header.Get(name) == "" {
				t.Errorf("%s %s: answered %d without the header %s that openapi.yaml requires", k.method, k.target, resp.StatusCode, name)
			}
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(body)), Options: opts}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		t.Errorf("%s %s: the answer %d does not match openapi.yaml: %v\n%s", k.method, k.target, resp.StatusCode, err, clip(body))
	}
	if k.want != 0 && resp.StatusCode != k.want {
		t.Errorf("%s %s: %d, want %d: %s", k.method, k.target, resp.StatusCode, k.want, clip(body))
	}
	return a
}

func clip(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "..."
	}
	return string(b)
}

func testGetStatus(t *testing.T, c *contract) {
	a := c.do(t, call{method: "GET", target: "/v1/status/" + c.sh[0], role: auth.Lookup, want: 200})
	if m := a.object(t); m["status"] != "red" {
		t.Errorf("sh's first ID: %v", m)
	}
	c.do(t, call{method: "GET", target: "/v1/status/" + c.green, role: auth.Lookup, want: 200})
	c.do(t, call{method: "GET", target: "/v1/status/" + strings.ToLower(c.sh[1]), role: auth.Lookup, want: 200})
	c.do(t, call{method: "GET", target: "/v1/status/110105194912310021", role: auth.Lookup, want: 400})
	c.do(t, call{method: "GET", target: "/v1/status/" + c.sh[0], want: 401})
	c.do(t, call{method: "GET", target: "/v1/status/" + c.sh[0], role: "hcx_unknown", want: 401})
	c.do(t, call{method: "GET", target: "/v1/status/" + c.sh[0], role: auth.Upload("sh"), want: 403})
	c.do(t, call{method: "GET", target: "/v1/status/" + c.sh[0], role: auth.Lookup, base: c.rep, want: 200})
	c.do(t, call{method: "GET", target: "/v1/status/" + c.sh[0], role: auth.Lookup, base: c.empty, want: 503})
}

func testGetRegionStatus(t *testing.T, c *contract) {
	a := c.do(t, call{method: "GET", target: "/v1/regions/sh/status/" + c.sh[0], role: auth.Lookup, want: 200})
	if m := a.object(t); m["status"] != "red" {
		t.Errorf("sh's own answer: %v", m)
	}
	if m := c.do(t, call{method: "GET", target: "/v1/regions/js/status/" + c.sh[0], role: auth.Lookup, want: 200}).object(t); m["status"] != "green" {
		t.Errorf("js's answer for an ID only sh lists: %v", m)
	}
	c.do(t, call{method: "GET", target: "/v1/regions/xx/status/" + c.sh[0], role: auth.Lookup, want: 404})
	c.do(t, call{method: "GET", target: "/v1/regions/sh/status/12345", role: auth.Lookup, want: 400})
	c.do(t, call{method: "GET", target: "/v1/regions/sh/status/" + c.sh[0], want: 401})
}

func testPostStatus(t *testing.T, c *contract) {
	ids := []string{c.sh[0], c.ah[1], c.green, "110105194912310021", "12345"}
	a := c.do(t, call{method: "POST", target: "/v1/status", role: auth.Lookup, ctype: "text/plain", body: []byte(strings.Join(ids, "\n") + "\n"), want: 200})
	if got := a.lines(t); len(got) != len(ids) || got[0]["status"] != "red" || got[2]["status"] != "green" || got[3]["status"] != "invalid" {
		t.Errorf("NDJSON batch: %v", got)
	}
	if ct := a.hdr.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("NDJSON batch Content-Type %q", ct)
	}
	js, _ := json.Marshal(map[string][]string{"ids": ids})
	b := c.do(t, call{method: "POST", target: "/v1/status", role: auth.Lookup, ctype: "application/json", body: js, want: 200})
	if res, _ := b.object(t)["results"].([]any); len(res) != len(ids) {
		t.Errorf("JSON batch: %s", clip(b.body))
	}
	many := strings.Repeat(c.green+"\n", 10001)
	c.do(t, call{method: "POST", target: "/v1/status", role: auth.Lookup, ctype: "text/plain", body: []byte(many), want: 413})
	c.do(t, call{method: "POST", target: "/v1/status", role: auth.Lookup, ctype: "application/json", body: []byte(`{"ids":`), invalid: true, want: 400})
	c.do(t, call{method: "POST", target: "/v1/status", ctype: "text/plain", body: []byte(c.green), want: 401})
	c.do(t, call{method: "POST", target: "/v1/status", role: auth.Replica, ctype: "text/plain", body: []byte(c.green), want: 403})
}

// testScreening: only the IDs that are not green, each with its position;
// JSON adds the count screened.
func testScreening(t *testing.T, c *contract) {
	const name = "POST /v1/status?only=listed"
	ids := []string{c.green, c.sh[0], c.green, "110105194912310021", c.ah[1]}
	a := c.do(t, call{name: name, method: "POST", target: "/v1/status?only=listed", role: auth.Lookup, ctype: "text/plain", body: []byte(strings.Join(ids, "\n")), want: 200})
	got := a.lines(t)
	for _, m := range got {
		if _, ok := m["i"]; !ok {
			c.missing = "the server ignores only=listed (answers without positions)"
			return
		}
	}
	if len(got) != 3 || got[0]["i"] != 1.0 || got[1]["i"] != 3.0 || got[1]["status"] != "invalid" || got[2]["i"] != 4.0 {
		t.Errorf("screening NDJSON: %v", got)
	}
	js, _ := json.Marshal(map[string][]string{"ids": ids})
	m := c.do(t, call{name: name, method: "POST", target: "/v1/status?only=listed", role: auth.Lookup, ctype: "application/json", body: js, want: 200}).object(t)
	if res, _ := m["results"].([]any); len(res) != 3 || m["count"] != float64(len(ids)) {
		t.Errorf("screening JSON: %v", m)
	}
	allGreen := c.do(t, call{name: name, method: "POST", target: "/v1/status?only=listed", role: auth.Lookup, ctype: "text/plain", body: []byte(c.green + "\n" + c.green), want: 200})
	if len(bytes.TrimSpace(allGreen.body)) != 0 {
		t.Errorf("everyone green: %q, want an empty answer", allGreen.body)
	}
}

func testUpload(t *testing.T, c *contract) {
	sh := fixture.CSV(c.sh[:290]) // a correction of sh's day: loses 10
	a := c.do(t, call{method: "PUT", target: "/v1/uploads/sh/2026-11-26", role: auth.Upload("sh"), ctype: "text/csv", body: []byte(sh), want: 200})
	if m := a.object(t); m["accepted"] != 290.0 {
		t.Errorf("report: %v", m)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	io.WriteString(zw, fixture.CSV(c.ah))
	zw.Close()
	c.do(t, call{method: "PUT", target: "/v1/uploads/ah/2026-11-27", role: auth.Upload("ah"), ctype: "application/octet-stream",
		header: []string{"Content-Encoding", "gzip"}, body: gz.Bytes(), want: 200})
	bad := "id,color\n" + c.sh[0] + ",red\n110105194912310021,red\n" + c.sh[1] + ",blue\n"
	r := c.do(t, call{method: "PUT", target: "/v1/uploads/sh/2026-11-27", role: auth.Upload("sh"), ctype: "text/csv", body: []byte(bad), want: 422})
	if rep, _ := r.object(t)["report"].(map[string]any); rep == nil || rep["invalid"] != 2.0 {
		t.Errorf("rejection: %s", r.body)
	}
	c.do(t, call{method: "PUT", target: "/v1/uploads/ah/2026-11-20", role: auth.Upload("ah"), ctype: "text/csv", body: []byte(fixture.CSV(c.ah)), want: 422}) // a replay
	c.do(t, call{method: "PUT", target: "/v1/uploads/sh/2026-02-30", role: auth.Upload("sh"), ctype: "text/csv", body: []byte(sh), want: 400})
	c.do(t, call{method: "PUT", target: "/v1/uploads/sh/2026-11-27?maxInvalid=many", role: auth.Upload("sh"), ctype: "text/csv", body: []byte(sh), invalid: true, want: 400})
	c.do(t, call{method: "PUT", target: "/v1/uploads/sh/2026-11-27", ctype: "text/csv", body: []byte(sh), want: 401})
	c.do(t, call{method: "PUT", target: "/v1/uploads/sh/2026-11-27", role: auth.Upload("ah"), ctype: "text/csv", body: []byte(sh), want: 403})
	c.do(t, call{method: "PUT", target: "/v1/uploads/sh/2026-11-27", base: c.rep, role: auth.Upload("sh"), ctype: "text/csv", body: []byte(sh), want: 409})
}

func testSnapshot(t *testing.T, c *contract) {
	m := c.do(t, call{method: "GET", target: "/v1/snapshot", role: auth.Lookup, want: 200}).object(t)
	if m["replica"] != nil {
		t.Errorf("a publisher reports itself a replica: %v", m)
	}
	if r := c.do(t, call{method: "GET", target: "/v1/snapshot", base: c.rep, role: auth.Lookup, want: 200}).object(t); r["replica"] == nil {
		t.Errorf("a replica without its replica status: %v", r)
	}
	c.do(t, call{method: "GET", target: "/v1/snapshot", want: 401})
	c.do(t, call{method: "GET", target: "/v1/snapshot", base: c.empty, role: auth.Lookup, want: 503})
}

func testSnapshotFile(t *testing.T, c *contract) {
	a := c.do(t, call{method: "GET", target: "/v1/snapshot/file", role: auth.Replica, want: 200})
	c.do(t, call{method: "GET", target: "/v1/snapshot/file", role: auth.Replica, header: []string{"If-None-Match", a.hdr.Get("ETag")}, want: 304})
	c.do(t, call{method: "GET", target: "/v1/snapshot/file", role: auth.Lookup, want: 403})
	c.do(t, call{method: "GET", target: "/v1/snapshot/file", want: 401})
}

// testEdgeFilter: with a device token (role edge), and with the
// replica's; not without one (the servers here run without --public-edge).
func testEdgeFilter(t *testing.T, c *contract) {
	a := c.do(t, call{method: "GET", target: "/v1/edge/filter", role: auth.Edge, want: 200})
	c.do(t, call{method: "GET", target: "/v1/edge/filter", role: auth.Edge, header: []string{"If-None-Match", a.hdr.Get("ETag")}, want: 304})
	c.do(t, call{method: "GET", target: "/v1/edge/filter", role: auth.Replica, want: 200})
	c.do(t, call{method: "GET", target: "/v1/edge/filter", want: 401})
	c.do(t, call{method: "GET", target: "/v1/edge/filter", role: auth.Upload("sh"), want: 403})
	c.do(t, call{method: "GET", target: "/v1/edge/filter", role: auth.Edge, base: c.empty, want: 503})
}

func testEdgePreflight(t *testing.T, c *contract) {
	c.do(t, call{method: "OPTIONS", target: "/v1/edge/filter", header: []string{"Origin", "https://verifier.example", "Access-Control-Request-Method", "GET"}, want: 204})
}

func testTrust(t *testing.T, c *contract) {
	a := c.do(t, call{method: "GET", target: "/v1/trust", want: 200})
	if is, _ := a.object(t)["issuers"].([]any); len(is) != 1 {
		t.Errorf("trust list: %s, want sh's issuer", a.body)
	}
	c.do(t, call{method: "GET", target: "/v1/trust", base: c.rep, want: 200})
}

// testIssueCode: codes for a green and a red person (kept for the verify
// case), as JSON and as QR images, and the refusals.
func testIssueCode(t *testing.T, c *contract) {
	issue := func(id, ttl string) []byte {
		b, _ := json.Marshal(map[string]string{"region": "sh", "id": id, "ttl": ttl})
		return b
	}
	for colour, id := range map[string]string{"green": c.green, "red": c.sh[0]} {
		m := c.do(t, call{method: "POST", target: "/v1/codes", role: auth.Issue("sh"), ctype: "application/json", body: issue(id, "24h"), want: 200}).object(t)
		if m["status"] != colour {
			t.Errorf("a code for a %s person: %v", colour, m)
		}
		c.codes[colour], _ = m["code"].(string)
	}
	c.do(t, call{method: "POST", target: "/v1/codes", role: auth.Issue("sh"), ctype: "application/json", body: []byte(`{"region":"sh","id":"` + c.green + `"}`), want: 200})
	svg := c.do(t, call{method: "POST", target: "/v1/codes", role: auth.Issue("sh"), ctype: "application/json", body: issue(c.green, ""), header: []string{"Accept", "image/svg+xml"}, want: 200})
	png := c.do(t, call{method: "POST", target: "/v1/codes", role: auth.Issue("sh"), ctype: "application/json", body: issue(c.green, ""), header: []string{"Accept", "image/png"}, want: 200})
	if !bytes.Contains(svg.body, []byte("<svg")) || !bytes.HasPrefix(png.body, []byte("\x89PNG")) {
		t.Errorf("QR images: %q..., %q...", clip(svg.body[:min(len(svg.body), 40)]), png.body[:min(len(png.body), 8)])
	}
	c.do(t, call{method: "POST", target: "/v1/codes", role: auth.Issue("sh"), ctype: "application/json", body: issue("110105194912310021", ""), want: 400})
	c.do(t, call{method: "POST", target: "/v1/codes", role: auth.Issue("sh"), ctype: "application/json", body: issue(c.green, "1d"), want: 400})
	c.do(t, call{method: "POST", target: "/v1/codes", role: auth.Issue("sh"), ctype: "application/json", body: []byte(`{"region":"sh"}`), invalid: true, want: 400})
	c.do(t, call{method: "POST", target: "/v1/codes", role: auth.Issue("js"), ctype: "application/json", body: issue(c.green, ""), want: 403})
	c.do(t, call{method: "POST", target: "/v1/codes", role: auth.Issue("js"), ctype: "application/json", body: []byte(`{"region":"js","id":"` + c.green + `"}`), want: 409})
	c.do(t, call{method: "POST", target: "/v1/codes", role: auth.Lookup, ctype: "application/json", body: issue(c.green, ""), want: 403})
	c.do(t, call{method: "POST", target: "/v1/codes", ctype: "application/json", body: issue(c.green, ""), want: 401})
	c.do(t, call{method: "POST", target: "/v1/codes", base: c.rep, role: auth.Issue("sh"), ctype: "application/json", body: issue(c.green, ""), want: 409})
}

// testVerifyCodes: the codes issued above (a pass, and a valid code that
// does not pass), a text that is no code, and a well-formed code from an
// issuer nobody trusts; at the publisher and at its replica.
func testVerifyCodes(t *testing.T, c *contract) {
	if c.codes["green"] == "" || c.codes["red"] == "" {
		t.Fatal("no codes issued to verify")
	}
	payload := make([]byte, 90)
	payload[0] = 1
	copy(payload[1:9], "unknown!")
	body := []byte(c.codes["green"] + "\n" + c.codes["red"] + "\nnot a code\nHCX1:" + base45(payload) + "\n")
	for _, base := range []string{c.pub, c.rep} {
		a := c.do(t, call{method: "POST", target: "/v1/codes/verify", base: base, role: auth.Lookup, ctype: "text/plain", body: body, want: 200})
		got := a.lines(t)
		if len(got) != 4 || got[0]["pass"] != true || got[1]["valid"] != true || got[1]["pass"] != false ||
			got[2]["error"] != "format" || got[3]["error"] != "unknown_issuer" {
			t.Errorf("verdicts at %s: %v", base, got)
		}
	}
	c.do(t, call{method: "POST", target: "/v1/codes/verify", ctype: "text/plain", body: body, want: 401})
	c.do(t, call{method: "POST", target: "/v1/codes/verify", role: auth.Issue("sh"), ctype: "text/plain", body: body, want: 403})
}

// base45 is RFC 9285's encoding.
func base45(b []byte) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
	var out []byte
	for i := 0; i+1 < len(b); i += 2 {
		n := int(b[i])<<8 | int(b[i+1])
		out = append(out, alphabet[n%45], alphabet[n/45%45], alphabet[n/2025])
	}
	if len(b)%2 == 1 {
		n := int(b[len(b)-1])
		out = append(out, alphabet[n%45], alphabet[n/45])
	}
	return string(out)
}

func testHealthz(t *testing.T, c *contract) {
	c.do(t, call{method: "GET", target: "/healthz", want: 200})
	c.do(t, call{method: "GET", target: "/healthz", base: c.empty, want: 200})
}

func testReadyz(t *testing.T, c *contract) {
	c.do(t, call{method: "GET", target: "/readyz", want: 200})
	c.do(t, call{method: "GET", target: "/readyz", base: c.empty, want: 503})
}

func testMetrics(t *testing.T, c *contract) {
	a := c.do(t, call{method: "GET", target: "/metrics", want: 200})
	vectors := "hcx_batch_vectors 0\n"
	if engine.BatchVectors() {
		vectors = "hcx_batch_vectors 1\n"
	}
	if !bytes.Contains(a.body, []byte(vectors)) {
		t.Errorf("/metrics lacks %q", vectors)
	}
	for _, id := range []string{c.sh[0], c.green} {
		if bytes.Contains(a.body, []byte(id)) || bytes.Contains(a.body, []byte(id[:17])) {
			t.Errorf("/metrics holds a looked-up ID")
		}
	}
}

// testWeb: the page (or, in a build without the verifier, the page saying
// so) and its assets (or their 404s).
func testWeb(t *testing.T, c *contract) {
	page := c.do(t, call{method: "GET", target: "/", want: 200})
	built := bytes.Contains(page.body, []byte(`"publicKey":"`))
	want := 404
	if built {
		want = 200
	}
	for _, name := range []string{"app.js", "wasm_exec.js", "hcx.wasm", "hcx.d.ts"} {
		a := c.do(t, call{method: "GET", target: "/?asset=" + name, want: want})
		if built {
			c.do(t, call{method: "GET", target: "/?asset=" + name, header: []string{"If-None-Match", a.hdr.Get("ETag")}, want: 304})
		}
	}
	c.do(t, call{method: "GET", target: "/?asset=config.json", invalid: true, want: 404})
	t.Logf("web verifier in this build: %v", built)
}

func init() {
	// A mistake in the table shows up before the servers start.
	seen := map[string]bool{}
	for _, e := range endpoints {
		if seen[e.method+" "+e.path] {
			panic(fmt.Sprintf("%s %s twice in the table", e.method, e.path))
		}
		seen[e.method+" "+e.path] = true
	}
}
