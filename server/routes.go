package server

import (
	"bytes"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// routes is the API (docs/http-api.md), one line per endpoint: method, path,
// who may call it, its handler, and its label in the request metrics.
// Routing, the 405 answers with their Allow header, which requests may send
// a body (POST and PUT; uploads get the upload limits) and the metric labels
// all derive from it, so an endpoint is added here and nowhere else.
//
// A path is matched exactly, unless it names a parameter ({id}): then what
// precedes the first '{' is a prefix, and the handler gets the rest.
// The lookup line comes first: the table is scanned in order.
var routes = [...]route{
	{"GET", "/v1/status/{id}", lookupRole, (*Server).lookupOne, "status"},
	{"POST", "/v1/status", lookupRole, (*Server).batch, "batch"},
	{"GET", "/v1/regions/{region}/status/{id}", lookupRole, (*Server).regionLookup, "region_status"},
	{"PUT", "/v1/uploads/{region}/{date}", uploadRole, (*Server).upload, "upload"},
	{"GET", "/v1/snapshot", anyToken, (*Server).snapshotInfo, "snapshot"},
	{"GET", "/v1/snapshot/file", replicaRole, (*Server).snapshotFile, "snapshot_file"},
	{"GET", "/v1/edge/filter", edgeRole, (*Server).edgeFilter, "edge_filter"},
	{"OPTIONS", "/v1/edge/filter", public, (*Server).edgePreflight, "edge_filter_preflight"},
	{"GET", "/healthz", public, (*Server).healthz, "healthz"},
	{"GET", "/readyz", public, (*Server).readyz, "readyz"},
	{"GET", "/metrics", public, (*Server).serveMetrics, "metrics"},
	{"GET", "/v1/trust", public, (*Server).trust, "trust"},
	{"POST", "/v1/codes", issueRole, (*Server).issueCode, "codes_issue"},
	{"POST", "/v1/codes/verify", lookupRole, (*Server).verifyCodes, "codes_verify"},
	{"GET", "/", public, (*Server).webPage, "web"},
}

// route is one endpoint.
type route struct {
	method  string // GET also answers HEAD
	path    string
	access  access
	handler func(s *Server, ctx *fasthttp.RequestCtx, rest []byte)
	metric  string
}

// prefix is what a request path must start with, and whether that is all
// (a path with a parameter) or the whole path.
func (r *route) prefix() (string, bool) {
	if i := strings.IndexByte(r.path, '{'); i >= 0 {
		return r.path[:i], true
	}
	return r.path, false
}

// takesBody: only POST and PUT endpoints read a request body.
func (r *route) takesBody() bool {
	return r.method == fasthttp.MethodPost || r.method == fasthttp.MethodPut
}

// compiled is the table in the form the router scans: byte prefixes, and
// the Allow header for each path (every method the table has for it).
var compiled = func() (c [len(routes)]struct {
	prefix   []byte
	isPrefix bool
	allow    string
}) {
	for i := range routes {
		p, isPrefix := routes[i].prefix()
		c[i].prefix, c[i].isPrefix = []byte(p), isPrefix
		var allow []string
		for j := range routes {
			if routes[j].path == routes[i].path {
				allow = append(allow, routes[j].method)
				if routes[j].method == fasthttp.MethodGet {
					allow = append(allow, fasthttp.MethodHead)
				}
			}
		}
		c[i].allow = strings.Join(allow, ", ")
	}
	return c
}()

// noRoute is the metrics index of requests that match no endpoint (404, and
// requests fasthttp could not read).
const noRoute = len(routes)

// match finds the endpoint for method and path: its index in routes and
// the rest of the path after its prefix. A path the table has under other
// methods only gives found == false with the index of its first line (for
// the 405 and its metric label); a path it does not have gives noRoute.
func match(method, path []byte) (i int, rest []byte, found bool) {
	i = noRoute
	for j := range routes {
		c := &compiled[j]
		if c.isPrefix && !bytes.HasPrefix(path, c.prefix) || !c.isPrefix && !bytes.Equal(path, c.prefix) {
			continue
		}
		if methodIs(method, routes[j].method) {
			return j, path[len(c.prefix):], true
		}
		if i == noRoute {
			i = j
		}
	}
	return i, nil, false
}

// methodIs reports whether a request's method is want (HEAD counts as GET).
func methodIs(m []byte, want string) bool {
	return string(m) == want || want == fasthttp.MethodGet && string(m) == fasthttp.MethodHead
}

// handle routes a request. It does not allocate on the lookup path.
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	i, rest, found := match(ctx.Method(), ctx.Path())
	switch {
	case found:
		if s.admit(ctx, &routes[i], rest) {
			routes[i].handler(s, ctx, rest)
		}
	case i == noRoute:
		s.fail(ctx, fasthttp.StatusNotFound, "not_found", "no such endpoint")
	default:
		ctx.Response.Header.Set(fasthttp.HeaderAllow, compiled[i].allow)
		s.fail(ctx, fasthttp.StatusMethodNotAllowed, "method_not_allowed", "this endpoint takes "+compiled[i].allow)
	}
	if hasBody(&ctx.Request.Header) && ctx.Response.StatusCode() >= 400 {
		// What is left of a refused request's body is not read (headerReceived
		// let fasthttp read next to none of it) nor drained: the connection
		// closes. (Simpler than telling a refusal from a body read to its
		// end and found wrong; a client reconnects after an error.)
		ctx.SetConnectionClose()
	}
	if f, ok := ctx.UserValue(failKey{}).(failure); ok {
		s.log.Error("request failed", "route", routeLabel(i), "what", f.what, "err", f.err)
	}
	s.metrics.request(i, ctx.Response.StatusCode(), time.Since(ctx.Time()))
}

func (s *Server) healthz(ctx *fasthttp.RequestCtx, _ []byte) {
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString("ok\n")
}

func (s *Server) readyz(ctx *fasthttp.RequestCtx, _ []byte) {
	if !s.Ready() {
		s.fail(ctx, fasthttp.StatusServiceUnavailable, "not_ready", "no snapshot loaded yet: ingest a daily file")
		return
	}
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString("ready\n")
}

func (s *Server) serveMetrics(ctx *fasthttp.RequestCtx, _ []byte) { s.metrics.serve(ctx) }
