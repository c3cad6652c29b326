package bench

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
)

// WriteHTML writes a self-contained HTML report: the figures, a latency by
// percentile chart and a throughput over time chart, drawn as inline SVG
// (no script, no network: it opens from a file anywhere).
func (res *Result) WriteHTML(w io.Writer) error {
	rep := res.Report()
	var lat []xy
	for _, p := range rep.Percentiles {
		if p.Percentile >= 100 {
			continue
		}
		lat = append(lat, xy{math.Log10(100 / (100 - p.Percentile)), p.MS})
	}
	var thr []xy
	unit := "requests/s"
	for _, s := range rep.Series {
		v := s.RPS
		if res.Config.Batch > 0 {
			v, unit = s.LPS, "lookups/s"
		}
		thr = append(thr, xy{s.T, v})
	}
	latTicks := func(x float64) string {
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.6f", 100-100/math.Pow(10, x)), "0"), ".") + "%"
	}
	data := struct {
		R          Report
		Title      string
		LatChart   template.HTML
		ThrChart   template.HTML
		ErrorKinds map[string]uint64
	}{
		R:     rep,
		Title: fmt.Sprintf("hcx bench: %s, %d connections", rep.Mode, rep.Connections),
		LatChart: svgChart(lat, chartOpts{title: "Latency by percentile", xLabel: "percentile", yLabel: "ms",
			xTick: latTicks, xStep: 1}),
		ThrChart: svgChart(thr, chartOpts{title: "Throughput over time", xLabel: "seconds", yLabel: unit,
			xTick: func(x float64) string { return fmt.Sprintf("%g", x) }}),
		ErrorKinds: rep.ErrorsByKind,
	}
	return reportTmpl.Execute(w, data)
}

type xy struct{ x, y float64 }

type chartOpts struct {
	title, xLabel, yLabel string
	xTick                 func(float64) string
	xStep                 float64 // distance between x ticks; 0: chosen
}

// svgChart draws one line chart as an SVG element.
func svgChart(pts []xy, o chartOpts) template.HTML {
	const W, H, L, R, T, B = 720.0, 320.0, 80.0, 40.0, 36.0, 48.0
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %g %g" width="%g" height="%g" role="img" aria-label="%s">`, W, H, W, H, template.HTMLEscapeString(o.title))
	fmt.Fprintf(&b, `<text x="%g" y="22" class="title">%s</text>`, L, template.HTMLEscapeString(o.title))
	if len(pts) == 0 {
		b.WriteString(`<text x="80" y="160">no data</text></svg>`)
		return template.HTML(b.String())
	}
	xmin, xmax, ymax := pts[0].x, pts[0].x, 0.0
	for _, p := range pts {
		xmin, xmax, ymax = math.Min(xmin, p.x), math.Max(xmax, p.x), math.Max(ymax, p.y)
	}
	if o.xStep > 0 {
		xmin, xmax = 0, math.Max(math.Ceil(xmax), 1)
	} else {
		xmin = math.Min(xmin, 0)
	}
	if xmax == xmin {
		xmax = xmin + 1
	}
	ystep := niceStep(ymax / 5)
	ytop := math.Max(ystep*math.Ceil(ymax/ystep), ystep)
	px := func(x float64) float64 { return L + (x-xmin)/(xmax-xmin)*(W-L-R) }
	py := func(y float64) float64 { return H - B - y/ytop*(H-T-B) }
	for y := 0.0; y <= ytop*1.0001; y += ystep {
		fmt.Fprintf(&b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" class="grid"/><text x="%g" y="%.1f" class="ytick">%s</text>`,
			L, py(y), W-R, py(y), L-6, py(y)+4, fmtNum(y))
	}
	xstep := o.xStep
	if xstep == 0 {
		xstep = niceStep((xmax - xmin) / 8)
	}
	for x := xmin; x <= xmax*1.0001; x += xstep {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" class="grid"/><text x="%.1f" y="%g" class="xtick">%s</text>`,
			px(x), T, px(x), H-B, px(x), H-B+16, template.HTMLEscapeString(o.xTick(x)))
	}
	fmt.Fprintf(&b, `<text x="%g" y="%g" class="xlabel">%s</text>`, (L+W-R)/2, H-8, template.HTMLEscapeString(o.xLabel))
	fmt.Fprintf(&b, `<text x="16" y="%g" class="ylabel" transform="rotate(-90 16 %g)">%s</text>`, (T+H-B)/2, (T+H-B)/2, template.HTMLEscapeString(o.yLabel))
	b.WriteString(`<polyline class="line" points="`)
	for _, p := range pts {
		fmt.Fprintf(&b, "%.1f,%.1f ", px(p.x), py(p.y))
	}
	b.WriteString(`"/>`)
	for _, p := range pts {
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2.5" class="dot"><title>%s: %s</title></circle>`, px(p.x), py(p.y),
			template.HTMLEscapeString(o.xTick(p.x)), fmtNum(p.y))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceStep rounds x up to 1, 2 or 5 times a power of ten.
func niceStep(x float64) float64 {
	if x <= 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

func fmtNum(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.3gk", v/1e3)
	}
	return fmt.Sprintf("%.4g", v)
}

var reportTmpl = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:760px;color:#222}
h1{font-size:1.3em} table{border-collapse:collapse;margin:1em 0} td,th{padding:.2em .8em;text-align:right;border-bottom:1px solid #ddd}
th:first-child,td:first-child{text-align:left} .bad{color:#b00;font-weight:bold}
svg.chart{display:block;margin:1.5em 0;background:#fafafa;border:1px solid #ddd}
.title{font-weight:bold;font-size:15px} .grid{stroke:#ddd} .line{fill:none;stroke:#1f6feb;stroke-width:2} .dot{fill:#1f6feb}
.ytick{text-anchor:end;font-size:12px} .xtick{text-anchor:middle;font-size:12px} .xlabel,.ylabel{text-anchor:middle;font-size:13px}
</style></head><body>
<h1>{{.Title}}</h1>
<p>{{.R.URL}} · {{.R.Model}} model · {{.R.DurationSec}} s measured{{if .R.WarmupSec}} after {{.R.WarmupSec}} s warmup{{end}} · started {{.R.Start}} · {{printf "%.2f" .R.HitRatio}} of the IDs listed</p>
<table>
<tr><th></th><th>total</th><th>per second</th></tr>
<tr><td>requests</td><td>{{.R.Requests}}</td><td>{{printf "%.1f" .R.RequestsPerSec}}</td></tr>
<tr><td>lookups</td><td>{{.R.Lookups}}</td><td>{{printf "%.1f" .R.LookupsPerSec}}</td></tr>
<tr><td>errors</td><td{{if .R.Errors}} class="bad"{{end}}>{{.R.Errors}}</td><td>{{range $k, $v := .ErrorKinds}}{{$k}} {{$v}} {{end}}</td></tr>
<tr><td>wrong answers</td><td{{if .R.WrongAnswers}} class="bad"{{end}}>{{.R.WrongAnswers}}</td><td></td></tr>
</table>
<table>
<tr><th>latency</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>
<tr><td>ms</td><td>{{.R.LatencyMS.P50}}</td><td>{{.R.LatencyMS.P90}}</td><td>{{.R.LatencyMS.P99}}</td><td>{{.R.LatencyMS.P999}}</td><td>{{.R.LatencyMS.Max}}</td></tr>
</table>
{{.LatChart}}
{{.ThrChart}}
{{range .R.WrongExamples}}<p class="bad">{{.}}</p>{{end}}
</body></html>
`))
