//go:build !race

package server

import (
	"strings"
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/internal/auth"
	"github.com/yrd-hcx/hcx/internal/fixture"
)

// TestVerifyCodesAllocs: POST /v1/codes/verify allocates nothing per code
// (a request of 200 codes allocates what one of a single code does), for
// valid codes that pass and that do not, and for text that is no code.
func TestVerifyCodesAllocs(t *testing.T) {
	// AllocsPerRun counts the whole process: no watcher polls meanwhile
	// (200 signatures take milliseconds).
	e := codesEnv(t, Config{Poll: time.Hour})
	mix := []string{e.code(t, "sh", fixture.IDs(31, 1)[0]), e.code(t, "js", e.sh[0]), "HCX1:not a code"}
	allocs := func(n int) float64 {
		codes := make([]string, n)
		for i := range codes {
			codes[i] = mix[i%len(mix)]
		}
		ctx := benchCtx(t, "POST", "/v1/codes/verify", e.tokens[auth.Lookup], strings.Join(codes, "\n"))
		body := append([]byte(nil), ctx.Request.Body()...)
		run := func() {
			ctx.Request.SetBody(body)
			ctx.Response.Reset()
			e.srv.handle(ctx)
		}
		run() // warm the pooled buffers
		if ctx.Response.StatusCode() != 200 || strings.Count(string(ctx.Response.Body()), "\n") != n {
			t.Fatalf("%d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
		return testing.AllocsPerRun(50, run)
	}
	if one, many := allocs(1), allocs(200); many != one {
		t.Errorf("%v allocs for one code, %v for 200: not zero per code", one, many)
	}
}
