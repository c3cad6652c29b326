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
)

var (
	pub, priv, _ = ed25519.GenerateKey(nil)
	pubHex       = hex.EncodeToString(pub)
	ids          = fixture.IDs(4, 2000)
	api          = register()
)

// signedFilter: sh lists ids[:1000] (every third red), js lists ids[1000:1500]
// yellow; ah has no list.
func signedFilter(t testing.TB) []byte {
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
		regions = append(regions, b.Build(time.Now(), 0))
	}
	regions = append(regions, engine.UncoveredRegion("zj", today-3), engine.UncoveredRegion("ah", engine.NoDay))
	f, err := engine.NewEdgeFilter(engine.EdgeFilterOptions{Built: time.Now(), FPR: 4e-5, Version: 3}, regions)
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
	filter = nil
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
