package server

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"image/png"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	gzqr "github.com/makiuchi-d/gozxing/qrcode"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/auth"
	"github.com/yrd-hcx/hcx/internal/fixture"
	"github.com/yrd-hcx/hcx/internal/qrcode"
)

// codesEnv is newEnv with issuer keys for sh and js in the data directory
// (none for zj and ah) and tokens that may issue, upload for zj, and edge.
func codesEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	e := newEnv(t, cfg, true)
	for _, role := range []string{auth.Issue("sh"), auth.Issue("js"), auth.Upload("zj"), auth.Edge} {
		tok, _ := auth.NewToken()
		line, _ := auth.Line(tok, []string{role})
		if err := e.store.AddToken(line); err != nil {
			t.Fatal(err)
		}
		e.tokens[role] = tok
	}
	for _, region := range []string{"sh", "js"} {
		if _, err := e.store.AddIssuer(region); err != nil {
			t.Fatal(err)
		}
	}
	// What the watcher would do within a poll.
	if err := e.srv.reloadTokens(); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.reloadSnapshot(); err != nil {
		t.Fatal(err)
	}
	return e
}

// issue asks for a code as role (no Accept: the JSON answer).
func (e *env) issue(t *testing.T, role, region, id, ttl string, hdr ...string) resp {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"region": region, "id": id, "ttl": ttl})
	if ttl == "" {
		body, _ = json.Marshal(map[string]string{"region": region, "id": id})
	}
	return e.do(t, "POST", "/v1/codes", role, body, append([]string{"Content-Type", "application/json"}, hdr...)...)
}

// code issues a code and returns its text.
func (e *env) code(t *testing.T, region, id string) string {
	t.Helper()
	r := e.issue(t, auth.Issue(region), region, id, "")
	if r.code != 200 {
		t.Fatalf("issuing for %s: %d %s", region, r.code, r.body)
	}
	return r.json(t)["code"].(string)
}

// verify sends codes to POST /v1/codes/verify and returns the answers.
func (e *env) verify(t *testing.T, codes ...string) []map[string]any {
	t.Helper()
	r := e.do(t, "POST", "/v1/codes/verify", auth.Lookup, []byte(strings.Join(codes, "\n")), "Content-Type", "text/plain")
	if r.code != 200 || r.hdr.Get("Content-Type") != "application/x-ndjson" || r.hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("verify: %d %v %s", r.code, r.hdr, r.body)
	}
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSuffix(r.body, []byte{'\n'}), []byte{'\n'}) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("not NDJSON: %s", r.body)
		}
		out = append(out, m)
	}
	return out
}

func TestTrust(t *testing.T) {
	e := codesEnv(t, Config{})
	r := e.do(t, "GET", "/v1/trust", "", nil)
	var got struct {
		Issuers []struct{ Region, Kid, PublicKey, Status, Added string }
	}
	if err := json.Unmarshal(r.body, &got); r.code != 200 || err != nil || len(got.Issuers) != 2 {
		t.Fatalf("%d %s", r.code, r.body)
	}
	for i, want := range []string{"sh", "js"} {
		iss := got.Issuers[i]
		pub, _ := e.store.Issuers()
		if iss.Region != want || iss.Status != "active" || iss.Kid != pub.Issuers()[i].Kid.String() || len(iss.PublicKey) != 64 {
			t.Errorf("issuer %d: %+v", i, iss)
		}
		if _, err := time.Parse(time.RFC3339, iss.Added); err != nil {
			t.Errorf("added %q: %v", iss.Added, err)
		}
	}
	if r := e.do(t, "POST", "/v1/trust", "", nil); r.code != 405 || r.hdr.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /v1/trust: %d %v", r.code, r.hdr)
	}
}

// TestIssueAccess: every role against both code endpoints.
func TestIssueAccess(t *testing.T) {
	e := codesEnv(t, Config{})
	green := fixture.IDs(21, 1)[0]
	for _, c := range []struct {
		role, region string
		want         int
	}{
		{"", "sh", 401},
		{"hcx_unknown", "sh", 401},
		{auth.Lookup, "sh", 403},
		{auth.Upload("sh"), "sh", 403},
		{auth.Replica, "sh", 403},
		{auth.Edge, "sh", 403},
		{auth.Issue("js"), "sh", 403},
		{auth.Issue("sh"), "js", 403},
		{auth.Issue("sh"), "sh", 200},
		{auth.Issue("js"), "js", 200},
		{auth.Admin, "sh", 200},
	} {
		r := e.issue(t, c.role, c.region, green, "")
		if r.code != c.want {
			t.Errorf("issue as %q for %s: %d, want %d: %s", c.role, c.region, r.code, c.want, r.body)
		}
		if c.want == 401 && r.hdr.Get("WWW-Authenticate") == "" {
			t.Errorf("a 401 without WWW-Authenticate")
		}
	}
	code := e.code(t, "sh", green)
	for _, c := range []struct {
		role string
		want int
	}{{"", 401}, {"hcx_unknown", 401}, {auth.Issue("sh"), 403}, {auth.Upload("sh"), 403}, {auth.Replica, 403}, {auth.Edge, 403}, {auth.Lookup, 200}, {auth.Admin, 200}} {
		if r := e.do(t, "POST", "/v1/codes/verify", c.role, []byte(code)); r.code != c.want {
			t.Errorf("verify as %q: %d, want %d: %s", c.role, r.code, c.want, r.body)
		}
	}
}

// TestIssue: the JSON answer, its colour the merged status now, its times,
// and every refusal.
func TestIssue(t *testing.T) {
	e := codesEnv(t, Config{})
	green := fixture.IDs(22, 1)[0]
	now := testCal.Now().Truncate(time.Second)
	for _, c := range []struct{ id, status string }{{green, "green"}, {e.sh[0], "red"}, {e.ah[1], "yellow"}} {
		r := e.issue(t, auth.Issue("sh"), "sh", c.id, "")
		m := r.json(t)
		if r.code != 200 || m["status"] != c.status || m["id"] != mask(c.id) || m["region"] != "sh" ||
			r.hdr.Get("Content-Type") != "application/json" || r.hdr.Get("Cache-Control") != "no-store" {
			t.Fatalf("%s: %d %v %s", c.status, r.code, r.hdr, r.body)
		}
		code := m["code"].(string)
		if len(code) != engine.CodeTextLen || !strings.HasPrefix(code, engine.CodePrefix) {
			t.Errorf("code %q", code)
		}
		if rest := bytes.ReplaceAll(r.body, []byte(code), nil); bytes.Contains(rest, []byte(c.id[:17])) {
			t.Errorf("the ID outside the code: %s", r.body)
		}
		if m["issued"] != now.Format(time.RFC3339) || m["expires"] != now.Add(24*time.Hour).Format(time.RFC3339) ||
			!strings.HasSuffix(m["issued"].(string), "+08:00") {
			t.Errorf("times %v %v, want %v plus 24h in CST", m["issued"], m["expires"], now)
		}
	}
	if m := e.issue(t, auth.Issue("sh"), "sh", green, "168h").json(t); m["expires"] != now.Add(7*24*time.Hour).Format(time.RFC3339) {
		t.Errorf("ttl 168h: %v", m)
	}
	for _, c := range []struct {
		name, role, body string
		want             int
		err              string
	}{
		{"ttl over 7 days", auth.Issue("sh"), `{"region":"sh","id":"` + green + `","ttl":"168h1s"}`, 400, "bad_request"},
		{"ttl not a duration", auth.Issue("sh"), `{"region":"sh","id":"` + green + `","ttl":"1d"}`, 400, "bad_request"},
		{"ttl under a second", auth.Issue("sh"), `{"region":"sh","id":"` + green + `","ttl":"500ms"}`, 400, "bad_request"},
		{"invalid ID", auth.Issue("sh"), `{"region":"sh","id":"` + green[:17] + "Z" + `"}`, 400, "invalid_id"},
		{"check digit", auth.Issue("sh"), `{"region":"sh","id":"110105194912310021"}`, 400, "invalid_id"},
		{"no ID", auth.Issue("sh"), `{"region":"sh"}`, 400, "bad_request"},
		{"no region", auth.Admin, `{"id":"` + green + `"}`, 400, "bad_request"},
		{"unknown field", auth.Issue("sh"), `{"region":"sh","id":"` + green + `","colour":"green"}`, 400, "bad_request"},
		{"two objects", auth.Issue("sh"), `{"region":"sh","id":"` + green + `"}{}`, 400, "bad_request"},
		{"not JSON", auth.Issue("sh"), green, 400, "bad_request"},
		{"region not in the data directory", auth.Admin, `{"region":"xx","id":"` + green + `"}`, 400, "unknown_region"},
		{"region without an issuer key", auth.Admin, `{"region":"zj","id":"` + green + `"}`, 409, "no_issuer_key"},
		{"body over 4 KiB", auth.Issue("sh"), `{"region":"sh","id":"` + green + `","ttl":"` + strings.Repeat("1", 5000) + `"}`, 413, "too_large"},
	} {
		r := e.do(t, "POST", "/v1/codes", c.role, []byte(c.body), "Content-Type", "application/json")
		if r.code != c.want || r.json(t)["error"] != c.err {
			t.Errorf("%s: %d %s, want %d %s", c.name, r.code, r.body, c.want, c.err)
		}
		if bytes.Contains(r.body, []byte(green[:17])) {
			t.Errorf("%s: the answer quotes the ID: %s", c.name, r.body)
		}
	}
	if r := e.do(t, "GET", "/v1/codes", auth.Issue("sh"), nil); r.code != 405 || r.hdr.Get("Allow") != "POST" {
		t.Errorf("GET /v1/codes: %d %v", r.code, r.hdr)
	}
}

// TestIssueQR: with an image Accept the answer is the QR of the code
// itself; an independent decoder reads the PNG back, and the code read
// verifies. The clock is fixed, so the JSON answer issues the same code.
func TestIssueQR(t *testing.T) {
	e := codesEnv(t, Config{})
	green := fixture.IDs(23, 1)[0]
	code := e.code(t, "sh", green)
	r := e.issue(t, auth.Issue("sh"), "sh", green, "", "Accept", "image/png")
	if r.code != 200 || r.hdr.Get("Content-Type") != "image/png" || r.hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %v", r.code, r.hdr)
	}
	img, err := png.Decode(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := gzqr.NewQRCodeReader().Decode(bmp, pureBarcode)
	if err != nil {
		t.Fatalf("the independent decoder cannot read the server's QR: %v", err)
	}
	if res.GetText() != code {
		t.Fatalf("the QR reads %q, the JSON answer's code is %q", res.GetText(), code)
	}
	if v := e.verify(t, res.GetText()); v[0]["pass"] != true {
		t.Errorf("the code read from the QR: %v", v[0])
	}
	q, _ := qrcode.Encode(code)
	for _, accept := range []string{"image/svg+xml", "text/html, image/svg+xml;q=0.9, image/png;q=0.8"} {
		r := e.issue(t, auth.Issue("sh"), "sh", green, "", "Accept", accept)
		if r.code != 200 || r.hdr.Get("Content-Type") != "image/svg+xml" || !bytes.Equal(r.body, q.SVG()) {
			t.Errorf("Accept %s: %d %v, not the code's SVG (internal/qrcode's tests decode that)", accept, r.code, r.hdr)
		}
	}
	for _, accept := range []string{"application/json", "*/*", "image/*"} {
		if r := e.issue(t, auth.Issue("sh"), "sh", green, "", "Accept", accept); r.hdr.Get("Content-Type") != "application/json" {
			t.Errorf("Accept %s: %v", accept, r.hdr)
		}
	}
}

// pureBarcode tells gozxing the image is a clean render, the symbol and its
// quiet zone alone: its detector misses about 1% of clean version-8
// symbols that zbarimg reads (3 of 300 random codes), and what the server
// drew is such a render. Decoding (format, bits, Reed-Solomon, modes) is
// the same.
var pureBarcode = map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_PURE_BARCODE: true}

// reencode rebuilds a code's text from its 90 bytes after change.
func reencode(t *testing.T, code string, change func(raw []byte)) string {
	t.Helper()
	raw, err := engine.Base45Decode(nil, []byte(code[len(engine.CodePrefix):]))
	if err != nil || len(raw) != engine.CodeSize {
		t.Fatalf("%d bytes, %v", len(raw), err)
	}
	change(raw)
	return string(engine.Base45Encode([]byte(engine.CodePrefix), raw))
}

// TestVerifyCodes: every verdict end to end, in order, one a line.
func TestVerifyCodes(t *testing.T) {
	logs := &lockedBuffer{}
	e := codesEnv(t, Config{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	green := fixture.IDs(24, 1)[0]
	passes, red := e.code(t, "sh", green), e.code(t, "sh", e.sh[0])
	shKey, shIssuer, err := e.store.IssuerKey(e.srv.Snapshot().TrustList(), "sh")
	if err != nil {
		t.Fatal(err)
	}
	now := testCal.Now()
	sign := func(key ed25519.PrivateKey, issued, expires time.Time) string {
		id, _ := engine.ParseID(green)
		b, err := engine.IssueCode(nil, key, engine.CodeClaims{ID: id, Colour: engine.Green, Issued: issued, Expires: expires})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	stranger := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	recoloured := reencode(t, red, func(raw []byte) { raw[17] = 0 }) // red to green, same signature
	forged := reencode(t, sign(stranger, now, now.Add(time.Hour)), func(raw []byte) { copy(raw[1:9], shIssuer.Kid[:]) })
	cases := []struct {
		name, code string
		want       map[string]any
	}{
		{"green, listed nowhere", passes, map[string]any{"valid": true, "pass": true, "codeStatus": "green", "status": "green", "region": "sh", "id": mask(green)}},
		{"red", red, map[string]any{"valid": true, "pass": false, "codeStatus": "red", "status": "red", "id": mask(e.sh[0])}},
		{"not a code", "hello", map[string]any{"valid": false, "pass": false, "error": "format"}},
		{"bad Base45", "HCX1:" + strings.Repeat("%", 135), map[string]any{"valid": false, "error": "format"}},
		{"unknown issuer", sign(stranger, now, now.Add(time.Hour)), map[string]any{"valid": false, "error": "unknown_issuer"}},
		{"recoloured", recoloured, map[string]any{"valid": false, "pass": false, "error": "signature"}},
		{"forged with sh's kid", forged, map[string]any{"valid": false, "error": "signature"}},
		{"not yet valid", sign(shKey, now.Add(time.Hour), now.Add(2*time.Hour)), map[string]any{"valid": false, "error": "not_yet_valid"}},
		{"within the clock skew", sign(shKey, now.Add(time.Minute), now.Add(2*time.Hour)), map[string]any{"valid": true, "pass": true}},
		{"expired", sign(shKey, now.Add(-48*time.Hour), now.Add(-24*time.Hour)), map[string]any{"valid": false, "error": "expired"}},
	}
	var body []string
	for _, c := range cases {
		body = append(body, c.code, "") // blank lines are skipped
	}
	body[0] += "\r" // a CRLF line end
	body[1] = " \t" // blank
	got := e.verify(t, body...)
	if len(got) != len(cases) {
		t.Fatalf("%d answers to %d codes", len(got), len(cases))
	}
	for i, c := range cases {
		for k, v := range c.want {
			if got[i][k] != v {
				t.Errorf("%s: %s = %v, want %v (%v)", c.name, k, got[i][k], v, got[i])
			}
		}
		if got[i]["valid"] == false && len(got[i]) != 3 {
			t.Errorf("%s: a refused code says more than why: %v", c.name, got[i])
		}
	}
	if src := got[1]["sources"].([]any); len(src) != 1 || src[0].(map[string]any)["region"] != "sh" {
		t.Errorf("sources %v", got[1]["sources"])
	}
	if r := e.do(t, "POST", "/v1/codes/verify", auth.Lookup, nil); r.code != 200 || len(r.body) != 0 {
		t.Errorf("no codes: %d %q", r.code, r.body)
	}

	m := string(e.do(t, "GET", "/metrics", "", nil).body)
	for _, want := range []string{
		`hcx_codes_issued_total{region="sh",result="green"} 1`,
		`hcx_codes_issued_total{region="sh",result="red"} 1`,
		`hcx_codes_verified_total{region="sh",result="pass"} 2`,
		`hcx_codes_verified_total{region="sh",result="no_pass"} 1`,
		`hcx_codes_verified_total{region="sh",result="signature"} 2`,
		`hcx_codes_verified_total{region="unknown",result="format"} 2`,
		`hcx_codes_verified_total{region="unknown",result="unknown_issuer"} 1`,
		`hcx_codes_verified_total{region="sh",result="expired"} 1`,
		`hcx_codes_verified_total{region="sh",result="not_yet_valid"} 1`,
		`hcx_requests_total{code="200",route="codes_verify"} 2`,
	} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
	for _, c := range cases {
		if len(c.code) > 20 && (strings.Contains(m, c.code[5:25]) || strings.Contains(logs.String(), c.code[5:25])) {
			t.Errorf("%s: the code in the metrics or the logs", c.name)
		}
	}
	if strings.Contains(m+logs.String(), green[:14]) || strings.Contains(m+logs.String(), "HCX1") {
		t.Errorf("an ID or a code in the metrics or logs")
	}
}

// lockedBuffer is a log the server's goroutines write while a test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestVerifyLimits: the batch and body limits of the batch lookup apply.
func TestVerifyLimits(t *testing.T) {
	e := codesEnv(t, Config{MaxBatch: 5, MaxBatchBody: 2000})
	code := e.code(t, "sh", fixture.IDs(25, 1)[0])
	if got := e.verify(t, code, code, code, code, code); len(got) != 5 {
		t.Fatalf("%d answers", len(got))
	}
	for _, c := range []struct {
		body string
		err  string
	}{
		{strings.Repeat(code+"\n", 6), "batch_too_large"},
		{strings.Repeat("x", 2001), "too_large"},
	} {
		r := e.do(t, "POST", "/v1/codes/verify", auth.Lookup, []byte(c.body))
		if r.code != 413 || r.json(t)["error"] != c.err {
			t.Errorf("%s: %d %s", c.err, r.code, r.body)
		}
	}
}

// TestCodeCrossRegion: a green code from sh stops passing the moment zj's
// upload lists its holder, though the code itself stays valid and green.
func TestCodeCrossRegion(t *testing.T) {
	e := codesEnv(t, Config{})
	holder := fixture.IDs(26, 1)[0]
	code := e.code(t, "sh", holder)
	if v := e.verify(t, code)[0]; v["pass"] != true {
		t.Fatalf("before zj lists the holder: %v", v)
	}
	if r := e.do(t, "PUT", "/v1/uploads/zj/2026-11-27", auth.Upload("zj"), []byte("id,color\n"+holder+",red\n")); r.code != 200 {
		t.Fatalf("zj's upload: %d %s", r.code, r.body)
	}
	v := e.verify(t, code)[0]
	src, _ := v["sources"].([]any)
	if v["valid"] != true || v["pass"] != false || v["codeStatus"] != "green" || v["status"] != "red" ||
		len(src) != 1 || src[0].(map[string]any)["region"] != "zj" {
		t.Fatalf("once zj lists the holder: %v", v)
	}
	// And a new code for the holder is red.
	if m := e.issue(t, auth.Issue("sh"), "sh", holder, "").json(t); m["status"] != "red" {
		t.Errorf("a new code: %v", m)
	}
}

// TestCodeRevoked: an issuer revoked through the loader (as hcx issuer
// revoke does, from another process) has its codes refused once the
// watcher sees the new snapshot, and the server no longer issues with it.
func TestCodeRevoked(t *testing.T) {
	e := codesEnv(t, Config{Poll: 50 * time.Millisecond})
	green := fixture.IDs(27, 1)[0]
	js, sh := e.code(t, "js", green), e.code(t, "sh", green)
	_, iss, err := e.store.IssuerKey(e.srv.Snapshot().TrustList(), "js")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.RevokeIssuer(iss.Kid); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	for e.verify(t, js)[0]["error"] != "revoked_issuer" {
		if time.Since(t0) > 5*time.Second {
			t.Fatal("js's code still accepted 5s after the revocation")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("refused %v after the revocation (poll 50ms)", time.Since(t0).Round(time.Millisecond))
	if v := e.verify(t, sh)[0]; v["pass"] != true {
		t.Errorf("sh's code after js's revocation: %v", v)
	}
	if r := e.issue(t, auth.Issue("js"), "js", green, ""); r.code != 409 || r.json(t)["error"] != "no_issuer_key" {
		t.Errorf("issuing with a revoked key: %d %s", r.code, r.body)
	}
	for _, iss := range e.do(t, "GET", "/v1/trust", "", nil).json(t)["issuers"].([]any) {
		if m := iss.(map[string]any); m["region"] == "js" && m["status"] != "revoked" {
			t.Errorf("trust list: %v", m)
		}
	}
}

// TestCodesOnReplica: a replica verifies with the trust list it received
// and refuses to issue (it holds no issuer keys), before any token check.
func TestCodesOnReplica(t *testing.T) {
	pub := codesEnv(t, Config{})
	code := pub.code(t, "sh", fixture.IDs(28, 1)[0])
	rst := replicaDir(t, pub.store, pub.tokens[auth.Lookup])
	rep, base := startServer(t, Config{Store: rst, ReplicaOf: pub.base, ReplicaToken: pub.tokens[auth.Replica], ReplicaPoll: 50 * time.Millisecond})
	r := &env{srv: rep, base: base, tokens: pub.tokens}
	waitFor(t, rep.Ready)
	if v := r.verify(t, code)[0]; v["pass"] != true {
		t.Fatalf("a replica's verdict: %v", v)
	}
	for _, role := range []string{"", auth.Issue("sh"), auth.Lookup} {
		res := r.issue(t, role, "sh", fixture.IDs(28, 1)[0], "")
		if res.code != 409 || res.json(t)["error"] != "read_only_replica" {
			t.Errorf("issuing on a replica as %q: %d %s", role, res.code, res.body)
		}
	}
	if got := r.do(t, "GET", "/v1/trust", "", nil); !bytes.Equal(got.body, pub.do(t, "GET", "/v1/trust", "", nil).body) {
		t.Errorf("the replica's trust list differs: %s", got.body)
	}
}
