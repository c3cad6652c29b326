package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Settings describe a run, for the reports.
type Settings struct {
	URL         string        `json:"url"`
	Connections int           `json:"connections"`
	Pipeline    int           `json:"pipeline"`
	Batch       int           `json:"batch"`
	Rate        float64       `json:"rate"`
	Warmup      time.Duration `json:"-"`
	Duration    time.Duration `json:"-"`
}

func (cfg Config) describe() Settings {
	return Settings{URL: cfg.URL, Connections: cfg.Connections, Pipeline: cfg.Pipeline,
		Batch: cfg.Batch, Rate: cfg.Rate, Warmup: cfg.Warmup, Duration: cfg.Duration}
}

// Mode names the request shape: "single GET" or "batch 1000", with the
// pipeline depth when above one.
func (s Settings) Mode() string {
	m := "single GET"
	if s.Batch > 0 {
		m = fmt.Sprintf("batch %d", s.Batch)
	}
	if s.Pipeline > 1 {
		m += fmt.Sprintf(", pipelined %d", s.Pipeline)
	}
	return m
}

// Model is "closed" or "open (R req/s)".
func (s Settings) Model() string {
	if s.Rate > 0 {
		return fmt.Sprintf("open (%g req/s)", s.Rate)
	}
	return "closed"
}

// Result is what a run measured. Counts cover the measured window only.
// A Result is not safe for concurrent modification.
type Result struct {
	Config   Settings
	Start    time.Time     // of the measured window
	Duration time.Duration // of the measured window
	HitRatio float64       // share of queries for listed IDs

	Requests     uint64 // answered 200 with a well-formed body
	Lookups      uint64 // IDs answered in those
	Errors       uint64 // failed requests: connection, timeout, non-200, malformed
	ErrorsByKind map[string]uint64
	WrongAnswers uint64 // IDs answered with another colour than the day's
	WrongExample []string

	// Latency in microseconds: from the send (closed model) or the
	// intended send (open model) to the last byte of the answer. In the
	// open model it also holds the Late requests, at their lower bound.
	Latency *hdrhistogram.Histogram
	Series  []Sample

	// The open model only. Scheduled is the number of send slots due in
	// the window (Rate times Duration); each ends up answered (Requests),
	// failed (Errors) or Late: not answered by the end of the run (the
	// window plus a second's grace), whether sent or not. A Late request's
	// latency is recorded as the time from its slot to the end of the run,
	// a lower bound. SendLag is how long after its slot each send went out:
	// waiting for a free connection, or the client's own delay.
	Scheduled uint64
	Late      uint64
	SendLag   *hdrhistogram.Histogram
}

func (res *Result) collect(ws []*worker) {
	res.Latency = hdrhistogram.New(1, histMax, 3)
	res.SendLag = hdrhistogram.New(1, histMax, 3)
	res.ErrorsByKind = map[string]uint64{}
	for _, w := range ws {
		res.SendLag.Merge(w.lag)
		res.Late += w.late
		res.Requests += w.requests.Load()
		res.Lookups += w.lookups.Load()
		res.Errors += w.errors.Load()
		res.WrongAnswers += w.wrong.Load()
		res.Latency.Merge(w.hist)
		for k, n := range w.errKinds {
			res.ErrorsByKind[k] += n
		}
		for _, e := range w.wrongEx {
			if len(res.WrongExample) < 5 {
				res.WrongExample = append(res.WrongExample, e)
			}
		}
	}
}

func hitRatio(qs []Query) float64 {
	n := 0
	for _, q := range qs {
		if q.Want == Yellow || q.Want == Red {
			n++
		}
	}
	return float64(n) / float64(len(qs))
}

// Failed reports whether any request failed or any answer was wrong.
func (res *Result) Failed() bool { return res.Errors > 0 || res.WrongAnswers > 0 }

// RequestsPerSec is the throughput of answered requests.
func (res *Result) RequestsPerSec() float64 {
	return float64(res.Requests) / res.Duration.Seconds()
}

// LookupsPerSec is the throughput of answered IDs.
func (res *Result) LookupsPerSec() float64 { return float64(res.Lookups) / res.Duration.Seconds() }

// Quantile is the latency at q (0..100) in milliseconds.
func (res *Result) Quantile(q float64) float64 {
	return float64(res.Latency.ValueAtQuantile(q)) / 1000
}

// LatencyMS is the JSON latency summary, in milliseconds.
type LatencyMS struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// LagMS summarises the open model's send lag, in milliseconds.
type LagMS struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Point is one point of the latency-by-percentile curve.
type Point struct {
	Percentile float64 `json:"percentile"`
	MS         float64 `json:"ms"`
}

// Report is the JSON form of a Result (hcx bench --json).
type Report struct {
	URL            string            `json:"url"`
	Mode           string            `json:"mode"`
	Model          string            `json:"model"`
	Connections    int               `json:"connections"`
	Pipeline       int               `json:"pipeline"`
	Batch          int               `json:"batch"`
	Rate           float64           `json:"rate"`
	DurationSec    float64           `json:"duration_sec"`
	WarmupSec      float64           `json:"warmup_sec"`
	HitRatio       float64           `json:"hit_ratio"`
	Start          string            `json:"start"`
	Requests       uint64            `json:"requests"`
	Lookups        uint64            `json:"lookups"`
	RequestsPerSec float64           `json:"requests_per_sec"`
	LookupsPerSec  float64           `json:"lookups_per_sec"`
	Errors         uint64            `json:"errors"`
	ErrorsByKind   map[string]uint64 `json:"errors_by_kind"`
	WrongAnswers   uint64            `json:"wrong_answers"`
	WrongExamples  []string          `json:"wrong_examples,omitempty"`
	LatencyMS      LatencyMS         `json:"latency_ms"`
	Scheduled      uint64            `json:"scheduled,omitempty"` // open model: slots due in the window
	Late           uint64            `json:"late"`                // open model: due in the window, not answered by the end
	SendLagMS      *LagMS            `json:"send_lag_ms,omitempty"`
	Percentiles    []Point           `json:"percentiles"`
	Series         []Sample          `json:"series"`
}

// Report summarises res for JSON.
func (res *Result) Report() Report {
	r := Report{
		URL: res.Config.URL, Mode: res.Config.Mode(), Model: res.Config.Model(),
		Connections: res.Config.Connections, Pipeline: res.Config.Pipeline, Batch: res.Config.Batch, Rate: res.Config.Rate,
		DurationSec: res.Duration.Seconds(), WarmupSec: res.Config.Warmup.Seconds(), HitRatio: round(res.HitRatio, 4),
		Start:    res.Start.UTC().Format(time.RFC3339),
		Requests: res.Requests, Lookups: res.Lookups,
		RequestsPerSec: round(res.RequestsPerSec(), 1), LookupsPerSec: round(res.LookupsPerSec(), 1),
		Errors: res.Errors, ErrorsByKind: res.ErrorsByKind, WrongAnswers: res.WrongAnswers, WrongExamples: res.WrongExample,
		LatencyMS: LatencyMS{
			P50: res.Quantile(50), P90: res.Quantile(90), P99: res.Quantile(99), P999: res.Quantile(99.9),
			Max: float64(res.Latency.Max()) / 1000, Mean: round(res.Latency.Mean()/1000, 3),
		},
		Percentiles: res.Percentiles(),
		Series:      res.Series,
		Scheduled:   res.Scheduled,
		Late:        res.Late,
	}
	if res.Config.Rate > 0 && res.SendLag != nil {
		h := res.SendLag
		r.SendLagMS = &LagMS{P50: float64(h.ValueAtQuantile(50)) / 1000, P99: float64(h.ValueAtQuantile(99)) / 1000, Max: float64(h.Max()) / 1000}
	}
	if r.Series == nil {
		r.Series = []Sample{}
	}
	return r
}

// WriteJSON writes the Report, indented.
func (res *Result) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(res.Report(), "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Percentiles is the latency curve at percentiles 0, 90, 99, 99.9, ... (ten
// points a decade, as HdrHistogram plots it), up to the maximum.
func (res *Result) Percentiles() []Point {
	var pts []Point
	n := res.Latency.TotalCount()
	if n == 0 {
		return []Point{}
	}
	for k := 0; ; k++ {
		p := 100 * (1 - math.Pow(10, -float64(k)/10))
		if 1-p/100 < 1/float64(n) {
			break
		}
		pts = append(pts, Point{round(p, 5), res.Quantile(p)})
	}
	return append(pts, Point{100, float64(res.Latency.Max()) / 1000})
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

// WriteText writes the human summary.
func (res *Result) WriteText(w io.Writer) {
	c := res.Config
	fmt.Fprintf(w, "%s: %d connections, %s, %s model, %s", c.URL, c.Connections, c.Mode(), c.Model(), res.Duration)
	if c.Warmup > 0 {
		fmt.Fprintf(w, " after %s warmup", c.Warmup)
	}
	fmt.Fprintf(w, ", %.1f%% listed IDs\n", 100*res.HitRatio)
	fmt.Fprintf(w, "  requests  %12d  %12.1f/s\n", res.Requests, res.RequestsPerSec())
	fmt.Fprintf(w, "  lookups   %12d  %12.1f/s\n", res.Lookups, res.LookupsPerSec())
	fmt.Fprintf(w, "  errors    %12d", res.Errors)
	if res.Errors > 0 {
		kinds := make([]string, 0, len(res.ErrorsByKind))
		for k := range res.ErrorsByKind {
			kinds = append(kinds, k)
		}
		slices.Sort(kinds)
		var parts []string
		for _, k := range kinds {
			parts = append(parts, fmt.Sprintf("%s %d", k, res.ErrorsByKind[k]))
		}
		fmt.Fprintf(w, "  (%s)", strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, "\n  wrong     %12d\n", res.WrongAnswers)
	for _, e := range res.WrongExample {
		fmt.Fprintf(w, "    %s\n", e)
	}
	rep := res.Report()
	if lag := rep.SendLagMS; lag != nil {
		fmt.Fprintf(w, "  schedule  %12d due  %12d late  (%.1f%% of the rate held)  send lag p50 %.3f ms  p99 %.3f ms  max %.3f ms\n",
			res.Scheduled, res.Late, 100*res.RequestsPerSec()/c.Rate, lag.P50, lag.P99, lag.Max)
	}
	l := rep.LatencyMS
	fmt.Fprintf(w, "  latency   p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms\n", l.P50, l.P90, l.P99, l.P999, l.Max)
}
