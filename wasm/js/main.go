//go:build js && wasm

// Command js is the browser edge verifier (GOOS=js GOARCH=wasm; `make wasm`
// writes dist/hcx.wasm). It is the only file in hcx that imports
// syscall/js. Started with wasm_exec.js, it sets globalThis.hcx to the API
// that wasm/web/hcx.d.ts declares, calls globalThis.__hcxReady(hcx) if the
// page defined it, and waits for calls:
//
//	const info = await hcx.load(filterBytes, publicKeyHex) // rejects on a bad filter
//	hcx.check("11010519491231002X")   // {id, status, probable, error?, sources, stale}
//	hcx.checkMany(["...", "..."])     // an array of the same
//	hcx.info()                        // dates, per-region freshness, rates
//
// A bad argument or a bad filter comes back as a rejected promise or an
// Error value; nothing a caller passes stops the instance. Results are built
// as JS values directly (no fmt, no encoding/json: size).
package main

import (
	"syscall/js"
	"time"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/wasm/verifier"
)

// filter is the loaded filter. JS calls run one at a time on the event
// loop, so no lock is needed.
var filter *engine.EdgeFilter

var (
	jsObject  = js.Global().Get("Object")
	jsArray   = js.Global().Get("Array")
	jsError   = js.Global().Get("Error")
	jsPromise = js.Global().Get("Promise")
)

func main() {
	api := register()
	if ready := js.Global().Get("__hcxReady"); ready.Type() == js.TypeFunction {
		ready.Invoke(api)
	}
	select {} // serve calls until the page goes away
}

// register sets globalThis.hcx and returns it.
func register() js.Value {
	api := jsObject.New()
	api.Set("load", fn(load))
	api.Set("check", fn(check))
	api.Set("checkMany", fn(checkMany))
	api.Set("info", fn(info))
	api.Set("formatVersion", engine.EdgeFormatVersion)
	js.Global().Set("hcx", api)
	return api
}

// fn wraps a handler so that a panic becomes an Error value instead of
// killing the Go instance (every later call would fail).
func fn(h func(args []js.Value) any) js.Func {
	return js.FuncOf(func(_ js.Value, args []js.Value) (out any) {
		defer func() {
			if p := recover(); p != nil {
				out = newError("hcx: internal error")
			}
		}()
		return h(args)
	})
}

func newError(msg string) js.Value { return jsError.New(msg) }

// load(bytes: Uint8Array | ArrayBuffer, publicKeyHex: string): Promise<Info>
func load(args []js.Value) any {
	if len(args) < 2 || args[1].Type() != js.TypeString {
		return jsPromise.Call("reject", newError("hcx.load(filter: Uint8Array, publicKeyHex: string)"))
	}
	data := args[0]
	if data.InstanceOf(js.Global().Get("ArrayBuffer")) {
		data = js.Global().Get("Uint8Array").New(data)
	}
	if !data.InstanceOf(js.Global().Get("Uint8Array")) {
		return jsPromise.Call("reject", newError("hcx.load: the filter must be a Uint8Array or ArrayBuffer"))
	}
	pub, err := verifier.ParsePublicKey(args[1].String())
	if err != nil {
		return jsPromise.Call("reject", newError(err.Error()))
	}
	b := make([]byte, data.Length())
	js.CopyBytesToGo(b, data)
	f, err := engine.OpenEdge(b, engine.EdgeOpenOptions{PublicKey: pub})
	if err != nil {
		return jsPromise.Call("reject", newError("hcx.load: "+err.Error()))
	}
	filter = f
	return jsPromise.Call("resolve", infoValue(f, time.Now()))
}

// check(id: string): Result | Error
func check(args []js.Value) any {
	if filter == nil {
		return newError("hcx.check: no filter loaded (hcx.load first)")
	}
	if len(args) < 1 || args[0].Type() != js.TypeString {
		return newError("hcx.check(id: string)")
	}
	id := args[0].String()
	return result(filter, id, filter.Check(id))
}

// checkMany(ids: string[]): Result[] | Error
func checkMany(args []js.Value) any {
	if filter == nil {
		return newError("hcx.checkMany: no filter loaded (hcx.load first)")
	}
	if len(args) < 1 || !args[0].InstanceOf(jsArray) {
		return newError("hcx.checkMany(ids: string[])")
	}
	ids := args[0]
	n := ids.Length()
	out := jsArray.New(n)
	now := time.Now()
	for i := range n {
		v := ids.Index(i)
		if v.Type() != js.TypeString {
			out.SetIndex(i, newError("hcx.checkMany: item "+itoa(i)+" is not a string"))
			continue
		}
		id := v.String()
		out.SetIndex(i, result(filter, id, filter.CheckAt(id, now)))
	}
	return out
}

// info(): Info | Error
func info(args []js.Value) any {
	if filter == nil {
		return newError("hcx.info: no filter loaded (hcx.load first)")
	}
	return infoValue(filter, time.Now())
}

func result(f *engine.EdgeFilter, id string, r engine.EdgeResult) js.Value {
	o := jsObject.New()
	var buf [engine.IDLen]byte
	o.Set("id", string(engine.AppendMask(buf[:0], id)))
	o.Set("status", r.Answer())
	o.Set("probable", r.Probable())
	if r.Status == engine.Invalid && !r.Stale {
		o.Set("error", r.Err.Reason())
		return o
	}
	sources, stale := jsArray.New(), jsArray.New()
	for i, reg := range f.Regions() {
		bit := uint64(1) << uint(i)
		if c := hit(r, bit); c != "" {
			s := jsObject.New()
			s.Set("region", reg.Name)
			s.Set("status", c)
			sources.Call("push", s)
		}
		if r.NotCurrent&bit != 0 {
			stale.Call("push", reg.Name)
		}
	}
	o.Set("sources", sources)
	o.Set("stale", stale)
	return o
}

func hit(r engine.EdgeResult, bit uint64) string {
	switch {
	case r.Red&bit != 0:
		return "red"
	case r.Yellow&bit != 0:
		return "yellow"
	}
	return ""
}

func infoValue(f *engine.EdgeFilter, now time.Time) js.Value {
	in := f.Info()
	o := jsObject.New()
	o.Set("built", in.Built.UTC().Format(time.RFC3339))
	o.Set("staleAt", in.StaleAt.UTC().Format(time.RFC3339))
	o.Set("stale", now.After(in.StaleAt))
	o.Set("maxAgeHours", in.MaxAge.Hours())
	o.Set("fpr", in.FPR)
	o.Set("estimatedFpr", in.EstimatedFPR)
	o.Set("version", float64(in.Version))
	o.Set("bytes", float64(in.Bytes))
	o.Set("records", in.Records)
	regions := jsArray.New()
	for _, r := range in.Regions {
		v := jsObject.New()
		v.Set("region", r.Name)
		if r.ListDate != engine.NoDay {
			v.Set("listDate", r.ListDate.String())
		} else {
			v.Set("listDate", js.Null())
		}
		v.Set("covered", r.Covered)
		v.Set("current", r.Covered && !now.After(r.CurrentUntil))
		if r.Covered {
			v.Set("ingested", r.Ingested.UTC().Format(time.RFC3339))
			v.Set("currentUntil", r.CurrentUntil.UTC().Format(time.RFC3339))
			v.Set("red", r.Red)
			v.Set("yellow", r.Yellow)
			v.Set("fpr", r.FPR)
		}
		regions.Call("push", v)
	}
	o.Set("regions", regions)
	return o
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	n := len(b)
	for ; i > 0; i /= 10 {
		n--
		b[n] = byte('0' + i%10)
	}
	return string(b[n:])
}
