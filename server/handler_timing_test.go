package server

import (
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/yrd-hcx/hcx/internal/auth"
	"github.com/yrd-hcx/hcx/internal/fixture"
)

// The handlers alone, without sockets: what the server adds per request
// and per ID on top of the engine (wrk and `make compare` measure the
// whole server).

func benchCtx(b testing.TB, method, uri, token, body string) *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.SetContentType("text/plain")
	req.SetBodyString(body)
	ctx := new(fasthttp.RequestCtx)
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, nil)
	return ctx
}

func BenchmarkLookupHandler(b *testing.B) {
	e := newEnv(b, Config{}, true)
	ids := append(fixture.IDs(11, 990), e.sh[:10]...)
	ctxs := make([]*fasthttp.RequestCtx, len(ids))
	for i, id := range ids {
		ctxs[i] = benchCtx(b, "GET", "/v1/status/"+id, e.tokens[auth.Lookup], "")
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ctx := ctxs[i%len(ctxs)]
		ctx.Response.Reset()
		e.srv.handle(ctx)
	}
}

// BenchmarkBatchHandler: ns/op is per ID of a 1,000-ID batch, as text and
// as JSON.
func BenchmarkBatchHandler(b *testing.B) {
	benchManifest(b, "/v1/status")
}

// BenchmarkScreeningHandler: ns/op is per ID of a 1,000-ID manifest
// screened with ?only=listed (10 listed people answered, 990 green ones
// not), beside BenchmarkBatchHandler, which answers every ID.
func BenchmarkScreeningHandler(b *testing.B) {
	benchManifest(b, "/v1/status?only=listed")
}

func benchManifest(b *testing.B, uri string) {
	e := newEnv(b, Config{}, true)
	ids := append(fixture.IDs(12, 990), e.sh[:10]...)
	jsonBody, _ := json.Marshal(map[string][]string{"ids": ids})
	for _, form := range []struct{ name, ctype, body string }{
		{"text", "text/plain", strings.Join(ids, "\n")},
		{"json", "application/json", string(jsonBody)},
	} {
		b.Run(form.name, func(b *testing.B) {
			ctx := benchCtx(b, "POST", uri, e.tokens[auth.Lookup], form.body)
			ctx.Request.Header.SetContentType(form.ctype)
			body := append([]byte(nil), ctx.Request.Body()...)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if i%len(ids) == 0 {
					ctx.Request.SetBody(body)
					ctx.Response.Reset()
					e.srv.handle(ctx)
					if ctx.Response.StatusCode() != 200 {
						b.Fatalf("%d %s", ctx.Response.StatusCode(), ctx.Response.Body())
					}
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
		})
	}
}
