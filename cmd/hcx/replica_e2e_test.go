package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/loader"
)

// TestReplicas (docs/deploy.md), all real processes on loopback: a
// publisher and three replicas. After an upload every replica serves the new
// day within two poll intervals, while a client spread over the replicas sees
// no error and no wrong answer; with the publisher killed the replicas keep
// answering and say they are behind; restarted, they catch up.
func TestReplicas(t *testing.T) {
	t.Parallel()
	e := newServeEnv(t)
	replicaToken := strings.TrimSpace(e.c.must(0, nil, "token", "add", "--data", e.data, "--role", "replica").stdout)
	e.tokens = append(e.tokens, replicaToken)
	tokenFile := filepath.Join(e.tmp, "replica.token")
	os.WriteFile(tokenFile, []byte(replicaToken+"\n"), 0o600)

	dayA, dayB := daysAgo(1), daysAgo(0)
	trA, filesA := e.gen(dayA, 4000, 71)
	e.c.must(0, nil, "ingest", "--data", e.data, filesA["sh"], filesA["js"], filesA["zj"], filesA["ah"])
	pub := e.start(e.data)

	// A replica's directory: the pseudonym key, the publisher's public key,
	// the regions, lookup tokens; never the signing key.
	const poll = time.Second
	var reps []*hcxServer
	for n := range 3 {
		dir := filepath.Join(e.tmp, "replica"+strconv.Itoa(n))
		os.MkdirAll(dir, 0o700)
		for _, f := range []string{loader.KeyFile, loader.PublicFile, loader.RegionsFile, loader.TokensFile} {
			b, err := os.ReadFile(filepath.Join(e.data, f))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, f), b, 0o600)
		}
		reps = append(reps, e.start(dir, "--replica-of", pub.base, "--token-file", tokenFile, "--poll", poll.String()))
	}

	// Day B replaces sh's list: people only on A's sh list turn green,
	// people only on B's turn red or yellow.
	trB, filesB := e.gen(dayB, 4000, 72)
	newDay := trA.with(trB["sh"])
	bodyB, _ := os.ReadFile(filesB["sh"]) // before C's files take the same names
	trC, filesC := e.gen(dayB, 4000, 73)  // later, a correction of today's sh list
	dayC := trA.with(trC["sh"])
	probe := append(sample(trA["sh"], trA, "", 30), sample(trB["sh"], newDay, "", 30)...)
	var stop atomic.Bool
	var answers, failed, wrong atomic.Int64
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			client := &http.Client{Timeout: 5 * time.Second}
			for i := w; !stop.Load(); i++ {
				r := reps[i%len(reps)]
				id := probe[i%len(probe)]
				req, _ := http.NewRequest("GET", r.base+"/v1/status/"+id, nil)
				req.Header.Set("Authorization", "Bearer "+e.lookup)
				res, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				var a answerJSON
				err = json.NewDecoder(res.Body).Decode(&a)
				res.Body.Close()
				if err != nil || res.StatusCode != 200 {
					failed.Add(1)
					continue
				}
				answers.Add(1)
				// Right for one of the days the publisher ever published.
				if checkAnswer(a, id, trA.answer(id)) != "" && checkAnswer(a, id, newDay.answer(id)) != "" && checkAnswer(a, id, dayC.answer(id)) != "" {
					wrong.Add(1)
				}
			}
		})
	}
	// Every replica answers as day A, and then the upload.
	onlyB := sample(trB["sh"], newDay, "red", 1)[0]
	for _, r := range reps {
		r.checkBatch("replica before the upload", probe, trA)
	}
	pub.must(200, "PUT", "/v1/uploads/sh/"+dayB, e.upload, strings.NewReader(string(bodyB)), "Content-Encoding", "gzip")
	uploaded := time.Now()
	for _, r := range reps {
		for {
			if a, err := r.batch([]string{onlyB}); err == nil && a[0].Status == "red" {
				break
			}
			if time.Since(uploaded) > 2*poll+time.Second { // two polls, and a second of slack on a busy 2-core machine
				a, err := r.batch([]string{onlyB})
				t.Fatalf("replica %s does not serve the new day %v after the upload: %+v %v\n%s", r.base, time.Since(uploaded), a, err, clip(string(r.stderr.Bytes())))
			}
			time.Sleep(20 * time.Millisecond)
		}
		r.checkBatch("replica after the upload", probe, newDay)
	}
	t.Logf("all replicas serve the new day %v after the upload (poll %v)", time.Since(uploaded).Round(time.Millisecond), poll)

	// The publisher dies: replicas keep answering, and say so.
	pub.kill()
	time.Sleep(2*poll + 500*time.Millisecond)
	for _, r := range reps {
		r.checkBatch("replica with the publisher down", probe, newDay)
		var info struct {
			Version uint64
			Replica struct {
				Publisher     string
				SecondsBehind float64
				Failures      int `json:"consecutiveFailures"`
				LastError     string
			}
		}
		if err := json.Unmarshal(r.must(200, "GET", "/v1/snapshot", e.lookup, nil), &info); err != nil {
			t.Fatal(err)
		}
		if info.Replica.Publisher != pub.base || info.Replica.Failures == 0 || info.Replica.LastError == "" || info.Replica.SecondsBehind < poll.Seconds() {
			t.Fatalf("replica %s with the publisher down reports %+v", r.base, info.Replica)
		}
		if m := string(r.must(200, "GET", "/metrics", "", nil)); !strings.Contains(m, "hcx_replica_sync_failures_total") {
			t.Fatal("no replica failure metric")
		}
	}

	// Back on the same address, with one more day: the replicas catch up
	// (their back-off is at most ten polls).
	pub = e.launch(e.data, portOf(t, pub.addr))
	if err := pub.waitReady(20 * time.Second); err != nil {
		t.Fatalf("publisher restart: %v", err)
	}
	bodyC, _ := os.ReadFile(filesC["sh"])
	pub.must(200, "PUT", "/v1/uploads/sh/"+dayB, e.upload, strings.NewReader(string(bodyC)), "Content-Encoding", "gzip")
	onlyC := sample(trC["sh"], dayC, "red", 1)[0]
	restarted := time.Now()
	for _, r := range reps {
		for {
			if a, err := r.batch([]string{onlyC}); err == nil && a[0].Status == "red" {
				break
			}
			if time.Since(restarted) > 12*poll {
				t.Fatalf("replica %s did not catch up", r.base)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	stop.Store(true)
	wg.Wait()
	if answers.Load() < 100 || failed.Load() != 0 || wrong.Load() != 0 {
		t.Fatalf("client over the replicas: %d answers, %d failed, %d wrong", answers.Load(), failed.Load(), wrong.Load())
	}
	t.Logf("%d lookups over 3 replicas through an upload, a publisher crash and a restart: %d failed", answers.Load(), failed.Load())
	e.checkLogs(trA, trB, trC)
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	p, err := strconv.Atoi(addr[strings.LastIndexByte(addr, ':')+1:])
	if err != nil {
		t.Fatal(err)
	}
	return p
}
