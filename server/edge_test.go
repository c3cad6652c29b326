package server

import (
	"bytes"
	"context"
	"encoding/hex"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/auth"
	"github.com/yrd-hcx/hcx/internal/fixture"
	"github.com/yrd-hcx/hcx/loader"
	"github.com/yrd-hcx/hcx/wasm/wasmtest"
)

// TestMain removes the WebAssembly modules the browser test builds.
func TestMain(m *testing.M) { os.Exit(wasmtest.Main(m)) }

func openEdgeFile(t *testing.T, st *loader.Store, b []byte) *engine.EdgeFilter {
	t.Helper()
	f, err := engine.OpenEdge(b, engine.EdgeOpenOptions{PublicKey: st.Public})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestEdgeFilterEndpoint: for verifier devices (role edge), the live
// snapshot's filter, ETag and 304, the same bytes when gzip is asked for,
// and a new upload is in the filter by the time its 200 arrives.
func TestEdgeFilterEndpoint(t *testing.T) {
	e := newEnv(t, Config{}, true)
	r := e.do(t, "GET", "/v1/edge/filter", auth.Edge, nil)
	etag := r.hdr.Get("ETag")
	if r.code != 200 || etag == "" || r.hdr.Get("Content-Type") != "application/octet-stream" || r.hdr.Get("Cache-Control") != "private, no-cache" {
		t.Fatalf("%d %v", r.code, r.hdr)
	}
	f := openEdgeFile(t, e.store, r.body)
	if got := f.Check(e.sh[0]); got.Answer() != "red" || got.Red != 1 {
		t.Fatalf("sh[0]: %+v", got)
	}
	if got := f.Check(e.ah[1]); got.Answer() != "yellow" || got.Yellow != 1<<3 {
		t.Fatalf("ah[1]: %+v", got)
	}
	if info := f.Info(); info.Version != e.srv.Snapshot().Info().Version || info.Regions[1].Covered || !info.Regions[0].Covered {
		t.Fatalf("info %+v", info)
	}
	if r := e.do(t, "GET", "/v1/edge/filter", auth.Edge, nil, "If-None-Match", etag); r.code != 304 || len(r.body) != 0 {
		t.Fatalf("If-None-Match: %d", r.code)
	}
	if r := e.do(t, "GET", "/v1/edge/filter", auth.Edge, nil, "If-None-Match", `W/"other", `+etag); r.code != 304 {
		t.Fatalf("If-None-Match list: %d", r.code)
	}
	if r := e.do(t, "HEAD", "/v1/edge/filter", auth.Edge, nil); r.code != 200 || len(r.body) != 0 {
		t.Fatalf("HEAD: %d", r.code)
	}
	if r := e.do(t, "POST", "/v1/edge/filter", auth.Edge, nil); r.code != 405 {
		t.Fatalf("POST: %d", r.code)
	}
	// Asked for gzip, the filter comes as it is: random bits do not
	// compress, and the server keeps no second copy.
	z := e.do(t, "GET", "/v1/edge/filter", auth.Edge, nil, "Accept-Encoding", "gzip")
	if z.hdr.Get("Content-Encoding") != "" || z.hdr.Get("ETag") != etag || !bytes.Equal(z.body, r.body) {
		t.Fatalf("asked for gzip: %v, same body %v", z.hdr, bytes.Equal(z.body, r.body))
	}

	// js uploads: the filter covers it when the upload answers.
	js := fixture.IDs(3, 50)
	if u := e.do(t, "PUT", "/v1/uploads/js/2026-11-27", auth.Upload("js"), []byte(fixture.CSV(js))); u.code != 200 {
		t.Fatalf("upload %d %s", u.code, u.body)
	}
	r2 := e.do(t, "GET", "/v1/edge/filter", auth.Edge, nil)
	if r2.hdr.Get("ETag") == etag {
		t.Fatal("same ETag after an upload")
	}
	f = openEdgeFile(t, e.store, r2.body)
	if got := f.Check(js[0]); got.Red != 2 || !f.Info().Regions[1].Covered {
		t.Fatalf("js[0] after the upload: %+v", got)
	}
	if b, err := e.srv.EdgeFile(); err != nil || !bytes.Equal(b, r2.body) {
		t.Fatalf("EdgeFile: %v", err)
	}
}

// TestEdgeFilterUnavailable: no snapshot yet, or a snapshot whose lists
// have no edge parts (ingested before edge filters), is a 503 that says
// why.
func TestEdgeFilterUnavailable(t *testing.T) {
	e := newEnv(t, Config{}, false)
	if r := e.do(t, "GET", "/v1/edge/filter", auth.Edge, nil); r.code != 503 || r.json(t)["error"] != "not_ready" {
		t.Fatalf("%d %s", r.code, r.body)
	}
	e = newEnv(t, Config{}, true)
	parts, _ := filepath.Glob(filepath.Join(e.store.Dir, "edge-*.bin"))
	for _, p := range parts {
		os.Remove(p)
	}
	srv, base := startServer(t, Config{Store: e.store})
	e.srv, e.base = srv, base
	if r := e.do(t, "GET", "/v1/edge/filter", auth.Edge, nil); r.code != 503 || r.json(t)["error"] != "edge_unavailable" ||
		!strings.Contains(r.json(t)["detail"].(string), "re-ingest") {
		t.Fatalf("%d %s", r.code, r.body)
	}
}

// TestEdgeReplica: a replica fetches the publisher's filter with its token
// (role replica), checks it against the pinned key, and serves it for the
// snapshot it follows; without a token the publisher refuses it the filter.
func TestEdgeReplica(t *testing.T) {
	pub := newEnv(t, Config{}, true)
	rep := replicaDir(t, pub.store, pub.tokens[auth.Lookup])
	line, _ := auth.Line(pub.tokens[auth.Edge], []string{auth.Edge})
	if err := rep.AddToken(line); err != nil {
		t.Fatal(err)
	}
	srv, base := startServer(t, Config{Store: rep, ReplicaOf: pub.base, ReplicaToken: pub.tokens[auth.Replica], ReplicaPoll: 50 * time.Millisecond})
	want := pub.do(t, "GET", "/v1/edge/filter", auth.Edge, nil)
	waitFor(t, func() bool { b, err := srv.EdgeFile(); return err == nil && bytes.Equal(b, want.body) })
	r := (&env{base: base, tokens: pub.tokens}).do(t, "GET", "/v1/edge/filter", auth.Edge, nil)
	if r.code != 200 || r.hdr.Get("ETag") != want.hdr.Get("ETag") {
		t.Fatalf("replica: %d %v", r.code, r.hdr)
	}

	// A publisher that serves its snapshot openly (a static copy would) but
	// its filter only to tokens: a replica without one has no filter.
	open := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/snapshot/file" {
			b, _ := os.ReadFile(pub.store.SnapshotPath())
			w.Write(b)
			return
		}
		res := pub.do(t, "GET", r.URL.Path, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), nil)
		w.WriteHeader(res.code)
		w.Write(res.body)
	}))
	defer open.Close()
	rep2 := replicaDir(t, pub.store, pub.tokens[auth.Lookup])
	srv2, _ := startServer(t, Config{Store: rep2, ReplicaOf: open.URL, ReplicaPoll: 20 * time.Millisecond})
	waitFor(t, srv2.Ready)
	time.Sleep(100 * time.Millisecond)
	if _, err := srv2.EdgeFile(); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("a replica without a token got the filter: %v", err)
	}
}

// TestPublicEdge: with PublicEdge the filter goes to anyone, and shared
// caches may keep it.
func TestPublicEdge(t *testing.T) {
	e := newEnv(t, Config{PublicEdge: true}, true)
	r := e.do(t, "GET", "/v1/edge/filter", "", nil)
	if r.code != 200 || r.hdr.Get("Cache-Control") != "no-cache" || r.hdr.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("%d %v", r.code, r.hdr)
	}
	if r := e.do(t, "GET", "/v1/snapshot/file", "", nil); r.code != 401 {
		t.Fatalf("the snapshot file went public too: %d", r.code)
	}
}

// TestWebPage: "/" is the placeholder in a build without the verifier,
// and the page with the pinned key and its assets once built.
func TestWebPage(t *testing.T) {
	e := newEnv(t, Config{Web: fstest.MapFS{"placeholder.html": {Data: []byte(`<p id="result" data-status="error">The web verifier is not in this build</p>`)}}}, true)
	if r := e.do(t, "GET", "/", "", nil); r.code != 200 || !strings.Contains(string(r.body), "not in this build") {
		t.Fatalf("placeholder: %d %s", r.code, r.body)
	}
	if r := e.do(t, "GET", "/?asset=hcx.wasm", "", nil); r.code != 404 {
		t.Fatalf("asset without a build: %d", r.code)
	}

	index, err := os.ReadFile("../wasm/web/index.html")
	if err != nil {
		t.Fatal(err)
	}
	wasm := bytes.Repeat([]byte("\x00asm"), 1000)
	e = newEnv(t, Config{Web: fstest.MapFS{"index.html": {Data: index}, "hcx.wasm": {Data: wasm}, "app.js": {Data: []byte("//")}}}, true)
	r := e.do(t, "GET", "/?id=11010519491231002X", "", nil)
	page := string(r.body)
	if r.code != 200 || !strings.Contains(page, `"publicKey":"`+hex.EncodeToString(e.store.Public)+`"`) ||
		!strings.Contains(page, `src="/?asset=app.js"`) || strings.Contains(page, configMarker) ||
		!strings.Contains(r.hdr.Get("Content-Security-Policy"), "'wasm-unsafe-eval'") || r.hdr.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("page: %d %v\n%s", r.code, r.hdr, page)
	}
	a := e.do(t, "GET", "/?asset=hcx.wasm", "", nil, "Accept-Encoding", "gzip")
	if a.code != 200 || a.hdr.Get("Content-Type") != "application/wasm" || a.hdr.Get("Content-Encoding") != "gzip" || len(a.body) >= len(wasm) {
		t.Fatalf("wasm: %d %v", a.code, a.hdr)
	}
	if r := e.do(t, "GET", "/?asset=hcx.wasm", "", nil, "If-None-Match", a.hdr.Get("ETag")); r.code != 304 {
		t.Fatalf("asset If-None-Match: %d", r.code)
	}
	for _, bad := range []string{"index.html", "../server.go", "placeholder.html", "config.json"} {
		if r := e.do(t, "GET", "/?asset="+bad, "", nil); r.code != 404 {
			t.Errorf("asset %s: %d", bad, r.code)
		}
	}
}

// chromium finds the browser: in CI (CI=true) a missing one fails the
// test; elsewhere it is skipped with a reason.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium on PATH (apt-get install -y chromium; .ci/run does)")
	}
	t.Skip("no chromium on PATH: install it (apt-get install -y chromium) to run the browser test; CI fails without it")
	return ""
}

// builtWeb is the web verifier as make wasm builds it: hcx.wasm built now
// (cached by the go build cache), the page from wasm/web, wasm_exec.js from
// GOROOT.
func builtWeb(t *testing.T) fs.FS {
	t.Helper()
	mod := wasmtest.Build(t, "js", "./wasm/js")
	out, err := exec.Command(wasmtest.GoTool(), "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	files := fstest.MapFS{}
	for name, path := range map[string]string{
		"hcx.wasm":     mod,
		"wasm_exec.js": filepath.Join(strings.TrimSpace(string(out)), "lib", "wasm", "wasm_exec.js"),
		"index.html":   "../wasm/web/index.html",
		"app.js":       "../wasm/web/app.js",
		"hcx.d.ts":     "../wasm/web/hcx.d.ts",
	} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = &fstest.MapFile{Data: b}
	}
	return files
}

// pageAnswer waits for the page's answer in #result.
const pageAnswer = `new Promise((resolve, reject) => {
  const t0 = Date.now();
  (function poll() {
    const r = document.getElementById("result");
    if (r && r.dataset.status) return resolve({status: r.dataset.status, probable: r.dataset.probable || "", ms: window.hcxFirstAnswerMs || 0, text: r.textContent});
    if (Date.now() - t0 > 20000) return reject(new Error("no answer: " + (r ? r.textContent : "no #result")));
    setTimeout(poll, 20);
  })();
})`

type pageResult struct {
	Status, Probable, Text string
	Ms                     float64
}

// TestBrowser: the web verifier in real headless Chromium against the
// server on loopback. /#id= answers a red, a yellow, a green and an
// invalid ID in #result; then, with the server stopped, the loaded page
// still answers.
func TestBrowser(t *testing.T) {
	exe := chromium(t)
	// The page loads the filter without a device token here; a token in
	// the page's fragment or configuration is the web verifier's business.
	e := newEnv(t, Config{Web: builtWeb(t), PublicEdge: true}, true)

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil { // start the browser; tabs share it
		t.Fatal(err)
	}

	green := fixture.IDs(50, 1)[0]
	var last context.Context
	for _, c := range []struct{ id, status, probable string }{
		{e.sh[0], "red", "true"}, {e.sh[1], "yellow", "true"}, {green, "green", ""}, {"110105194912310021", "invalid", ""},
	} {
		tab, closeTab := chromedp.NewContext(ctx)
		defer closeTab()
		if err := chromedp.Do(tab, chromedp.Navigate(e.base+"/#id="+c.id)); err != nil {
			t.Fatal(err)
		}
		got, err := chromedp.Run(tab, chromedp.Evaluate[pageResult](pageAnswer, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: %v", c.status, err)
		}
		if got.Status != c.status || got.Probable != c.probable {
			t.Errorf("%s: page says %+v", c.status, got)
		}
		if strings.Contains(got.Text, c.id[4:14]) {
			t.Errorf("the page shows the whole ID: %q", got.Text)
		}
		t.Logf("%s: first answer %.0f ms after navigation start (%d CPUs)", c.status, got.Ms, runtime.NumCPU())
		last = tab
	}

	// Cut the network: the server goes away; the loaded page keeps answering.
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := e.srv.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	reach, err := chromedp.Run(last, chromedp.Evaluate[string](`fetch("/v1/edge/filter", {cache: "no-store"}).then(() => "up", () => "down")`, chromedp.EvalAwaitPromise))
	if err != nil || reach != "down" {
		t.Fatalf("server still reachable: %q %v", reach, err)
	}
	got, err := chromedp.Run(last, chromedp.Evaluate[pageResult](`(() => {
  const r = document.getElementById("result");
  delete r.dataset.status;
  document.getElementById("id").value = "`+e.sh[0]+`";
  document.getElementById("form").requestSubmit();
  return `+pageAnswer+`;
})()`, chromedp.EvalAwaitPromise))
	if err != nil || got.Status != "red" || got.Probable != "true" {
		t.Fatalf("offline: %+v %v", got, err)
	}
}
