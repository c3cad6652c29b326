package main

// End-to-end tests of `hcx serve`: the real binary on a loopback port, a
// real net/http client. Lookups are checked against the truth computed from
// the daily files (e2e_test.go); uploads, a hand-run `hcx ingest`, SIGTERM
// with requests in flight, and kill -9 in the middle of an upload.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer collects a child's stderr while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

// serveEnv is a data directory with tokens, and everything the servers on
// it logged.
type serveEnv struct {
	t      *testing.T
	c      *cli
	tmp    string
	data   string
	lookup string   // a token with role lookup
	upload string   // a token with role upload:sh
	tokens []string // every token, for checkLogs
	logs   []*lockedBuffer
	client *http.Client
}

func newServeEnv(t *testing.T) *serveEnv {
	t.Helper()
	tmp := t.TempDir()
	e := &serveEnv{t: t, c: &cli{t: t}, tmp: tmp, data: filepath.Join(tmp, "data"),
		client: &http.Client{Timeout: 60 * time.Second}}
	e.c.must(0, nil, "init", "--data", e.data)
	e.lookup = strings.TrimSpace(e.c.must(0, nil, "token", "add", "--data", e.data, "--role", "lookup").stdout)
	e.upload = strings.TrimSpace(e.c.must(0, nil, "token", "add", "--data", e.data, "--role", "upload:sh").stdout)
	e.tokens = []string{e.lookup, e.upload}
	t.Cleanup(e.client.CloseIdleConnections)
	return e
}

// gen writes a generated day and returns its lists by region and the files.
func (e *serveEnv) gen(day string, records, seed int) (truth, map[string]string) {
	e.t.Helper()
	dir := filepath.Join(e.tmp, "files-"+day)
	out := e.c.must(0, nil, "gen", "--out", dir, "--date", day, "--records", strconv.Itoa(records), "--seed", strconv.Itoa(seed)).stdout
	tr, files := truth{}, map[string]string{}
	for _, f := range strings.Fields(out) {
		l := readList(e.t, f)
		tr[l.region], files[l.region] = l, f
	}
	if len(tr) != 4 {
		e.t.Fatalf("gen wrote %q", out)
	}
	return tr, files
}

// checkLogs fails if any server's stderr, or any command's, holds a raw ID
// of the lists or a token.
func (e *serveEnv) checkLogs(lists ...truth) {
	e.t.Helper()
	bodies := idBodies(lists...)
	all := [][]byte{e.c.stderr.Bytes()}
	for _, l := range e.logs {
		all = append(all, l.Bytes())
	}
	for i, b := range all {
		what := fmt.Sprintf("server %d stderr", i)
		if i == 0 {
			what = "commands' stderr"
		}
		checkNoIDs(e.t, what, b, bodies)
		for _, tok := range e.tokens {
			if bytes.Contains(b, []byte(tok)) {
				e.t.Errorf("%s holds a token", what)
			}
		}
	}
}

// hcxServer is a running `hcx serve`.
type hcxServer struct {
	e      *serveEnv
	cmd    *exec.Cmd
	addr   string // 127.0.0.1:port
	base   string // http://addr
	stderr *lockedBuffer
	exited chan struct{} // closed once the process is gone
	state  *os.ProcessState
}

// freePort finds a loopback port nobody listens on (hcx serve does not print
// the port it got from :0, so the test picks one and retries on a clash).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// start runs hcx serve on data and waits until it is ready.
func (e *serveEnv) start(data string, extra ...string) *hcxServer {
	e.t.Helper()
	for attempt := 1; ; attempt++ {
		s := e.launch(data, freePort(e.t), extra...)
		err := s.waitReady(20 * time.Second)
		if err == nil {
			return s
		}
		if attempt < 5 && s.gone() && bytes.Contains(s.stderr.Bytes(), []byte("address already in use")) {
			continue
		}
		s.kill()
		e.t.Fatalf("hcx serve: %v\nstderr:\n%s", err, clip(string(s.stderr.Bytes())))
	}
}

func (e *serveEnv) launch(data string, port int, extra ...string) *hcxServer {
	e.t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	s := &hcxServer{e: e, addr: addr, base: "http://" + addr, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	e.logs = append(e.logs, s.stderr)
	s.cmd = exec.Command(hcxBin, append([]string{"serve", "--data", data, "--listen", addr}, extra...)...)
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() {
		s.cmd.Wait()
		s.state = s.cmd.ProcessState
		close(s.exited)
	}()
	e.t.Cleanup(s.kill)
	return s
}

func (s *hcxServer) gone() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// kill ends the process with SIGKILL, if it still runs, and reaps it.
func (s *hcxServer) kill() {
	if !s.gone() {
		s.cmd.Process.Kill()
	}
	<-s.exited
}

// waitReady polls /readyz until it answers 200.
func (s *hcxServer) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := s.e.client.Get(s.base + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if s.gone() {
			return fmt.Errorf("exited (%v) before it was ready", s.state)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v (last: %v)", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// terminate sends SIGTERM and waits for the process to exit 0.
func (s *hcxServer) terminate() {
	s.e.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.e.t.Fatal(err)
	}
	s.waitExit(0)
}

func (s *hcxServer) waitExit(want int) {
	s.e.t.Helper()
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.kill()
		s.e.t.Fatalf("hcx serve did not exit within 30s of SIGTERM")
	}
	if got := s.state.ExitCode(); got != want {
		s.e.t.Fatalf("hcx serve exited %d (%v), want %d\nstderr:\n%s", got, s.state, want, clip(string(s.stderr.Bytes())))
	}
}

// do sends a request and returns the status code and body.
func (s *hcxServer) do(method, path, token string, body io.Reader, header ...string) (int, []byte, error) {
	req, err := http.NewRequest(method, s.base+path, body)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.e.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// must sends a request and fails the test unless it is answered with want.
func (s *hcxServer) must(want int, method, path, token string, body io.Reader, header ...string) []byte {
	s.e.t.Helper()
	code, b, err := s.do(method, path, token, body, header...)
	if err != nil {
		s.e.t.Fatalf("%s %s: %v", method, path, err)
	}
	if code != want {
		s.e.t.Fatalf("%s %s: %d, want %d: %s", method, path, code, want, clip(string(b)))
	}
	return b
}

// batch looks ids up with one POST /v1/status (NDJSON).
func (s *hcxServer) batch(ids []string) ([]answerJSON, error) {
	code, b, err := s.do("POST", "/v1/status", s.e.lookup, strings.NewReader(strings.Join(ids, "\n")+"\n"), "Content-Type", "text/plain")
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("POST /v1/status: %d: %s", code, clip(string(b)))
	}
	out, err := decodeAnswers(b)
	if err != nil {
		return nil, fmt.Errorf("POST /v1/status: %v", err)
	}
	if len(out) != len(ids) {
		return nil, fmt.Errorf("POST /v1/status: %d answers to %d IDs", len(out), len(ids))
	}
	return out, nil
}

// decodeAnswers reads NDJSON answers.
func decodeAnswers(b []byte) ([]answerJSON, error) {
	var out []answerJSON
	for line := range bytes.SplitSeq(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		var a answerJSON
		if err := json.Unmarshal(line, &a); err != nil {
			return nil, fmt.Errorf("%v: %q", err, clip(string(line)))
		}
		out = append(out, a)
	}
	return out, nil
}

// mismatches compares the answers for ids with tr and describes the wrong
// ones (at most a few).
func mismatches(answers []answerJSON, ids []string, tr truth) []string {
	var bad []string
	for i, id := range ids {
		if diff := checkAnswer(answers[i], id, tr.answer(id)); diff != "" {
			bad = append(bad, fmt.Sprintf("%s: %s", mask(id), diff))
		}
	}
	return bad
}

// checkBatch looks ids up and fails the test on any answer tr disagrees with.
func (s *hcxServer) checkBatch(what string, ids []string, tr truth) {
	s.e.t.Helper()
	got, err := s.batch(ids)
	if err != nil {
		s.e.t.Fatalf("%s: %v", what, err)
	}
	if bad := mismatches(got, ids, tr); len(bad) > 0 {
		s.e.t.Errorf("%s: %d of %d answers wrong, e.g. %s", what, len(bad), len(ids), strings.Join(bad[:min(5, len(bad))], "; "))
	}
}

// with returns tr with some regions' lists replaced.
func (tr truth) with(lists ...*regionList) truth {
	out := truth{}
	for r, l := range tr {
		out[r] = l
	}
	for _, l := range lists {
		out[l.region] = l
	}
	return out
}

// sample picks up to n IDs of list l that tr answers as want ("" any).
func sample(l *regionList, tr truth, want string, n int) []string {
	var out []string
	for id := range l.people {
		if len(out) == n {
			break
		}
		if want == "" || tr.answer(id).status == want {
			out = append(out, id)
		}
	}
	return out
}

func TestServe(t *testing.T) {
	t.Parallel()
	e := newServeEnv(t)
	dayA, dayB := daysAgo(2), daysAgo(1)
	trA, filesA := e.gen(dayA, 20_000, 21)
	trB, filesB := e.gen(dayB, 20_000, 22)
	e.c.must(0, nil, "ingest", "--data", e.data, filesA["sh"], filesA["js"], filesA["zj"], filesA["ah"])
	s := e.start(e.data)

	s.must(200, "GET", "/healthz", "", nil)
	listed := trA.listed()
	// One red, one yellow, one green ID, each checked in full.
	var red, yellow string
	for _, id := range listed {
		switch trA.answer(id).status {
		case "red":
			red = id
		case "yellow":
			yellow = id
		}
	}
	green := unlistedIDs(randFor(1), 1, listed, trA, trB)[0]
	for _, id := range []string{red, yellow, green} {
		var a answerJSON
		if err := json.Unmarshal(s.must(200, "GET", "/v1/status/"+id, e.lookup, nil), &a); err != nil {
			t.Fatal(err)
		}
		if diff := checkAnswer(a, id, trA.answer(id)); diff != "" {
			t.Errorf("GET /v1/status/%s: %s", mask(id), diff)
		}
		if a.AsOf == nil || *a.AsOf != dayA {
			t.Errorf("GET /v1/status/%s: asOf %s, want %s", mask(id), strOrNull(a.AsOf), dayA)
		}
	}
	// Each region's own list, alone.
	for r, l := range trA {
		id := sample(l, trA, "", 1)[0]
		var a answerJSON
		if err := json.Unmarshal(s.must(200, "GET", "/v1/regions/"+r+"/status/"+id, e.lookup, nil), &a); err != nil {
			t.Fatal(err)
		}
		if diff := checkAnswer(a, id, truth{r: l}.answer(id)); diff != "" {
			t.Errorf("GET /v1/regions/%s/status/%s: %s", r, mask(id), diff)
		}
	}
	// An invalid ID is a 400 with the reason; tokens are checked.
	var apiErr struct{ Error, Detail string }
	const badID = "310104198001010018"
	b := s.must(400, "GET", "/v1/status/"+badID, e.lookup, nil)
	if err := json.Unmarshal(b, &apiErr); err != nil || apiErr.Error != "invalid_id" || apiErr.Detail != "check digit" {
		t.Errorf("invalid ID: %+v, %v; want invalid_id, check digit", apiErr, err)
	}
	if bytes.Contains(b, []byte(badID[:17])) {
		t.Errorf("the 400 echoes the raw ID: %s", b)
	}
	s.must(401, "GET", "/v1/status/"+red, "", nil)
	s.must(401, "GET", "/v1/status/"+red, "hcx_not-a-token", nil)
	s.must(403, "GET", "/v1/status/"+red, e.upload, nil)

	// A batch of listed and unlisted people.
	rng := randFor(2)
	var ids []string
	for range 1000 {
		ids = append(ids, listed[rng.IntN(len(listed))])
	}
	ids = append(ids, unlistedIDs(rng, 1000, listed, trA, trB)...)
	s.checkBatch("batch before the upload", ids, trA)
	// The same as {"ids":[...]}, answered as {"results":[...]}.
	js, _ := json.Marshal(map[string][]string{"ids": ids})
	var res struct{ Results []answerJSON }
	if err := json.Unmarshal(s.must(200, "POST", "/v1/status", e.lookup, bytes.NewReader(js), "Content-Type", "application/json"), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Results) != len(ids) {
		t.Fatalf("JSON batch: %d results for %d IDs", len(res.Results), len(ids))
	}
	if bad := mismatches(res.Results, ids, trA); len(bad) > 0 {
		t.Errorf("JSON batch: %d of %d answers wrong, e.g. %s", len(bad), len(ids), bad[0])
	}
	// At most 10,000 IDs a batch.
	big := strings.Repeat(green+"\n", 10_001)
	s.must(413, "POST", "/v1/status", e.lookup, strings.NewReader(big), "Content-Type", "text/plain")
	// The snapshot's description: list dates and counts per region.
	var info struct {
		AsOf    string
		Records int
		Regions []struct {
			Region, ListDate string
			Red, Yellow      int
		}
	}
	if err := json.Unmarshal(s.must(200, "GET", "/v1/snapshot", e.lookup, nil), &info); err != nil {
		t.Fatal(err)
	}
	if info.AsOf != dayA || info.Records != len(listed) || len(info.Regions) != len(trA) {
		t.Errorf("GET /v1/snapshot: asOf %s, %d records, %d regions; want %s, %d, %d", info.AsOf, info.Records, len(info.Regions), dayA, len(listed), len(trA))
	}
	for _, r := range info.Regions {
		l := trA[r.Region]
		if l == nil {
			t.Errorf("GET /v1/snapshot: unknown region %+v", r)
		} else if r.ListDate != l.date || r.Red != l.red || r.Yellow != l.yellow {
			t.Errorf("GET /v1/snapshot: region %+v; the file says %s, red %d, yellow %d", r, l.date, l.red, l.yellow)
		}
	}

	// Upload day B's sh list: only upload:sh may; live when answered.
	newSh, err := os.ReadFile(filesB["sh"])
	if err != nil {
		t.Fatal(err)
	}
	path := "/v1/uploads/sh/" + dayB
	s.must(403, "PUT", path, e.lookup, bytes.NewReader(newSh), "Content-Encoding", "gzip")
	s.must(403, "PUT", "/v1/uploads/js/"+dayB, e.upload, bytes.NewReader(newSh), "Content-Encoding", "gzip")
	s.must(401, "PUT", path, "", bytes.NewReader(newSh), "Content-Encoding", "gzip")
	var rep struct {
		OK             bool `json:"ok"`
		Rows, Accepted int
	}
	body := s.must(200, "PUT", path, e.upload, bytes.NewReader(newSh), "Content-Encoding", "gzip", "Content-Type", "text/csv")
	if err := json.Unmarshal(body, &rep); err != nil || !rep.OK || rep.Rows != trB["sh"].rows || rep.Accepted != len(trB["sh"].people) {
		t.Errorf("upload report %s (%v); the file has %d rows, %d people", body, err, trB["sh"].rows, len(trB["sh"].people))
	}
	afterUpload := trA.with(trB["sh"])
	probe := append(sample(trB["sh"], afterUpload, "", 300), sample(trA["sh"], afterUpload, "green", 300)...)
	if len(probe) < 500 {
		t.Fatalf("only %d probes", len(probe))
	}
	s.checkBatch("right after the upload's 200", probe, afterUpload)
	// A replay of day A is refused with the report.
	oldSh, _ := os.ReadFile(filesA["sh"])
	s.must(422, "PUT", "/v1/uploads/sh/"+dayA, e.upload, bytes.NewReader(oldSh), "Content-Encoding", "gzip")
	s.checkBatch("after a refused replay", probe, afterUpload)

	// hcx ingest by hand on the same data directory: the server picks the
	// new snapshot up by itself within a few seconds.
	final := afterUpload.with(trB["js"])
	probe = append(sample(trB["js"], final, "", 300), sample(trA["js"], final, "green", 300)...)
	start := time.Now()
	e.c.must(0, nil, "ingest", "--data", e.data, filesB["js"])
	for {
		got, err := s.batch(probe)
		if err != nil {
			t.Fatal(err)
		}
		bad := mismatches(got, probe, final)
		if len(bad) == 0 {
			t.Logf("hand-run ingest live on the server after %v", time.Since(start).Round(time.Millisecond))
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("hand-run ingest not live after 5s: %d of %d answers old, e.g. %s", len(bad), len(probe), bad[0])
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Every answer in one response comes from one snapshot: the whole
	// sample agrees with the final lists.
	s.checkBatch("after the hand-run ingest", ids, final)

	// A token added by hand while serving works within a few seconds.
	// (The watcher has ticked by now: it picked up the ingest.)
	tok := strings.TrimSpace(e.c.must(0, nil, "token", "add", "--data", e.data, "--role", "lookup").stdout)
	start = time.Now()
	for {
		code, b, err := s.do("GET", "/v1/status/"+red, tok, nil)
		if err != nil {
			t.Fatal(err)
		}
		if code == http.StatusOK {
			t.Logf("token added by hand accepted after %v", time.Since(start).Round(time.Millisecond))
			break
		}
		if code != http.StatusUnauthorized || time.Since(start) > 5*time.Second {
			t.Fatalf("a token added while serving: %d after %v: %s", code, time.Since(start), b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.tokens = append(e.tokens, tok)

	s.terminate()
	seen := queried(append(ids, green, badID)...)
	e.checkLogs(trA, trB, seen)
	checkNoIDsInDir(t, e.data, idBodies(trA, trB, seen))
}

// TestServeSIGTERM: SIGTERM while requests are in flight. An upload whose
// body is still arriving and the batches being answered complete with 200;
// then the process exits 0.
func TestServeSIGTERM(t *testing.T) {
	t.Parallel()
	e := newServeEnv(t)
	dayA, dayB := daysAgo(2), daysAgo(1)
	trA, filesA := e.gen(dayA, 20_000, 41)
	trB, filesB := e.gen(dayB, 20_000, 42)
	e.c.must(0, nil, "ingest", "--data", e.data, filesA["sh"], filesA["js"], filesA["zj"], filesA["ah"])
	s := e.start(e.data)

	// Batches of 10,000 IDs in a loop, two at a time.
	listed := trA.listed()
	rng := randFor(3)
	var ids []string
	for range 5000 {
		ids = append(ids, listed[rng.IntN(len(listed))])
	}
	ids = append(ids, unlistedIDs(rng, 5000, listed, trA, trB)...)
	var (
		sigSent  atomic.Bool
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		mu       sync.Mutex
		okBefore int // batches answered before SIGTERM
		okAcross int // started before SIGTERM, answered 200 after
		failures []string
	)
	batchBody := strings.Join(ids, "\n") + "\n"
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				before := sigSent.Load()
				code, b, err := s.do("POST", "/v1/status", e.lookup, strings.NewReader(batchBody), "Content-Type", "text/plain")
				after := sigSent.Load()
				var problem string
				switch {
				case code == 0 && !after:
					problem = "no answer before SIGTERM: " + err.Error()
				case code == 0:
					// Sent as the shutdown began: the listener was closed or
					// the idle keep-alive connection shut before the server
					// read the request. Not a request in flight.
				case err != nil:
					problem = fmt.Sprintf("answer %d cut short: %v", code, err)
				case code != http.StatusOK:
					problem = fmt.Sprintf("answer %d: %s", code, clip(string(b)))
				default:
					got, err := decodeAnswers(b)
					if err != nil {
						problem = err.Error()
					} else if len(got) != len(ids) {
						problem = fmt.Sprintf("%d answers to %d IDs", len(got), len(ids))
					} else if bad := mismatches(got, ids, trA); len(bad) > 0 {
						problem = fmt.Sprintf("%d wrong answers, e.g. %s", len(bad), bad[0])
					}
				}
				mu.Lock()
				switch {
				case problem != "":
					failures = append(failures, problem)
				case code != 0 && !after:
					okBefore++
				case code != 0 && !before:
					okAcross++
				}
				mu.Unlock()
				if code == 0 {
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	// Let the loop run a little.
	for deadline := time.Now().Add(10 * time.Second); ; {
		mu.Lock()
		n := okBefore
		mu.Unlock()
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d batches answered in 10s", n)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// An upload in flight: the first half of the body is sent, then
	// SIGTERM, then, once the listener is closed, the rest.
	newSh, err := os.ReadFile(filesB["sh"])
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	br := bufio.NewReader(conn)
	// Expect: 100-continue makes the server say when it has read the
	// headers: from then on the request is in flight.
	fmt.Fprintf(conn, "PUT /v1/uploads/sh/%s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: text/csv\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n",
		dayB, s.addr, e.upload, len(newSh))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusContinue {
		t.Fatalf("PUT with Expect: 100-continue: %v, %v", resp, err)
	}
	half := len(newSh) / 2
	if _, err := conn.Write(newSh[:half]); err != nil {
		t.Fatal(err)
	}
	sigSent.Store(true)
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The listener closes: new connections are refused.
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections 10s after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s.gone() {
		t.Fatalf("hcx serve exited (%v) with an upload in flight", s.state)
	}
	if _, err := conn.Write(newSh[half:]); err != nil {
		t.Fatalf("the rest of the upload: %v", err)
	}
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("the upload in flight at SIGTERM got no answer: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"ok":true`)) {
		t.Fatalf("the upload in flight at SIGTERM: %d %s", resp.StatusCode, body)
	}
	s.waitExit(0)
	close(stop)
	wg.Wait()
	t.Logf("batches of %d IDs: %d answered before SIGTERM, %d in flight across it answered 200", len(ids), okBefore, okAcross)
	if len(failures) > 0 {
		t.Errorf("%d batches failed, e.g. %s", len(failures), failures[0])
	}

	// The upload that finished during the shutdown is stored.
	s = e.start(e.data)
	after := trA.with(trB["sh"])
	s.checkBatch("after a restart", append(sample(trB["sh"], after, "", 200), sample(trA["sh"], after, "green", 200)...), after)
	s.terminate()
	e.checkLogs(trA, trB, queried(ids...))
}

// TestServeCrash kills hcx serve with SIGKILL at several points of a large
// upload. Restarted on the same data directory, it answers from the old
// lists or from the new ones, never a mix.
func TestServeCrash(t *testing.T) {
	t.Parallel()
	e := newServeEnv(t)
	dayA, dayB := daysAgo(2), daysAgo(1)
	trA, filesA := e.gen(dayA, 20_000, 31)
	e.c.must(0, nil, "ingest", "--data", e.data, filesA["sh"], filesA["js"], filesA["zj"], filesA["ah"])
	pristine := e.data

	// The new sh list: 300,000 people on no list of day A, as plain CSV.
	newList, csvBody := bigList(trA, dayB, 300_000)
	trNew := trA.with(newList)
	oldOnly := sample(trA["sh"], trNew, "green", 50)
	newOnly := sample(newList, trA, "green", 50)
	if len(oldOnly) < 50 || len(newOnly) < 50 {
		t.Fatalf("probes: %d old-only, %d new-only", len(oldOnly), len(newOnly))
	}
	probes := append(append([]string{}, oldOnly...), newOnly...)
	// state says which lists the answers come from: "old", "new", or a
	// description of the mix.
	state := func(s *hcxServer) string {
		got, err := s.batch(probes)
		if err != nil {
			t.Fatal(err)
		}
		badOld, badNew := mismatches(got, probes, trA), mismatches(got, probes, trNew)
		switch {
		case len(badOld) == 0:
			return "old"
		case len(badNew) == 0:
			return "new"
		}
		return fmt.Sprintf("a mix: %d answers differ from the old lists (e.g. %s), %d from the new (e.g. %s)",
			len(badOld), badOld[0], len(badNew), badNew[0])
	}
	path := "/v1/uploads/sh/" + dayB

	// A full upload first, timed: the crash points are spread over it.
	dir := copyDir(t, pristine, filepath.Join(e.tmp, "run0"))
	s := e.start(dir)
	if st := state(s); st != "old" {
		t.Fatalf("before the upload: %s", st)
	}
	start := time.Now()
	rep := s.must(200, "PUT", path, e.upload, bytes.NewReader(csvBody), "Content-Type", "text/csv")
	took := time.Since(start)
	if want := fmt.Sprintf(`"rows":%d,"accepted":%d,`, newList.rows, len(newList.people)); !bytes.Contains(rep, []byte(want)) {
		t.Errorf("upload report %s; want %s", rep, want)
	}
	if st := state(s); st != "new" {
		t.Fatalf("after the upload: %s", st)
	}
	s.terminate()
	t.Logf("upload of %d rows (%d bytes) took %v", len(newList.people), len(csvBody), took.Round(time.Millisecond))

	// Kill points: part of the body sent, or all of it and then a delay
	// into the ingest (parse, build, write, rename).
	type point struct {
		sent  float64
		delay time.Duration
	}
	points := []point{{0.1, 0}, {0.6, 0}, {1, 0}, {1, took / 4}, {1, took / 2}, {1, took * 3 / 4}, {1, took * 9 / 10}}
	outcomes := map[string]int{}
	for i, p := range points {
		dir := copyDir(t, pristine, filepath.Join(e.tmp, "run"+strconv.Itoa(i+1)))
		s := e.start(dir)
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			req, _ := http.NewRequest("PUT", s.base+path, pr)
			req.ContentLength = int64(len(csvBody))
			req.Header.Set("Authorization", "Bearer "+e.upload)
			resp, err := e.client.Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			done <- err
		}()
		n := int(p.sent * float64(len(csvBody)))
		for off := 0; off < n; off += 64 << 10 {
			if _, err := pw.Write(csvBody[off:min(n, off+64<<10)]); err != nil {
				t.Fatalf("point %d: writing the body: %v", i, err)
			}
		}
		if p.sent == 1 {
			pw.Close()
		}
		time.Sleep(p.delay)
		s.kill()
		pw.CloseWithError(errors.New("server killed"))
		<-done

		s = e.start(dir)
		st := state(s)
		if st != "old" && st != "new" {
			t.Fatalf("killed after %.0f%% of the body + %v, restarted: %s", 100*p.sent, p.delay, st)
		}
		outcomes[st]++
		t.Logf("killed after %.0f%% of the body + %v: restarted with the %s lists", 100*p.sent, p.delay.Round(time.Millisecond), st)
		if i == len(points)-1 {
			// The crashed directory still takes uploads (no stale lock,
			// temporary files cleaned or ignored).
			s.must(200, "PUT", path, e.upload, bytes.NewReader(csvBody), "Content-Type", "text/csv")
			if st := state(s); st != "new" {
				t.Fatalf("upload after the crash: %s", st)
			}
		}
		s.kill()
	}
	t.Logf("outcomes: %v", outcomes)
	if outcomes["old"] == 0 {
		t.Errorf("no kill point left the old lists: the crash points missed the upload")
	}
	e.checkLogs(trA, truth{"sh": newList})
}

// bigList makes a list for region sh dated date of n people on no list of
// tr, and its CSV. (Built with appends: fmt and the truth's answer cost
// seconds at this size under the race detector.)
func bigList(tr truth, date string, n int) (*regionList, []byte) {
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		panic(err)
	}
	listed := func(id string) bool {
		for _, l := range tr {
			if _, ok := l.people[id]; ok {
				return true
			}
		}
		return false
	}
	var codes []string
	seenCode := map[string]bool{}
	for id := range tr["sh"].people {
		if c := id[:6]; !seenCode[c] {
			seenCode[c] = true
			codes = append(codes, c)
		}
	}
	slices.Sort(codes)
	var sinces [30]string
	for k := range sinces {
		sinces[k] = d.AddDate(0, 0, -k).Format(time.DateOnly)
	}
	l := &regionList{region: "sh", date: date, people: make(map[string]listing, n)}
	b := make([]byte, 0, 40*n)
	b = append(b, "id,color,since\n"...)
	birth := time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC)
	var body [17]byte
	for i := 0; len(l.people) < n; i++ {
		day, seq := i/1000, i%1000
		copy(body[:6], codes[(day*7+seq)%len(codes)])
		if seq == 0 {
			copy(body[6:14], birth.AddDate(0, 0, day).Format("20060102"))
		}
		body[14], body[15], body[16] = byte('0'+seq/100), byte('0'+seq/10%10), byte('0'+seq%10)
		id := withCheck(string(body[:]))
		if listed(id) {
			continue
		}
		p := listing{colour: yellow}
		if i%4 == 0 {
			p.colour = red
		}
		if i%10 != 0 {
			p.since = sinces[i%30]
		}
		l.people[id] = p
		l.rows++
		b = append(b, id...)
		b = append(b, ',')
		b = append(b, colourNames[p.colour]...)
		b = append(b, ',')
		b = append(b, p.since...)
		b = append(b, '\n')
	}
	return l, b
}

// copyDir copies a data directory (flat) with its files' modes.
func copyDir(t *testing.T, from, to string) string {
	t.Helper()
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range ents {
		info, err := ent.Info()
		if err != nil || !info.Mode().IsRegular() {
			t.Fatalf("%s: %v (%v)", ent.Name(), err, info.Mode())
		}
		b, err := os.ReadFile(filepath.Join(from, ent.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, ent.Name()), b, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

// TestDemo runs hcx demo: it serves a synthetic day, prints a working token
// and example IDs of each colour, and on SIGTERM exits 0 and removes its
// temporary data directory.
func TestDemo(t *testing.T) {
	t.Parallel()
	e := &serveEnv{t: t, c: &cli{t: t}, client: &http.Client{Timeout: 30 * time.Second}}
	t.Cleanup(e.client.CloseIdleConnections)
	var s *hcxServer
	var lines map[string]string
	for attempt := 1; ; attempt++ {
		addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
		s = &hcxServer{e: e, addr: addr, base: "http://" + addr, stderr: &lockedBuffer{}, exited: make(chan struct{})}
		e.logs = append(e.logs, s.stderr)
		s.cmd = exec.Command(hcxBin, "demo", "--listen", addr, "--records", "5000")
		s.cmd.Stderr = s.stderr
		stdout, err := s.cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.kill)
		// Read the banner up to the example calls, then keep draining.
		lines = map[string]string{}
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ":")
			lines[strings.TrimSpace(k)] = strings.TrimSpace(v)
			if k == "Try" {
				break
			}
		}
		go func() {
			io.Copy(io.Discard, stdout)
			s.cmd.Wait()
			s.state = s.cmd.ProcessState
			close(s.exited)
		}()
		if _, ok := lines["Try"]; ok {
			break
		}
		<-s.exited
		if attempt < 5 && bytes.Contains(s.stderr.Bytes(), []byte("address already in use")) {
			continue
		}
		t.Fatalf("hcx demo printed %v and exited (%v)\nstderr:\n%s", lines, s.state, clip(string(s.stderr.Bytes())))
	}
	e.lookup = lines["lookup token"]
	e.upload = lines["upload token sh"]
	e.tokens = []string{e.lookup, e.upload}
	var dir string
	for k := range lines {
		if d, ok := strings.CutPrefix(k, "data directory "); ok {
			dir, _, _ = strings.Cut(d, " ")
		}
	}
	m := regexp.MustCompile(`^red (\S+), yellow (\S+), green (\S+)$`).FindStringSubmatch(lines["example IDs"])
	if e.lookup == "" || e.upload == "" || dir == "" || m == nil {
		t.Fatalf("hcx demo printed %q", lines)
	}
	if _, err := os.Stat(filepath.Join(dir, "snapshot.hcx")); err != nil {
		t.Errorf("the demo's data directory: %v", err)
	}
	if err := s.waitReady(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"red", "yellow", "green"} {
		var a answerJSON
		if err := json.Unmarshal(s.must(200, "GET", "/v1/status/"+m[i+1], e.lookup, nil), &a); err != nil {
			t.Fatal(err)
		}
		if a.Status != want || a.ID != mask(m[i+1]) {
			t.Errorf("the demo's %s example: %+v", want, a)
		}
	}
	checkDemoCodes(t, s, e.lookup, dir, lines) // code_e2e_test.go
	s.terminate()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the demo's data directory is left behind: %v", err)
	}
	e.checkLogs(queried(m[1:]...))
}

// TestServeMalformedRequestsLogNoIDs: requests fasthttp cannot parse are
// logged, and the log must not quote the raw ID they carry.
func TestServeMalformedRequestsLogNoIDs(t *testing.T) {
	t.Parallel()
	e := newServeEnv(t)
	tr, files := e.gen(daysAgo(1), 2000, 51)
	e.c.must(0, nil, "ingest", "--data", e.data, files["sh"])
	s := e.start(e.data)
	id := sample(tr["sh"], tr, "", 1)[0]
	for _, req := range []string{
		"GET /v1/status/" + id + "\r\nHost: x\r\n\r\n", // no HTTP version
		"GET /v1/status/" + id + " HTTP/1.1 junk\r\nHost: x\r\n\r\n",
		"GET /v1/status/x HTTP/1.1\r\nHost: x\r\nX-Id " + id + "\r\n\r\n", // no colon
		"GET /v1/status/x HTTP/1.1\r\nHost: x\r\nX-Id: \x00" + id + "\r\n\r\n",
	} {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(req))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.Copy(io.Discard, c)
		c.Close()
	}
	s.terminate()
	e.checkLogs(tr)
}

// TestServeTokenAddedAtStart: a token added right after the server started
// is accepted within a few seconds, like one added later.
func TestServeTokenAddedAtStart(t *testing.T) {
	t.Parallel()
	e := newServeEnv(t)
	_, files := e.gen(daysAgo(1), 2000, 52)
	e.c.must(0, nil, "ingest", "--data", e.data, files["sh"])
	s := e.start(e.data)
	tok := strings.TrimSpace(e.c.must(0, nil, "token", "add", "--data", e.data, "--role", "lookup").stdout)
	e.tokens = append(e.tokens, tok)
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		code, _, err := s.do("GET", "/v1/status/310104198001010017", tok, nil)
		if err != nil {
			t.Fatal(err)
		}
		if code == http.StatusOK {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("a token added right after the start: still %d after 5s", code)
		}
	}
	s.terminate()
	e.checkLogs()
}
