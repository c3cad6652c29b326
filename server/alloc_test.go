//go:build !race

package server

import (
	"encoding/json"
	"net"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/yrd-hcx/hcx/internal/auth"
	"github.com/yrd-hcx/hcx/internal/fixture"
)

// TestHandlerAllocs: the single-lookup path (auth, lookup, JSON, metrics)
// does not allocate, for a listed, an unlisted and an invalid ID.
func TestHandlerAllocs(t *testing.T) {
	e := newEnv(t, Config{}, true)
	for name, id := range map[string]string{"listed": e.sh[0], "green": fixture.IDs(9, 1)[0], "invalid": "110105194912310021"} {
		var req fasthttp.Request
		req.SetRequestURI("/v1/status/" + id)
		req.Header.Set("Authorization", "Bearer "+e.tokens[auth.Lookup])
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, nil)
		e.srv.handle(&ctx) // warm the response buffers
		if n := testing.AllocsPerRun(200, func() {
			ctx.Response.Reset()
			e.srv.handle(&ctx)
		}); n != 0 {
			t.Errorf("%s: %v allocs per request (%d %s)", name, n, ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
}

// TestBatchAllocs: a batch and a screening, in both body forms, allocate
// nothing per ID: a 100-ID and a 2,000-ID request cost the same (nothing,
// once the pooled buffers have grown).
func TestBatchAllocs(t *testing.T) {
	e := newEnv(t, Config{}, true)
	request := func(uri, ctype string, n int) *fasthttp.RequestCtx {
		ids := append(fixture.IDs(13, n-10), e.sh[:5]...)
		ids = append(ids, e.ah[:3]...)
		ids = append(ids, "110105194912310021", "12345") // invalid
		body := strings.Join(ids, "\n")
		if ctype == "application/json" {
			b, _ := json.Marshal(map[string][]string{"ids": ids})
			body = string(b)
		}
		var req fasthttp.Request
		req.Header.SetMethod("POST")
		req.SetRequestURI(uri)
		req.Header.Set("Authorization", "Bearer "+e.tokens[auth.Lookup])
		req.Header.SetContentType(ctype)
		req.SetBodyString(body)
		ctx := new(fasthttp.RequestCtx)
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, nil)
		return ctx
	}
	// The buffers are pooled per P (a goroutine moved to another P misses
	// the one it put back) and a collection empties the pool: refilling it
	// would count here, so one P and no collection while measuring.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	for _, uri := range []string{"/v1/status", "/v1/status?only=listed"} {
		for _, ctype := range []string{"text/plain", "application/json"} {
			var allocs [2]float64
			for k, n := range []int{100, 2000} {
				ctx := request(uri, ctype, n)
				body := append([]byte(nil), ctx.Request.Body()...)
				run := func() {
					ctx.Request.SetBody(body)
					ctx.Response.Reset()
					e.srv.handle(ctx)
				}
				run() // grow the pooled buffers
				if ctx.Response.StatusCode() != 200 {
					t.Fatalf("%s %s: %d %s", uri, ctype, ctx.Response.StatusCode(), ctx.Response.Body())
				}
				allocs[k] = testing.AllocsPerRun(50, run)
			}
			t.Logf("%s %s: %v allocs per request of 100 IDs, %v of 2,000", uri, ctype, allocs[0], allocs[1])
			if allocs[0] != 0 || allocs[1] != 0 {
				t.Errorf("%s %s: %v allocs for 100 IDs, %v for 2,000", uri, ctype, allocs[0], allocs[1])
			}
		}
	}
}
