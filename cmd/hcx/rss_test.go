package main

// The served process's memory per listed record, measured on the real
// binary: `hcx serve` on a generated 1,000,000-record day against `hcx
// serve` on an empty data directory, as BENCHMARKS.md reports it. Large
// (a million-record day), so behind HCX_BENCH_LARGE=1:
//
//	HCX_BENCH_LARGE=1 go test -count=1 -run TestServedRSS -v ./cmd/hcx
//
// The breakdown comes from outside the process too: the Go runtime's own
// figures from /metrics (heap in use, heap freed but not yet returned to
// the OS), the sizes of the snapshot file and of the edge filter it serves
// (identity and gzip).

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// maxRSSPerRecord is the target: resident bytes of the served process per
// listed person, beyond what the same server holds with no data.
const maxRSSPerRecord = 20

func TestServedRSS(t *testing.T) {
	if os.Getenv("HCX_BENCH_LARGE") != "1" {
		t.Skip("a million-record day: set HCX_BENCH_LARGE=1")
	}
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/PID/status")
	}
	e := newServeEnv(t)
	day := daysAgo(1)
	gen := filepath.Join(e.tmp, "gen")
	e.c.must(0, nil, "gen", "--out", gen, "--date", day, "--records", "1000000", "--seed", "31")
	files, _ := filepath.Glob(filepath.Join(gen, "*-"+day+".csv*"))
	if len(files) == 0 {
		t.Fatal("hcx gen wrote no files")
	}
	e.c.must(0, nil, append([]string{"ingest", "--data", e.data}, files...)...)
	empty := filepath.Join(e.tmp, "empty")
	e.c.must(0, nil, "init", "--data", empty)

	// The edge filter may need a token with role edge (not in every
	// release: then it is public).
	tok := ""
	if r := e.c.run(nil, "token", "add", "--data", e.data, "--role", "edge"); r.code == 0 {
		tok = strings.TrimSpace(r.stdout)
	}

	full := e.start(e.data)
	bare := e.launch(empty, freePort(t))
	waitHealthy(t, bare)
	// As serving-cost does: settle, then read both before any load.
	time.Sleep(2 * time.Second)
	rf, re := procStatus(t, full.cmd.Process.Pid), procStatus(t, bare.cmd.Process.Pid)
	mf, me := memstats(t, full), memstats(t, bare)

	records := snapshotRecords(t, full, e.lookup)
	snapFile, err := os.Stat(filepath.Join(e.data, "snapshot.hcx"))
	if err != nil {
		t.Fatal(err)
	}
	edge := wireSize(t, full, tok, false)
	edgeGz := wireSize(t, full, tok, true)

	per := func(v float64) string { return fmt.Sprintf("%6.2f", v/float64(records)) }
	d := func(k string) float64 { return mf[k] - me[k] }
	rss := rf["VmRSS"] - re["VmRSS"]
	heapIdle := d("go_memstats_heap_idle_bytes") - d("go_memstats_heap_released_bytes")
	inuse := d("go_memstats_heap_inuse_bytes")
	var b strings.Builder
	fmt.Fprintf(&b, "served RSS %.1f MB, empty %.1f MB, %d records: %s B per record (target %d)\n",
		rf["VmRSS"]/1e6, re["VmRSS"]/1e6, records, per(rss), maxRSSPerRecord)
	fmt.Fprintf(&b, "  B/record  what (served minus empty)\n")
	fmt.Fprintf(&b, "  %s    RssAnon (heap, stacks, runtime)\n", per(rf["RssAnon"]-re["RssAnon"]))
	fmt.Fprintf(&b, "  %s    RssFile (binary pages touched)\n", per(rf["RssFile"]-re["RssFile"]))
	fmt.Fprintf(&b, "  %s    Go heap in use (go_memstats_heap_inuse_bytes), of which:\n", per(inuse))
	fmt.Fprintf(&b, "  %s      the snapshot file (%d bytes)\n", per(float64(snapFile.Size())), snapFile.Size())
	fmt.Fprintf(&b, "  %s      the edge filter (%d bytes served)\n", per(float64(edge)), edge)
	fmt.Fprintf(&b, "  %s      the edge filter gzipped (%d bytes served), if kept\n", per(float64(edgeGz)), edgeGz)
	fmt.Fprintf(&b, "  %s      the rest: structures beyond the file, the gzip copy if kept, garbage not yet collected\n",
		per(inuse-float64(snapFile.Size())-float64(edge)))
	fmt.Fprintf(&b, "  %s    Go heap freed, not yet returned to the OS (idle - released)\n", per(heapIdle))
	fmt.Fprintf(&b, "  %s    Go runtime outside the heap (sys - heap_sys)\n", per(d("go_memstats_sys_bytes")-d("go_memstats_heap_sys_bytes")))
	fmt.Fprintf(&b, "  GC cycles %.0f, heap allocated since start %.1f MB, next GC at %.1f MB",
		mf["go_gc_duration_seconds_count"], mf["go_memstats_alloc_bytes_total"]/1e6, mf["go_memstats_next_gc_bytes"]/1e6)
	t.Log("\n" + b.String())
	if got := rss / float64(records); got > maxRSSPerRecord {
		t.Errorf("%.1f B of RSS per listed record, want at most %d", got, maxRSSPerRecord)
	}
}

// waitHealthy waits for /healthz: a server with no snapshot is never ready.
func waitHealthy(t *testing.T, s *hcxServer) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if code, _, err := s.do("GET", "/healthz", "", nil); err == nil && code == http.StatusOK {
			return
		}
	}
	t.Fatalf("hcx serve not healthy after 20s\nstderr:\n%s", clip(string(s.stderr.Bytes())))
}

// procStatus reads the process's VmRSS, RssAnon and RssFile, in bytes.
func procStatus(t *testing.T, pid int) map[string]float64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if f := strings.Fields(v); ok && len(f) == 2 && f[1] == "kB" {
			n, _ := strconv.ParseFloat(f[0], 64)
			out[k] = n * 1024
		}
	}
	if out["VmRSS"] == 0 {
		t.Fatalf("no VmRSS in /proc/%d/status", pid)
	}
	return out
}

// memstats reads the Go runtime's gauges from the server's /metrics.
func memstats(t *testing.T, s *hcxServer) map[string]float64 {
	t.Helper()
	code, body, err := s.do("GET", "/metrics", "", nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	out := map[string]float64{}
	for sc := bufio.NewScanner(bytes.NewReader(body)); sc.Scan(); {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && strings.HasPrefix(f[0], "go_") { // a sample with no labels
			out[f[0]], _ = strconv.ParseFloat(f[1], 64)
		}
	}
	if out["go_memstats_heap_inuse_bytes"] == 0 {
		t.Fatal("no go_memstats_heap_inuse_bytes in /metrics")
	}
	return out
}

func snapshotRecords(t *testing.T, s *hcxServer, token string) int {
	t.Helper()
	code, body, err := s.do("GET", "/v1/snapshot", token, nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /v1/snapshot: %d %v %s", code, err, body)
	}
	m := regexp.MustCompile(`"records":(\d+)`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no records in %s", body)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// wireSize is how many bytes GET /v1/edge/filter sends, asked for gzip or
// not.
func wireSize(t *testing.T, s *hcxServer, token string, gzip bool) int {
	t.Helper()
	req, _ := http.NewRequest("GET", s.base+"/v1/edge/filter", nil)
	if gzip {
		req.Header.Set("Accept-Encoding", "gzip") // set by hand: the transport then leaves the body compressed
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	n, _ := io.Copy(io.Discard, res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/edge/filter: %s", res.Status)
	}
	return int(n)
}
