package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/bench"
)

// hcxBin is cmd/hcx built once for these tests: hcx bench is tested as a
// user runs it, against hcx serve as a black box (package bench does not
// import package server).
var hcxBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hcx-bench-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hcxBin = filepath.Join(dir, "hcx")
	if out, err := exec.Command("go", "build", "-o", hcxBin, "github.com/yrd-hcx/hcx/cmd/hcx").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building hcx: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func hcx(t *testing.T, args ...string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(hcxBin, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hcx %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// serveDay makes a data dir with a generated day and runs hcx serve on it.
func serveDay(t *testing.T, records int) (url, token, genDir string) {
	t.Helper()
	tmp := t.TempDir()
	data, genDir := filepath.Join(tmp, "data"), filepath.Join(tmp, "gen")
	hcx(t, "init", "--data", data)
	token = hcx(t, "token", "add", "--data", data, "--role", "lookup")
	hcx(t, "gen", "--out", genDir, "--date", "2026-11-26", "--records", fmt.Sprint(records), "--seed", "9")
	files, _ := filepath.Glob(filepath.Join(genDir, "*.csv.gz"))
	hcx(t, append([]string{"ingest", "--data", data}, files...)...)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(hcxBin, "serve", "--data", data, "--listen", addr)
	var log bytes.Buffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url = "http://" + addr
	for i := 0; ; i++ {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if i == 200 {
			t.Fatalf("hcx serve not ready: %s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return url, token, genDir
}

// runBench runs hcx bench and returns its JSON, its exit code and stderr.
func runBench(t *testing.T, args ...string) (bench.Report, map[string]any, int, string) {
	t.Helper()
	cmd := exec.Command(hcxBin, append([]string{"bench", "--json"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	var raw map[string]any
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("hcx bench printed no JSON (exit %d): %v\n%s\n%s", code, err, out, stderr.String())
	}
	json.Unmarshal(out, &raw)
	return rep, raw, code, stderr.String()
}

func TestBenchAgainstHcxServe(t *testing.T) {
	url, token, genDir := serveDay(t, 20000)
	html := filepath.Join(t.TempDir(), "report.html")
	for _, tc := range []struct {
		name string
		args []string
		per  uint64
	}{
		{"single", []string{"--connections", "8"}, 1},
		{"pipelined", []string{"--connections", "4", "--pipeline", "16"}, 1},
		{"batch", []string{"--connections", "4", "--batch", "1000", "--hit-ratio", "0.3"}, 1000},
		{"open", []string{"--connections", "8", "--rate", "2000", "--html", html}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--url", url, "--token", token, "--data", genDir, "--duration", "1s", "--warmup", "200ms"}, tc.args...)
			rep, raw, code, stderr := runBench(t, args...)
			if code != 0 || rep.Errors != 0 || rep.WrongAnswers != 0 {
				t.Fatalf("exit %d, errors %v, wrong %d %v\n%s", code, rep.ErrorsByKind, rep.WrongAnswers, rep.WrongExamples, stderr)
			}
			if rep.Requests == 0 || rep.Lookups != tc.per*rep.Requests || rep.RequestsPerSec <= 0 || rep.LookupsPerSec < rep.RequestsPerSec {
				t.Fatalf("requests %d, lookups %d, %.0f req/s, %.0f lookups/s", rep.Requests, rep.Lookups, rep.RequestsPerSec, rep.LookupsPerSec)
			}
			// The fields the contract names, by their JSON names.
			for _, k := range []string{"requests_per_sec", "lookups_per_sec", "errors", "wrong_answers", "latency_ms"} {
				if _, ok := raw[k]; !ok {
					t.Errorf("JSON lacks %s", k)
				}
			}
			lat, _ := raw["latency_ms"].(map[string]any)
			for _, k := range []string{"p50", "p90", "p99", "p999", "max"} {
				if v, ok := lat[k].(float64); !ok || v <= 0 {
					t.Errorf("latency_ms.%s = %v", k, lat[k])
				}
			}
			if tc.name == "open" {
				if rep.Requests < 1500 || rep.Requests > 2100 || rep.Model != "open (2000 req/s)" {
					t.Errorf("open model at 2000/s for 1 s: %d requests, model %q", rep.Requests, rep.Model)
				}
				b, err := os.ReadFile(html)
				if err != nil {
					t.Fatal(err)
				}
				checkHTML(t, string(b))
			}
		})
	}
}

func TestBenchFailsOnWrongAnswers(t *testing.T) {
	_, day := testDay(t, 2000)
	f := fakeFor(day)
	f.wrong = true
	url := f.start(t, true)
	dir := t.TempDir()
	ids := filepath.Join(dir, "ids.txt")
	var b strings.Builder
	for _, q := range bench.Mix(day, 100, 0.5, 1) {
		fmt.Fprintf(&b, "%s,%s\n", q.ID, q.Want)
	}
	os.WriteFile(ids, []byte(b.String()), 0o644)
	rep, _, code, stderr := runBench(t, "--url", url, "--ids", ids, "--duration", "300ms", "--warmup", "0s", "--connections", "2")
	if code != 1 || rep.WrongAnswers == 0 || len(rep.WrongExamples) == 0 || !strings.Contains(stderr, "wrong answers") {
		t.Fatalf("a server giving wrong colours: exit %d, wrong %d, stderr %q", code, rep.WrongAnswers, stderr)
	}
}

func TestBenchFailsOnBadToken(t *testing.T) {
	url, _, genDir := serveDay(t, 1000)
	rep, _, code, _ := runBench(t, "--url", url, "--token", "not-a-token", "--data", genDir, "--duration", "300ms", "--warmup", "0s", "--connections", "2")
	if code != 1 || rep.ErrorsByKind["http_401"] == 0 || rep.Requests != 0 {
		t.Fatalf("bad token: exit %d, errors %v, requests %d", code, rep.ErrorsByKind, rep.Requests)
	}
}

func TestBenchUsage(t *testing.T) {
	for _, args := range [][]string{
		{"bench"},
		{"bench", "--url", "http://127.0.0.1:1"},
		{"bench", "--url", "http://127.0.0.1:1", "--ids", "x", "--data", "y"},
		{"bench", "--url", "http://127.0.0.1:1", "--data", "y", "--hit-ratio", "2"},
	} {
		err := exec.Command(hcxBin, args...).Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("hcx %s: %v, want exit 2", strings.Join(args, " "), err)
		}
	}
}

// TestRunCancel: a cancelled context ends a run early with ctx's error.
func TestRunCancel(t *testing.T) {
	_, day := testDay(t, 500)
	f := fakeFor(day)
	url := f.start(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := bench.Run(ctx, bench.Config{URL: url, Dial: f.dial, Duration: time.Minute, Queries: bench.Mix(day, 100, 0, 1)})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("Run = %v after %s", err, time.Since(start))
	}
}
