//go:build js && wasm

// Command js is the browser edge verifier (GOOS=js GOARCH=wasm; `make wasm`
// writes dist/hcx.wasm). It is the only file in hcx that imports
// syscall/js. Started with wasm_exec.js, it sets globalThis.hcx to the API
// that wasm/web/hcx.d.ts declares, calls globalThis.__hcxReady(hcx) if the
// page defined it, and waits for calls:
//
//	const info = await hcx.load(filterBytes, publicKeyHex) // rejects on a bad filter
//	await hcx.load(filterBytes, publicKeyHex, {lastSeen: {version, built}}) // no rollback past what a page saw before
//	hcx.check("11010519491231002X")   // {id, status, probable, error?, sources, stale}
//	hcx.checkMany(["...", "..."])     // an array of the same
//	hcx.verifyCode("HCX1:...")        // {valid, pass, id, region, codeStatus, status, probable, ...} or {valid: false, pass: false, error}
//	hcx.info()                        // dates, per-region freshness, rates
//
// A bad argument or a bad filter comes back as a rejected promise or an
// Error value; nothing a caller passes stops the instance. Results are built
// as JSON text (wasm/verifier, no fmt or encoding/json: size) that
// JSON.parse turns into objects in one step.
package main

import (
	"errors"
	"strings"
	"syscall/js"
	"time"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/wasm/verifier"
)

// filter is the loaded filter, and seen the newest one this instance has
// accepted (a later load must not be older: no rollback). JS calls run one
// at a time on the event loop, so no lock is needed.
var (
	filter *engine.EdgeFilter
	seen   verifier.Seen
)

var (
	jsObject  = js.Global().Get("Object")
	jsArray   = js.Global().Get("Array")
	jsError   = js.Global().Get("Error")
	jsPromise = js.Global().Get("Promise")
	jsJSON    = js.Global().Get("JSON")
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
	api.Set("verifyCode", fn(verifyCode))
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

// load(bytes: Uint8Array | ArrayBuffer, publicKeyHex: string, options?: LoadOptions): Promise<Info>
//
// A filter that verifies is still refused (the promise rejects with an
// Error whose code is "rollback" or "expired") when it is older than the
// newest this instance has loaded or than options.lastSeen, or past its
// signed deadline: a genuinely signed old filter is how someone would make
// a device forget this morning's lists.
func load(args []js.Value) any {
	if len(args) < 2 || args[1].Type() != js.TypeString {
		return jsPromise.Call("reject", newError("hcx.load(filter: Uint8Array, publicKeyHex: string, options?: {lastSeen?: {version: number, built: string}})"))
	}
	last, err := lastSeen(args[2:])
	if err != nil {
		return jsPromise.Call("reject", newError(err.Error()))
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
	now := time.Now()
	in := f.Info()
	if err := seen.Max(last).Admit(in, now); err != nil {
		e := newError("hcx.load: " + err.Error())
		if re, ok := err.(*verifier.RefusedError); ok {
			e.Set("code", re.Code())
		}
		return jsPromise.Call("reject", e)
	}
	filter = f
	seen = seen.Max(verifier.SeenOf(in))
	return jsPromise.Call("resolve", infoValue(f, now))
}

// lastSeen reads load's options.lastSeen: {version: number, built:
// string}, as info() returned them for the newest filter the caller
// has seen (a page keeps it in localStorage). Absent is the zero Seen.
func lastSeen(opts []js.Value) (verifier.Seen, error) {
	const usage = "hcx.load: options.lastSeen must be {version: number, built: string} as info() gives them"
	if len(opts) == 0 || opts[0].IsUndefined() || opts[0].IsNull() {
		return verifier.Seen{}, nil
	}
	if opts[0].Type() != js.TypeObject {
		return verifier.Seen{}, errors.New("hcx.load: options must be an object")
	}
	ls := opts[0].Get("lastSeen")
	if ls.IsUndefined() || ls.IsNull() {
		return verifier.Seen{}, nil
	}
	if ls.Type() != js.TypeObject {
		return verifier.Seen{}, errors.New(usage)
	}
	var s verifier.Seen
	if v := ls.Get("version"); !v.IsUndefined() {
		if v.Type() != js.TypeNumber || v.Float() < 0 || v.Float() != float64(uint64(v.Float())) {
			return verifier.Seen{}, errors.New(usage)
		}
		s.Version = uint64(v.Float())
	}
	if b := ls.Get("built"); !b.IsUndefined() {
		if b.Type() != js.TypeString {
			return verifier.Seen{}, errors.New(usage)
		}
		t, ok := verifier.ParseBuilt(b.String())
		if !ok {
			return verifier.Seen{}, errors.New(usage)
		}
		s.Built = t
	}
	return s, nil
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
	out = verifier.AppendAnswer(out[:0], filter, id, filter.Check(id))
	return jsJSON.Call("parse", string(out))
}

// verifyCode(text: string): CodeAnswer | Error
//
// A health code verified offline: its signature against the filter's
// trust list, then its holder against the filters (wasm/verifier's
// AppendCodeAnswer has the object).
func verifyCode(args []js.Value) any {
	if filter == nil {
		return newError("hcx.verifyCode: no filter loaded (hcx.load first)")
	}
	if len(args) < 1 || args[0].Type() != js.TypeString {
		return newError("hcx.verifyCode(text: string)")
	}
	out = verifier.AppendCodeAnswer(out[:0], filter, []byte(args[0].String()), time.Now())
	return jsJSON.Call("parse", string(out))
}

// out is the answers' JSON, reused between calls (one at a time).
var out []byte

// checkMany(ids: string[]): (Result | Error)[] | Error
//
// Results are built as one JSON text parsed by JSON.parse, and the IDs are
// read as one JSON.stringify of the array: every JS value that crosses into
// Go or is made by it costs microseconds (a reference with a finalizer), so
// one crossing each way for the whole batch instead of several per ID
// (about 60 µs per ID before, under 2 µs now; BENCHMARKS.md).
func checkMany(args []js.Value) any {
	if filter == nil {
		return newError("hcx.checkMany: no filter loaded (hcx.load first)")
	}
	if len(args) < 1 || !args[0].InstanceOf(jsArray) {
		return newError("hcx.checkMany(ids: string[])")
	}
	ids := args[0]
	text := jsJSON.Call("stringify", ids).String()
	now := time.Now()
	var bad []int // items that are not strings
	out = append(out[:0], '[')
	i := 0
	err := eachItem(text, func(item string, isString bool) {
		if i > 0 {
			out = append(out, ',')
		}
		switch {
		case !isString:
			bad = append(bad, i)
			out = append(out, "null"...)
		case strings.IndexByte(item, '\\') >= 0: // escapes: let JS decode it
			id := ids.Index(i).String()
			out = verifier.AppendAnswer(out, filter, id, filter.CheckAt(id, now))
		default:
			out = verifier.AppendAnswer(out, filter, item, filter.CheckAt(item, now))
		}
		i++
	})
	if err != nil || i != ids.Length() {
		return newError("hcx.checkMany: could not read the array")
	}
	out = append(out, ']')
	res := jsJSON.Call("parse", string(out))
	for _, j := range bad {
		res.SetIndex(j, newError("hcx.checkMany: item "+itoa(j)+" is not a string"))
	}
	return res
}

// eachItem walks the items of a JSON array as JSON.stringify writes it
// (no whitespace): item is a string's raw contents (escapes undecoded), or
// the raw text of any other value, which is skipped whole.
func eachItem(text string, fn func(item string, isString bool)) error {
	if len(text) < 2 || text[0] != '[' || text[len(text)-1] != ']' {
		return errBadArray
	}
	rest := text[1 : len(text)-1]
	for len(rest) > 0 {
		n, isString := itemLen(rest)
		if n == 0 || n > len(rest) {
			return errBadArray
		}
		if isString {
			fn(rest[1:n-1], true)
		} else {
			fn(rest[:n], false)
		}
		rest = rest[n:]
		if len(rest) > 0 {
			if rest[0] != ',' {
				return errBadArray
			}
			rest = rest[1:]
		}
	}
	return nil
}

var errBadArray = errors.New("not a JSON array")

// itemLen is the length of the first JSON value in s (0 if malformed).
func itemLen(s string) (int, bool) {
	depth, inString := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inString:
			if c == '\\' {
				i++
			} else if c == '"' {
				inString = false
				if depth == 0 {
					return i + 1, true
				}
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			depth--
			if depth == 0 {
				return i + 1, false
			}
			if depth < 0 {
				return 0, false
			}
		case c == ',' && depth == 0:
			return i, false
		}
	}
	if depth == 0 && !inString {
		return len(s), false
	}
	return 0, false
}

// info(): Info | Error
func info(args []js.Value) any {
	if filter == nil {
		return newError("hcx.info: no filter loaded (hcx.load first)")
	}
	return infoValue(filter, time.Now())
}

func infoValue(f *engine.EdgeFilter, now time.Time) js.Value {
	in := f.Info()
	o := jsObject.New()
	// Full precision, so that a page handing it back as lastSeen compares
	// equal to the same filter.
	o.Set("built", verifier.FormatBuilt(in.Built))
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
