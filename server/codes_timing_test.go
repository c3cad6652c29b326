package server

import (
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/answer"
	"github.com/yrd-hcx/hcx/internal/auth"
	"github.com/yrd-hcx/hcx/internal/fixture"
)

// Health codes through the handlers, without sockets, each beside what it
// cannot go under: issuing beside engine.IssueCode (an Ed25519 signature),
// verifying beside answer.VerifyCode (an Ed25519 verification and a
// lookup). The target is 20,000 codes issued a second on one core
// (BENCHMARKS.md); run with -cpu 1.

// reportCodes reports codes a second of wall time and of CPU time (the
// process's, from cpu0): with -cpu 1 on a machine shared with other work,
// the latter is the cost on one core (as engine/code_timing_test.go).
func reportCodes(b *testing.B, cpu0 int64) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "codes/s")
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(b.N)/(float64(cpu)/1e9), "codes/cpu-s")
	}
}

// BenchmarkIssueCodeHandler: POST /v1/codes, JSON answer, a different
// person each time.
func BenchmarkIssueCodeHandler(b *testing.B) {
	e := codesEnv(b, Config{Poll: time.Hour})
	ids := append(fixture.IDs(41, 990), e.sh[:10]...)
	ctxs := make([]*fasthttp.RequestCtx, len(ids))
	for i, id := range ids {
		ctxs[i] = benchCtx(b, "POST", "/v1/codes", e.tokens[auth.Issue("sh")], `{"region":"sh","id":"`+id+`"}`)
		ctxs[i].Request.Header.SetContentType("application/json")
	}
	bodies := make([][]byte, len(ids))
	for i, c := range ctxs {
		bodies[i] = append([]byte(nil), c.Request.Body()...)
	}
	b.ReportAllocs()
	cpu0 := processCPU()
	for i := 0; b.Loop(); i++ {
		ctx := ctxs[i%len(ctxs)]
		ctx.Request.SetBody(bodies[i%len(ctxs)])
		ctx.Response.Reset()
		e.srv.handle(ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("%d %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	reportCodes(b, cpu0)
}

// BenchmarkIssueCodeHandlerBaselineEngine: the engine alone signing the
// same codes.
func BenchmarkIssueCodeHandlerBaselineEngine(b *testing.B) {
	e := codesEnv(b, Config{Poll: time.Hour})
	key, _, err := e.store.IssuerKey(e.srv.Snapshot().TrustList(), "sh")
	if err != nil {
		b.Fatal(err)
	}
	c := engine.CodeClaims{ID: 31010519800101001, Colour: engine.Green, Issued: testCal.Now(), Expires: testCal.Now().Add(answer.DefaultTTL)}
	buf := make([]byte, 0, engine.CodeTextLen)
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		if buf, err = engine.IssueCode(buf[:0], key, c); err != nil {
			b.Fatal(err)
		}
		c.ID++
	}
	reportCodes(b, cpu0)
}

// verifyBatch is a 1,000-code request body: green codes of people nobody
// lists and codes of listed people, from both issuers.
func verifyBatch(b *testing.B, e *env) []string {
	ids := append(fixture.IDs(42, 990), e.sh[:10]...)
	codes := make([]string, len(ids))
	for i, id := range ids {
		region := []string{"sh", "js"}[i%2]
		ctx := benchCtx(b, "POST", "/v1/codes", e.tokens[auth.Admin], `{"region":"`+region+`","id":"`+id+`"}`)
		e.srv.handle(ctx)
		body := string(ctx.Response.Body())
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("%d %s", ctx.Response.StatusCode(), body)
		}
		codes[i] = body[len(`{"code":"`) : len(`{"code":"`)+engine.CodeTextLen]
	}
	return codes
}

// BenchmarkVerifyCodesHandler: ns/op is per code of a 1,000-code request.
func BenchmarkVerifyCodesHandler(b *testing.B) {
	e := codesEnv(b, Config{Poll: time.Hour})
	codes := verifyBatch(b, e)
	ctx := benchCtx(b, "POST", "/v1/codes/verify", e.tokens[auth.Lookup], strings.Join(codes, "\n"))
	body := append([]byte(nil), ctx.Request.Body()...)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for i := 0; b.Loop(); i++ {
		if i%len(codes) == 0 {
			ctx.Request.SetBody(body)
			ctx.Response.Reset()
			e.srv.handle(ctx)
			if ctx.Response.StatusCode() != 200 {
				b.Fatalf("%d %s", ctx.Response.StatusCode(), ctx.Response.Body())
			}
		}
	}
	reportCodes(b, cpu0)
}

// BenchmarkVerifyCodeHandler: one code a request.
func BenchmarkVerifyCodeHandler(b *testing.B) {
	e := codesEnv(b, Config{Poll: time.Hour})
	codes := verifyBatch(b, e)
	ctxs := make([]*fasthttp.RequestCtx, len(codes))
	for i, c := range codes {
		ctxs[i] = benchCtx(b, "POST", "/v1/codes/verify", e.tokens[auth.Lookup], c)
	}
	b.ReportAllocs()
	cpu0 := processCPU()
	for i := 0; b.Loop(); i++ {
		ctx := ctxs[i%len(ctxs)]
		ctx.Request.SetBody([]byte(codes[i%len(ctxs)]))
		ctx.Response.Reset()
		e.srv.handle(ctx)
	}
	reportCodes(b, cpu0)
}

// BenchmarkVerifyCodesHandlerBaselineAnswer: the verdicts and answers
// alone, as the handler computes them for the same codes.
func BenchmarkVerifyCodesHandlerBaselineAnswer(b *testing.B) {
	e := codesEnv(b, Config{Poll: time.Hour})
	codes := verifyBatch(b, e)
	st := e.srv.cur.Load()
	now := testCal.Now()
	out := make([]byte, 0, 1024)
	b.ReportAllocs()
	cpu0 := processCPU()
	for i := 0; b.Loop(); i++ {
		out = answer.AppendCode(out[:0], st.view, answer.VerifyCode(st.view, []byte(codes[i%len(codes)]), now))
	}
	reportCodes(b, cpu0)
}
