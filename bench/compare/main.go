// Command compare is make compare (bench/compare.sh): in one run on this
// machine it measures hcx serve (auth, metrics and JSON on, a real data
// dir), a bare fasthttp server over a Go map, a net/http server over a Go
// map and Redis, on the same IDs, in three modes (single GET, pipelined 16,
// batches of 1,000), driven by wrk and by hcx bench (Redis by
// redis-benchmark); then again with the server pinned to CPU 0 and the
// client to CPU 1; and the memory each needs per record. It writes the
// section between <!-- compare:begin --> and <!-- compare:end --> of
// BENCHMARKS.md, and nothing else of the file.
//
// --short is the smoke run inside make test: 2 s per case, a small day,
// Redis optional, the section written to a temporary file and checked,
// never to BENCHMARKS.md.
package main

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/yrd-hcx/hcx/bench"
)

//go:embed lua/*.lua
var luaFiles embed.FS

const (
	beginMarker = "<!-- compare:begin -->"
	endMarker   = "<!-- compare:end -->"
)

type options struct {
	short    bool
	duration time.Duration
	records  int
	seed     int
	out      string
	keep     bool
	pin      bool
	rounds   int
	head     bool
	args     []string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	var o options
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.BoolVar(&o.short, "short", false, "smoke run: 2 s per case, a small day, Redis optional, output to a temporary file")
	fs.DurationVar(&o.duration, "duration", 0, "time per case (default 10s, 2s with --short)")
	fs.IntVar(&o.records, "records", 0, "records in the generated day (default 1,000,000; 50,000 with --short)")
	fs.IntVar(&o.seed, "seed", 31, "hcx gen seed")
	fs.StringVar(&o.out, "out", "BENCHMARKS.md", "file whose compare section is written (not with --short)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (binaries, data, logs, raw outputs)")
	fs.IntVar(&o.rounds, "rounds", 0, "split each case into this many rounds, interleaved across the servers so that load from other work hits all alike (default 2, 1 with --short)")
	fs.BoolVar(&o.head, "head", false, "build hcx and the baselines from the commit HEAD (git archive), not from the working tree")
	fs.BoolVar(&o.pin, "pin", true, "also measure with the server pinned to CPU 0 and the client to CPU 1 (needs taskset and 2 CPUs; not with --short)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.args = args
	if o.duration == 0 {
		o.duration = map[bool]time.Duration{false: 10 * time.Second, true: 2 * time.Second}[o.short]
	}
	if o.records == 0 {
		o.records = map[bool]int{false: 1_000_000, true: 50_000}[o.short]
	}
	if o.rounds <= 0 {
		o.rounds = map[bool]int{false: 2, true: 1}[o.short]
	}
	if o.short {
		o.pin = false
	}
	if o.pin && (runtime.NumCPU() < 2 || !have("taskset")) {
		logf("no taskset or fewer than 2 CPUs: no pinned figures")
		o.pin = false
	}
	if !have("wrk") {
		return errors.New("wrk is not installed (apt-get install -y wrk)")
	}
	withRedis := have("redis-server") && have("redis-benchmark")
	if !withRedis && !o.short {
		return errors.New("redis-server and redis-benchmark are needed (apt-get install -y redis-server redis-tools)")
	}

	tmp, err := os.MkdirTemp("", "hcx-compare-")
	if err != nil {
		return err
	}
	if o.keep {
		logf("keeping %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	c := &comparison{o: o, tmp: tmp, started: time.Now(), redisN: map[string]int{}}
	defer c.stopAll()
	c.loadStart = loadavg()
	if err := c.prepare(ctx); err != nil {
		return err
	}
	var up []*running
	for _, s := range c.servers() {
		r, err := c.startServer(ctx, s)
		if err != nil {
			return err
		}
		up = append(up, r)
	}
	var redis *running
	if withRedis {
		if redis, err = c.startRedis(ctx); err != nil {
			return err
		}
	} else {
		logf("redis-server or redis-benchmark not installed: Redis skipped (short mode)")
	}
	if err := c.measure(ctx, up, redis); err != nil {
		return err
	}
	c.loadEnd = loadavg()
	c.took = time.Since(c.started)

	md := c.markdown()
	if err := c.sanity(md); err != nil {
		return err
	}
	if o.short {
		p := filepath.Join(os.TempDir(), "hcx-compare-short.md")
		if err := os.WriteFile(p, []byte(md), 0o644); err != nil {
			return err
		}
		logf("short run ok in %s; section written to %s (BENCHMARKS.md untouched)", c.took.Round(time.Second), p)
		return nil
	}
	if err := writeSection(o.out, md); err != nil {
		return err
	}
	logf("wrote the compare section of %s in %s", o.out, c.took.Round(time.Second))
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "compare: "+format+"\n", args...)
}

func have(cmd string) bool { _, err := exec.LookPath(cmd); return err == nil }

// comparison is one run's state and figures.
type comparison struct {
	o         options
	tmp       string
	bin       string
	token     string
	gen       string // generated day
	data      string // hcx data dir with the day ingested
	empty     string // hcx data dir without a snapshot (memory baseline)
	idsFile   string // IDs, one a line, for wrk
	wantFile  string // the same IDs with their colours, for hcx bench
	listed    int    // distinct listed IDs in the day
	absentID  string // an unlisted ID for redis-benchmark SISMEMBER
	batchIDs  []string
	procs     []*proc
	started   time.Time
	took      time.Duration
	loadStart string
	loadEnd   string
	versions  map[string]string
	commit    string
	listDate  string

	results []result
	redisN  map[string]int // requests per redis-benchmark run, sized to a round
	memory  []memRow
}

// result is one measured case.
type result struct {
	server, client, mode string
	pinned               bool
	rps, lps             float64
	p50, p99             float64 // ms
	errors               uint64
	note                 string
	cpu                  float64 // server CPU time per lookup, µs (0: unknown)
}

type memRow struct {
	server        string
	empty, loaded int64 // bytes
	how           string
}

type server struct {
	name   string
	loaded []string // argv with LISTEN for the address
	empty  []string
	ready  string // path answering 200 once loaded
	token  bool
}

type mode struct {
	key, title     string
	conns, depth   int
	batch          int
	script         string
	redisArgs      func(c *comparison) []string
	redisPipe      int
	redisCalibrate int
}

var modes = []mode{
	{key: "get", title: "Single GET, 64 connections", conns: 64, depth: 1, script: "ids.lua",
		redisArgs: func(c *comparison) []string { return []string{"SISMEMBER", "listed", c.absentID} }, redisPipe: 1, redisCalibrate: 20000},
	{key: "pipe", title: "Pipelined 16 deep, 64 connections", conns: 64, depth: 16, script: "pipeline.lua",
		redisArgs: func(c *comparison) []string { return []string{"SISMEMBER", "listed", c.absentID} }, redisPipe: 16, redisCalibrate: 200000},
	{key: "batch", title: "Batches of 1,000 IDs (POST /v1/status, text/plain), 16 connections", conns: 16, depth: 1, batch: 1000, script: "batch.lua",
		redisArgs: func(c *comparison) []string {
			return append([]string{"SMISMEMBER", "listed"}, c.batchIDs...)
		}, redisPipe: 1, redisCalibrate: 2000},
}

const (
	hcxName      = "hcx serve"
	fasthttpName = "fasthttp + map"
	nethttpName  = "net/http + map"
	redisName    = "Redis"
	clientWrk    = "wrk"
	clientBench  = "hcx bench"
	clientRedis  = "redis-benchmark"
)

func (c *comparison) servers() []server {
	b := func(name string) string { return filepath.Join(c.bin, name) }
	return []server{
		{name: hcxName, ready: "/readyz", token: true,
			loaded: []string{b("hcx"), "serve", "--data", c.data, "--listen", "LISTEN"},
			empty:  []string{b("hcx"), "serve", "--data", c.empty, "--listen", "LISTEN"}},
		{name: fasthttpName, ready: "/readyz",
			loaded: []string{b("fasthttpmap"), "--data", c.gen, "--listen", "LISTEN"},
			empty:  []string{b("fasthttpmap"), "--listen", "LISTEN"}},
		{name: nethttpName, ready: "/readyz",
			loaded: []string{b("nethttpmap"), "--data", c.gen, "--listen", "LISTEN"},
			empty:  []string{b("nethttpmap"), "--listen", "LISTEN"}},
	}
}

// prepare builds the binaries and a real data dir: hcx init, a lookup
// token, one generated day, ingested.
func (c *comparison) prepare(ctx context.Context) error {
	c.bin = filepath.Join(c.tmp, "bin")
	c.commit = "unknown (not a git checkout)"
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		c.commit = "`" + strings.TrimSpace(string(out)) + "`"
		if c.o.head {
			c.commit += " (exported with git archive)"
		} else if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
			c.commit += ", with uncommitted changes in the working tree"
		}
	}
	src := "."
	if c.o.head {
		src = filepath.Join(c.tmp, "src")
		if err := os.MkdirAll(src, 0o755); err != nil {
			return err
		}
		if out, err := exec.CommandContext(ctx, "sh", "-c", "git archive --format=tar HEAD | tar -x -C \""+src+"\"").CombinedOutput(); err != nil {
			return fmt.Errorf("git archive HEAD: %v: %s", err, out)
		}
	}
	logf("building hcx and the baselines from %s", c.commit)
	build := exec.CommandContext(ctx, "go", "build", "-o", c.bin+"/", "./cmd/hcx", "./bench/baseline/fasthttpmap", "./bench/baseline/nethttpmap")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	hcx := filepath.Join(c.bin, "hcx")
	c.data, c.empty, c.gen = filepath.Join(c.tmp, "data"), filepath.Join(c.tmp, "empty"), filepath.Join(c.tmp, "gen")
	for _, d := range []string{c.data, c.empty} {
		if _, err := output(ctx, hcx, "init", "--data", d); err != nil {
			return err
		}
	}
	tok, err := output(ctx, hcx, "token", "add", "--data", c.data, "--role", "lookup")
	if err != nil {
		return err
	}
	c.token = strings.TrimSpace(tok)
	if _, err := output(ctx, hcx, "token", "add", "--data", c.empty, "--role", "lookup"); err != nil {
		return err
	}
	logf("generating %d records and ingesting them", c.o.records)
	// Today's list in China Standard Time: a fresh day, no region stale, as
	// in service.
	c.listDate = time.Now().In(time.FixedZone("CST", 8*3600)).Format("2006-01-02")
	if _, err := output(ctx, hcx, "gen", "--out", c.gen, "--date", c.listDate, "--records", strconv.Itoa(c.o.records), "--seed", strconv.Itoa(c.o.seed)); err != nil {
		return err
	}
	files, _ := filepath.Glob(filepath.Join(c.gen, "*.csv.gz"))
	if _, err := output(ctx, hcx, append([]string{"ingest", "--data", c.data}, files...)...); err != nil {
		return err
	}
	day, err := bench.LoadDay(c.gen)
	if err != nil {
		return err
	}
	c.listed = len(day.Colours)
	// The same 10,000 queries for every client: 1% listed, the rest valid
	// IDs listed nowhere (what a gate mostly sees).
	qs := bench.Mix(day, 10_000, 0.01, 2)
	c.idsFile, c.wantFile = filepath.Join(c.tmp, "ids.txt"), filepath.Join(c.tmp, "want.txt")
	if err := bench.WriteIDs(c.idsFile, qs); err != nil {
		return err
	}
	var want strings.Builder
	for _, q := range qs {
		fmt.Fprintf(&want, "%s,%s\n", q.ID, q.Want)
		if q.Want == bench.Green && c.absentID == "" {
			c.absentID = q.ID.String()
		}
		if len(c.batchIDs) < 1000 {
			c.batchIDs = append(c.batchIDs, q.ID.String())
		}
	}
	if err := os.WriteFile(c.wantFile, []byte(want.String()), 0o644); err != nil {
		return err
	}
	for _, name := range []string{"ids.lua", "pipeline.lua", "batch.lua"} {
		b, _ := luaFiles.ReadFile("lua/" + name)
		if err := os.WriteFile(filepath.Join(c.tmp, name), b, 0o644); err != nil {
			return err
		}
	}
	c.versions = map[string]string{"go": runtime.Version()}
	if out, _ := exec.Command("wrk", "--version").CombinedOutput(); len(out) > 0 {
		c.versions["wrk"] = strings.Fields(string(out))[1]
	}
	if out, err := exec.Command("redis-server", "--version").Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if v, ok := strings.CutPrefix(f, "v="); ok {
				c.versions["redis"] = v
			}
		}
	}
	return nil
}

func output(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", filepath.Base(name), args[0], err, lastLine(stderr.String()))
	}
	return string(out), nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// proc is a process this run started.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited
	err  error
}

func (c *comparison) spawn(name string, args []string, log io.Writer) (*proc, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	c.procs = append(c.procs, p)
	return p, nil
}

// start runs argv (LISTEN replaced by a free address) and waits until path
// answers 200.
func (c *comparison) start(ctx context.Context, name string, argv []string, path string) (*proc, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	args := make([]string, len(argv))
	for i, a := range argv {
		args[i] = strings.ReplaceAll(a, "LISTEN", addr)
	}
	log, err := os.Create(filepath.Join(c.tmp, strings.NewReplacer(" ", "", "/", "", "+", "-").Replace(name)+".log"))
	if err != nil {
		return nil, "", err
	}
	defer log.Close()
	p, err := c.spawn(name, args, log)
	if err != nil {
		return nil, "", err
	}
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return nil, "", fmt.Errorf("%s exited: %v (log %s)", name, p.err, log.Name())
		case <-ctx.Done():
			return nil, "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := hc.Get("http://" + addr + path)
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return p, addr, nil
		}
	}
	return nil, "", fmt.Errorf("%s not ready after 60 s", name)
}

// stop ends a process this run started: SIGTERM, then SIGKILL after 5 s.
func (c *comparison) stop(p *proc) {
	if p == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	for i, q := range c.procs {
		if q == p {
			c.procs = append(c.procs[:i], c.procs[i+1:]...)
			break
		}
	}
}

func (c *comparison) stopAll() {
	for len(c.procs) > 0 {
		c.stop(c.procs[len(c.procs)-1])
	}
}

// cpuTime is the user+system CPU time a process has used, from
// /proc/PID/stat (clock ticks of 1/100 s on Linux).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // after the command name
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

// rss is a process's resident set in bytes.
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// running is a server up for the measurements.
type running struct {
	name string
	url  string // HTTP servers
	port string // Redis
	p    *proc
}

// startServer measures the server's memory (the same program empty, then
// loaded, each fresh and idle) and leaves the loaded one running.
func (c *comparison) startServer(ctx context.Context, s server) (*running, error) {
	emptyPath := s.ready
	if s.name == hcxName {
		emptyPath = "/healthz" // without a snapshot hcx is alive but not ready
	}
	p, _, err := c.start(ctx, s.name+"-empty", s.empty, emptyPath)
	if err != nil {
		return nil, err
	}
	time.Sleep(300 * time.Millisecond)
	m := memRow{server: s.name, empty: rss(p.cmd.Process.Pid), how: "RSS, loaded minus empty"}
	c.stop(p)

	logf("%s: starting", s.name)
	p, addr, err := c.start(ctx, s.name, s.loaded, s.ready)
	if err != nil {
		return nil, err
	}
	time.Sleep(300 * time.Millisecond)
	m.loaded = rss(p.cmd.Process.Pid)
	c.memory = append(c.memory, m)
	return &running{name: s.name, url: "http://" + addr, p: p}, nil
}

// measure runs every case: per mode, rounds interleaved across the
// servers (the same minutes of the machine for each), then the same pinned.
func (c *comparison) measure(ctx context.Context, servers []*running, redis *running) error {
	d := c.o.duration / time.Duration(c.o.rounds)
	if !c.o.short { // connections, caches and the heap settle before the first figure
		for _, s := range servers {
			if _, err := c.wrk(ctx, s.name, s.url, modes[0], false, 2*time.Second); err != nil {
				return err
			}
		}
	}
	for _, pinned := range []bool{false, true} {
		if pinned {
			if !c.o.pin {
				break
			}
			all := append([]*running{}, servers...)
			if redis != nil {
				all = append(all, redis)
			}
			for _, s := range all {
				if err := pin(s.p.cmd.Process.Pid, "0"); err != nil {
					return err
				}
			}
		}
		for _, md := range modes {
			for range c.o.rounds {
				for _, s := range servers {
					cpu0 := cpuTime(s.p.cmd.Process.Pid)
					r, err := c.wrk(ctx, s.name, s.url, md, pinned, d)
					if err != nil {
						return err
					}
					c.add(r, s, cpu0, d)
					if pinned || c.o.short && s.name != hcxName {
						continue // hcx bench's own path is exercised against hcx; keep the smoke run short
					}
					cpu0 = cpuTime(s.p.cmd.Process.Pid)
					if r, err = c.hcxBench(ctx, s.name, s.url, md, d); err != nil {
						return err
					}
					c.add(r, s, cpu0, d)
				}
				if redis != nil {
					cpu0 := cpuTime(redis.p.cmd.Process.Pid)
					start := time.Now()
					r, err := c.redisBenchmark(ctx, redis.port, md, pinned, d)
					if err != nil {
						return err
					}
					c.add(r, redis, cpu0, time.Since(start))
				}
			}
		}
	}
	return nil
}

// add records r with the server CPU time it cost per lookup: the
// server's CPU time over the run (d long) divided by the lookups answered.
// Unlike throughput, this hardly depends on what else the machine runs.
func (c *comparison) add(r result, s *running, cpu0, d time.Duration) {
	if n := r.lps * d.Seconds(); n > 0 {
		r.cpu = float64(cpuTime(s.p.cmd.Process.Pid)-cpu0) / float64(time.Microsecond) / n
	}
	c.results = append(c.results, r)
}

// pin sets the CPU affinity of every thread of pid (new threads inherit it).
func pin(pid int, cpus string) error {
	out, err := exec.Command("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(pid)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("taskset: %v: %s", err, out)
	}
	return nil
}

// client runs a load client, on CPU 1 when pinned.
func client(ctx context.Context, pinned bool, env []string, name string, args ...string) *exec.Cmd {
	if pinned {
		args = append([]string{"-c", "1", name}, args...)
		name = "taskset"
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

func (c *comparison) wrk(ctx context.Context, srv, url string, md mode, pinned bool, d time.Duration) (result, error) {
	cmd := client(ctx, pinned, []string{"IDS_FILE=" + c.idsFile, "TOKEN=" + c.token, "DEPTH=" + strconv.Itoa(md.depth), "BATCH=" + strconv.Itoa(md.batch)},
		"wrk", "-t1", "-c"+strconv.Itoa(md.conns), fmt.Sprintf("-d%ds", int(d.Seconds())), "--latency", "-s", filepath.Join(c.tmp, md.script), url)
	out, err := cmd.CombinedOutput()
	r := result{server: srv, client: clientWrk, mode: md.key, pinned: pinned}
	if err != nil {
		return r, fmt.Errorf("wrk against %s: %v: %s", srv, err, out)
	}
	if err := parseWrk(string(out), &r); err != nil {
		return r, fmt.Errorf("wrk against %s (%s): %v:\n%s", srv, md.key, err, out)
	}
	r.lps = r.rps * float64(max(md.batch, 1))
	if md.depth > 1 {
		r.note = "latency of the whole pipeline"
	}
	logf("%-15s %-9s %-5s %-6s %4s %10.0f req/s %12.0f lookups/s  p50 %.3f ms  p99 %.3f ms  errors %d",
		srv, clientWrk, md.key, map[bool]string{true: "pinned", false: ""}[pinned], d, r.rps, r.lps, r.p50, r.p99, r.errors)
	return r, nil
}

// parseWrk reads Requests/sec, the 50% and 99% latencies (--latency) and
// the error lines of wrk's report.
func parseWrk(out string, r *result) error {
	found := false
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return err
			}
			r.rps, found = v, true
		case len(f) == 2 && (f[0] == "50%" || f[0] == "99%"):
			ms, err := wrkDuration(f[1])
			if err != nil {
				return err
			}
			if f[0] == "50%" {
				r.p50 = ms
			} else {
				r.p99 = ms
			}
		case strings.HasPrefix(strings.TrimSpace(l), "Non-2xx or 3xx responses:"):
			n, _ := strconv.ParseUint(f[len(f)-1], 10, 64)
			r.errors += n
		case strings.HasPrefix(strings.TrimSpace(l), "Socket errors:"):
			for _, part := range strings.Split(strings.TrimPrefix(strings.TrimSpace(l), "Socket errors:"), ",") {
				if pf := strings.Fields(part); len(pf) == 2 {
					n, _ := strconv.ParseUint(pf[1], 10, 64)
					r.errors += n
				}
			}
		}
	}
	if !found {
		return errors.New("no Requests/sec line")
	}
	return nil
}

// wrkDuration reads wrk's 652.00us, 1.23ms, 1.01s, 1.50m as milliseconds.
func wrkDuration(s string) (float64, error) {
	for _, u := range []struct {
		suffix string
		ms     float64
	}{{"us", 1e-3}, {"ms", 1}, {"s", 1e3}, {"m", 60e3}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f * u.ms, err
		}
	}
	return 0, fmt.Errorf("wrk duration %q", s)
}

func (c *comparison) hcxBench(ctx context.Context, srv, url string, md mode, d time.Duration) (result, error) {
	warm := "1s"
	if c.o.short {
		warm = "0s"
	}
	args := []string{"bench", "--url", url, "--token", c.token, "--ids", c.wantFile, "--json",
		"--duration", d.String(), "--warmup", warm, "--connections", strconv.Itoa(md.conns),
		"--pipeline", strconv.Itoa(md.depth), "--batch", strconv.Itoa(md.batch)}
	cmd := client(ctx, false, nil, filepath.Join(c.bin, "hcx"), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	r := result{server: srv, client: clientBench, mode: md.key}
	var rep bench.Report
	if jerr := json.Unmarshal(out, &rep); jerr != nil {
		return r, fmt.Errorf("hcx bench against %s (%s): %v: %s", srv, md.key, err, lastLine(stderr.String()))
	}
	r.rps, r.lps, r.p50, r.p99, r.errors = rep.RequestsPerSec, rep.LookupsPerSec, rep.LatencyMS.P50, rep.LatencyMS.P99, rep.Errors
	if rep.WrongAnswers > 0 {
		return r, fmt.Errorf("hcx bench against %s (%s): %d wrong answers, e.g. %v", srv, md.key, rep.WrongAnswers, rep.WrongExamples)
	}
	logf("%-15s %-9s %-5s %-6s %4s %10.0f req/s %12.0f lookups/s  p50 %.3f ms  p99 %.3f ms  errors %d",
		srv, clientBench, md.key, "", d, r.rps, r.lps, r.p50, r.p99, r.errors)
	return r, nil
}

// startRedis starts redis-server, loads the day's listed IDs into one set
// with SADD and measures the memory that took.
func (c *comparison) startRedis(ctx context.Context) (*running, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	log, err := os.Create(filepath.Join(c.tmp, "redis.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	p, err := c.spawn("redis-server", []string{"redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"}, log)
	if err != nil {
		return nil, err
	}
	pid := p.cmd.Process.Pid

	var conn net.Conn
	for range 100 {
		if conn, err = net.Dial("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("redis-server did not start: %v", err)
	}
	defer conn.Close()
	rc := &resp{w: bufio.NewWriter(conn), r: bufio.NewReader(conn)}
	before, err := rc.usedMemory()
	if err != nil {
		return nil, err
	}
	rssBefore := rss(pid)
	logf("Redis: loading %d IDs", c.listed)
	day, err := bench.LoadDay(c.gen)
	if err != nil {
		return nil, err
	}
	chunk := make([]string, 0, 1000)
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		err := rc.do(append([]string{"SADD", "listed"}, chunk...)...)
		chunk = chunk[:0]
		return err
	}
	for _, id := range day.Listed() {
		if chunk = append(chunk, id.String()); len(chunk) == cap(chunk) {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	after, err := rc.usedMemory()
	if err != nil {
		return nil, err
	}
	c.memory = append(c.memory, memRow{server: redisName, empty: before, loaded: after, how: "INFO used_memory, loaded minus empty"})
	logf("Redis: used_memory %d -> %d bytes (RSS %d -> %d)", before, after, rssBefore, rss(pid))

	return &running{name: redisName, port: port, p: p}, nil
}

func (c *comparison) redisBenchmark(ctx context.Context, port string, md mode, pinned bool, d time.Duration) (result, error) {
	runOnce := func(n int) (result, error) {
		args := append([]string{"-h", "127.0.0.1", "-p", port, "-n", strconv.Itoa(n), "-c", strconv.Itoa(md.conns),
			"-P", strconv.Itoa(md.redisPipe), "--csv"}, md.redisArgs(c)...)
		out, err := client(ctx, pinned, nil, "redis-benchmark", args...).Output()
		r := result{server: redisName, client: clientRedis, mode: md.key, pinned: pinned}
		if err != nil {
			return r, fmt.Errorf("redis-benchmark (%s): %v", md.key, err)
		}
		recs, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
		if err != nil || len(recs) < 2 || len(recs[1]) < 7 {
			return r, fmt.Errorf("redis-benchmark (%s): unexpected output %.200q", md.key, out)
		}
		r.rps, _ = strconv.ParseFloat(recs[1][1], 64)
		r.p50, _ = strconv.ParseFloat(recs[1][4], 64)
		r.p99, _ = strconv.ParseFloat(recs[1][6], 64)
		r.lps = r.rps * float64(max(md.batch, 1))
		return r, nil
	}
	// A short run sizes the real one to the case duration (redis-benchmark
	// counts requests, not time).
	key := fmt.Sprint(md.key, pinned)
	n, ok := c.redisN[key]
	if !ok {
		r, err := runOnce(md.redisCalibrate)
		if err != nil || c.o.short {
			return r, err
		}
		n = max(int(r.rps*d.Seconds()), md.redisCalibrate)
		c.redisN[key] = n
	}
	r, err := runOnce(n)
	if err != nil {
		return r, err
	}
	if md.redisPipe > 1 {
		r.note = "latency of the whole pipeline"
	}
	logf("%-15s %-9s %-5s %-6s %4s %10.0f req/s %12.0f lookups/s  p50 %.3f ms  p99 %.3f ms",
		redisName, clientRedis, md.key, map[bool]string{true: "pinned", false: ""}[pinned], d, r.rps, r.lps, r.p50, r.p99)
	return r, nil
}

// resp is the little of the Redis protocol the loader needs.
type resp struct {
	w *bufio.Writer
	r *bufio.Reader
}

func (c *resp) send(args ...string) error {
	fmt.Fprintf(c.w, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(c.w, "$%d\r\n%s\r\n", len(a), a)
	}
	return c.w.Flush()
}

// do sends a command and checks that the reply is not an error.
func (c *resp) do(args ...string) error {
	if err := c.send(args...); err != nil {
		return err
	}
	_, err := c.reply()
	return err
}

func (c *resp) reply() (string, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	switch {
	case line == "":
		return "", errors.New("redis: empty reply")
	case line[0] == '-':
		return "", errors.New("redis: " + line[1:])
	case line[0] == '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", err
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, b); err != nil {
			return "", err
		}
		return string(b[:n]), nil
	}
	return line[1:], nil
}

func (c *resp) usedMemory() (int64, error) {
	if err := c.send("INFO", "memory"); err != nil {
		return 0, err
	}
	info, err := c.reply()
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("redis: INFO memory without used_memory")
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func kernel() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}
