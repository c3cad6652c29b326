package bench_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/yrd-hcx/hcx/bench"
	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/gen"
)

// fake is a tiny fasthttp server answering like hcx from a map, with
// injected delays and, when wrong is set, every colour flipped.
type fake struct {
	colours map[string]string
	wrong   bool
	delay   func(n int64) time.Duration // for the n-th request (from 1)
	n       atomic.Int64
	ln      *fasthttputil.InmemoryListener
	tcp     net.Listener
}

func (f *fake) answer(dst []byte, id []byte) []byte {
	c, ok := f.colours[string(id)]
	if !ok {
		c = "green"
	}
	if f.wrong {
		c = map[string]string{"green": "red", "red": "yellow", "yellow": "green"}[c]
	}
	return fmt.Appendf(dst, `{"id":"%s**********%s","status":"%s","sources":[]}`+"\n", id[:4], id[14:], c)
}

func (f *fake) handle(ctx *fasthttp.RequestCtx) {
	if f.delay != nil {
		if d := f.delay(f.n.Add(1)); d > 0 {
			time.Sleep(d)
		}
	}
	path := ctx.Path()
	if id, ok := bytes.CutPrefix(path, []byte("/v1/status/")); ok {
		ctx.SetBody(f.answer(nil, id))
		return
	}
	var out []byte
	for line := range bytes.SplitSeq(ctx.PostBody(), []byte{'\n'}) {
		if len(line) > 0 {
			out = f.answer(out, line)
		}
	}
	ctx.SetBody(out)
}

// start serves f in memory (Config.Dial) and, if tcp, on a loopback port.
func (f *fake) start(t *testing.T, tcp bool) string {
	t.Helper()
	s := &fasthttp.Server{Handler: f.handle}
	f.ln = fasthttputil.NewInmemoryListener()
	go s.Serve(f.ln)
	url := "http://fake"
	if tcp {
		var err error
		if f.tcp, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		go s.Serve(f.tcp)
		url = "http://" + f.tcp.Addr().String()
	}
	t.Cleanup(func() { s.Shutdown() })
	return url
}

func (f *fake) dial(string) (net.Conn, error) { return f.ln.Dial() }

// testDay generates a small real day and returns its directory and truth.
func testDay(t *testing.T, records int) (string, *bench.Day) {
	t.Helper()
	dir := t.TempDir()
	if _, err := gen.Write(dir, gen.Options{Date: engine.DateOf(2026, 11, 26), Records: records, Seed: 5}, nil); err != nil {
		t.Fatal(err)
	}
	day, err := bench.LoadDay(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, day
}

func fakeFor(day *bench.Day) *fake {
	f := &fake{colours: map[string]string{}}
	for id, c := range day.Colours {
		f.colours[id.String()] = c.String()
	}
	return f
}

func TestParseID(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"11010519491231002X", true},
		{" 11010519491231002x\t", true},
		{"110105194912310021", false}, // wrong check character
		{"11010519491231002", false},
		{"1101051949123100２X", false},
	} {
		if _, ok := bench.ParseID(tc.in); ok != tc.ok {
			t.Errorf("ParseID(%q) = %v, want %v", tc.in, ok, tc.ok)
		}
	}
}

func TestDayAndMix(t *testing.T) {
	_, day := testDay(t, 5000)
	if len(day.Files) != 4 || day.Rows != 5000 || len(day.Colours) < 4500 || len(day.Colours) > 5000 {
		t.Fatalf("day: %d files, %d rows, %d IDs", len(day.Files), day.Rows, len(day.Colours))
	}
	for _, id := range bench.Unlisted(day, 2000, 3) {
		if _, listed := day.Colours[id]; listed {
			t.Fatalf("unlisted %s is listed", id)
		}
		if _, ok := bench.ParseID(id.String()); !ok {
			t.Fatalf("unlisted %s is not a valid ID", id)
		}
	}
	qs := bench.Mix(day, 10000, 0.1, 1)
	hits := 0
	for _, q := range qs {
		want := day.Colours[q.ID]
		if want == bench.Unknown {
			want = bench.Green
		}
		if q.Want != want {
			t.Fatalf("%s: query expects %s, the day says %s", q.ID, q.Want, want)
		}
		if q.Want != bench.Green {
			hits++
		}
	}
	if len(qs) != 10000 || hits != 1000 {
		t.Fatalf("%d queries, %d listed; want 10000, 1000", len(qs), hits)
	}
	if qs2 := bench.Mix(day, 10000, 0.1, 1); qs2[17] != qs[17] || qs2[9999] != qs[9999] {
		t.Fatal("Mix is not deterministic for a seed")
	}
}

func TestCountsAndPercentiles(t *testing.T) {
	_, day := testDay(t, 2000)
	f := fakeFor(day)
	// One request in five takes 20 ms, the rest none: with one connection
	// p50 is well under 20 ms and p90, p99 and max at least 20 ms.
	f.delay = func(n int64) time.Duration {
		if n%5 == 0 {
			return 20 * time.Millisecond
		}
		return 0
	}
	url := f.start(t, false)
	res, err := bench.Run(context.Background(), bench.Config{URL: url, Dial: f.dial, Connections: 1,
		Duration: time.Second, Queries: bench.Mix(day, 1000, 0.2, 1)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed() {
		t.Fatalf("errors %v, wrong %d %v", res.ErrorsByKind, res.WrongAnswers, res.WrongExample)
	}
	// At most 5 requests per 20 ms, and a loaded CI machine still
	// manages a tenth of that.
	if res.Requests > 5*50+5 || res.Requests < 25 {
		t.Errorf("%d requests in 1 s; want 25..255", res.Requests)
	}
	if res.Lookups != res.Requests || uint64(res.Latency.TotalCount()) != res.Requests {
		t.Errorf("lookups %d, latencies %d, requests %d: want all equal", res.Lookups, res.Latency.TotalCount(), res.Requests)
	}
	rep := res.Report()
	l := rep.LatencyMS
	if l.P50 >= 15 || l.P90 < 20 || l.P99 < 20 || l.Max < 20 || l.Max > 500 || l.P50 > l.P90 || l.P90 > l.P99 || l.P99 > l.P999 || l.P999 > l.Max {
		t.Errorf("latency %+v; want p50 < 15 ms <= 20 ms <= p90 <= p99 <= p99.9 <= max", l)
	}
	if rep.RequestsPerSec <= 0 || len(rep.Series) < 5 || rep.Percentiles[0].Percentile != 0 || rep.Percentiles[len(rep.Percentiles)-1].Percentile != 100 {
		t.Errorf("report: rps %.1f, %d samples, percentiles %v", rep.RequestsPerSec, len(rep.Series), rep.Percentiles)
	}
}

func TestOpenModelNoCoordinatedOmission(t *testing.T) {
	_, day := testDay(t, 2000)
	qs := bench.Mix(day, 1000, 0.01, 1)
	// The server stalls 300 ms once. The closed model sees one slow
	// request; the open model (100 req/s) sees the ~30 requests scheduled
	// during the stall wait, as real clients would.
	stall := func(n int64) time.Duration {
		if n == 10 {
			return 300 * time.Millisecond
		}
		return 0
	}
	slowShare := func(rate float64) (float64, *bench.Result) {
		f := fakeFor(day)
		f.delay = stall
		url := f.start(t, false)
		res, err := bench.Run(context.Background(), bench.Config{URL: url, Dial: f.dial, Connections: 1,
			Duration: 1500 * time.Millisecond, Rate: rate, Queries: qs})
		if err != nil {
			t.Fatal(err)
		}
		if res.Failed() {
			t.Fatalf("rate %g: errors %v wrong %d", rate, res.ErrorsByKind, res.WrongAnswers)
		}
		var slow int64
		for _, bar := range res.Latency.Distribution() {
			if bar.From >= 50_000 { // µs: over 50 ms
				slow += bar.Count
			}
		}
		return float64(slow) / float64(res.Latency.TotalCount()), res
	}
	open, res := slowShare(100)
	if open < 0.1 {
		t.Errorf("open model: %.1f%% of latencies over 50 ms; want >= 10%% (the stall)", 100*open)
	}
	if res.Requests < 100 || res.Requests > 160 {
		t.Errorf("open model at 100/s for 1.5 s: %d requests", res.Requests)
	}
	if closed, _ := slowShare(0); closed > 0.01 {
		t.Errorf("closed model: %.1f%% over 50 ms; want one request", 100*closed)
	}
}

// TestOpenModelCountsUnanswered: the server stops answering for good after
// 50 requests. Every slot due in the window is accounted for (answered or
// late), and the late ones, sent or not, weigh in the percentiles at their
// lower bound instead of vanishing from them.
func TestOpenModelCountsUnanswered(t *testing.T) {
	_, day := testDay(t, 2000)
	f := fakeFor(day)
	f.delay = func(n int64) time.Duration {
		if n > 50 {
			return 3 * time.Second
		}
		return 0
	}
	url := f.start(t, false)
	res, err := bench.Run(context.Background(), bench.Config{URL: url, Dial: f.dial, Connections: 4,
		Duration: time.Second, Rate: 200, Queries: bench.Mix(day, 1000, 0.01, 1)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Scheduled < 199 || res.Scheduled > 201 {
		t.Errorf("%d slots due in 1 s at 200/s", res.Scheduled)
	}
	if res.Requests+res.Errors+res.Late != res.Scheduled || res.Requests > 50 || res.Errors != 0 {
		t.Errorf("answered %d + failed %d + late %d; want %d slots, at most 50 answered, none failed", res.Requests, res.Errors, res.Late, res.Scheduled)
	}
	if n := uint64(res.Latency.TotalCount()); n != res.Requests+res.Late {
		t.Errorf("%d latencies for %d answered and %d late", n, res.Requests, res.Late)
	}
	// Three quarters of the slots were due 0.25 s or more before the run
	// ended (the window's last 0.75 s and the grace second): p50 is over
	// 250 ms although every answer that came took microseconds.
	if p50 := res.Quantile(50); p50 < 250 {
		t.Errorf("p50 %.1f ms; want >= 250 (the late requests)", p50)
	}
	if !strings.Contains(text(res), " late ") {
		t.Errorf("the summary does not say how many were late:\n%s", text(res))
	}
}

func text(res *bench.Result) string {
	var b strings.Builder
	res.WriteText(&b)
	return b.String()
}

func TestWrongAnswersAndModes(t *testing.T) {
	_, day := testDay(t, 2000)
	qs := bench.Mix(day, 2000, 0.5, 1)
	for _, tc := range []struct {
		name            string
		pipeline, batch int
	}{{"single", 1, 0}, {"pipelined", 8, 0}, {"batch", 1, 100}} {
		t.Run(tc.name, func(t *testing.T) {
			for _, wrong := range []bool{false, true} {
				f := fakeFor(day)
				f.wrong = wrong
				url := f.start(t, false)
				res, err := bench.Run(context.Background(), bench.Config{URL: url, Dial: f.dial, Connections: 4,
					Pipeline: tc.pipeline, Batch: tc.batch, Duration: 300 * time.Millisecond, Queries: qs})
				if err != nil {
					t.Fatal(err)
				}
				per := uint64(max(tc.batch, 1))
				if res.Requests == 0 || res.Lookups != per*res.Requests || res.Errors != 0 {
					t.Fatalf("wrong=%v: %d requests, %d lookups, %d errors", wrong, res.Requests, res.Lookups, res.Errors)
				}
				if wrong != (res.WrongAnswers > 0) || wrong != res.Failed() {
					t.Fatalf("wrong=%v: %d wrong answers, failed %v", wrong, res.WrongAnswers, res.Failed())
				}
				if wrong && (res.WrongAnswers != res.Lookups || len(res.WrongExample) == 0 || !strings.Contains(res.WrongExample[0], "**********")) {
					t.Fatalf("%d wrong of %d lookups; examples %q", res.WrongAnswers, res.Lookups, res.WrongExample)
				}
			}
		})
	}
}

func TestErrorsByKind(t *testing.T) {
	_, day := testDay(t, 500)
	qs := bench.Mix(day, 100, 0, 1)
	// Nothing listens: connection errors, counted and failing the run.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	res, err := bench.Run(context.Background(), bench.Config{URL: "http://" + addr, Connections: 2, Duration: 300 * time.Millisecond, Queries: qs})
	if err != nil {
		t.Fatal(err)
	}
	if res.ErrorsByKind["connect"] == 0 || res.Errors == 0 || !res.Failed() || res.Requests != 0 {
		t.Fatalf("no server: errors %v, requests %d", res.ErrorsByKind, res.Requests)
	}
	// A server answering 500.
	s := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.Error("no", 500) }}
	l := fasthttputil.NewInmemoryListener()
	go s.Serve(l)
	defer s.Shutdown()
	res, err = bench.Run(context.Background(), bench.Config{URL: "http://x", Dial: func(string) (net.Conn, error) { return l.Dial() },
		Connections: 2, Duration: 200 * time.Millisecond, Queries: qs})
	if err != nil {
		t.Fatal(err)
	}
	if res.ErrorsByKind["http_500"] == 0 || res.ErrorsByKind["http_500"] != res.Errors {
		t.Fatalf("500s: errors %v", res.ErrorsByKind)
	}
}

func TestHTMLReport(t *testing.T) {
	_, day := testDay(t, 1000)
	f := fakeFor(day)
	url := f.start(t, false)
	res, err := bench.Run(context.Background(), bench.Config{URL: url, Dial: f.dial, Connections: 2,
		Duration: 500 * time.Millisecond, Queries: bench.Mix(day, 500, 0.1, 1)})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := res.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	checkHTML(t, b.String())
}

// checkHTML asserts a self-contained report with both charts.
func checkHTML(t *testing.T, s string) {
	t.Helper()
	for _, want := range []string{"<!doctype html>", "Latency by percentile", "Throughput over time", "<polyline", "p99.9"} {
		if !strings.Contains(s, want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
	if n := strings.Count(s, "<svg"); n != 2 {
		t.Errorf("HTML report has %d charts, want 2", n)
	}
	for _, bad := range []string{"<script src", "<link", "https://", "@import"} {
		if strings.Contains(s, bad) {
			t.Errorf("HTML report is not self-contained: has %q", bad)
		}
	}
	if t.Failed() {
		t.Logf("report:\n%s", s)
	}
}

func TestReadQueries(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ids.txt")
	if err := bench.WriteIDs(p, []bench.Query{{ID: mustID(t, "11010519491231002X")}}); err != nil {
		t.Fatal(err)
	}
	qs, err := bench.ReadQueries(p)
	if err != nil || len(qs) != 1 || qs[0].Want != bench.Unknown {
		t.Fatalf("ReadQueries = %v, %v", qs, err)
	}
}

func mustID(t *testing.T, s string) bench.ID {
	t.Helper()
	id, ok := bench.ParseID(s)
	if !ok {
		t.Fatalf("bad ID %s", s)
	}
	return id
}
