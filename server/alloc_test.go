//go:build !race

package server

import (
	"net"
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
