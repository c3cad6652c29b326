package server

import (
	"fmt"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/yrd-hcx/hcx/engine"
)

// snapshotInfo serves GET /v1/snapshot.
func (s *Server) snapshotInfo(ctx *fasthttp.RequestCtx, _ []byte) {
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

// snapshotFile serves GET /v1/snapshot/file: the signed snapshot, for
// replicas, with ETag.
func (s *Server) snapshotFile(ctx *fasthttp.RequestCtx, _ []byte) {
	st := s.live(ctx)
	if st == nil {
		return
	}
	ctx.Response.Header.Set(fasthttp.HeaderETag, st.etag)
	if etagMatch(ctx.Request.Header.Peek(fasthttp.HeaderIfNoneMatch), st.etag) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	file, err := st.file.bytes(st.snap, s.cfg.Store)
	if err != nil {
		s.internal(ctx, "snapshot file", err)
		return
	}
	ctx.SetContentType("application/octet-stream")
	s.sendImmutable(ctx, file)
}

// ETag identifies a snapshot file for HTTP caching: its version and build
// time (the file is immutable, so they name its bytes).
func ETag(snap *engine.Snapshot) string {
	return fmt.Sprintf(`"%d-%x"`, snap.Info().Version, snap.Info().Built.UnixNano())
}
