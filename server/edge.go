package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/valyala/fasthttp"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/loader"
)

// GET /v1/edge/filter (DESIGN sections 5 and 6): the signed edge filter
// for the live snapshot, public, with ETag / If-None-Match and gzip. A
// publisher assembles it from the data directory's per-region parts
// (loader.Store.EdgeFilter) whenever a snapshot is installed; a replica,
// which holds neither the parts nor the signing key, fetches the
// publisher's and checks its signature.

// edgePub is the edge filter published for one snapshot.
type edgePub struct {
	snap *engine.Snapshot
	file []byte // signed filter
	gz   []byte // file, gzip-compressed once
	etag string
	// err says why there is no filter (file nil): no region covered, or
	// the parts could not be read.
	err error
}

// edgeSlot is a server's edge filter state. It lives outside Server
// (server.go is not this file's), keyed weakly by the server so that it
// goes when the server does.
type edgeSlot struct {
	mu  sync.Mutex // one build at a time
	cur atomic.Pointer[edgePub]
}

var edgeSlots sync.Map // weak.Pointer[Server] -> *edgeSlot

func (s *Server) edgeSlot() *edgeSlot {
	k := weak.Make(s)
	if v, ok := edgeSlots.Load(k); ok {
		return v.(*edgeSlot)
	}
	v, loaded := edgeSlots.LoadOrStore(k, &edgeSlot{})
	if !loaded {
		runtime.AddCleanup(s, func(k weak.Pointer[Server]) { edgeSlots.Delete(k) }, k)
	}
	return v.(*edgeSlot)
}

// edgeSnapshotChanged rebuilds the edge filter for snap; install calls it
// once snap is live. A publisher builds synchronously (tens of ms a million
// records), so an upload's 200 comes with the filter already current; a
// replica fetches in the background.
func (s *Server) edgeSnapshotChanged(snap *engine.Snapshot) {
	slot := s.edgeSlot()
	if p := slot.cur.Load(); p != nil && p.snap == snap {
		return
	}
	if s.cfg.ReplicaOf != "" {
		go s.fetchEdge(slot, snap)
		return
	}
	slot.mu.Lock()
	defer slot.mu.Unlock()
	if s.Snapshot() != snap {
		return // a newer one is being installed and will build its own
	}
	if p := slot.cur.Load(); p != nil && p.snap == snap {
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
	slot.cur.Store(pub)
}

func (p *edgePub) setFile(file []byte) {
	p.file = file
	// The trailer's SHA-256 names the bytes.
	t := len(file) - 96
	p.etag = `"edge-` + hex.EncodeToString(file[t:t+12]) + `"`
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed) // the bloom bits hardly compress; the header and empty filters do
	zw.Write(file)
	zw.Close()
	p.gz = b.Bytes()
}

// maxEdgeFile bounds a fetched edge filter (national scale is ~300 MB).
const maxEdgeFile = 2 << 30

// fetchEdge is a replica's: the publisher's filter for snap's version.
func (s *Server) fetchEdge(slot *edgeSlot, snap *engine.Snapshot) {
	slot.mu.Lock()
	defer slot.mu.Unlock()
	if s.Snapshot() != snap {
		return
	}
	pub := &edgePub{snap: snap}
	defer func() {
		if pub.err != nil {
			s.log.Warn("replica: no edge filter from the publisher", "err", pub.err)
		}
		slot.cur.Store(pub)
	}()
	// A publisher's URL serves /v1/edge/filter; beside a static copy of the
	// snapshot (hcx snapshot export) the filter is edge.bin (hcx edge export).
	url := strings.TrimSuffix(s.cfg.ReplicaOf, "/") + "/v1/edge/filter"
	if strings.HasSuffix(s.cfg.ReplicaOf, ".hcx") {
		url = s.cfg.ReplicaOf[:strings.LastIndexByte(s.cfg.ReplicaOf, '/')+1] + "edge.bin"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		pub.err = err
		return
	}
	req.Close = true // one fetch a publication: no idle connection to keep the publisher's shutdown waiting
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		pub.err = err
		return
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		pub.err = errors.New("publisher answered " + res.Status)
		return
	}
	file, err := io.ReadAll(io.LimitReader(res.Body, maxEdgeFile))
	if err != nil {
		pub.err = err
		return
	}
	f, err := engine.OpenEdge(file, engine.EdgeOpenOptions{PublicKey: s.cfg.Store.Public, Calendar: s.cfg.Store.Calendar})
	if err != nil {
		pub.err = err
		return
	}
	if f.Info().Version != snap.Info().Version {
		pub.err = errors.New("the publisher's edge filter is for another snapshot version")
		return
	}
	pub.setFile(file)
}

// edgeFilter serves GET /v1/edge/filter.
func (s *Server) edgeFilter(ctx *fasthttp.RequestCtx) {
	if s.Snapshot() == nil {
		s.fail(ctx, fasthttp.StatusServiceUnavailable, "not_ready", "no snapshot loaded yet")
		return
	}
	pub := s.edgeSlot().cur.Load()
	switch {
	case pub == nil:
		s.fail(ctx, fasthttp.StatusServiceUnavailable, "edge_unavailable", "the edge filter is being built")
		return
	case pub.file == nil:
		s.fail(ctx, fasthttp.StatusServiceUnavailable, "edge_unavailable", pub.err.Error())
		return
	}
	h := &ctx.Response.Header
	h.Set(fasthttp.HeaderETag, pub.etag)
	h.Set(fasthttp.HeaderCacheControl, "no-cache") // revalidate: the filter changes with every publication
	h.Set(fasthttp.HeaderVary, "Accept-Encoding")
	h.Set("Access-Control-Allow-Origin", "*") // public, for verifier pages hosted elsewhere
	h.Set("Access-Control-Expose-Headers", "ETag")
	if etagMatch(ctx.Request.Header.Peek(fasthttp.HeaderIfNoneMatch), pub.etag) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	ctx.SetContentType("application/octet-stream")
	if ctx.Request.Header.HasAcceptEncoding("gzip") {
		h.Set(fasthttp.HeaderContentEncoding, "gzip")
		s.sendImmutable(ctx, pub.gz)
		return
	}
	s.sendImmutable(ctx, pub.file)
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
	pub := s.edgeSlot().cur.Load()
	switch {
	case pub == nil:
		return nil, loader.ErrNoSnapshot
	case pub.file == nil:
		return nil, pub.err
	}
	return pub.file, nil
}
