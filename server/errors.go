package server

import (
	"encoding/json"
	"errors"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
)

// Every error answer is {"error":code,"detail":text} (docs/http-api.md),
// its strings written by appendJSONString, which writes what encoding/json
// writes (FuzzAppendJSONString holds it to that). A detail never carries
// the server's own paths, URLs or system errors: those go to the log.

// fail writes a JSON error. It does not allocate (an invalid ID on the
// lookup path is answered with it).
func (s *Server) fail(ctx *fasthttp.RequestCtx, code int, errCode, detail string) {
	ctx.SetStatusCode(code)
	ctx.SetContentType("application/json")
	var buf [512]byte
	b := append(buf[:0], `{"error":`...)
	b = appendJSONString(b, errCode)
	b = append(b, `,"detail":`...)
	b = appendJSONString(b, detail)
	b = append(b, "}\n"...)
	ctx.SetBody(b)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, as encoding/json writes one:
// quote, backslash and control characters escaped, <, > and & as \u
// escapes (safe inside HTML), U+2028 and U+2029 escaped, and each byte of
// invalid UTF-8 as \ufffd. Whatever bytes a request carried, the answer
// is valid JSON.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\b':
				dst = append(dst, '\\', 'b')
			case c == '\f':
				dst = append(dst, '\\', 'f')
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return append(dst, '"')
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
		s.internal(ctx, "encoding the answer", err)
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
