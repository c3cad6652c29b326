package server

import (
	"bytes"
	"math"

	"github.com/valyala/fasthttp"

	"github.com/yrd-hcx/hcx/internal/auth"
)

// access is who may call an endpoint (docs/http-api.md, roles).
type access uint8

const (
	public      access = iota // anyone
	anyToken                  // any known token
	lookupRole                // lookup
	replicaRole               // replica
	edgeRole                  // edge or replica (a replica serves the filter too); anyone with Config.PublicEdge
	uploadRole                // upload:{region} for the region the path names; nobody on a replica
	issueRole                 // issue:{region} for some region (the handler checks the region asked for); nobody on a replica
)

// needs names the role in a 403's detail (written once: no allocation).
var needs = [...]string{
	anyToken:    "this endpoint needs a known token",
	lookupRole:  "this token lacks the role lookup",
	replicaRole: "this token lacks the role replica",
	edgeRole:    "this token lacks the role edge (or replica)",
	uploadRole:  "this token lacks the role upload:{region} for this region",
	issueRole:   "this token lacks a role issue:{region}",
}

// granted reports whether roles may call an endpoint of this access; rest
// is the request path after the endpoint's prefix.
func (a access) granted(roles auth.Roles, rest []byte) bool {
	switch a {
	case anyToken:
		return true
	case lookupRole:
		return roles.Has(auth.Lookup)
	case replicaRole:
		return roles.Has(auth.Replica)
	case edgeRole:
		return roles.Has(auth.Edge) || roles.Has(auth.Replica)
	case uploadRole:
		region, _, _ := uploadPath(rest)
		return roles.Uploads(region)
	case issueRole:
		return roles.IssuesAny()
	}
	return false
}

// refusal is why a request may not call an endpoint; the zero value admits.
type refusal struct {
	code        int
	err, detail string
	challenge   string // WWW-Authenticate, for a 401
}

var (
	noToken      = refusal{fasthttp.StatusUnauthorized, "unauthorized", "a bearer token is required", `Bearer realm="hcx"`}
	unknownToken = refusal{fasthttp.StatusUnauthorized, "unauthorized", "unknown token", `Bearer realm="hcx", error="invalid_token"`}
	// A replica takes no uploads from anyone: said before any token check,
	// since a region's token is known to the publisher only.
	replicaUpload = refusal{code: fasthttp.StatusConflict, err: "read_only_replica", detail: "this server is a read-only replica: upload to its publisher"}
	// Nor does it issue codes: issuer keys stay in the publisher's data
	// directory, never in a snapshot a replica receives.
	replicaIssue = refusal{code: fasthttp.StatusConflict, err: "read_only_replica", detail: "this server is a read-only replica and holds no issuer keys: issue codes at its publisher"}
)

// check decides from the headers alone whether a request may call r; tc
// is the connection's token cache, nil if there is none at hand.
func (s *Server) check(h *fasthttp.RequestHeader, r *route, rest []byte, tc *tokenCache) refusal {
	switch {
	case r.access == public, r.access == edgeRole && s.cfg.PublicEdge:
		return refusal{}
	case r.access == uploadRole && s.cfg.ReplicaOf != "":
		return replicaUpload
	case r.access == issueRole && s.cfg.ReplicaOf != "":
		return replicaIssue
	}
	tok, ok := bearerToken(h)
	if !ok {
		return noToken
	}
	roles, known := tc.lookup(s.tokens.Load(), tok)
	switch {
	case !known:
		return unknownToken
	case !r.access.granted(roles, rest):
		return refusal{code: fasthttp.StatusForbidden, err: "forbidden", detail: needs[r.access]}
	}
	return refusal{}
}

var bearer = []byte("Bearer ")

// authorization is the header's name as fasthttp stores it: PeekCanonical
// skips normalising the name on every request (Peek copies and
// normalises it each time; 2-3% of the pipelined profile).
var authorization = []byte(fasthttp.HeaderAuthorization)

// bearerToken is the request's bearer token, if it has one.
func bearerToken(h *fasthttp.RequestHeader) ([]byte, bool) {
	return bytes.CutPrefix(h.PeekCanonical(authorization), bearer)
}

// tokenCache is a connection's last token and what the token set said of
// it. A gate's connection shows the same token on every request; keeping
// its answer skips the token set's hash and map for all but the first
// (the profile in BENCHMARKS.md, serving cost). The bytes compared are the
// ones this connection sent before, so their timing tells a client only
// what it already knows. A changed token set (a reload: new or revoked
// tokens) is a miss.
type tokenCache struct {
	set   *auth.Set
	tok   []byte
	roles auth.Roles
	known bool
}

// maxCachedToken bounds what a connection's cache holds (a token is 68
// bytes): a longer header is looked up each time rather than kept.
const maxCachedToken = 128

func (c *tokenCache) lookup(set *auth.Set, tok []byte) (auth.Roles, bool) {
	if c == nil || len(tok) > maxCachedToken {
		return set.Roles(tok)
	}
	if c.set != set || !bytes.Equal(c.tok, tok) {
		c.roles, c.known = set.Roles(tok)
		c.set, c.tok = set, append(c.tok[:0], tok...)
	}
	return c.roles, c.known
}

// connTokens is the token cache of the connection ctx arrived on.
func connTokens(ctx *fasthttp.RequestCtx) *tokenCache {
	if c, ok := ctx.Conn().(*limitConn); ok {
		return &c.tokens
	}
	return nil
}

// admit answers a request that may not call r, and reports whether it may.
func (s *Server) admit(ctx *fasthttp.RequestCtx, r *route, rest []byte) bool {
	no := s.check(&ctx.Request.Header, r, rest, connTokens(ctx))
	if no.code == 0 {
		return true
	}
	if no.challenge != "" {
		ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, no.challenge)
	}
	s.fail(ctx, no.code, no.err, no.detail)
	return false
}

// refusedBody is the body limit of a request that will be refused, or that
// goes to an endpoint reading no body: fasthttp reads at most this much of
// it (it cannot be 0, which means "the default") before the handler answers
// from the headers and the connection closes.
const refusedBody = 1

// headerReceived decides, from the headers alone, how much of a body
// fasthttp may read: an upload whose token may upload to the region in its
// path gets the upload size limit and read timeout; another admitted POST
// or PUT the defaults (the batch limit, the read timeout); anything else
// will be refused or reads no body, so nothing of it is read.
func (s *Server) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	if !hasBody(h) {
		return fasthttp.RequestConfig{}
	}
	u := fasthttp.AcquireURI()
	defer fasthttp.ReleaseURI(u)
	if u.Parse(nil, h.RequestURI()) != nil { // the path as the handler will see it
		return fasthttp.RequestConfig{MaxRequestBodySize: refusedBody}
	}
	switch s.bodyGrant(h, u.Path()) {
	case grantUpload:
		return fasthttp.RequestConfig{ReadTimeout: s.cfg.UploadTimeout, MaxRequestBodySize: int(min(s.cfg.MaxUploadSize, math.MaxInt))}
	case grantSmall:
		return fasthttp.RequestConfig{}
	}
	return fasthttp.RequestConfig{MaxRequestBodySize: refusedBody}
}

// expectContinue answers "Expect: 100-continue": the client is invited to
// send its body only if the body would be read; otherwise the refusal is
// the final answer and the body never leaves the client.
func (s *Server) expectContinue(ctx *fasthttp.RequestCtx) int {
	if s.bodyGrant(&ctx.Request.Header, ctx.Path()) != grantNone {
		return fasthttp.StatusContinue
	}
	s.handle(ctx) // refuses from the headers (fasthttp then closes the connection)
	return ctx.Response.StatusCode()
}

// hasBody reports whether a request comes with a body: a length above 0,
// or chunked (-1). fasthttp gives -2 for neither.
func hasBody(h *fasthttp.RequestHeader) bool {
	n := h.ContentLength()
	return n > 0 || n == -1
}

type bodyGrant uint8

const (
	grantNone   bodyGrant = iota // the body will not be read
	grantSmall                   // the batch size limit and read timeout
	grantUpload                  // the upload size limit and read timeout
)

// bodyGrant is what the handler will read of a request's body, by the same
// route and token checks as the handler's.
func (s *Server) bodyGrant(h *fasthttp.RequestHeader, path []byte) bodyGrant {
	i, rest, found := match(h.Method(), path)
	switch {
	case !found || !routes[i].takesBody() || s.check(h, &routes[i], rest, nil).code != 0:
		return grantNone
	case routes[i].access == uploadRole:
		if _, _, ok := uploadPath(rest); !ok {
			return grantNone // the handler answers 404 from the path
		}
		return grantUpload
	}
	return grantSmall
}
