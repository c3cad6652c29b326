package server

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/answer"
	"github.com/yrd-hcx/hcx/internal/qrcode"
	"github.com/yrd-hcx/hcx/loader"
)

// Health codes (docs/health-codes.md): the trust list, issuing, verifying
// online. A code is personal data (it carries its holder's ID): it is never
// logged, counted by value or cached, and the answers that hold one say
// Cache-Control: no-store.

// trust serves GET /v1/trust: the live snapshot's trust list.
func (s *Server) trust(ctx *fasthttp.RequestCtx, _ []byte) {
	st := s.live(ctx)
	if st == nil {
		return
	}
	var buf [2048]byte
	ctx.SetContentType("application/json")
	ctx.SetBody(append(st.snap.TrustList().AppendJSON(buf[:0]), '\n'))
}

// maxIssueBody bounds the body of POST /v1/codes: a region, an ID and a
// ttl fit in well under 1 KiB.
const maxIssueBody = 4 << 10

// qrScale is the pixels a module of a PNG code: version 8 (49 modules and
// the quiet zone) is 456 pixels a side, enough for a printed or shown code.
const qrScale = 8

type issueRequest struct {
	Region string `json:"region"`
	ID     string `json:"id"`
	TTL    string `json:"ttl"`
}

// issueCode serves POST /v1/codes: a code for the body's ID and region,
// coloured with the person's merged status now, as JSON or as its QR image
// (Accept: image/png or image/svg+xml). The route admitted a token with
// some issue: role; the region asked for is checked here, once the body
// names it. A replica never gets here (access.go).
func (s *Server) issueCode(ctx *fasthttp.RequestCtx, _ []byte) {
	var in [512]byte
	body, ok := s.readBodyOrFail(ctx, in[:0], maxIssueBody)
	if !ok {
		return
	}
	var req issueRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if dec.Decode(&req) != nil || dec.Decode(new(json.RawMessage)) != io.EOF || req.Region == "" || req.ID == "" {
		// The detail never quotes the body: it holds an ID.
		s.fail(ctx, fasthttp.StatusBadRequest, "bad_request", `want {"region":"sh","id":"...","ttl":"24h"} (ttl optional)`)
		return
	}
	tok, _ := bearerToken(&ctx.Request.Header)
	if roles, _ := s.tokens.Load().Roles(tok); !roles.Issues([]byte(req.Region)) {
		s.fail(ctx, fasthttp.StatusForbidden, "forbidden", "this token lacks the role issue:{region} for this region")
		return
	}
	region := slices.Index(s.cfg.Store.Regions, req.Region)
	if region < 0 {
		s.fail(ctx, fasthttp.StatusBadRequest, "unknown_region", "no region of that name in this data directory")
		return
	}
	ttl, err := answer.ParseTTL(req.TTL)
	if err != nil {
		s.fail(ctx, fasthttp.StatusBadRequest, "bad_request", err.Error())
		return
	}
	st := s.live(ctx)
	if st == nil {
		return
	}
	key, err := s.issuerKeys.key(s.cfg.Store, st.snap.TrustList(), req.Region)
	if errors.Is(err, loader.ErrNoIssuerKey) {
		s.metrics.codes.issued(region, issueNoKey)
		s.fail(ctx, fasthttp.StatusConflict, "no_issuer_key", "this server holds no active issuer key of region "+req.Region+" (hcx issuer add)")
		return
	}
	if err != nil {
		s.internal(ctx, "reading the issuer key of "+req.Region, err)
		return
	}
	is, err := answer.Issue(st.snap, key, req.Region, req.ID, ttl, s.cfg.Store.Calendar.Now())
	var idErr engine.IDError
	if errors.As(err, &idErr) {
		s.metrics.codes.issued(region, issueInvalidID)
		s.fail(ctx, fasthttp.StatusBadRequest, "invalid_id", idErr.Reason())
		return
	}
	if err != nil {
		s.internal(ctx, "issuing a code", err) // claims out of range: the clock?
		return
	}
	s.metrics.codes.issued(region, int(is.Status-engine.Green))
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	switch image := imageWanted(ctx.Request.Header.Peek(fasthttp.HeaderAccept)); image {
	case "":
		var out [512]byte
		ctx.SetContentType("application/json")
		ctx.SetBody(append(answer.AppendIssued(out[:0], is, s.cfg.Store.Calendar.Location()), '\n'))
	default:
		q, err := qrcode.Encode(string(is.Code))
		if err != nil { // a code is 140 characters: it always fits
			s.internal(ctx, "drawing the QR code", err)
			return
		}
		ctx.SetContentType(image)
		if image == imagePNG {
			ctx.SetBody(q.PNG(qrScale))
		} else {
			ctx.SetBody(q.SVG())
		}
	}
}

const (
	imagePNG = "image/png"
	imageSVG = "image/svg+xml"
)

// imageWanted is the image type an Accept header asks for, the one named
// first if it names both; "" for JSON (no image named, or */*).
func imageWanted(accept []byte) string {
	p, v := bytes.Index(accept, []byte(imagePNG)), bytes.Index(accept, []byte(imageSVG))
	switch {
	case p >= 0 && (v < 0 || p < v):
		return imagePNG
	case v >= 0:
		return imageSVG
	}
	return ""
}

// verifyCodes serves POST /v1/codes/verify: a body of codes, one a line
// (blank lines skipped), answered as NDJSON in order, against the live
// snapshot's trust list and lists. Nothing allocates per code (alloc_test.go).
func (s *Server) verifyCodes(ctx *fasthttp.RequestCtx, _ []byte) {
	buf := batchPool.Get().(*batchBuf)
	defer batchPool.Put(buf)
	body, ok := s.readBodyOrFail(ctx, buf.in[:0], s.cfg.MaxBatchBody)
	buf.in = body
	if !ok {
		return
	}
	n := 0
	for rest := body; len(rest) > 0; {
		var line []byte
		line, rest, _ = bytes.Cut(rest, newline)
		if len(bytes.TrimSpace(line)) > 0 {
			n++
		}
	}
	if n > s.cfg.MaxBatch {
		s.fail(ctx, fasthttp.StatusRequestEntityTooLarge, "batch_too_large", fmt.Sprintf("more than %d codes in one request", s.cfg.MaxBatch))
		return
	}
	st := s.live(ctx)
	if st == nil {
		return
	}
	now := s.cfg.Store.Calendar.Now()
	out := buf.out[:0]
	for rest := body; len(rest) > 0; {
		var line []byte
		line, rest, _ = bytes.Cut(rest, newline)
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		a := answer.VerifyCode(st.view, line, now)
		s.metrics.codes.verified(a)
		out = append(answer.AppendCode(out, st.view, a), '\n')
	}
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	ctx.SetContentType(contentNDJSON)
	ctx.SetBody(out) // copies: buf goes back to the pool
	buf.out = out
}

// codeKeys holds the issuer keys read from the data directory for one
// trust list: a key is read once, not on every code, and read again once
// the trust list changes (a key added or revoked). Safe for concurrent use.
type codeKeys struct {
	mu    sync.Mutex
	trust *engine.TrustList
	keys  map[string]ed25519.PrivateKey // by region; nil: none held (ErrNoIssuerKey)
}

// key is the private key of region's newest active issuer in trust held in
// store's directory (loader.Store.IssuerKey).
func (c *codeKeys) key(store *loader.Store, trust *engine.TrustList, region string) (ed25519.PrivateKey, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.trust != trust {
		c.trust, c.keys = trust, map[string]ed25519.PrivateKey{}
	}
	if key, ok := c.keys[region]; ok {
		if key == nil {
			return nil, fmt.Errorf("%w: region %s", loader.ErrNoIssuerKey, region)
		}
		return key, nil
	}
	key, _, err := store.IssuerKey(trust, region)
	switch {
	case err == nil:
		c.keys[region] = key
	case errors.Is(err, loader.ErrNoIssuerKey):
		// A key added later comes with a new trust list, so this stays true
		// as long as trust is live.
		c.keys[region] = nil
	}
	return key, err
}

// The results a code metric counts. Issuing: the code's colour, or why
// none was issued. Verifying: why a code was refused (an engine.CodeReason),
// or whether a valid one passed.
const (
	issueNoKey     = int(engine.Red-engine.Green) + 1
	issueInvalidID = issueNoKey + 1

	verifyNoPass = int(engine.ReasonNone)
	verifyPass   = verifyNoPass + 1
)

var (
	issueResults  = [...]string{"green", "yellow", "red", issueNoKey: "no_issuer_key", issueInvalidID: "invalid_id"}
	verifyResults = func() (r [verifyPass + 1]string) {
		for i := range verifyNoPass {
			r[i] = engine.CodeReason(i).String()
		}
		r[verifyNoPass], r[verifyPass] = "no_pass", "pass"
		return r
	}()
)

// codeMetrics count codes issued and verified, by region and result: by
// Store.Regions index (one more: "unknown", a refused code's issuer that
// could not be read), then result index, pre-resolved so that counting a
// code is one atomic add. Labels never hold a code or an ID.
type codeMetrics struct {
	regions          []string
	issues, verifies [][]prometheus.Counter
}

func newCodeMetrics(regions []string, register func(prometheus.Collector)) *codeMetrics {
	m := &codeMetrics{regions: regions}
	vec := func(name, help string, results []string) [][]prometheus.Counter {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"region", "result"})
		register(v)
		out := make([][]prometheus.Counter, len(regions)+1)
		for i := range out {
			region := "unknown"
			if i < len(regions) {
				region = regions[i]
			}
			for _, r := range results {
				out[i] = append(out[i], v.WithLabelValues(region, r))
			}
		}
		return out
	}
	m.issues = vec("hcx_codes_issued_total", "Health codes issued (result: the code's colour) or refused (no_issuer_key, invalid_id), by region.", issueResults[:])
	m.verifies = vec("hcx_codes_verified_total", "Health codes verified online, by issuing region and result: pass, no_pass, or why the code was refused.", verifyResults[:])
	return m
}

func (m *codeMetrics) issued(region, result int) { m.issues[region][result].Inc() }

func (m *codeMetrics) verified(a answer.Verified) {
	region := slices.Index(m.regions, a.Code.Region) // "" (format, unknown_issuer): -1
	if region < 0 {
		region = len(m.regions)
	}
	result := int(a.Code.Reason)
	if a.Pass {
		result = verifyPass
	}
	m.verifies[region][min(result, verifyPass)].Inc()
}
