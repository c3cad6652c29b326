package server

import (
	"bytes"

	"github.com/valyala/fasthttp"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/answer"
)

// lookupOne serves GET /v1/status/{id}: the merged answer.
func (s *Server) lookupOne(ctx *fasthttp.RequestCtx, id []byte) { s.lookup(ctx, id, -1) }

var statusInfix = []byte("/status/")

// regionLookup serves GET /v1/regions/{region}/status/{id}: one region's
// list alone.
func (s *Server) regionLookup(ctx *fasthttp.RequestCtx, rest []byte) {
	name, id, ok := bytes.Cut(rest, statusInfix)
	if !ok {
		s.fail(ctx, fasthttp.StatusNotFound, "not_found", "use /v1/regions/{region}/status/{id}")
		return
	}
	st := s.live(ctx)
	if st == nil {
		return
	}
	i := st.snap.RegionIndex(string(name)) // no allocation: the compiler converts in place
	if i < 0 {
		s.fail(ctx, fasthttp.StatusNotFound, "unknown_region", "no region of that name (GET /v1/snapshot lists them)")
		return
	}
	s.lookup(ctx, id, i)
}

// lookup answers one ID, merged (region -1) or from one region's list.
func (s *Server) lookup(ctx *fasthttp.RequestCtx, id []byte, region int) {
	st := s.live(ctx)
	if st == nil {
		return
	}
	var r engine.Result
	if region < 0 {
		r = st.snap.LookupBytes(id)
	} else {
		r = st.snap.LookupRegionBytes(region, id)
	}
	s.metrics.lookup(r.Status)
	if r.Status == engine.Invalid {
		s.fail(ctx, fasthttp.StatusBadRequest, "invalid_id", r.Err.Reason())
		return
	}
	var buf [512]byte
	b := answer.AppendJSON(buf[:0], st.view, id, r)
	ctx.SetContentType("application/json")
	ctx.SetBody(append(b, '\n'))
}

// live returns the current state, or answers 503.
func (s *Server) live(ctx *fasthttp.RequestCtx) *state {
	st := s.cur.Load()
	if st == nil {
		s.fail(ctx, fasthttp.StatusServiceUnavailable, "not_ready", "no snapshot loaded yet")
	}
	return st
}
