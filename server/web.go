package server

import "github.com/valyala/fasthttp"

// webPage serves GET /. The offline web verifier (WebAssembly, DESIGN
// section 6) is built by the edge issue; until then the page says what the
// service is and how to call it, and nothing pretends to verify IDs.
func (s *Server) webPage(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.SetBodyString(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>hcx — health-code exchange</title></head>
<body><main>
<h1>hcx — health-code exchange</h1>
<p>This server answers "what colour is this person, across all regions?" for authorised gates:
<code>GET /v1/status/{id}</code> with a bearer token. The offline web verifier is not published by this version.</p>
<p><a href="/v1/snapshot">/v1/snapshot</a> (token) · <a href="/healthz">/healthz</a> · <a href="/readyz">/readyz</a> · <a href="/metrics">/metrics</a></p>
</main></body></html>
`)
}
