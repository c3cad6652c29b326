package server

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/valyala/fasthttp"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/loader"
)

// GET /v1/edge/filter (docs/http-api.md, docs/edge-verifier.md): the signed
// edge filter for the live snapshot, with ETag / If-None-Match, for
// tokens with role edge (verifier devices) or replica, or for anyone with
// Config.PublicEdge: the filter is personal data in another form. A
// publisher assembles it from the data directory's per-region parts
// (loader.Store.EdgeFilter) whenever a snapshot is installed; a replica,
// which holds neither the parts nor the signing key, fetches the
// publisher's in its follower (replica.go) and checks its signature.
//
// It is sent as it is, never gzipped: its bloom bits are near half set at
// random, so gzip gains nothing (the 1e6-record day's filter came out 248
// bytes larger at level 1), and a gzip copy would hold the filter twice
// (TestServedRSS in cmd/hcx).

// edgePub is the edge filter published for one snapshot.
type edgePub struct {
	snap *engine.Snapshot
	file []byte // signed filter
	etag string
	// err says why there is no filter (file nil): no region covered, or
	// the parts could not be read.
	err error
}

// edgeState is the filter a server publishes now.
type edgeState struct {
	mu  sync.Mutex // one build at a time
	cur atomic.Pointer[edgePub]
}

// publishEdge builds the edge filter for snap; install calls it once snap
// is live on a publisher. It builds synchronously (tens of ms a million
// records), so an upload's 200 comes with the filter already current.
func (s *Server) publishEdge(snap *engine.Snapshot) {
	s.edge.mu.Lock()
	defer s.edge.mu.Unlock()
	if s.Snapshot() != snap {
		return // a newer one is being installed and will build its own
	}
	if p := s.edge.cur.Load(); p != nil && p.snap == snap {
		return
	}
	pub := &edgePub{snap: snap}
	ex, err := s.cfg.Store.EdgeFilter(snap, s.cfg.MaxAge)
	if err != nil {
		pub.err = err
		s.log.Warn("no edge filter for this snapshot", "version", snap.Info().Version, "err", err)
	} else {
		pub.setFile(ex.File)
		if len(ex.Uncovered) > 0 {
			s.log.Warn("edge filter does not cover every region: verifiers will say so", "uncovered", strings.Join(ex.Uncovered, "; "))
		}
		s.log.Info("edge filter published", "version", snap.Info().Version, "bytes", len(ex.File), "records", ex.Filter.Info().Records)
	}
	s.edge.cur.Store(pub)
}

func (p *edgePub) setFile(file []byte) {
	p.file = file
	// The trailer's SHA-256 names the bytes.
	t := len(file) - 96
	p.etag = `"edge-` + hex.EncodeToString(file[t:t+12]) + `"`
}

// maxEdgeFile bounds a fetched edge filter (national scale is ~300 MB).
const maxEdgeFile = 2 << 30

// followEdge is a replica's, run by its follower after each sync: the
// publisher's filter for the live snapshot, if not fetched yet (a failed
// fetch is tried again at the next poll).
func (s *Server) followEdge(ctx context.Context, client *http.Client) {
	snap := s.Snapshot()
	if snap == nil {
		return
	}
	prev := s.edge.cur.Load()
	if prev != nil && prev.snap == snap && prev.file != nil {
		return
	}
	pub := &edgePub{snap: snap}
	file, err := s.fetchEdge(ctx, client, snap)
	if err != nil {
		pub.err = err
		if prev == nil || prev.snap != snap || prev.err == nil || prev.err.Error() != err.Error() {
			s.log.Warn("replica: no edge filter from the publisher", "err", err)
		}
		if prev != nil && prev.snap != snap && prev.file != nil {
			return // keep serving the previous filter until this one comes
		}
	} else {
		pub.setFile(file)
	}
	s.edge.cur.Store(pub)
}

// fetchEdge gets and checks the publisher's filter for snap's version.
func (s *Server) fetchEdge(ctx context.Context, client *http.Client, snap *engine.Snapshot) ([]byte, error) {
	// A publisher's URL serves /v1/edge/filter; beside a static copy of the
	// snapshot (hcx snapshot export) the filter is edge.bin (hcx edge export).
	url := strings.TrimSuffix(s.cfg.ReplicaOf, "/") + "/v1/edge/filter"
	if strings.HasSuffix(s.cfg.ReplicaOf, ".hcx") {
		url = s.cfg.ReplicaOf[:strings.LastIndexByte(s.cfg.ReplicaOf, '/')+1] + "edge.bin"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if s.cfg.ReplicaToken != "" {
		// The role replica may fetch the filter as well as the snapshot.
		req.Header.Set("Authorization", "Bearer "+s.cfg.ReplicaToken)
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, errors.New("publisher answered " + res.Status)
	}
	file, err := io.ReadAll(io.LimitReader(res.Body, maxEdgeFile))
	if err != nil {
		return nil, err
	}
	f, err := engine.OpenEdge(file, engine.EdgeOpenOptions{PublicKey: s.cfg.Store.Public, Calendar: s.cfg.Store.Calendar})
	if err != nil {
		return nil, err
	}
	if f.Info().Version != snap.Info().Version {
		return nil, errors.New("the publisher's edge filter is for another snapshot version")
	}
	return file, nil
}

// edgeFilter serves GET /v1/edge/filter.
func (s *Server) edgeFilter(ctx *fasthttp.RequestCtx, _ []byte) {
	if s.Snapshot() == nil {
		s.fail(ctx, fasthttp.StatusServiceUnavailable, "not_ready", "no snapshot loaded yet")
		return
	}
	pub := s.edge.cur.Load()
	switch {
	case pub == nil:
		s.fail(ctx, fasthttp.StatusServiceUnavailable, "edge_unavailable", "the edge filter is being built")
		return
	case pub.file == nil && errors.Is(pub.err, loader.ErrNoEdge):
		s.fail(ctx, fasthttp.StatusServiceUnavailable, "edge_unavailable", loader.ErrNoEdge.Error())
		return
	case pub.file == nil: // why (a file, the publisher) is in the log, not the answer
		s.fail(ctx, fasthttp.StatusServiceUnavailable, "edge_unavailable", "no edge filter for the live snapshot; the server's log says why")
		return
	}
	h := &ctx.Response.Header
	h.Set(fasthttp.HeaderETag, pub.etag)
	// Revalidate: the filter changes with every publication. Fetched with a
	// device token, it is not for shared caches to hand to anyone else.
	if s.cfg.PublicEdge {
		h.Set(fasthttp.HeaderCacheControl, "no-cache")
	} else {
		h.Set(fasthttp.HeaderCacheControl, "private, no-cache")
	}
	edgeCORS(h)
	h.Set("Access-Control-Expose-Headers", "ETag")
	if etagMatch(ctx.Request.Header.Peek(fasthttp.HeaderIfNoneMatch), pub.etag) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	ctx.SetContentType("application/octet-stream")
	s.sendImmutable(ctx, pub.file)
}

// edgeCORS lets verifier pages hosted elsewhere fetch the filter (with a
// device token: no cookies are involved, so any origin may ask).
func edgeCORS(h *fasthttp.ResponseHeader) { h.Set("Access-Control-Allow-Origin", "*") }

// edgePreflight answers a browser's CORS preflight for the filter: a fetch
// that sends the device token (Authorization) is asked about first.
func (s *Server) edgePreflight(ctx *fasthttp.RequestCtx, _ []byte) {
	h := &ctx.Response.Header
	edgeCORS(h)
	h.Set("Access-Control-Allow-Methods", "GET, HEAD")
	h.Set("Access-Control-Allow-Headers", "Authorization, If-None-Match")
	h.Set("Access-Control-Max-Age", "86400")
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

// etagMatch reports whether an If-None-Match header names etag (or is *).
func etagMatch(inm []byte, etag string) bool {
	for part := range bytes.SplitSeq(inm, []byte{','}) {
		part = bytes.TrimSpace(part)
		part = bytes.TrimPrefix(part, []byte("W/"))
		if string(part) == etag || string(part) == "*" {
			return true
		}
	}
	return false
}

// EdgeFile returns the signed edge filter the server publishes now (nil
// with the reason when it has none). The slice is shared: do not modify.
func (s *Server) EdgeFile() ([]byte, error) {
	pub := s.edge.cur.Load()
	switch {
	case pub == nil:
		return nil, loader.ErrNoSnapshot
	case pub.file == nil:
		return nil, pub.err
	}
	return pub.file, nil
}
