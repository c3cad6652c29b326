//go:build js && wasm

package main

// Run under Node with Go's wrapper on PATH:
//
//	PATH="$(go env GOROOT)/lib/wasm:$PATH" GOOS=js GOARCH=wasm go test ./wasm/js

import (
	"crypto/ed25519"
	"encoding/hex"
	"strings"
	"syscall/js"
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/fixture"
	"github.com/yrd-hcx/hcx/wasm/verifier"
)

var (
	pub, priv, _ = ed25519.GenerateKey(nil)
	// issuer signs sh's health codes; the filters' trust lists hold it.
	issuerPub, issuer, _ = ed25519.GenerateKey(nil)
	pubHex               = hex.EncodeToString(pub)
	ids                  = fixture.IDs(4, 2000)
	api                  = register()
)

// signedFilter: sh lists ids[:1000] (every third red), js lists ids[1000:1500]
// yellow; ah has no list.
func signedFilter(t testing.TB) []byte {
	t.Helper()
	return signedFilterAt(t, 3, time.Now())
}

// signedFilterAt is signedFilter for snapshot version and build time.
func signedFilterAt(t testing.TB, version uint64, built time.Time) []byte {
	t.Helper()
	today := engine.DefaultCalendar.Today()
	var regions []*engine.EdgeRegion
	for i, l := range [][]string{ids[:1000], ids[1000:1500]} {
		b, err := engine.NewEdgeRegionBuilder(engine.DefaultRegions[i], today, [16]byte{byte(i)}, 1e-5)
		if err != nil {
			t.Fatal(err)
		}
		for j, id := range l {
			c := engine.Yellow
			if i == 0 && fixture.Color(j) == "red" {
				c = engine.Red
			}
			b.Add([]byte(id), c)
		}
		regions = append(regions, b.Build(built, 0))
	}
	regions = append(regions, engine.UncoveredRegion("zj", today-3), engine.UncoveredRegion("ah", engine.NoDay))
	trust, err := engine.NewTrustList(engine.TrustedIssuer{Region: "sh", PublicKey: issuerPub, Status: engine.IssuerActive, Added: built})
	if err != nil {
		t.Fatal(err)
	}
	f, err := engine.NewEdgeFilter(engine.EdgeFilterOptions{Built: built, FPR: 4e-5, Version: version, Trust: trust}, regions)
	if err != nil {
		t.Fatal(err)
	}
	file, _ := f.MarshalBinary()
	engine.SignEdge(file, priv)
	return file
}

func bytesJS(b []byte) js.Value {
	a := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(a, b)
	return a
}

// await waits for a promise: its value, and whether it resolved.
func await(p js.Value) (js.Value, bool) {
	type outcome struct {
		v  js.Value
		ok bool
	}
	ch := make(chan outcome, 1)
	then := js.FuncOf(func(_ js.Value, args []js.Value) any { ch <- outcome{args[0], true}; return nil })
	catch := js.FuncOf(func(_ js.Value, args []js.Value) any { ch <- outcome{args[0], false}; return nil })
	defer then.Release()
	defer catch.Release()
	p.Call("then", then, catch)
	o := <-ch
	return o.v, o.ok
}

func isError(v js.Value) bool { return v.InstanceOf(js.Global().Get("Error")) }

func mustLoad(t *testing.T, file []byte, key string) js.Value {
	t.Helper()
	v, ok := await(api.Call("load", bytesJS(file), key))
	if !ok {
		t.Fatalf("load rejected: %s", v.Get("message").String())
	}
	return v
}

func TestAPI(t *testing.T) {
	filter, seen = nil, verifier.Seen{}
	if v := api.Call("check", ids[0]); !isError(v) || !strings.Contains(v.Get("message").String(), "no filter loaded") {
		t.Fatalf("check before load: %v", v)
	}
	info := mustLoad(t, signedFilter(t), pubHex)
	if info.Get("version").Int() != 3 || info.Get("stale").Bool() || info.Get("fpr").Float() != 4e-5 || info.Get("regions").Length() != 4 {
		t.Fatalf("info %v", js.Global().Get("JSON").Call("stringify", info))
	}
	regions := info.Get("regions")
	if r := regions.Index(0); r.Get("region").String() != "sh" || !r.Get("covered").Bool() || !r.Get("current").Bool() || r.Get("red").Int() != 334 {
		t.Fatalf("sh %v", js.Global().Get("JSON").Call("stringify", r))
	}
	if r := regions.Index(3); r.Get("covered").Bool() || !r.Get("listDate").IsNull() {
		t.Fatalf("ah %v", js.Global().Get("JSON").Call("stringify", r))
	}
	for _, c := range []struct {
		id, status, sources, stale, err string
		probable                        bool
	}{
		{ids[0], "red", "sh:red", "zj,ah", "", true},
		{ids[1], "yellow", "sh:yellow", "zj,ah", "", true},
		{strings.ToLower(ids[1000]), "yellow", "js:yellow", "zj,ah", "", true},
		{ids[1999], "green", "", "zj,ah", "", false},
		{"110105194912310021", "invalid", "", "", "check digit", false},
		{"12345", "invalid", "", "", "length", false},
	} {
		r := api.Call("check", c.id)
		if r.Get("status").String() != c.status || r.Get("probable").Bool() != c.probable || r.Get("id").String() != engine.Mask(c.id) {
			t.Errorf("%s: %v", c.id, js.Global().Get("JSON").Call("stringify", r))
			continue
		}
		if c.err != "" {
			if r.Get("error").String() != c.err {
				t.Errorf("%s: error %v", c.id, r.Get("error"))
			}
			continue
		}
		var src, stale []string
		for i := range r.Get("sources").Length() {
			s := r.Get("sources").Index(i)
			src = append(src, s.Get("region").String()+":"+s.Get("status").String())
		}
		for i := range r.Get("stale").Length() {
			stale = append(stale, r.Get("stale").Index(i).String())
		}
		if strings.Join(src, ",") != c.sources || strings.Join(stale, ",") != c.stale {
			t.Errorf("%s: sources %v stale %v", c.id, src, stale)
		}
	}
	many := api.Call("checkMany", js.ValueOf([]any{ids[0], 42, ids[1999], map[string]any{"a": []any{1, ",]\"["}}, " " + ids[1] + "\t", nil, `"quoted"`, "12,3"}))
	want := []string{"red", "", "green", "", "yellow", "", "invalid", "invalid"}
	if many.Length() != len(want) {
		t.Fatalf("checkMany: %d results", many.Length())
	}
	for i, w := range want {
		got := many.Index(i)
		if w == "" && !isError(got) || w != "" && (isError(got) || got.Get("status").String() != w) {
			t.Errorf("checkMany item %d: %v, want %q", i, js.Global().Get("JSON").Call("stringify", got), w)
		}
	}
	if v := api.Call("checkMany", js.ValueOf([]any{})); v.Length() != 0 {
		t.Fatal("empty checkMany")
	}
	for name, v := range map[string]js.Value{
		"check(42)":      api.Call("check", 42),
		"check()":        api.Call("check"),
		"checkMany(str)": api.Call("checkMany", "x"),
	} {
		if !isError(v) {
			t.Errorf("%s: %v", name, v)
		}
	}
	if v := api.Call("info"); isError(v) || v.Get("regions").Length() != 4 {
		t.Fatalf("info() %v", v)
	}
}

// TestLoadRejects: a bad filter or key rejects the promise with a reason and
// leaves the loaded filter in place.
func TestLoadRejects(t *testing.T) {
	seen = verifier.Seen{}
	good := signedFilter(t)
	mustLoad(t, good, pubHex)
	other, _, _ := ed25519.GenerateKey(nil)
	tampered := append([]byte(nil), good...)
	tampered[len(tampered)/2] ^= 1
	for _, c := range []struct {
		name string
		data js.Value
		key  any
		want string
	}{
		{"wrong key", bytesJS(good), hex.EncodeToString(other), "signature invalid"},
		{"tampered", bytesJS(tampered), pubHex, "checksum"},
		{"truncated", bytesJS(good[:len(good)-10]), pubHex, "truncated"},
		{"unsigned", bytesJS(append(append([]byte(nil), good[:len(good)-64]...), make([]byte, 64)...)), pubHex, "not signed"},
		{"bad key", bytesJS(good), "xyz", "64 hex digits"},
		{"key not a string", bytesJS(good), 7, "hcx.load("},
		{"not bytes", js.ValueOf("abc"), pubHex, "Uint8Array"},
	} {
		v, ok := await(api.Call("load", c.data, c.key))
		if ok || !isError(v) || !strings.Contains(v.Get("message").String(), c.want) {
			t.Errorf("%s: resolved %v, %v", c.name, ok, v)
		}
	}
	// An ArrayBuffer loads too.
	if _, ok := await(api.Call("load", bytesJS(good).Get("buffer"), pubHex)); !ok {
		t.Fatal("ArrayBuffer refused")
	}
	if r := api.Call("check", ids[0]); r.Get("status").String() != "red" {
		t.Fatal("the loaded filter did not survive the failed loads")
	}
}

// TestPanicIsAnError: a panic in a handler comes back as an Error and the
// instance keeps answering.
func TestPanicIsAnError(t *testing.T) {
	seen = verifier.Seen{}
	f := fn(func([]js.Value) any { panic("boom") })
	defer f.Release()
	if v := f.Invoke(); !isError(v) {
		t.Fatalf("got %v", v)
	}
	mustLoad(t, signedFilter(t), pubHex)
	if r := api.Call("check", ids[0]); r.Get("status").String() != "red" {
		t.Fatal("instance broken after a panic")
	}
}

// BenchmarkAPICheck: one check through the JS API (crossing into Go and
// building the result object), under Node.
func BenchmarkAPICheck(b *testing.B) {
	file := signedFilter(b)
	v, ok := await(api.Call("load", bytesJS(file), pubHex))
	if !ok {
		b.Fatal(v)
	}
	i := 0
	for b.Loop() {
		api.Call("check", ids[i%len(ids)])
		i++
	}
}

// TestNoRollback: a filter older than the newest this instance loaded, or
// than the lastSeen option, is refused with code "rollback", one past its
// deadline with code "expired"; the loaded filter stays. Fails on a load
// that only checks the signature.
func TestNoRollback(t *testing.T) {
	seen = verifier.Seen{}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second).Add(123456789) // sub-second: info's built must round-trip
	v5 := mustLoad(t, signedFilterAt(t, 5, t0), pubHex)
	if v5.Get("built").String() != t0.UTC().Format("2006-01-02T15:04:05.000000000Z") {
		t.Fatalf("built %s", v5.Get("built").String())
	}
	lastSeen := func(v any, built string) js.Value {
		return js.ValueOf(map[string]any{"lastSeen": map[string]any{"version": v, "built": built}})
	}
	reject := func(name string, file []byte, opts js.Value, code string) {
		t.Helper()
		args := []any{bytesJS(file), pubHex}
		if !opts.IsUndefined() {
			args = append(args, opts)
		}
		v, ok := await(api.Call("load", args...))
		if ok || !isError(v) || v.Get("code").String() != code {
			t.Errorf("%s: resolved %v: %v code %v", name, ok, v.Get("message"), v.Get("code"))
		}
	}
	reject("lower version", signedFilterAt(t, 4, t0.Add(time.Minute)), js.Undefined(), "rollback")
	reject("earlier build", signedFilterAt(t, 5, t0.Add(-time.Second)), js.Undefined(), "rollback")
	reject("expired", signedFilterAt(t, 6, t0.Add(-37*time.Hour)), js.Undefined(), "rollback")
	// The same filter again, and a newer one, load.
	mustLoad(t, signedFilterAt(t, 5, t0), pubHex)
	v6 := mustLoad(t, signedFilterAt(t, 6, t0.Add(time.Minute)), pubHex)
	reject("the one before", signedFilterAt(t, 5, t0), js.Undefined(), "rollback")

	// A fresh instance (a reloaded page) is told what it saw before.
	seen = verifier.Seen{}
	last := lastSeen(v6.Get("version"), v6.Get("built").String())
	reject("lastSeen version", signedFilterAt(t, 5, t0.Add(2*time.Minute)), last, "rollback")
	reject("lastSeen built", signedFilterAt(t, 6, t0), last, "rollback")
	mustLoadOpts := func(file []byte, opts js.Value) {
		t.Helper()
		if v, ok := await(api.Call("load", bytesJS(file), pubHex, opts)); !ok {
			t.Fatalf("load rejected: %v", v.Get("message"))
		}
	}
	mustLoadOpts(signedFilterAt(t, 6, t0.Add(time.Minute)), last)
	mustLoadOpts(signedFilterAt(t, 9, t0.Add(time.Hour)), js.ValueOf(map[string]any{}))
	mustLoadOpts(signedFilterAt(t, 9, t0.Add(time.Hour)), js.Null())

	// Past its deadline, however new.
	seen = verifier.Seen{}
	reject("past its deadline", signedFilterAt(t, 10, time.Now().Add(-37*time.Hour)), js.Undefined(), "expired")
	if r := api.Call("check", ids[0]); r.Get("status").String() != "red" || api.Call("info").Get("version").Int() != 9 {
		t.Fatal("a refused filter replaced the loaded one")
	}
	for _, bad := range []js.Value{
		lastSeen("7", ""), lastSeen(-1, ""), lastSeen(1.5, ""),
		lastSeen(1, "yesterday"), js.ValueOf(map[string]any{"lastSeen": 7}), js.ValueOf("x"),
	} {
		v, ok := await(api.Call("load", bytesJS(signedFilter(t)), pubHex, bad))
		if ok || !strings.Contains(v.Get("message").String(), "options") {
			t.Errorf("options %v: resolved %v %v", js.Global().Get("JSON").Call("stringify", bad), ok, v.Get("message"))
		}
	}
}

// TestVerifyCode: a health code answered from the loaded filter's trust
// list and filters: a green code of a person listed nowhere passes, one
// of a person sh lists red does not (probable), an altered one is refused
// by name; bad arguments are Errors.
func TestVerifyCode(t *testing.T) {
	seen = verifier.Seen{}
	mustLoad(t, signedFilter(t), pubHex)
	code := func(i int) string {
		t.Helper()
		id, _ := engine.ParseID(ids[i])
		c, err := engine.IssueCode(nil, issuer, engine.CodeClaims{ID: id, Colour: engine.Green, Issued: time.Now().Add(-time.Minute), Expires: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return string(c)
	}
	stringify := func(v js.Value) string { return js.Global().Get("JSON").Call("stringify", v).String() }
	if r := api.Call("verifyCode", code(1999)); !r.Get("valid").Bool() || !r.Get("pass").Bool() || r.Get("status").String() != "green" ||
		r.Get("region").String() != "sh" || r.Get("id").String() != engine.Mask(ids[1999]) {
		t.Errorf("green: %s", stringify(r))
	}
	if r := api.Call("verifyCode", code(0)); !r.Get("valid").Bool() || r.Get("pass").Bool() || r.Get("status").String() != "red" ||
		!r.Get("probable").Bool() || r.Get("codeStatus").String() != "green" {
		t.Errorf("listed red: %s", stringify(r))
	}
	bad := []byte(code(1999))
	bad[len(engine.CodePrefix)+30] = '0' + (bad[len(engine.CodePrefix)+30]-'0'+1)%2 // low digit of a group: still Base45
	if r := api.Call("verifyCode", string(bad)); r.Get("valid").Bool() || r.Get("pass").Bool() || r.Get("error").String() != "signature" {
		t.Errorf("altered: %s", stringify(r))
	}
	if r := api.Call("verifyCode", ids[0]); r.Get("error").String() != "format" {
		t.Errorf("an ID: %s", stringify(r))
	}
	for name, v := range map[string]js.Value{"verifyCode(42)": api.Call("verifyCode", 42), "verifyCode()": api.Call("verifyCode")} {
		if !isError(v) {
			t.Errorf("%s: %v", name, v)
		}
	}
}
