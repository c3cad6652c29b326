package server

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/answer"
)

var (
	contentJSON   = []byte("application/json")
	contentNDJSON = "application/x-ndjson"
	onlyListed    = []byte("listed")
)

// batchBuf is a batch's scratch space, pooled: a 1,000-ID batch would
// otherwise allocate its ID slices, results and a 150 KB answer each time.
type batchBuf struct {
	in   []byte
	ids  [][]byte
	hits []engine.Hit // a screening's
	out  []byte
}

var batchPool = sync.Pool{New: func() any { return new(batchBuf) }}

// batch serves POST /v1/status (docs/http-api.md): IDs one a line answered
// as NDJSON, or {"ids":[...]} answered as {"results":[...]}, an answer per
// ID in order. With ?only=listed it screens (a train's manifest, a
// building's visitors): only the answers that are not green, each with "i",
// its 0-based position in the request; an invalid ID is not green, so it is
// answered too (status "invalid"); the JSON form adds "count", the IDs
// screened. It allocates nothing per ID.
func (s *Server) batch(ctx *fasthttp.RequestCtx, _ []byte) {
	screen := false
	if only := ctx.QueryArgs().Peek("only"); only != nil {
		if !bytes.Equal(only, onlyListed) {
			s.fail(ctx, fasthttp.StatusBadRequest, "bad_request", "only=listed is the one filter")
			return
		}
		screen = true
	}
	buf := batchPool.Get().(*batchBuf)
	sent := false // the answer is sent from buf.out: the connection returns buf
	defer func() {
		if !sent {
			batchPool.Put(buf)
		}
	}()
	body, ok := s.readBodyOrFail(ctx, buf.in[:0], s.cfg.MaxBatchBody)
	buf.in = body
	if !ok {
		return
	}
	st := s.live(ctx)
	if st == nil {
		return
	}
	isJSON := bytes.HasPrefix(ctx.Request.Header.ContentType(), contentJSON)
	var ids [][]byte
	if isJSON {
		var err error
		if ids, err = jsonIDs(body, buf.ids[:0]); err != nil {
			s.fail(ctx, fasthttp.StatusBadRequest, "bad_request", `want {"ids":["...", ...]}: `+err.Error())
			return
		}
	} else {
		ids = textIDs(body, buf.ids[:0], s.cfg.MaxBatch)
	}
	buf.ids = ids
	if len(ids) > s.cfg.MaxBatch {
		s.fail(ctx, fasthttp.StatusRequestEntityTooLarge, "batch_too_large",
			fmt.Sprintf("more than %d IDs in one batch", s.cfg.MaxBatch))
		return
	}
	// Every answer is followed by sep; the JSON form's last comma becomes
	// the array's end.
	sep := byte('\n')
	out := buf.out[:0]
	if isJSON {
		sep = ','
		out = append(out, `{"results":[`...)
	}
	// The batch is screened either way: a green ID costs no Result, and
	// the full answer fills the runs of green IDs between the hits with
	// copies of the view's green answer.
	buf.hits = st.snap.ScreenBytes(ids, slices.Grow(buf.hits[:0], len(ids)))
	var tally [engine.Red + 1]int
	tally[engine.Green] = len(ids) - len(buf.hits)
	next := 0 // the first ID not yet answered, in full
	for _, h := range buf.hits {
		tally[h.Status]++
		if !screen {
			out = answer.AppendGreens(out, st.view, ids[next:h.Index], sep)
			next = h.Index + 1
		}
		at := len(out)
		out = answer.AppendJSON(out, st.view, ids[h.Index], h.Result)
		if screen {
			out = insertPosition(out, at, h.Index)
		}
		out = append(out, sep)
	}
	if !screen {
		out = answer.AppendGreens(out, st.view, ids[next:], sep)
	}
	s.metrics.lookupTally(tally)
	if isJSON {
		if out[len(out)-1] == ',' {
			out = out[:len(out)-1]
		}
		out = append(out, ']')
		if screen {
			out = strconv.AppendInt(append(out, `,"count":`...), int64(len(ids)), 10)
		}
		out = append(out, "}\n"...)
		ctx.SetContentType("application/json")
	} else {
		ctx.SetContentType(contentNDJSON)
	}
	buf.out = out
	sent = sendPooled(ctx, buf)
}

// sendPooled makes buf.out the answer's body without copying it (150 KB for
// 1,000 IDs; the copy was 5% of a batch's CPU) and has the connection put
// buf back in the pool once the answer is written: fasthttp has written or
// copied a body by the time it calls the connection idle (connState). It
// reports false, having copied the body, where there is no such connection.
func sendPooled(ctx *fasthttp.RequestCtx, buf *batchBuf) bool {
	c, ok := ctx.Conn().(*limitConn)
	if !ok || c.written != nil {
		ctx.SetBody(buf.out)
		return false
	}
	ctx.Response.SetBodyRaw(buf.out)
	c.written = buf
	return true
}

// insertPosition turns the answer object at out[at:] into one whose first
// member is "i":pos.
func insertPosition(out []byte, at, pos int) []byte {
	var num [32]byte
	member := append(strconv.AppendInt(append(num[:0], `"i":`...), int64(pos), 10), ',')
	return slices.Insert(out, at+1, member...) // after the object's '{'
}
