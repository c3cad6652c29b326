package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/answer"
)

var (
	contentJSON    = []byte("application/json")
	contentNDJSON  = "application/x-ndjson"
	jsonBatchStart = []byte(`{"results":[`)
	newline        = []byte{'\n'}
	carriageReturn = []byte{'\r'}
)

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
func (s *Server) batch(ctx *fasthttp.RequestCtx, _ []byte) {
	buf := batchPool.Get().(*batchBuf)
	defer batchPool.Put(buf)
	body, ok := s.readBodyOrFail(ctx, buf.in[:0], s.cfg.MaxBatchBody)
	buf.in = body
	if !ok {
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
