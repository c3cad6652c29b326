package server

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/valyala/fasthttp"
)

// fail writes a JSON error: {"error":code,"detail":text}.
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

// internal answers 500 for a fault of the server's own (a file it could not
// read or encode). The answer names none of it: handle logs what failed,
// with the request's route (not its path, which may hold an ID).
func (s *Server) internal(ctx *fasthttp.RequestCtx, what string, err error) {
	ctx.SetUserValue(failKey{}, failure{what, err})
	s.fail(ctx, fasthttp.StatusInternalServerError, "internal", "the server could not answer; its log says why")
}

// failKey is where internal leaves the fault for handle to log.
type failKey struct{}

type failure struct {
	what string
	err  error
}

// writeJSON answers with v as JSON.
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
	s.metrics.request(noRoute, code, 0)
}
