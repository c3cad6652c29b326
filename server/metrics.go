package server

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/yrd-hcx/hcx/engine"
)

// routeLabel is the route label of the request metrics, by routes index
// (noRoute: "other").
func routeLabel(i int) string {
	if i == noRoute {
		return "other"
	}
	return routes[i].metric
}

// The status codes the server answers with, pre-resolved per route so that
// counting a request is an atomic add, not a label lookup.
var codes = []int{200, 304, 400, 401, 403, 404, 405, 408, 409, 413, 422, 431, 500, 503}

type metrics struct {
	reg             *prometheus.Registry
	requests        *prometheus.CounterVec
	byCode          [][]prometheus.Counter // by routes index, then codes index
	duration        []prometheus.Observer  // by routes index
	lookups         [engine.Red + 1]prometheus.Counter
	uploads         *prometheus.CounterVec
	reloadFailures  prometheus.Counter
	refusedOlder    prometheus.Counter
	replicaFailures prometheus.Counter
	replicaLastSync prometheus.Gauge
	listRecords     *prometheus.GaugeVec
	listDate        *prometheus.GaugeVec
	version         prometheus.Gauge
	records         prometheus.Gauge
	codes           *codeMetrics // codes.go
	handler         fasthttp.RequestHandler
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hcx_requests_total", Help: "HTTP requests by route and status code."}, []string{"route", "code"})
	f(m.requests)
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "hcx_request_duration_seconds", Help: "Time to answer a request, by route.",
		Buckets: []float64{25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 100e-3, 1, 10}}, []string{"route"})
	f(dur)
	m.byCode = make([][]prometheus.Counter, noRoute+1)
	m.duration = make([]prometheus.Observer, noRoute+1)
	for r := range noRoute + 1 {
		m.byCode[r] = make([]prometheus.Counter, len(codes))
		for i, c := range codes {
			m.byCode[r][i] = m.requests.WithLabelValues(routeLabel(r), strconv.Itoa(c))
		}
		m.duration[r] = dur.WithLabelValues(routeLabel(r))
	}
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hcx_lookups_total", Help: "IDs looked up, by answer."}, []string{"result"})
	f(lookups)
	for st := engine.Invalid; st <= engine.Red; st++ {
		m.lookups[st] = lookups.WithLabelValues(st.String())
	}
	m.uploads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hcx_uploads_total", Help: "Daily files uploaded, by region and result."}, []string{"region", "result"})
	f(m.uploads)
	m.reloadFailures = prometheus.NewCounter(prometheus.CounterOpts{Name: "hcx_snapshot_reload_failures_total", Help: "Snapshots on disk refused (corrupt, wrong key, older)."})
	f(m.reloadFailures)
	m.refusedOlder = prometheus.NewCounter(prometheus.CounterOpts{Name: "hcx_snapshot_refused_older_total",
		Help: "Snapshots refused because they are not newer than the live one (from disk, an upload or the publisher): an install never goes backwards."})
	f(m.refusedOlder)
	m.listRecords = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "hcx_list_records", Help: "People on each region's current list, by colour."}, []string{"region", "color"})
	f(m.listRecords)
	m.listDate = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "hcx_list_date_seconds", Help: "Start of each region's current list date, Unix seconds (age = time() - this)."}, []string{"region"})
	f(m.listDate)
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hcx_stale_regions", Help: "Regions whose newest list is older than --max-age."}, func() float64 {
		if st := s.cur.Load(); st != nil {
			return float64(len(st.view.StaleList))
		}
		return 0
	}))
	f(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "hcx_connections_refused_total", Help: "Connections refused at the --max-conns limit."}, func() float64 {
		if l := s.conns.Load(); l != nil {
			return float64(l.refused.Load())
		}
		return 0
	}))
	m.replicaFailures = prometheus.NewCounter(prometheus.CounterOpts{Name: "hcx_replica_sync_failures_total", Help: "Failed polls of the publisher (replicas only)."})
	m.replicaLastSync = prometheus.NewGauge(prometheus.GaugeOpts{Name: "hcx_replica_last_sync_seconds", Help: "When the publisher last answered, Unix seconds (replicas only)."})
	f(m.replicaFailures)
	f(m.replicaLastSync)
	m.version = prometheus.NewGauge(prometheus.GaugeOpts{Name: "hcx_snapshot_version", Help: "Version of the live snapshot."})
	m.records = prometheus.NewGauge(prometheus.GaugeOpts{Name: "hcx_snapshot_records", Help: "Distinct people in the live snapshot."})
	f(m.version)
	f(m.records)
	vectors := prometheus.NewGauge(prometheus.GaugeOpts{Name: "hcx_batch_vectors", Help: "1 when batch lookups run in AVX-512 vectors (make build on a processor with AVX-512), 0 in scalar code."})
	if engine.BatchVectors() {
		vectors.Set(1)
	}
	f(vectors)
	m.codes = newCodeMetrics(s.cfg.Store.Regions, f)
	m.handler = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	return m
}

// request counts a request to routes[r] (noRoute: none).
func (m *metrics) request(r int, code int, d time.Duration) {
	for i, c := range codes {
		if c == code {
			m.byCode[r][i].Inc()
			m.duration[r].Observe(d.Seconds())
			return
		}
	}
	m.requests.WithLabelValues(routeLabel(r), strconv.Itoa(code)).Inc()
	m.duration[r].Observe(d.Seconds())
}

func (m *metrics) lookup(st engine.Status) {
	if int(st) < len(m.lookups) {
		m.lookups[st].Inc()
	}
}

// lookupTally adds a batch's answers, counted by status, with one atomic add
// per status rather than one per ID.
func (m *metrics) lookupTally(n [engine.Red + 1]int) {
	for st, c := range n {
		if c > 0 {
			m.lookups[st].Add(float64(c))
		}
	}
}

func (m *metrics) snapshotChanged(snap *engine.Snapshot) {
	info := snap.Info()
	m.version.Set(float64(info.Version))
	m.records.Set(float64(info.Records))
	for _, r := range info.Regions {
		m.listRecords.WithLabelValues(r.Name, "red").Set(float64(r.Red))
		m.listRecords.WithLabelValues(r.Name, "yellow").Set(float64(r.Yellow))
		if r.ListDate != engine.NoDay {
			m.listDate.WithLabelValues(r.Name).Set(float64(r.ListDate.Time(snap.Calendar().Location()).Unix()))
		}
	}
}

func (m *metrics) serve(ctx *fasthttp.RequestCtx) { m.handler(ctx) }
