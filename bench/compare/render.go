package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// targets are the project's (BENCHMARKS.md): hcx / Redis and hcx / bare
// fasthttp, per mode.
var targets = map[string]struct{ redis, fasthttp float64 }{
	"get":   {1.0, 0.9},
	"pipe":  {0.8, 0.9},
	"batch": {1.3, 0.9},
}

// find aggregates a case's rounds: mean throughput, the worst p50 and
// p99, all errors. nil when the case did not run.
func (c *comparison) find(srv, client, mode string, pinned bool) *result {
	var agg *result
	n := 0
	for _, r := range c.results {
		if r.server != srv || r.client != client || r.mode != mode || r.pinned != pinned {
			continue
		}
		if agg == nil {
			agg = new(result)
			*agg = r
		} else {
			agg.rps += r.rps
			agg.lps += r.lps
			agg.p50, agg.p99 = max(agg.p50, r.p50), max(agg.p99, r.p99)
			agg.errors += r.errors
			agg.cpu += r.cpu
		}
		n++
	}
	if agg != nil {
		agg.rps /= float64(n)
		agg.lps /= float64(n)
		agg.cpu /= float64(n)
	}
	return agg
}

// markdown renders the compare section, markers included.
func (c *comparison) markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("%s\n## hcx against bare servers and Redis (`make compare`)\n\n", beginMarker)
	p("Written by `bench/compare.sh` from one run on %s (took %s); never edited by hand. ",
		c.started.UTC().Format("2006-01-02 15:04 MST"), c.took.Round(time.Second))
	cmd := "bash bench/compare.sh"
	if len(c.o.args) > 0 {
		cmd += " " + strings.Join(c.o.args, " ")
	}
	p("Reproduce it with `%s` (`make compare` runs `bash bench/compare.sh $(COMPARE_FLAGS)`) from a clone, with wrk, redis-server and redis-tools installed.\n\n", cmd)
	p("- **Machine**: %d cores (`nproc`), %s (/proc/cpuinfo), Linux %s, %s/%s, %s, wrk %s, Redis %s.\n",
		runtime.NumCPU(), cpuModel(), kernel(), runtime.GOOS, runtime.GOARCH, c.versions["go"], or(c.versions["wrk"], "?"), or(c.versions["redis"], "not installed"))
	p("- **Load average** (1, 5, 15 min) %s at the start, %s at the end: other work shared the machine during the run, so read the ratios (same run, same conditions) rather than the absolute figures.\n", c.loadStart, c.loadEnd)
	p("- **Data**: one day of %s records from `hcx gen --seed %d --date %s` (four regions; today's list, so no region is stale), %s distinct listed IDs. Every client asks the same 10,000 IDs: 1%% listed, 99%% valid IDs listed nowhere (green), as a gate mostly sees.\n",
		thousands(float64(c.o.records)), c.o.seed, c.listDate, thousands(float64(c.listed)))
	p("- **Servers**: `hcx serve` on a real data dir (`hcx init`, a lookup token, `hcx ingest`): bearer auth, Prometheus metrics and the full JSON answer on. ")
	p("`fasthttp + map` and `net/http + map` (bench/baseline) answer the same routes from a Go map with `{\"id\":masked,\"status\":colour}`: no auth, no metrics. ")
	p("Redis %s: `redis-server --save '' --appendonly no`, the listed IDs in one set (SADD), measured by redis-benchmark.\n", or(c.versions["redis"], ""))
	p("- **Build**: hcx and the baselines from commit %s.\n", c.commit)
	p("- **Clients**: wrk (`-t1`, Lua scripts in bench/compare/lua) and `hcx bench` (which also checks every answer's colour; it found no wrong answer in this run), %s per case, run as %d rounds of %s interleaved across the servers so that load from other work hits them alike: throughput is the mean of the rounds, p50 and p99 the worst round's. ",
		c.o.duration, c.o.rounds, c.o.duration/time.Duration(c.o.rounds))
	p("Client and server share the %d cores unless pinned. wrk and redis-benchmark time a pipeline as a whole; hcx bench times each request in it. ", runtime.NumCPU())
	p("*Server CPU µs/lookup* is the server process's CPU time during the case (/proc/PID/stat) divided by the lookups it answered: the cost of a lookup, which depends far less than throughput on what else the machine runs.\n\n")

	for _, md := range modes {
		p("### %s\n\n", md.title)
		p("| server | client | requests/s | lookups/s | p50 ms | p99 ms | errors | server CPU µs/lookup | hcx / this |\n")
		p("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		hcxWrk := c.find(hcxName, clientWrk, md.key, false)
		for _, srv := range []string{hcxName, fasthttpName, nethttpName, redisName} {
			for _, cl := range []string{clientWrk, clientBench, clientRedis} {
				r := c.find(srv, cl, md.key, false)
				if r == nil {
					continue
				}
				ref := c.find(hcxName, cl, md.key, false)
				if cl == clientRedis {
					ref = hcxWrk
				}
				ratio := "—"
				if ref != nil && r.server != hcxName {
					ratio = fmt.Sprintf("%.2f", ref.lps/r.lps)
				}
				p("| %s | %s | %s | %s | %s | %s | %d | %s | %s |\n", srv, cl, thousands(r.rps), thousands(r.lps), ms(r.p50), ms(r.p99), r.errors, cpuUS(r.cpu), ratio)
			}
		}
		t := targets[md.key]
		var parts []string
		if rd := c.find(redisName, clientRedis, md.key, false); rd != nil && hcxWrk != nil {
			parts = append(parts, verdict("hcx / Redis", hcxWrk.lps/rd.lps, t.redis))
		}
		if fh := c.find(fasthttpName, clientWrk, md.key, false); fh != nil && hcxWrk != nil {
			parts = append(parts, verdict("hcx / bare fasthttp", hcxWrk.lps/fh.lps, t.fasthttp))
		}
		p("\nTargets (wrk figures for hcx): %s.\n\n", strings.Join(parts, "; "))
	}

	if c.o.pin {
		p("### Pinned: server on CPU 0, client on CPU 1 (`taskset`)\n\n")
		p("Lookups/s with wrk (Redis: redis-benchmark); the server cannot borrow the client's core.\n\n")
		p("| mode | hcx serve | fasthttp + map | net/http + map | Redis | hcx / fasthttp | hcx / Redis |\n")
		p("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for _, md := range modes {
			h, f, n := c.find(hcxName, clientWrk, md.key, true), c.find(fasthttpName, clientWrk, md.key, true), c.find(nethttpName, clientWrk, md.key, true)
			rd := c.find(redisName, clientRedis, md.key, true)
			p("| %s | %s | %s | %s | %s | %s | %s |\n", md.key, lpsOf(h), lpsOf(f), lpsOf(n), lpsOf(rd), ratioOf(h, f), ratioOf(h, rd))
		}
		p("\n")
	}

	p("### Memory per listed record\n\n")
	p("| server | empty | loaded | bytes per listed record | measured as |\n| --- | ---: | ---: | ---: | --- |\n")
	for _, m := range c.memory {
		per := float64(m.loaded-m.empty) / float64(c.listed)
		p("| %s | %s | %s | %.1f | %s |\n", m.server, mib(m.empty), mib(m.loaded), per, m.how)
	}
	p("\nThe Go servers' RSS is measured fresh and idle after loading; hcx's includes the signed snapshot file it keeps for replicas, the baselines return their parsing garbage to the OS first.\n")
	p("%s\n", endMarker)
	return b.String()
}

func cpuUS(v float64) string {
	switch {
	case v <= 0:
		return "—"
	case v < 1:
		return fmt.Sprintf("%.3f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func verdict(name string, ratio, target float64) string {
	v := "met"
	if ratio < target {
		v = "**missed**"
	}
	return fmt.Sprintf("%s %.2fx (target %.1fx: %s)", name, ratio, target, v)
}

func lpsOf(r *result) string {
	if r == nil {
		return "—"
	}
	return thousands(r.lps)
}

func ratioOf(a, b *result) string {
	if a == nil || b == nil || b.lps == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", a.lps/b.lps)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func ms(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.3f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// thousands formats a rate with thousands separators, no decimals.
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// sanity checks a run before its section is written: every case has a
// figure, none failed, and the section has what the file promises.
func (c *comparison) sanity(md string) error {
	var problems []string
	want := 0
	for _, r := range c.results {
		if !(r.rps > 0) || math.IsInf(r.rps, 0) || !(r.p50 > 0) || !(r.p99 >= r.p50) {
			problems = append(problems, fmt.Sprintf("%s/%s/%s: rps %.0f p50 %.3f p99 %.3f", r.server, r.client, r.mode, r.rps, r.p50, r.p99))
		}
		if r.errors > 0 {
			problems = append(problems, fmt.Sprintf("%s/%s/%s: %d errors", r.server, r.client, r.mode, r.errors))
		}
		want++
	}
	if want < 3*3 {
		problems = append(problems, fmt.Sprintf("only %d cases measured", want))
	}
	for _, s := range []string{beginMarker, endMarker, "### Single GET", "### Pipelined 16", "### Batches of 1,000", "### Memory per listed record"} {
		if !strings.Contains(md, s) {
			problems = append(problems, "section lacks "+s)
		}
	}
	if strings.Contains(md, "NaN") || strings.Contains(md, "Inf") {
		problems = append(problems, "section has NaN or Inf")
	}
	for _, m := range c.memory {
		if m.loaded <= m.empty {
			problems = append(problems, fmt.Sprintf("%s: memory %d loaded, %d empty", m.server, m.loaded, m.empty))
		}
	}
	if len(problems) > 0 {
		return errors.New("the run does not hold up:\n  " + strings.Join(problems, "\n  "))
	}
	return nil
}

// writeSection replaces the text between the markers in path (markers
// included) with md, or appends md when the markers are absent; the rest of
// the file is left byte for byte.
func writeSection(path, md string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	s := string(old)
	var out string
	i, j := strings.Index(s, beginMarker), strings.Index(s, endMarker)
	switch {
	case i >= 0 && j > i:
		out = s[:i] + strings.TrimSuffix(md, "\n") + s[j+len(endMarker):]
	case i >= 0 || j >= 0:
		return fmt.Errorf("%s has only one of the compare markers: fix it by hand", path)
	case s == "":
		out = md
	default:
		out = strings.TrimRight(s, "\n") + "\n\n" + md
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".benchmarks-*.md")
	if err != nil {
		return err
	}
	if _, err := tmp.WriteString(out); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	tmp.Close()
	os.Chmod(tmp.Name(), 0o644)
	return os.Rename(tmp.Name(), path)
}
