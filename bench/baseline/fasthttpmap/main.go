// Command fasthttpmap is the bare fasthttp baseline of make compare: GET
// /v1/status/{id} and POST /v1/status (newline-separated IDs, NDJSON
// answers) over a Go map of a generated day. No auth, no metrics.
package main

import (
	"bytes"
	"fmt"
	"log"
	"net"
	"os"

	"github.com/valyala/fasthttp"

	"github.com/yrd-hcx/hcx/bench/baseline"
)

func main() {
	f := baseline.ParseFlags("fasthttpmap")
	m, err := baseline.Load(f.Data)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fasthttpmap:", err)
		os.Exit(1)
	}
	prefix, batch := []byte("/v1/status/"), []byte("/v1/status")
	h := func(ctx *fasthttp.RequestCtx) {
		path := ctx.Path()
		switch {
		case bytes.HasPrefix(path, prefix):
			var buf [128]byte
			b, err := baseline.Append(buf[:0], m, path[len(prefix):])
			if err != nil {
				ctx.Error(`{"error":"invalid_id"}`, fasthttp.StatusBadRequest)
				return
			}
			ctx.SetContentType("application/json")
			ctx.SetBody(b)
		case bytes.Equal(path, batch) && ctx.IsPost():
			body := ctx.PostBody()
			out := make([]byte, 0, 64*(len(body)/19+1))
			for len(body) > 0 {
				line := body
				if i := bytes.IndexByte(body, '\n'); i >= 0 {
					line, body = body[:i], body[i+1:]
				} else {
					body = nil
				}
				if line = bytes.TrimSpace(line); len(line) == 0 {
					continue
				}
				var err error
				if out, err = baseline.Append(out, m, line); err != nil {
					out = append(out, `{"status":"invalid"}`+"\n"...)
				}
			}
			ctx.SetContentType("application/x-ndjson")
			ctx.SetBody(out)
		case string(path) == "/readyz":
			ctx.SetBodyString("ready\n")
		default:
			ctx.Error("not found", fasthttp.StatusNotFound)
		}
	}
	ln, err := net.Listen("tcp", f.Listen)
	if err != nil {
		log.Fatal(err)
	}
	baseline.Ready("fasthttpmap", ln.Addr().String(), len(m))
	s := &fasthttp.Server{Handler: h, Name: "fasthttpmap", NoDefaultDate: true, MaxRequestBodySize: 1 << 20}
	log.Fatal(s.Serve(ln))
}
