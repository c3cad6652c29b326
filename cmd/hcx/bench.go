package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"golang.org/x/term"

	"github.com/yrd-hcx/hcx/bench"
)

const benchArgs = "--url URL --token T [--duration 10s] [--connections 64] [--pipeline N] [--batch N] [--hit-ratio 0.01] [--ids FILE | --data DIR] [--rate R] [--warmup 2s] [--json] [--html FILE]"

func cmdBench(ctx context.Context, e *env, args []string) error {
	fs := e.flags("bench", benchArgs, "Load an hcx server and check every answer against a generated day: "+
		"requests/s, lookups/s, errors by kind, latency percentiles. Exit 1 if any request failed or any answer had the wrong colour")
	url := fs.String("url", "", "base URL of the server, e.g. http://127.0.0.1:8080")
	token := fs.String("token", "", "bearer token with the lookup role")
	duration := fs.Duration("duration", 10*time.Second, "measured time")
	warmup := fs.Duration("warmup", 2*time.Second, "load before measuring, not counted")
	conns := fs.Int("connections", 64, "concurrent connections")
	pipeline := fs.Int("pipeline", 1, "requests in flight per connection (written back to back, then read)")
	batch := fs.Int("batch", 0, "IDs per POST /v1/status (text/plain); 0 sends single GET /v1/status/{id}")
	hit := fs.Float64("hit-ratio", 0.01, "share of listed IDs among the queries (--data); the rest are valid unlisted IDs, expected green")
	idsFile := fs.String("ids", "", "file of IDs to ask, one a line, each optionally followed by ,COLOUR (checked when given)")
	data := fs.String("data", "", "directory of generated daily files {region}-{date}.csv[.gz]: the expected colours")
	queries := fs.Int("queries", 100_000, "distinct IDs drawn from --data")
	seed := fs.Uint64("seed", 1, "seed for drawing the IDs")
	rate := fs.Float64("rate", 0, "requests/s for the open model (latency from the intended send time); 0 is the closed model")
	timeout := fs.Duration("timeout", 10*time.Second, "per read or write on a connection")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	htmlFile := fs.String("html", "", "write a self-contained HTML report with latency and throughput charts to FILE")
	cpuProfile := fs.String("cpuprofile", "", "write the load generator's own CPU profile to FILE")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usagef("bench takes no arguments")
	case *url == "":
		return usagef("bench needs --url")
	case (*idsFile == "") == (*data == ""):
		return usagef("bench needs one of --ids FILE or --data DIR")
	case *hit < 0 || *hit > 1:
		return usagef("--hit-ratio must be between 0 and 1")
	case *conns < 1 || *pipeline < 1 || *batch < 0 || *rate < 0 || *queries < 1 || *duration <= 0 || *warmup < 0:
		return usagef("--connections, --pipeline, --queries and --duration must be positive; --batch, --rate and --warmup not negative")
	}

	var qs []bench.Query
	if *idsFile != "" {
		var err error
		if qs, err = bench.ReadQueries(*idsFile); err != nil {
			return err
		}
	} else {
		day, err := bench.LoadDay(*data)
		if err != nil {
			return err
		}
		qs = bench.Mix(day, *queries, *hit, *seed)
		e.log.Debug("day loaded", "files", len(day.Files), "listed", len(day.Colours))
	}

	cfg := bench.Config{
		URL: *url, Token: *token, Duration: *duration, Warmup: *warmup, Connections: *conns,
		Pipeline: *pipeline, Batch: *batch, Rate: *rate, Timeout: *timeout, Queries: qs,
	}
	if f, ok := e.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		cfg.Progress = func(p bench.Progress) {
			if p.Elapsed < 0 {
				fmt.Fprintf(f, "\r\033[Kwarming up %4.1fs", -p.Elapsed.Seconds())
				return
			}
			fmt.Fprintf(f, "\r\033[K%5.1fs/%gs  %10.0f req/s  %11.0f lookups/s  errors %d  wrong %d",
				p.Elapsed.Seconds(), p.Total.Seconds(), p.RPS, p.LPS, p.Errors, p.Wrong)
		}
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	res, err := bench.Run(ctx, cfg)
	if cfg.Progress != nil {
		fmt.Fprint(e.stderr, "\r\033[K")
	}
	if err != nil {
		return err
	}
	if *asJSON {
		if err := res.WriteJSON(e.stdout); err != nil {
			return err
		}
	} else {
		res.WriteText(e.stdout)
	}
	if *htmlFile != "" {
		f, err := os.Create(*htmlFile)
		if err != nil {
			return err
		}
		if err := res.WriteHTML(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if res.Failed() {
		return fmt.Errorf("bench: %d failed requests, %d wrong answers", res.Errors, res.WrongAnswers)
	}
	return nil
}
