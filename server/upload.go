package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/loader"
)

var contentGzip = []byte("gzip")

// uploadPath splits the {region}/{date} of an upload's path.
func uploadPath(rest []byte) (region, date []byte, ok bool) {
	return bytes.Cut(rest, []byte{'/'})
}

// upload serves PUT /v1/uploads/{region}/{date}: a region's daily file,
// streamed into the loader; the new snapshot is live when the 200 goes out.
// The route admitted only a token that may upload to this region.
func (s *Server) upload(ctx *fasthttp.RequestCtx, rest []byte) {
	region, date, ok := uploadPath(rest)
	if !ok {
		s.fail(ctx, fasthttp.StatusNotFound, "not_found", "use /v1/uploads/{region}/{YYYY-MM-DD}")
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
	// Uploads run at once, each region's serialised by the loader; nothing
	// here waits on another region's body. While one is in flight the
	// watcher leaves the file on disk alone: the loader writes it before
	// handing over the snapshot, which is then installed from memory.
	s.uploading.Add(1)
	defer s.uploading.Add(-1)
	reports, snap, err := s.cfg.Store.Ingest([]loader.Upload{up}, opts)
	if err == nil {
		// Live before the 200 goes out (docs/http-api.md): the snapshot the
		// loader built, as it is (no read back from disk). Not newer than
		// the live one means a later ingest, built on this one, is live.
		if ierr := s.install(snap, nil, "upload"); ierr != nil && !errors.Is(ierr, ErrOlderSnapshot) {
			err = ierr
		}
	}
	label := "unknown" // an admin token may name any region: keep the metric's labels few
	if slices.Contains(s.cfg.Store.Regions, string(region)) {
		label = string(region)
	}
	var rej *loader.RejectError
	switch {
	case err == nil:
		s.metrics.uploads.WithLabelValues(label, "accepted").Inc()
		s.writeJSON(ctx, fasthttp.StatusOK, reports[0])
	case errors.As(err, &rej):
		s.metrics.uploads.WithLabelValues(label, "rejected").Inc()
		code, errCode := fasthttp.StatusUnprocessableEntity, "rejected"
		switch {
		case errors.Is(err, loader.ErrTooLarge):
			code = fasthttp.StatusRequestEntityTooLarge
		case errors.Is(err, loader.ErrFuture):
			// A date too far ahead is a bad date in the path, like one that
			// is not a date at all (docs/http-api.md); the body is not read.
			code, errCode = fasthttp.StatusBadRequest, "bad_date"
		}
		s.writeJSON(ctx, code, struct {
			Error  string         `json:"error"`
			Detail string         `json:"detail"`
			Report *loader.Report `json:"report"`
		}{errCode, rej.Report.Reason, rej.Report})
	default:
		s.log.Error("upload failed", "region", string(region), "err", err)
		s.fail(ctx, fasthttp.StatusInternalServerError, "internal", "the upload could not be stored; the current list stays live")
	}
}
