package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/valyala/fasthttp"
)

// Config is one load run. Zero values take the defaults named beside them.
type Config struct {
	URL   string // base URL of the server, http://host:port[/prefix]
	Token string // bearer token; empty sends no Authorization header

	Duration    time.Duration // measured time; 0: 10s
	Warmup      time.Duration // load before measuring, not counted; 0: none
	Connections int           // 0: 64
	Pipeline    int           // requests written back to back on a connection before reading; 0: 1
	Batch       int           // IDs per POST /v1/status; 0: single GET /v1/status/{id}
	// Rate, if above zero, is the open model: requests are scheduled at
	// this many a second whatever the server does, and each latency runs
	// from the request's intended send time, so a stalled server shows up in
	// the percentiles (no coordinated omission). Zero is the closed model:
	// each connection sends as soon as its previous answers are in.
	Rate    float64
	Timeout time.Duration // per read or write on a connection; 0: 10s

	// Queries are asked in turn (each connection starts at its own offset).
	// At most 100,000 distinct single requests, or 256 distinct batches,
	// are prepared; beyond that the list is cut.
	Queries []Query

	// Dial opens a connection to addr (host:port); nil dials TCP.
	Dial func(addr string) (net.Conn, error)
	// Progress, if not nil, is called from one goroutine every
	// SampleInterval, warmup included.
	Progress func(Progress)
	// SampleInterval is the resolution of the throughput series; 0: a
	// sixtieth of Duration, within 100ms..1s.
	SampleInterval time.Duration
}

// Progress is the state of a run while it goes.
type Progress struct {
	Elapsed  time.Duration // since the start of the measured window (negative in warmup)
	Total    time.Duration // the measured window
	Requests uint64        // completed in the measured window so far
	Lookups  uint64
	Errors   uint64
	Wrong    uint64
	RPS      float64 // over the last interval
	LPS      float64
}

// Sample is one point of the throughput series.
type Sample struct {
	T      float64 `json:"t"` // seconds since the start of the measured window, at the end of the interval
	RPS    float64 `json:"requests_per_sec"`
	LPS    float64 `json:"lookups_per_sec"`
	Errors uint64  `json:"errors"`
}

const (
	maxSingle  = 100_000
	maxBatches = 256
	// Latencies are recorded in microseconds from 1 µs to a minute.
	histMax = 60_000_000
)

// request is one prepared HTTP request and the answers it expects.
type request struct {
	raw  []byte
	want []Colour
}

// worker is one connection's loop. Its counters are read by the sampler
// while it runs; everything else belongs to its goroutine until Run joins.
type worker struct {
	requests, lookups, errors, wrong atomic.Uint64

	hist     *hdrhistogram.Histogram
	lag      *hdrhistogram.Histogram // open model: send time minus due time
	late     uint64                  // open model: sent in time, cut unanswered at the end
	errKinds map[string]uint64
	wrongEx  []string

	mu   sync.Mutex // guards conn against the closing at the end of a run
	conn net.Conn
	_    [64]byte // keep the next worker's counters off this cache line
}

// Run drives the server as cfg says and returns what it measured. It
// returns an error only when the run could not start (a bad URL, no
// queries) or ctx ended it; failed requests and wrong answers are in the
// Result (Result.Failed).
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("bench: --url must be http://host:port[/prefix], not %q", cfg.URL)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	reqs := prepare(cfg, u)
	dial := cfg.Dial
	if dial == nil {
		d := &net.Dialer{Timeout: cfg.Timeout}
		dial = func(addr string) (net.Conn, error) { return d.Dial("tcp", addr) }
	}

	begin := time.Now()
	r := &run{cfg: cfg, reqs: reqs, addr: addr, dial: dial,
		begin: begin, start: begin.Add(cfg.Warmup), quit: make(chan struct{})}
	r.end = r.start.Add(cfg.Duration)
	if cfg.Rate > 0 {
		r.pace = newPacer(begin, r.end, cfg.Rate, r.quit)
		go r.pace.run()
	}
	r.workers = make([]*worker, cfg.Connections)
	var wg sync.WaitGroup
	for i := range r.workers {
		w := &worker{hist: hdrhistogram.New(1, histMax, 3), lag: hdrhistogram.New(1, histMax, 3), errKinds: map[string]uint64{}}
		r.workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.loop(w, i*len(reqs)/len(r.workers))
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	res := &Result{Config: cfg.describe(), Start: r.start, Duration: cfg.Duration}
	res.HitRatio = hitRatio(cfg.Queries)
	r.sample(ctx, res, done)

	// Let requests in flight finish (answers that come now still count in
	// the open model: their slots were due in the window), then cut
	// connections that still hang.
	select {
	case <-done:
	case <-time.After(time.Second):
		r.halt()
		for _, w := range r.workers {
			w.mu.Lock()
			if w.conn != nil {
				w.conn.Close()
			}
			w.mu.Unlock()
		}
		<-done
	}
	r.halt()
	res.collect(r.workers)
	if r.pace != nil {
		r.unsent(res)
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return res, nil
}

func (cfg *Config) defaults() error {
	if cfg.Duration <= 0 {
		cfg.Duration = 10 * time.Second
	}
	if cfg.Connections <= 0 {
		cfg.Connections = 64
	}
	if cfg.Pipeline <= 0 {
		cfg.Pipeline = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Batch < 0 || cfg.Rate < 0 || cfg.Warmup < 0 {
		return errors.New("bench: negative batch, rate or warmup")
	}
	if len(cfg.Queries) == 0 {
		return errors.New("bench: no queries")
	}
	if cfg.SampleInterval <= 0 {
		cfg.SampleInterval = min(max(cfg.Duration/60, 100*time.Millisecond), time.Second)
	}
	return nil
}

// prepare builds the raw requests once, so that the loop only copies bytes.
func prepare(cfg Config, u *url.URL) []request {
	prefix := u.EscapedPath()
	for len(prefix) > 0 && prefix[len(prefix)-1] == '/' {
		prefix = prefix[:len(prefix)-1]
	}
	var hdr []byte
	hdr = append(hdr, "Host: "+u.Host+"\r\n"...)
	if cfg.Token != "" {
		hdr = append(hdr, "Authorization: Bearer "+cfg.Token+"\r\n"...)
	}
	qs := cfg.Queries
	var reqs []request
	if cfg.Batch == 0 {
		qs = qs[:min(len(qs), maxSingle)]
		all := make([]Colour, len(qs))
		for i, q := range qs {
			var b []byte
			b = append(b, "GET "+prefix+"/v1/status/"...)
			b = append(b, q.ID[:]...)
			b = append(b, " HTTP/1.1\r\n"...)
			b = append(b, hdr...)
			b = append(b, "\r\n"...)
			all[i] = q.Want
			reqs = append(reqs, request{raw: b, want: all[i : i+1]})
		}
		return reqs
	}
	n := min(max(len(qs)/cfg.Batch, 1), maxBatches)
	for i := range n {
		var body []byte
		want := make([]Colour, cfg.Batch)
		for j := range cfg.Batch {
			q := qs[(i*cfg.Batch+j)%len(qs)]
			body = append(body, q.ID[:]...)
			body = append(body, '\n')
			want[j] = q.Want
		}
		var b []byte
		b = append(b, "POST "+prefix+"/v1/status HTTP/1.1\r\n"...)
		b = append(b, hdr...)
		b = append(b, "Content-Type: text/plain\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n\r\n"...)
		b = append(b, body...)
		reqs = append(reqs, request{raw: b, want: want})
	}
	return reqs
}

type run struct {
	cfg      Config
	reqs     []request
	addr     string
	dial     func(string) (net.Conn, error)
	workers  []*worker
	pace     *pacer // open model; nil in the closed model
	stop     atomic.Bool
	quit     chan struct{} // closed with stop set
	haltOnce sync.Once

	begin, start, end time.Time // load starts, measuring starts, measuring ends
}

// loop is one connection: write Pipeline requests, read their answers,
// check them, record; redial after a failure. In the open model it first
// takes Pipeline slots from the pacer, and each latency runs from its
// slot's due time. It allocates nothing per request once its buffers have
// grown (TestLoopAllocs).
func (r *run) loop(w *worker, next int) {
	var (
		br       *bufio.Reader
		bw       *bufio.Writer
		resp     fasthttp.Response
		lastDead time.Time
		// due is when each request of the pipeline was due: its slot's
		// time (open model) or its send (closed model).
		due = make([]time.Time, r.cfg.Pipeline)
	)
	// The answer body stays with this connection's Response: returned to
	// fasthttp's pool it would be dropped (and reallocated) once the pool
	// has calibrated itself on smaller bodies (TestLoopAllocs/batch).
	resp.KeepBodyBuffer = true
	defer w.closeConn()
	for !r.stop.Load() {
		if w.conn == nil {
			c, err := r.dial(r.addr)
			now := time.Now()
			if now.After(r.end) {
				return
			}
			if err != nil {
				if !now.Before(r.start) {
					w.fail("connect", 1)
				}
				time.Sleep(50 * time.Millisecond)
				continue
			}
			w.mu.Lock()
			w.conn = c
			w.mu.Unlock()
			if br == nil {
				br = bufio.NewReaderSize(c, 64<<10)
				bw = bufio.NewWriterSize(c, 64<<10)
			} else {
				br.Reset(c)
				bw.Reset(c)
			}
			lastDead = time.Time{}
		}

		// When to send: now (closed model), or as soon as the pacer has
		// released this round's slots (open model).
		depth := len(due)
		var t0 time.Time
		if r.pace != nil {
			if depth = r.pace.take(due); depth == 0 {
				return
			}
			t0 = time.Now()
			if r.inWindow(due[0]) {
				w.lag.RecordValue(max(t0.Sub(due[0]).Microseconds(), 1))
			}
		} else {
			t0 = time.Now()
			if t0.After(r.end) {
				return
			}
			for k := range due {
				due[k] = t0
			}
		}
		// Deadlines cost a timer update; renew them only when a quarter of
		// the timeout has gone.
		if t0.Sub(lastDead) > r.cfg.Timeout/4 {
			w.conn.SetDeadline(t0.Add(r.cfg.Timeout))
			lastDead = t0
		}

		first := next
		for range depth {
			bw.Write(r.reqs[next].raw)
			if next++; next == len(r.reqs) {
				next = 0
			}
		}
		if err := bw.Flush(); err != nil {
			r.lost(w, err, due[:depth], t0)
			continue
		}
		idx := first
		for k := range depth {
			err := resp.Read(br)
			t := time.Now()
			if err != nil {
				r.lost(w, err, due[k:depth], t)
				break
			}
			if r.counts(due[k], t) {
				us := t.Sub(due[k]).Microseconds()
				if w.hist.RecordValue(max(us, 1)) != nil {
					w.hist.RecordValue(histMax)
				}
				r.check(w, &resp, &r.reqs[idx])
			}
			if idx++; idx == len(r.reqs) {
				idx = 0
			}
			if resp.ConnectionClose() {
				// The server closes after this answer: answers to the
				// rest of the pipeline will not come.
				if k+1 < depth {
					r.lost(w, io.ErrUnexpectedEOF, due[k+1:depth], t)
				} else {
					w.closeConn()
				}
				break
			}
		}
	}
}

// inWindow reports whether t lies in the measured window.
func (r *run) inWindow(t time.Time) bool { return !t.Before(r.start) && !t.After(r.end) }

// counts reports whether a request due at due and finished at t is
// measured: in the open model, every request whose slot was due in the
// window, whenever it ends (each slot is answered, failed or late); in the
// closed model, the requests that end in the window.
func (r *run) counts(due, t time.Time) bool {
	if r.pace != nil {
		return r.inWindow(due)
	}
	return r.inWindow(t)
}

// lost counts the requests due at due that were lost with the connection at
// t, and drops it. Cut by the end of the run, they are not failures: in
// the open model they are late, at least t minus their due time.
func (r *run) lost(w *worker, err error, due []time.Time, t time.Time) {
	w.closeConn()
	n := 0
	for _, d := range due {
		if r.counts(d, t) {
			n++
			if r.stop.Load() && r.pace != nil {
				w.late++
				recordClamped(w.hist, t.Sub(d))
			}
		}
	}
	if n == 0 || r.stop.Load() {
		return
	}
	kind := "io"
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
		kind = "timeout"
	} else if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, fasthttp.ErrConnectionClosed) {
		kind = "closed"
	}
	w.fail(kind, n)
}

// halt stops the workers and the pacer (once).
func (r *run) halt() {
	r.haltOnce.Do(func() {
		r.stop.Store(true)
		close(r.quit)
	})
}

// unsent counts the open model's slots due in the window that no
// connection sent: released but not taken, or never released because the
// connections were all busy. Each is late by at least the time from its
// slot to now, and goes into the percentiles with that latency: leaving
// them out is exactly the coordinated omission the open model is for.
func (r *run) unsent(res *Result) {
	<-r.pace.done
	now := time.Now()
	first := int64(float64(r.start.Sub(r.begin)) / r.pace.interval)
	for first > 0 && !r.pace.at(first-1).Before(r.start) {
		first--
	}
	for r.pace.at(first).Before(r.start) {
		first++
	}
	res.Scheduled = uint64(max(r.pace.last-first+1, 0))
	add := func(s int64) {
		if d := r.pace.at(s); r.inWindow(d) {
			res.Late++
			recordClamped(res.Latency, now.Sub(d))
		}
	}
	for s := range r.pace.slots {
		add(s)
	}
	for s := r.pace.next; s <= r.pace.last; s++ {
		add(s)
	}
}

func recordClamped(h *hdrhistogram.Histogram, d time.Duration) {
	if h.RecordValue(max(d.Microseconds(), 1)) != nil {
		h.RecordValue(histMax)
	}
}

func (w *worker) fail(kind string, n int) {
	w.errKinds[kind] += uint64(n)
	w.errors.Add(uint64(n))
}

func (w *worker) closeConn() {
	w.mu.Lock()
	if w.conn != nil {
		w.conn.Close()
		w.conn = nil
	}
	w.mu.Unlock()
}

var statusKey = []byte(`"status":"`)

// check compares an answer with what req expects: one JSON object for a
// single lookup, one NDJSON line per ID for a batch.
func (r *run) check(w *worker, resp *fasthttp.Response, req *request) {
	if code := resp.StatusCode(); code != fasthttp.StatusOK {
		w.fail(httpKind(code), 1)
		return
	}
	body := resp.Body()
	n := 0
	for len(body) > 0 && n < len(req.want) {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		if len(line) == 0 || len(line) == 1 && line[0] == '\r' {
			continue
		}
		got, ok := answerColour(line)
		if !ok {
			w.fail("bad_answer", 1)
			return
		}
		if want := req.want[n]; want != Unknown && got != want {
			w.wrong.Add(1)
			if len(w.wrongEx) < 5 {
				w.wrongEx = append(w.wrongEx, fmt.Sprintf("%s: want %s, got %s", mask(req, n), want, got))
			}
		}
		n++
	}
	if n != len(req.want) {
		w.fail("bad_answer", 1)
		return
	}
	w.requests.Add(1)
	w.lookups.Add(uint64(n))
}

// statusAt is where "status" starts in hcx's answers, after
// {"id":"<18 characters>",; answerColour looks there first and searches
// the line only when it is not there (the search was half of the client's
// CPU time in 1,000-ID batches).
const statusAt = len(`{"id":"`) + IDLen + len(`",`)

// answerColour finds the "status" of one JSON answer.
func answerColour(obj []byte) (Colour, bool) {
	var v []byte
	if len(obj) > statusAt+len(statusKey) && string(obj[statusAt:statusAt+len(statusKey)]) == string(statusKey) {
		v = obj[statusAt+len(statusKey):]
	} else if i := bytes.Index(obj, statusKey); i >= 0 {
		v = obj[i+len(statusKey):]
	} else {
		return Unknown, false
	}
	switch {
	case len(v) > 5 && string(v[:6]) == `green"`:
		return Green, true
	case len(v) > 6 && string(v[:7]) == `yellow"`:
		return Yellow, true
	case len(v) > 3 && string(v[:4]) == `red"`:
		return Red, true
	}
	return Unknown, false
}

var httpKinds = func() map[int]string {
	m := map[int]string{}
	for c := 100; c < 600; c++ {
		m[c] = "http_" + strconv.Itoa(c)
	}
	return m
}()

func httpKind(code int) string {
	if k, ok := httpKinds[code]; ok {
		return k
	}
	return "http_other"
}

// mask names the n-th ID of req as the server's answers do (first and last
// four characters), for the examples of wrong answers.
func mask(req *request, n int) string {
	raw := req.raw
	var id []byte
	if bytes.HasPrefix(raw, []byte("GET ")) {
		i := bytes.Index(raw, []byte("/v1/status/")) + len("/v1/status/")
		id = raw[i : i+IDLen]
	} else if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		off := i + 4 + n*(IDLen+1)
		id = raw[off : off+IDLen]
	}
	if len(id) != IDLen {
		return "?"
	}
	return string(id[:4]) + "**********" + string(id[14:])
}

// sample reads the workers' counters every interval until the window ends
// or ctx does, appending to res.Series and calling Progress.
func (r *run) sample(ctx context.Context, res *Result, done <-chan struct{}) {
	t := time.NewTicker(r.cfg.SampleInterval)
	defer t.Stop()
	var last Progress
	lastT := time.Now()
	for {
		var now time.Time
		select {
		case <-ctx.Done():
			r.halt()
			return
		case <-done:
			return
		case now = <-t.C:
		}
		if now.After(r.end) {
			now = r.end
		}
		p := Progress{Elapsed: now.Sub(r.start), Total: r.cfg.Duration}
		for _, w := range r.workers {
			p.Requests += w.requests.Load()
			p.Lookups += w.lookups.Load()
			p.Errors += w.errors.Load()
			p.Wrong += w.wrong.Load()
		}
		if lastT.Before(r.start) {
			lastT = r.start
		}
		if dt := now.Sub(lastT).Seconds(); dt > 0 && p.Elapsed > 0 {
			p.RPS = float64(p.Requests-last.Requests) / dt
			p.LPS = float64(p.Lookups-last.Lookups) / dt
			res.Series = append(res.Series, Sample{T: round(p.Elapsed.Seconds(), 3), RPS: round(p.RPS, 1), LPS: round(p.LPS, 1), Errors: p.Errors - last.Errors})
		}
		last, lastT = p, now
		if r.cfg.Progress != nil {
			r.cfg.Progress(p)
		}
		if !now.Before(r.end) {
			return
		}
	}
}
