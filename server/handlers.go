package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/answer"
	"github.com/yrd-hcx/hcx/internal/auth"
	"github.com/yrd-hcx/hcx/loader"
)

var (
	prefixStatus   = []byte("/v1/status/")
	prefixRegions  = []byte("/v1/regions/")
	prefixUploads  = []byte("/v1/uploads/")
	pathBatch      = []byte("/v1/status")
	pathSnapshot   = []byte("/v1/snapshot")
	pathSnapFile   = []byte("/v1/snapshot/file")
	pathEdge       = []byte("/v1/edge/filter")
	pathHealth     = []byte("/healthz")
	pathReady      = []byte("/readyz")
	pathMetrics    = []byte("/metrics")
	bearer         = []byte("Bearer ")
	contentJSON    = []byte("application/json")
	contentNDJSON  = "application/x-ndjson"
	contentGzip    = []byte("gzip")
	statusInfix    = []byte("/status/")
	jsonBatchStart = []byte(`{"results":[`)
	newline        = []byte{'\n'}
	carriageReturn = []byte{'\r'}
)

// handle routes a request. Paths are matched as bytes so that the lookup
// route allocates nothing.
func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	r := routeOther
	switch {
	case bytes.HasPrefix(path, prefixStatus):
		r = routeStatus
		if s.method(ctx, fasthttp.MethodGet) && s.authorize(ctx, auth.Lookup) {
			s.lookup(ctx, path[len(prefixStatus):], -1)
		}
	case bytes.HasPrefix(path, prefixRegions):
		r = routeRegion
		if s.method(ctx, fasthttp.MethodGet) && s.authorize(ctx, auth.Lookup) {
			s.regionLookup(ctx, path[len(prefixRegions):])
		}
	case bytes.Equal(path, pathBatch):
		r = routeBatch
		if s.method(ctx, fasthttp.MethodPost) && s.authorize(ctx, auth.Lookup) {
			s.batch(ctx)
		}
	case bytes.HasPrefix(path, prefixUploads):
		r = routeUpload
		if s.method(ctx, fasthttp.MethodPut) {
			s.uploadFile(ctx, path[len(prefixUploads):])
		}
	case bytes.Equal(path, pathSnapshot):
		r = routeSnapshot
		if s.method(ctx, fasthttp.MethodGet) && s.authorize(ctx, "") {
			s.snapshotInfo(ctx)
		}
	case bytes.Equal(path, pathSnapFile):
		r = routeSnapFile
		if s.method(ctx, fasthttp.MethodGet) && s.authorize(ctx, auth.Replica) {
			s.snapshotFile(ctx)
		}
	case bytes.Equal(path, pathEdge):
		r = routeEdge
		if s.method(ctx, fasthttp.MethodGet) {
			s.edgeFilter(ctx) // edge.go
		}
	case bytes.Equal(path, pathHealth):
		r = routeHealth
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString("ok\n")
	case bytes.Equal(path, pathReady):
		r = routeReady
		if s.Ready() {
			ctx.SetContentType("text/plain; charset=utf-8")
			ctx.SetBodyString("ready\n")
		} else {
			s.fail(ctx, fasthttp.StatusServiceUnavailable, "not_ready", "no snapshot loaded yet: ingest a daily file")
		}
	case bytes.Equal(path, pathMetrics):
		r = routeMetrics
		s.metrics.serve(ctx)
	case len(path) == 1 && path[0] == '/':
		r = routeWeb
		if s.method(ctx, fasthttp.MethodGet) {
			s.webPage(ctx)
		}
	default:
		s.fail(ctx, fasthttp.StatusNotFound, "not_found", "no such endpoint")
	}
	if ctx.Request.Header.ContentLength() != 0 && ctx.Response.StatusCode() >= 400 {
		// What is left of a refused request's body is not read (headerReceived
		// let fasthttp read next to none of it) nor drained: the connection
		// closes. (Simpler than telling a refusal from a body read to its
		// end and found wrong; a client reconnects after an error.)
		ctx.SetConnectionClose()
	}
	s.metrics.request(r, ctx.Response.StatusCode(), time.Since(ctx.Time()))
}

// method answers 405 unless the request uses want (HEAD counts as GET).
func (s *Server) method(ctx *fasthttp.RequestCtx, want string) bool {
	m := ctx.Method()
	if string(m) == want || want == fasthttp.MethodGet && string(m) == fasthttp.MethodHead {
		return true
	}
	ctx.Response.Header.Set("Allow", want)
	s.fail(ctx, fasthttp.StatusMethodNotAllowed, "method_not_allowed", "use "+want)
	return false
}

// authorize checks the bearer token: 401 when missing or unknown, 403 when
// it lacks role ("" accepts any known token).
func (s *Server) authorize(ctx *fasthttp.RequestCtx, role string) bool {
	h := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)
	if !bytes.HasPrefix(h, bearer) {
		ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, `Bearer realm="hcx"`)
		s.fail(ctx, fasthttp.StatusUnauthorized, "unauthorized", "a bearer token is required")
		return false
	}
	known, allowed := s.tokens.Load().Allowed(h[len(bearer):], role)
	switch {
	case !known:
		ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, `Bearer realm="hcx", error="invalid_token"`)
		s.fail(ctx, fasthttp.StatusUnauthorized, "unauthorized", "unknown token")
		return false
	case !allowed && role != "":
		s.fail(ctx, fasthttp.StatusForbidden, "forbidden", "this token lacks the role "+role)
		return false
	}
	return true
}

// fail writes a JSON error.
func (s *Server) fail(ctx *fasthttp.RequestCtx, code int, errCode, detail string) {
	ctx.SetStatusCode(code)
	ctx.SetContentType("application/json")
	var buf [256]byte
	b := append(buf[:0], `{"error":`...)
	b = strconv.AppendQuote(b, errCode)
	b = append(b, `,"detail":`...)
	b = strconv.AppendQuote(b, detail)
	b = append(b, "}\n"...)
	ctx.SetBody(b)
}

// live returns the current state, or answers 503.
func (s *Server) live(ctx *fasthttp.RequestCtx) *state {
	st := s.cur.Load()
	if st == nil {
		s.fail(ctx, fasthttp.StatusServiceUnavailable, "not_ready", "no snapshot loaded yet")
	}
	return st
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

// regionLookup serves /v1/regions/{region}/status/{id}.
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
		s.fail(ctx, fasthttp.StatusNotFound, "unknown_region", "no region "+strconv.Quote(string(name)))
		return
	}
	s.lookup(ctx, id, i)
}

// batchBuf is a batch's scratch space, pooled: a 1,000-ID batch would
// otherwise allocate its ID slices, results and a 150 KB answer each time.
type batchBuf struct {
	in  []byte
	ids [][]byte
	res []engine.Result
	out []byte
}

var batchPool = sync.Pool{New: func() any { return new(batchBuf) }}

// batch serves POST /v1/status: newline-separated IDs answered as NDJSON,
// or {"ids":[...]} answered as {"results":[...]}.
func (s *Server) batch(ctx *fasthttp.RequestCtx) {
	buf := batchPool.Get().(*batchBuf)
	defer batchPool.Put(buf)
	body, err := s.readBody(ctx, buf.in[:0], s.cfg.MaxBatchBody)
	buf.in = body
	if err != nil {
		s.fail(ctx, fasthttp.StatusRequestEntityTooLarge, "too_large", err.Error())
		return
	}
	st := s.live(ctx)
	if st == nil {
		return
	}
	ids := buf.ids[:0]
	isJSON := bytes.HasPrefix(ctx.Request.Header.ContentType(), contentJSON)
	if isJSON {
		var req struct {
			IDs []string `json:"ids"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			s.fail(ctx, fasthttp.StatusBadRequest, "bad_request", `want {"ids":["...", ...]}: `+err.Error())
			return
		}
		for _, id := range req.IDs {
			ids = append(ids, []byte(id))
		}
	} else {
		for len(body) > 0 && len(ids) <= s.cfg.MaxBatch {
			line, rest, _ := bytes.Cut(body, newline)
			body = rest
			if line = bytes.TrimSuffix(line, carriageReturn); len(bytes.TrimSpace(line)) > 0 {
				ids = append(ids, line)
			}
		}
	}
	buf.ids = ids
	if len(ids) > s.cfg.MaxBatch {
		s.fail(ctx, fasthttp.StatusRequestEntityTooLarge, "batch_too_large",
			fmt.Sprintf("more than %d IDs in one batch", s.cfg.MaxBatch))
		return
	}
	buf.res = st.snap.LookupBatchBytes(ids, slices.Grow(buf.res[:0], len(ids))[:len(ids)])
	var tally [engine.Red + 1]int
	out := buf.out[:0]
	if isJSON {
		out = append(out, jsonBatchStart...)
	}
	for i, r := range buf.res {
		tally[r.Status]++
		if isJSON && i > 0 {
			out = append(out, ',')
		}
		out = answer.AppendJSON(out, st.view, ids[i], r)
		if !isJSON {
			out = append(out, '\n')
		}
	}
	s.metrics.lookupTally(tally)
	if isJSON {
		out = append(out, "]}\n"...)
		ctx.SetContentType("application/json")
	} else {
		ctx.SetContentType(contentNDJSON)
	}
	ctx.SetBody(out) // copies: buf goes back to the pool
	buf.out = out
}

// drainLimit is how much of an oversized body is read and dropped so that
// the client, still sending, gets the 413 instead of a reset connection
// (fasthttp #156, #1348; TestBatch sends 2 MiB). Beyond it the connection is
// closed.
const drainLimit = 64 << 20

// bodyStream is the request body as it arrives (the server streams
// bodies), or the whole body for a request built in memory.
func bodyStream(ctx *fasthttp.RequestCtx) io.Reader {
	if r := ctx.RequestBodyStream(); r != nil {
		return r
	}
	return bytes.NewReader(ctx.PostBody())
}

// readBody appends a request body of at most limit bytes to dst.
func (s *Server) readBody(ctx *fasthttp.RequestCtx, dst []byte, limit int) ([]byte, error) {
	body := bodyStream(ctx)
	tooLarge := func(msg string) ([]byte, error) {
		io.Copy(io.Discard, io.LimitReader(body, drainLimit))
		ctx.SetConnectionClose()
		return dst, errors.New(msg)
	}
	n := ctx.Request.Header.ContentLength()
	if n > limit {
		return tooLarge(fmt.Sprintf("body of %d bytes; at most %d", n, limit))
	}
	dst = slices.Grow(dst, max(n, 512)+1)
	for {
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, len(dst))
		}
		m, err := body.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+m]
		if len(dst) > limit {
			return tooLarge(fmt.Sprintf("body over %d bytes", limit))
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// uploadFile serves PUT /v1/uploads/{region}/{date}.
func (s *Server) uploadFile(ctx *fasthttp.RequestCtx, rest []byte) {
	region, date, ok := bytes.Cut(rest, []byte{'/'})
	if !ok {
		s.fail(ctx, fasthttp.StatusNotFound, "not_found", "use /v1/uploads/{region}/{YYYY-MM-DD}")
		return
	}
	// A replica takes no uploads from anyone; say where they go, before
	// auth, since a region's token is known to the publisher only.
	if s.cfg.ReplicaOf != "" {
		s.fail(ctx, fasthttp.StatusConflict, "read_only_replica", "this server is a replica of "+s.cfg.ReplicaOf+": upload to the publisher")
		return
	}
	if !s.authorize(ctx, auth.Upload(string(region))) {
		return
	}
	day, ok := engine.ParseDay(date)
	if !ok {
		s.fail(ctx, fasthttp.StatusBadRequest, "bad_date", "the list date is not a real YYYY-MM-DD date")
		return
	}
	if n := ctx.Request.Header.ContentLength(); int64(n) > s.cfg.MaxUploadSize {
		s.fail(ctx, fasthttp.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("upload of %d bytes; at most %d", n, s.cfg.MaxUploadSize))
		return
	}
	args := ctx.QueryArgs()
	opts := loader.IngestOptions{AllowShrink: args.GetBool("allowShrink"), MaxBytes: s.cfg.MaxUploadSize}
	if v := args.Peek("maxInvalid"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 0 {
			s.fail(ctx, fasthttp.StatusBadRequest, "bad_request", "maxInvalid must be a count")
			return
		}
		opts.MaxInvalid = n
	}
	up := loader.Upload{
		Name:   string(region) + "-" + day.String() + ".csv",
		Region: string(region), Date: day,
		Body: io.LimitReader(bodyStream(ctx), s.cfg.MaxUploadSize+1),
		Gzip: bytes.Equal(ctx.Request.Header.ContentEncoding(), contentGzip),
	}
	s.upload.Lock()
	reports, _, err := s.cfg.Store.Ingest([]loader.Upload{up}, opts)
	if err == nil {
		// Live before the 200 goes out (DESIGN section 5): the file just
		// written, read back verified with its bytes for replicas.
		err = s.reloadSnapshot()
	}
	s.upload.Unlock()
	var rej *loader.RejectError
	switch {
	case err == nil:
		s.metrics.uploads.WithLabelValues(string(region), "accepted").Inc()
		s.writeJSON(ctx, fasthttp.StatusOK, reports[0])
	case errors.As(err, &rej):
		s.metrics.uploads.WithLabelValues(string(region), "rejected").Inc()
		code := fasthttp.StatusUnprocessableEntity
		if errors.Is(err, loader.ErrTooLarge) {
			code = fasthttp.StatusRequestEntityTooLarge
		}
		s.writeJSON(ctx, code, struct {
			Error  string         `json:"error"`
			Detail string         `json:"detail"`
			Report *loader.Report `json:"report"`
		}{"rejected", rej.Report.Reason, rej.Report})
	default:
		s.log.Error("upload failed", "region", string(region), "err", err)
		s.fail(ctx, fasthttp.StatusInternalServerError, "internal", "the upload could not be stored; the current list stays live")
	}
}

func (s *Server) writeJSON(ctx *fasthttp.RequestCtx, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.fail(ctx, fasthttp.StatusInternalServerError, "internal", err.Error())
		return
	}
	ctx.SetStatusCode(code)
	ctx.SetContentType("application/json")
	ctx.SetBody(append(b, '\n'))
}

// snapshotInfo serves GET /v1/snapshot.
func (s *Server) snapshotInfo(ctx *fasthttp.RequestCtx) {
	st := s.live(ctx)
	if st == nil {
		return
	}
	info := st.snap.Info()
	type region struct {
		Region   string  `json:"region"`
		ListDate *string `json:"listDate"`
		Red      int     `json:"red"`
		Yellow   int     `json:"yellow"`
		Stale    bool    `json:"stale"`
	}
	out := struct {
		Version uint64       `json:"version"`
		Built   string       `json:"built"`
		AsOf    *string      `json:"asOf"`
		Records int          `json:"records"`
		Red     int          `json:"red"`
		Yellow  int          `json:"yellow"`
		Regions []region     `json:"regions"`
		Stale   []string     `json:"stale"`
		Key     string       `json:"keyFingerprint"`
		Replica *replicaInfo `json:"replica,omitempty"`
	}{Replica: s.replicaInfo(), Version: info.Version, Built: info.Built.UTC().Format(time.RFC3339), AsOf: dayPtr(st.view.AsOf),
		Records: info.Records, Red: info.Red, Yellow: info.Yellow, Stale: append([]string{}, st.view.StaleList...),
		Key: info.Key.String()}
	for _, r := range info.Regions {
		out.Regions = append(out.Regions, region{r.Name, dayPtr(r.ListDate), r.Red, r.Yellow, st.view.IsStale(r.Name)})
	}
	s.writeJSON(ctx, fasthttp.StatusOK, out)
}

func dayPtr(d engine.Day) *string {
	if d == engine.NoDay {
		return nil
	}
	s := d.String()
	return &s
}

// snapshotFile serves the signed snapshot to replicas, with ETag.
func (s *Server) snapshotFile(ctx *fasthttp.RequestCtx) {
	st := s.live(ctx)
	if st == nil {
		return
	}
	ctx.Response.Header.Set(fasthttp.HeaderETag, st.etag)
	if string(ctx.Request.Header.Peek(fasthttp.HeaderIfNoneMatch)) == st.etag {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	ctx.SetContentType("application/octet-stream")
	s.sendImmutable(ctx, st.file)
}

// sendImmutable answers with body, a slice nobody changes (a published
// file), without copying it, and with a write deadline fit for its size:
// the write timeout plus the time to send it at MinSendRate. A fixed write
// timeout would cut a slow link off mid-file, or let a client that reads
// nothing hold the connection as long as the largest file would take.
func (s *Server) sendImmutable(ctx *fasthttp.RequestCtx, body []byte) {
	ctx.Response.SetBodyRaw(body)
	ctx.SetWriteDeadline(time.Now().Add(s.sendTimeout(len(body))))
}

func (s *Server) sendTimeout(size int) time.Duration {
	return s.cfg.WriteTimeout + time.Duration(int64(size)*int64(time.Second)/int64(s.cfg.MinSendRate))
}

// handleError answers requests fasthttp could not read: oversized headers
// or bodies, timeouts, malformed requests.
func (s *Server) handleError(ctx *fasthttp.RequestCtx, err error) {
	var code int
	var errCode string
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		code, errCode = fasthttp.StatusRequestEntityTooLarge, "too_large"
	case errors.As(err, new(*fasthttp.ErrSmallBuffer)) || errors.Is(err, fasthttp.ErrSmallReadBuffer):
		code, errCode = fasthttp.StatusRequestHeaderFieldsTooLarge, "headers_too_large"
	case errors.As(err, new(interface{ Timeout() bool })):
		code, errCode = fasthttp.StatusRequestTimeout, "timeout"
	default:
		code, errCode = fasthttp.StatusBadRequest, "bad_request"
	}
	s.fail(ctx, code, errCode, errCode)
	s.metrics.request(routeOther, code, 0)
}
