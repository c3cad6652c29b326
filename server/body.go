package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/valyala/fasthttp"
)

// Request bodies are streamed (fasthttp's StreamRequestBody): an upload is
// parsed as it arrives, never held whole. Large response bodies are
// published files, sent as they are.

// drainLimit is how much of an oversized body from an admitted client is
// read and dropped so that the client, still sending, gets the 413 instead
// of a reset connection (fasthttp #156, #1348; TestBatch sends 2 MiB).
// Beyond it the connection is closed.
const drainLimit = 64 << 20

// bodyStream is the request body as it arrives (the server streams
// bodies), or the whole body for a request built in memory.
func bodyStream(ctx *fasthttp.RequestCtx) io.Reader {
	if r := ctx.RequestBodyStream(); r != nil {
		return r
	}
	return bytes.NewReader(ctx.PostBody())
}

// errBodyTooLarge is readBody's refusal of a body over its limit.
var errBodyTooLarge = errors.New("body too large")

// readBody appends a request body of at most limit bytes to dst. Over the
// limit the error wraps errBodyTooLarge and says so in words fit for the
// client; any other error is the connection's.
func readBody(ctx *fasthttp.RequestCtx, dst []byte, limit int) ([]byte, error) {
	if ctx.RequestBodyStream() == nil { // a request built in memory (tests, benchmarks)
		if b := ctx.PostBody(); len(b) <= limit {
			return append(dst, b...), nil
		}
	}
	body := bodyStream(ctx)
	tooLarge := func(msg string) ([]byte, error) {
		io.Copy(io.Discard, io.LimitReader(body, drainLimit))
		ctx.SetConnectionClose()
		return dst, fmt.Errorf("%w: %s", errBodyTooLarge, msg)
	}
	n := ctx.Request.Header.ContentLength()
	if n > limit {
		return tooLarge(fmt.Sprintf("%d bytes; at most %d", n, limit))
	}
	dst = slices.Grow(dst, max(n, 512)+1)
	for {
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, len(dst))
		}
		m, err := body.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+m]
		if len(dst) > limit {
			return tooLarge(fmt.Sprintf("over %d bytes", limit))
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// readBodyOrFail is readBody for a handler: a body over limit is answered
// 413 too_large, one that could not be read 400 (and the connection
// closed); ok reports whether the handler has the whole body.
func (s *Server) readBodyOrFail(ctx *fasthttp.RequestCtx, dst []byte, limit int) (body []byte, ok bool) {
	body, err := readBody(ctx, dst, limit)
	switch {
	case errors.Is(err, errBodyTooLarge):
		s.fail(ctx, fasthttp.StatusRequestEntityTooLarge, "too_large", err.Error())
		return body, false
	case err != nil:
		ctx.SetConnectionClose()
		s.fail(ctx, fasthttp.StatusBadRequest, "bad_request", "the request body could not be read")
		return body, false
	}
	return body, true
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
