//go:build !js && !wasip1

package web

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/auth"
	"github.com/yrd-hcx/hcx/internal/fixture"
	"github.com/yrd-hcx/hcx/loader"
	"github.com/yrd-hcx/hcx/server"
	"github.com/yrd-hcx/hcx/wasm/wasmtest"
)

// The page in real headless Chromium, as a static site (the files `make
// wasm` puts in dist/web, a config.json) in front of a real hcx server on
// loopback: the front serves the files and passes /v1/ to the server, as
// an ingress in front of a static bucket would. The page's CSP is the one
// hcx serve sends with its own page.

func TestMain(m *testing.M) { os.Exit(wasmtest.Main(m)) }

// site is the page and its server.
type site struct {
	st     *loader.Store
	srv    *server.Server
	api    string // the hcx server's base URL
	front  *httptest.Server
	csp    string
	files  map[string]string // page file name -> path on disk
	tokens map[string]string // role -> token
	red    []string          // listed red by sh
	yellow []string
	green  []string // listed nowhere
	cfgTok string   // the token config.json carries, if any

	mu       sync.Mutex
	override []byte // served as /v1/edge/filter instead of the server's (an attacker replaying an old filter)
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
	t.Skip("no chromium on PATH: install it (apt-get install -y chromium) to run the browser tests; CI fails without it")
	return ""
}

// edgeRole is the role a verifier device's token carries.
const edgeRole = auth.Edge

func newSite(t *testing.T) *site {
	t.Helper()
	st, err := loader.Init(filepath.Join(t.TempDir(), "data"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &site{st: st, tokens: map[string]string{}, files: map[string]string{}}
	for _, role := range []string{edgeRole, auth.Lookup} {
		tok, _ := auth.NewToken()
		line, _ := auth.Line(tok, []string{role})
		if err := st.AddToken(line); err != nil {
			t.Fatal(err)
		}
		s.tokens[role] = tok
	}
	if _, err := st.AddIssuer("sh"); err != nil {
		t.Fatal(err)
	}
	ids := fixture.IDs(61, 302)
	listed := ids[:300]
	for i, id := range listed {
		if fixture.Color(i) == "red" {
			s.red = append(s.red, id)
		} else {
			s.yellow = append(s.yellow, id)
		}
	}
	s.green = ids[300:]
	s.ingest(t, "sh", listed)

	s.srv, err = server.New(server.Config{Store: st, Poll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.api = "http://" + ln.Addr().String()
	go s.srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.srv.Shutdown(ctx)
	})
	s.waitVersion(t, 2) // the issuer, then the lists

	// The CSP hcx serve gives its page, so that the page is tested under it.
	r, err := http.Get(s.api + "/")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if s.csp = r.Header.Get("Content-Security-Policy"); s.csp == "" {
		t.Fatal("hcx serve sends no Content-Security-Policy with its page")
	}

	goroot, err := exec.Command(wasmtest.GoTool(), "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	s.files["hcx.wasm"] = wasmtest.Build(t, "js", "./wasm/js")
	s.files["wasm_exec.js"] = filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js")
	for _, f := range []string{"index.html", "app.js", "hcx.d.ts"} {
		s.files[f] = f
	}

	apiURL, _ := url.Parse(s.api)
	proxy := httputil.NewSingleHostReverseProxy(apiURL)
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/edge/filter", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		o := s.override
		s.mu.Unlock()
		if o == nil {
			proxy.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(o)
	})
	mux.Handle("/v1/", proxy)
	mux.HandleFunc("/config.json", func(w http.ResponseWriter, r *http.Request) {
		cfg := map[string]string{"publicKey": st.PublicHex(), "filter": "/v1/edge/filter"}
		if s.cfgTok != "" {
			cfg["token"] = s.cfgTok
		}
		json.NewEncoder(w).Encode(cfg)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/")
		if name == "" {
			name = "index.html"
		}
		path, ok := s.files[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Security-Policy", s.csp)
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFile(w, r, path)
	})
	s.front = httptest.NewServer(mux)
	t.Cleanup(s.front.Close)
	return s
}

// code issues a health code for id of the given colour, signed by sh's
// issuer key, issued a minute ago and valid for a day.
func (s *site) code(t *testing.T, id string, colour engine.Status) string {
	t.Helper()
	snap, _, err := s.st.Current()
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := s.st.IssuerKey(snap.TrustList(), "sh")
	if err != nil {
		t.Fatal(err)
	}
	pid, err := engine.ParseID(id)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c, err := engine.IssueCode(nil, key, engine.CodeClaims{ID: pid, Colour: colour, Issued: now.Add(-time.Minute), Expires: now.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return string(c)
}

// ingest commits region's list of today (every third red, the rest
// yellow) and waits for the server to serve it.
func (s *site) ingest(t *testing.T, region string, ids []string) {
	t.Helper()
	name := region + "-" + s.st.Calendar.Today().String() + ".csv"
	if _, _, err := s.st.Ingest([]loader.Upload{{Name: name, Body: strings.NewReader(fixture.CSV(ids))}},
		loader.IngestOptions{AllowShrink: true}); err != nil {
		t.Fatal(err)
	}
}

// waitVersion waits until the server serves snapshot version v or later.
func (s *site) waitVersion(t *testing.T, v uint64) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if snap := s.srv.Snapshot(); snap != nil && snap.Info().Version >= v {
			return
		}
	}
	t.Fatalf("the server did not reach snapshot version %d", v)
}

// filter is the server's current filter, fetched as a device would.
func (s *site) filter(t *testing.T) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", s.api+"/v1/edge/filter", nil)
	req.Header.Set("Authorization", "Bearer "+s.tokens[edgeRole])
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != 200 {
		t.Fatalf("GET /v1/edge/filter: %d %s", r.StatusCode, b)
	}
	return b
}

func (s *site) serveFilter(b []byte) {
	s.mu.Lock()
	s.override = b
	s.mu.Unlock()
}

// browser starts headless Chromium with extra flags; tabs opened from the
// returned context share its profile (localStorage), as one device does.
func browser(t *testing.T, flags ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	exe := chromium(t)
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(t.TempDir()),
	}, flags...)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	bctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancel := context.WithTimeout(bctx, 3*time.Minute)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // start the browser
		t.Fatal(err)
	}
	return ctx
}

// page is what a test reads back from the page once it has settled.
type page struct {
	Status, Probable, Pass, Error string
	State                         string // #state's data-state: ready or error
	Text                          string // #result's text
	Href                          string // the address bar
	Token                         string // the device token kept in localStorage
}

// settled waits until the page has answered (#result has a data-status)
// or, with wantAnswer false, until it is ready or has failed.
func settled(wantAnswer bool) string {
	cond := `r.dataset.status`
	if !wantAnswer {
		cond = `r.dataset.status || (s && s.dataset.state)`
	}
	return `new Promise((resolve, reject) => {
  const t0 = Date.now();
  (function poll() {
    const r = document.getElementById("result"), s = document.getElementById("state");
    if (r && (` + cond + `)) return resolve({status: r.dataset.status || "", probable: r.dataset.probable || "",
      pass: r.dataset.pass || "", error: r.dataset.error || "", state: (s && s.dataset.state) || "", text: r.textContent,
      href: location.href, token: localStorage.getItem("hcx.edgeToken") || ""});
    if (Date.now() - t0 > 30000) return reject(new Error("no answer: " + (r ? r.textContent : "no #result")));
    setTimeout(poll, 20);
  })();
})`
}

// open navigates a new tab of ctx to the site's path and waits for the page
// to settle; the tab stays open until the test ends.
func (s *site) open(t *testing.T, ctx context.Context, path string, wantAnswer bool) page {
	t.Helper()
	_, p := s.openTab(t, ctx, path, wantAnswer)
	return p
}

// openTab is open, returning the tab too.
func (s *site) openTab(t *testing.T, ctx context.Context, path string, wantAnswer bool) (context.Context, page) {
	t.Helper()
	tab, cancel := chromedp.NewContext(ctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(tab, chromedp.Navigate(s.front.URL+path)); err != nil {
		t.Fatal(err)
	}
	p, err := chromedp.Run(tab, chromedp.Evaluate[page](settled(wantAnswer), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return tab, p
}

// TestFragment: #token=T&id=ID stores the token, checks the ID with the
// filter fetched under that token, and leaves no fragment in the address
// bar; the next visit on the same device needs no token; #code= is read
// too; ?id= is no longer acted on.
func TestFragment(t *testing.T) {
	s := newSite(t)
	ctx := browser(t)
	tok := s.tokens[edgeRole]

	p := s.open(t, ctx, "/#token="+tok+"&id="+s.red[0], true)
	if p.Status != "red" || p.Probable != "true" || p.Token != tok || strings.Contains(p.Href, "#") || strings.Contains(p.Href, tok) {
		t.Fatalf("#token&id: %+v", p)
	}
	if strings.Contains(p.Text, s.red[0][4:14]) {
		t.Fatalf("the page shows the whole ID: %q", p.Text)
	}
	for _, c := range []struct{ frag, status, probable string }{
		{"#id=" + s.yellow[0], "yellow", "true"},
		{"#id=" + s.green[0], "green", ""},
		{"#id=110105194912310021", "invalid", ""},
		{"#scan&id=" + url.QueryEscape(s.red[1]), "red", "true"},
	} {
		p := s.open(t, ctx, "/"+c.frag, true)
		if p.Status != c.status || p.Probable != c.probable || strings.Contains(p.Href, "#") || p.Token != tok {
			t.Errorf("%s: %+v", c.frag, p)
		}
	}
	// ?id= is a query: it reaches servers and logs, so the page ignores it.
	if p := s.open(t, ctx, "/?id="+s.red[0], false); p.State != "ready" || p.Status != "" {
		t.Errorf("?id= acted on: %+v", p)
	}
	// #token= with nothing forgets the token.
	if p := s.open(t, ctx, "/#token=", false); p.Token != "" {
		t.Errorf("#token= kept %q", p.Token)
	}
}

// TestToken: without a token, or with one lacking role edge, the server
// refuses the filter and the page says why (data-error unauthorized or
// forbidden); config.json's token is used when the device has none; a
// token given later by a fragment to the open page loads the filter.
func TestToken(t *testing.T) {
	s := newSite(t)
	ctx := browser(t)
	if p := s.open(t, ctx, "/#id="+s.red[0], true); p.Status != "error" || p.Error != "unauthorized" || !strings.Contains(p.Text, "#token=") {
		t.Errorf("no token: %+v", p)
	}
	if p := s.open(t, ctx, "/#token="+s.tokens[auth.Lookup]+"&id="+s.red[0], true); p.Status != "error" || p.Error != "forbidden" || !strings.Contains(p.Text, "role edge") {
		t.Errorf("lookup token: %+v", p)
	}

	// The open page is given a good token: it loads and answers.
	tab, cancel := chromedp.NewContext(ctx)
	defer cancel()
	if err := chromedp.Do(tab, chromedp.Navigate(s.front.URL+"/#token=nope")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(tab, chromedp.Evaluate[page](settled(true), chromedp.EvalAwaitPromise)); err != nil {
		t.Fatal(err)
	}
	p, err := chromedp.Run(tab, chromedp.Evaluate[page](`(() => {
  delete document.getElementById("result").dataset.status;
  location.hash = "token=`+s.tokens[edgeRole]+`&id=`+s.red[0]+`";
  return `+settled(true)+`;
})()`, chromedp.EvalAwaitPromise))
	if err != nil || p.Status != "red" || strings.Contains(p.Href, "#") {
		t.Errorf("token given to the open page: %+v %v", p, err)
	}

	// A device set up by its config file.
	s.cfgTok = s.tokens[edgeRole]
	if p := s.open(t, browser(t), "/#id="+s.red[0], true); p.Status != "red" || p.Token != "" {
		t.Errorf("config.json token: %+v", p)
	}
}

// TestNoRollback: once a device has loaded a filter it refuses an older
// one, though genuinely signed (an attacker replaying yesterday's filter,
// from before a person was listed), across reloads; and a filter past its
// signed deadline is answered stale. Both fail on a page that keeps no
// newest-seen and a verifier that checks only the signature.
func TestNoRollback(t *testing.T) {
	s := newSite(t)
	ctx := browser(t)
	tok := s.tokens[edgeRole]
	old := s.filter(t)
	later := fixture.IDs(62, 3)
	s.ingest(t, "js", later) // version 3: js lists later[0] red
	s.waitVersion(t, 3)

	if p := s.open(t, ctx, "/#token="+tok+"&id="+later[0], true); p.Status != "red" {
		t.Fatalf("version 3: %+v", p)
	}
	s.serveFilter(old) // the attacker's turn: version 2, where later[0] was green
	p := s.open(t, ctx, "/#id="+later[0], true)
	if p.Status != "error" || p.Error != "rollback" || !strings.Contains(p.Text, "version 2") {
		t.Fatalf("replayed version 2: %+v", p)
	}
	// A device that never saw version 3 takes version 2.
	if p := s.open(t, browser(t), "/#token="+tok+"&id="+later[0], true); p.Status != "green" {
		t.Fatalf("a fresh device, version 2: %+v", p)
	}

	// Past its deadline: signed by the publisher, built 40 hours ago.
	today := s.st.Calendar.Today()
	f, err := engine.NewEdgeFilter(engine.EdgeFilterOptions{Built: time.Now().Add(-40 * time.Hour), Version: 9},
		[]*engine.EdgeRegion{engine.UncoveredRegion("sh", today-2)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := f.MarshalBinary()
	engine.SignEdge(b, s.st.Signing)
	s.serveFilter(b)
	if p := s.open(t, browser(t), "/#token="+tok+"&id="+later[0], true); p.Status != "stale" || p.Error != "expired" {
		t.Fatalf("expired filter: %+v", p)
	}
}

// TestWedge: a keyboard-wedge scanner types its text and Enter into the
// page whatever has focus; text pasted onto the page is checked at once.
func TestWedge(t *testing.T) {
	s := newSite(t)
	ctx := browser(t)
	tab, p := s.openTab(t, ctx, "/#token="+s.tokens[edgeRole], false)
	if p.State != "ready" {
		t.Fatalf("not ready: %+v", p)
	}
	// Focus off the input, as after a tap elsewhere; then the scanner types.
	if _, err := chromedp.Run(tab, chromedp.Evaluate[bool](`document.activeElement.blur(), document.body.focus(), true`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(tab, chromedp.KeyEvent(s.red[0]+"\r")); err != nil {
		t.Fatal(err)
	}
	p, err := chromedp.Run(tab, chromedp.Evaluate[page](settled(true), chromedp.EvalAwaitPromise))
	if err != nil || p.Status != "red" {
		t.Fatalf("wedge scan: %+v %v", p, err)
	}
	p, err = chromedp.Run(tab, chromedp.Evaluate[page](`(() => {
  delete document.getElementById("result").dataset.status;
  document.activeElement.blur();
  const dt = new DataTransfer();
  dt.setData("text/plain", "`+s.yellow[0]+`");
  document.body.dispatchEvent(new ClipboardEvent("paste", {clipboardData: dt, bubbles: true}));
  return `+settled(true)+`;
})()`, chromedp.EvalAwaitPromise))
	if err != nil || p.Status != "yellow" {
		t.Fatalf("paste: %+v %v", p, err)
	}
}

// TestCodes: health codes in the fragment, typed by a keyboard-wedge
// scanner, and pasted: a green code of a person listed nowhere passes; a
// green code of a person listed red since, and a red code, do not; an
// altered code is refused with its reason; the answer shows the issuing
// region, the masked ID and the times, and the code is not left in the
// page.
func TestCodes(t *testing.T) {
	s := newSite(t)
	ctx := browser(t)
	tok := s.tokens[edgeRole]
	green := s.code(t, s.green[0], engine.Green)
	altered := []byte(green)
	k := len(engine.CodePrefix) + 30 // the low digit of a Base45 group: the bytes change and still decode
	altered[k] = '0' + (altered[k]-'0'+1)%2
	for _, c := range []struct {
		name, code                     string
		status, pass, probable, errStr string
	}{
		{"green", green, "green", "true", "", ""},
		{"listed red since", s.code(t, s.red[0], engine.Green), "red", "false", "true", ""},
		{"red code", s.code(t, s.red[1], engine.Red), "red", "false", "true", ""},
		{"altered", string(altered), "invalid", "false", "", "signature"},
	} {
		p := s.open(t, ctx, "/#token="+tok+"&code="+url.PathEscape(c.code), true)
		if p.Status != c.status || p.Pass != c.pass || p.Probable != c.probable || p.Error != c.errStr || strings.Contains(p.Href, "#") {
			t.Errorf("%s: %+v", c.name, p)
		}
		if c.errStr == "" && (!strings.Contains(p.Text, "Shanghai") || !strings.Contains(p.Text, "****")) {
			t.Errorf("%s: the answer does not show the region and the masked ID: %q", c.name, p.Text)
		}
	}

	// A keyboard-wedge scanner types the code and Enter.
	tab, _ := s.openTab(t, ctx, "/", false)
	if _, err := chromedp.Run(tab, chromedp.Evaluate[bool](`document.activeElement.blur(), true`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(tab, chromedp.KeyEvent(green+"\r")); err != nil {
		t.Fatal(err)
	}
	p, err := chromedp.Run(tab, chromedp.Evaluate[page](settled(true), chromedp.EvalAwaitPromise))
	if err != nil || p.Status != "green" || p.Pass != "true" {
		t.Fatalf("wedge: %+v %v", p, err)
	}
	left, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById("id").value + document.body.innerText`))
	if err != nil || strings.Contains(left, "HCX1") || strings.Contains(left, s.green[0][4:14]) {
		t.Fatalf("the code or the whole ID is left on the page: %q %v", left, err)
	}
}

// TestCameraCode: a health code's QR shown to the camera passes.
func TestCameraCode(t *testing.T) {
	s := newSite(t)
	decoderFiles(t, s)
	ctx := browser(t, cameraFlags(qrVideo(t, s.code(t, s.green[1], engine.Green)))...)
	tab, p := s.openTab(t, ctx, "/#token="+s.tokens[edgeRole]+"&scan", true)
	if p.Status != "green" || p.Pass != "true" {
		t.Fatalf("camera: %+v", p)
	}
	logScan(t, tab)
}
