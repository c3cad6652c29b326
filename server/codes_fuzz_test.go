package server

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/internal/auth"
)

// The code endpoints read bodies from anyone holding a token: whatever the
// body, they answer (no panic, no 500), in their contract's shape. Seeds
// in testdata/fuzz run as part of go test.

// FuzzVerifyCodes: one JSON answer a non-blank line, in order.
func FuzzVerifyCodes(f *testing.F) {
	e := codesEnv(f, Config{Poll: time.Hour})
	tok := e.tokens[auth.Lookup]
	f.Fuzz(func(t *testing.T, body []byte) {
		ctx := benchCtx(t, "POST", "/v1/codes/verify", tok, "")
		ctx.Request.SetBody(body)
		e.srv.handle(ctx)
		lines := 0
		for _, l := range bytes.Split(body, []byte{'\n'}) {
			if len(bytes.TrimSpace(l)) > 0 {
				lines++
			}
		}
		out := ctx.Response.Body()
		if code := ctx.Response.StatusCode(); code != 200 {
			t.Fatalf("%d %s", code, out)
		}
		if lines == 0 {
			if len(out) != 0 {
				t.Fatalf("answers to no code: %q", out)
			}
			return
		}
		answers := bytes.Split(bytes.TrimSuffix(out, []byte{'\n'}), []byte{'\n'})
		if len(answers) != lines {
			t.Fatalf("%d answers to %d lines", len(answers), lines)
		}
		for _, a := range answers {
			var v struct {
				Valid, Pass *bool
				Error       string
			}
			if err := json.Unmarshal(a, &v); err != nil || v.Valid == nil || v.Pass == nil || *v.Pass && !*v.Valid || !*v.Valid && v.Error == "" {
				t.Fatalf("answer %s", a)
			}
		}
	})
}

// FuzzIssueCode: a code, or a JSON error of the endpoint's contract.
func FuzzIssueCode(f *testing.F) {
	e := codesEnv(f, Config{Poll: time.Hour})
	tok := e.tokens[auth.Issue("sh")]
	f.Fuzz(func(t *testing.T, body []byte) {
		ctx := benchCtx(t, "POST", "/v1/codes", tok, "")
		ctx.Request.SetBody(body)
		e.srv.handle(ctx)
		var v struct{ Code, Error string }
		out := ctx.Response.Body()
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("not JSON: %q", out)
		}
		switch code := ctx.Response.StatusCode(); code {
		case 200:
			if len(v.Code) != 140 {
				t.Fatalf("200 without a code: %s", out)
			}
		case 400, 403, 409, 413:
			if v.Error == "" {
				t.Fatalf("%d without an error code: %s", code, out)
			}
		default:
			t.Fatalf("%d %s", code, out)
		}
	})
}
