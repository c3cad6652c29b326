package deploy

import (
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/auth"
	"github.com/yrd-hcx/hcx/internal/fixture"
	"github.com/yrd-hcx/hcx/internal/servertest"
	"github.com/yrd-hcx/hcx/loader"
	"github.com/yrd-hcx/hcx/server"
)

var promql = parser.NewParser(parser.Options{})

// The series Prometheus adds itself, not hcx.
var prometheusOwn = map[string]bool{"up": true}

// TestAlertRules: Prometheus's own rule parser (what promtool check rules
// runs) accepts the rules, templates included; each alert says how bad it
// is and what to do; and every series it reads is one hcx serve exports.
func TestAlertRules(t *testing.T) {
	groups, errs := rulefmt.ParseFile(filepath.Join("prometheus", "alerts.yaml"), false, model.LegacyValidation, promql, nil)
	for _, err := range errs {
		t.Error(err)
	}
	if groups == nil {
		t.FailNow()
	}
	exported, _ := exportedSeries(t)
	alerts := map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("group %s: a recording rule (%s): this file holds alerts", g.Name, r.Record)
				continue
			}
			alerts[r.Alert] = true
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: needs a summary and a description", r.Alert)
			}
			for _, name := range seriesIn(t, r.Expr) {
				if !exported[name] && !prometheusOwn[name] {
					t.Errorf("%s reads %s, which hcx serve does not export", r.Alert, name)
				}
			}
		}
	}
	// The four situations docs/deploy.md promises an alert for.
	for _, want := range []string{"HcxRegionStale", "HcxSnapshotReloadRefused", "HcxReplicaBehind", "HcxReplicaSyncFailing", "HcxPublisherDown"} {
		if !alerts[want] {
			t.Errorf("no alert %s", want)
		}
	}
	checkJobs(t, "alerts.yaml", exprsOfRules(groups))
}

func exprsOfRules(g *rulefmt.RuleGroups) []string {
	var out []string
	for _, gr := range g.Groups {
		for _, r := range gr.Rules {
			out = append(out, r.Expr)
		}
	}
	return out
}

// dashPanel is what the test reads of a Grafana panel.
type dashPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ X, Y, W, H int } `json:"gridPos"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []dashPanel `json:"panels"` // a collapsed row's
}

// TestDashboard: the Grafana dashboard is well-formed (unique panel ids,
// every panel on the datasource variable, laid out in the 24-column grid),
// every query parses as PromQL, and every series it reads is exported.
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("grafana", "hcx.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title, UID string
		Templating struct {
			List []struct{ Name, Type string }
		}
		Panels []dashPanel
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	if dash.Title == "" || dash.UID == "" || len(dash.Templating.List) == 0 || dash.Templating.List[0].Name != "datasource" {
		t.Fatal("the dashboard needs a title, a uid and a datasource variable")
	}
	exported, _ := exportedSeries(t)
	ids := map[int]bool{}
	var exprs []string
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel id %d twice", p.ID)
			}
			ids[p.ID] = true
			if p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("%q: outside the 24-column grid", p.Title)
			}
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
				t.Errorf("%q: needs the datasource variable and a query", p.Title)
			}
			for _, q := range p.Targets {
				// Grafana's own variables, as it substitutes them.
				expr := strings.ReplaceAll(q.Expr, "$__rate_interval", "5m")
				exprs = append(exprs, expr)
				for _, name := range seriesIn(t, expr) {
					if !exported[name] && !prometheusOwn[name] {
						t.Errorf("%q reads %s, which hcx serve does not export", p.Title, name)
					}
				}
			}
		}
	}
	walk(dash.Panels)
	checkJobs(t, "hcx.json", exprs)
}

// seriesIn returns the metric names an expression selects.
func seriesIn(t *testing.T, expr string) []string {
	t.Helper()
	e, err := promql.ParseExpr(expr)
	if err != nil {
		t.Errorf("%q: %v", expr, err)
		return nil
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			if vs.Name == "" {
				t.Errorf("%q: a selector without a metric name", expr)
			}
			names = append(names, vs.Name)
		}
		return nil
	})
	if len(names) == 0 {
		t.Errorf("%q selects no series", expr)
	}
	return names
}

var jobMatcher = regexp.MustCompile(`job=~?"([^"]+)"`)

// checkJobs: every job the queries name is scraped by scrape.yaml.
func checkJobs(t *testing.T, what string, exprs []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("prometheus", "scrape.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ScrapeConfigs []struct {
			JobName string `yaml:"job_name"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	jobs := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		jobs[sc.JobName] = true
	}
	for _, e := range exprs {
		for _, m := range jobMatcher.FindAllStringSubmatch(e, -1) {
			for _, job := range strings.Split(m[1], "|") {
				if !jobs[job] {
					t.Errorf("%s: %q names job %s, which scrape.yaml does not scrape (it has %v)", what, e, job, slices.Sorted(maps.Keys(jobs)))
				}
			}
		}
	}
}

// metricRow is a row of the metrics table in docs/http-api.md.
var metricRow = regexp.MustCompile("(?m)^\\| `(hcx_[a-z_]+)` \\|")

// TestMetricsDocumented: the metrics table of docs/http-api.md lists every
// hcx_ family a real server exports, and nothing it does not.
func TestMetricsDocumented(t *testing.T) {
	_, families := exportedSeries(t)
	b, err := os.ReadFile(filepath.Join("..", "docs", "http-api.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range metricRow.FindAllStringSubmatch(string(b), -1) {
		documented[m[1]] = true
	}
	for name := range families {
		if strings.HasPrefix(name, "hcx_") && !documented[name] {
			t.Errorf("%s is exported but not in docs/http-api.md's metrics table", name)
		}
	}
	for name := range documented {
		if !families[name] {
			t.Errorf("docs/http-api.md lists %s, which the server does not export", name)
		}
	}
}

// exportedSeries returns the sample names in a real hcx server's /metrics
// (a histogram's _bucket, _sum and _count included), and its metric
// families, after the traffic that makes every labelled series appear:
// lookups, an upload, a snapshot.
func exportedSeries(t *testing.T) (series, families map[string]bool) {
	t.Helper()
	cal := engine.NewCalendar(engine.CST, func() time.Time { return time.Date(2026, 11, 27, 12, 0, 0, 0, engine.CST) })
	st, err := loader.Init(filepath.Join(t.TempDir(), "data"), nil)
	if err != nil {
		t.Fatal(err)
	}
	st.Calendar = cal
	tokens := map[string]string{}
	for _, role := range []string{auth.Lookup, auth.Upload("sh")} {
		tok, _ := auth.NewToken()
		line, _ := auth.Line(tok, []string{role})
		if err := st.AddToken(line); err != nil {
			t.Fatal(err)
		}
		tokens[role] = tok
	}
	ids := fixture.IDs(1, 100)
	if _, _, err := st.Ingest([]loader.Upload{{Name: "sh-2026-11-26.csv", Body: strings.NewReader(fixture.CSV(ids))}}, loader.IngestOptions{}); err != nil {
		t.Fatal(err)
	}
	_, base := servertest.Start(t, server.Config{Store: st})
	client := &http.Client{Timeout: 30 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	send := func(method, path, role, body string, want int) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if role != "" {
			req.Header.Set("Authorization", "Bearer "+tokens[role])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d, want %d", method, path, resp.StatusCode, want)
		}
	}
	send("GET", "/v1/status/"+ids[0], auth.Lookup, "", 200)
	send("POST", "/v1/status", auth.Lookup, strings.Join(ids[:10], "\n"), 200)
	send("PUT", "/v1/uploads/sh/2026-11-27", auth.Upload("sh"), fixture.CSV(ids), 200)
	send("PUT", "/v1/uploads/sh/2026-11-27", auth.Upload("sh"), "id,color\nnot-an-id,red\n", 422)

	resp, err := client.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out, fams := map[string]bool{}, map[string]bool{}
	for name, f := range mfs {
		if len(f.GetMetric()) == 0 {
			continue // declared, no series yet
		}
		out[name], fams[name] = true, true
		switch f.GetType().String() {
		case "HISTOGRAM":
			out[name+"_bucket"], out[name+"_sum"], out[name+"_count"] = true, true, true
		case "SUMMARY":
			out[name+"_sum"], out[name+"_count"] = true, true
		}
	}
	for _, must := range []string{"hcx_uploads_total", "hcx_list_records", "hcx_request_duration_seconds_bucket", "hcx_replica_last_sync_seconds"} {
		if !out[must] {
			t.Fatalf("the server's /metrics has no %s: the traffic above should have made it", must)
		}
	}
	return out, fams
}
