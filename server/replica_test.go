package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/internal/auth"
	"github.com/yrd-hcx/hcx/internal/fixture"
	"github.com/yrd-hcx/hcx/loader"
)

// replicaDir makes a replica's data directory from a publisher's: the same
// pseudonym key, the publisher's public key, no signing key, its own tokens.
func replicaDir(t *testing.T, pub *loader.Store, lookupToken string) *loader.Store {
	t.Helper()
	dir := t.TempDir() + "/replica"
	os.MkdirAll(dir, 0o700)
	for _, f := range []string{loader.KeyFile, loader.PublicFile, loader.RegionsFile} {
		b, err := os.ReadFile(filepath.Join(pub.Dir, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o600)
	}
	line, _ := auth.Line(lookupToken, []string{auth.Lookup})
	os.WriteFile(filepath.Join(dir, loader.TokensFile), []byte(line), 0o600)
	st, err := loader.Open(dir, testCal)
	if err != nil {
		t.Fatal(err)
	}
	if st.Signing != nil {
		t.Fatal("a replica's directory holds a signing key")
	}
	return st
}

func startServer(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv, "http://" + ln.Addr().String()
}

// TestReplicaFollows: a replica serves the publisher's day, follows an
// upload, refuses uploads itself, and a read-only directory cannot ingest.
func TestReplicaFollows(t *testing.T) {
	pub := newEnv(t, Config{}, true)
	rst := replicaDir(t, pub.store, pub.tokens[auth.Lookup])
	rep, base := startServer(t, Config{Store: rst, ReplicaOf: pub.base, ReplicaToken: pub.tokens[auth.Replica], ReplicaPoll: 50 * time.Millisecond})
	r := &env{srv: rep, base: base, tokens: pub.tokens}
	waitFor(t, rep.Ready)
	if got := r.do(t, "GET", "/v1/status/"+pub.sh[0], auth.Lookup, nil).json(t)["status"]; got != "red" {
		t.Fatalf("replica answers %v", got)
	}
	newcomer := fixture.IDs(7, 1)[0]
	if res := pub.do(t, "PUT", "/v1/uploads/sh/2026-11-27", auth.Upload("sh"), []byte(fixture.CSV(append([]string{newcomer}, pub.sh...)))); res.code != 200 {
		t.Fatalf("upload: %d %s", res.code, res.body)
	}
	waitFor(t, func() bool {
		return r.do(t, "GET", "/v1/status/"+newcomer, auth.Lookup, nil).json(t)["status"] == "red"
	})
	res := r.do(t, "PUT", "/v1/uploads/sh/2026-11-27", auth.Upload("sh"), []byte(fixture.CSV(pub.sh)))
	if res.code != 409 || res.json(t)["error"] != "read_only_replica" || strings.Contains(string(res.body), pub.base) {
		t.Fatalf("upload to a replica: %d %s", res.code, res.body)
	}
	var info struct {
		Version uint64
		Replica struct {
			Publisher string
			LastSync  *string
		}
	}
	json.Unmarshal(r.do(t, "GET", "/v1/snapshot", auth.Lookup, nil).body, &info)
	if info.Version != 2 || info.Replica.Publisher != pub.base || info.Replica.LastSync == nil {
		t.Fatalf("replica status %+v", info)
	}
	// The replica stored what it serves: a restart answers at once.
	if snap, _, err := rst.Current(); err != nil || snap.Info().Version != 2 {
		t.Fatalf("stored snapshot: %v", err)
	}
	if _, _, err := rst.Ingest([]loader.Upload{{Name: "sh-2026-11-27.csv", Body: strings.NewReader("id,color\n")}}, loader.IngestOptions{}); err != loader.ErrReadOnly {
		t.Fatalf("ingest into a replica's directory: %v", err)
	}
}

// TestReplicaRefusals: a publisher (here a test server handing out files)
// that serves a tampered, truncated, wrong-key, unsigned or older snapshot:
// each is refused with its error and the live one stays.
func TestReplicaRefusals(t *testing.T) {
	pub := newEnv(t, Config{}, true)
	good, err := os.ReadFile(pub.store.SnapshotPath())
	if err != nil {
		t.Fatal(err)
	}
	// A newer good file, and an older one, from the same publisher.
	pub.do(t, "PUT", "/v1/uploads/sh/2026-11-27", auth.Upload("sh"), []byte(fixture.CSV(pub.sh)))
	newer, _ := os.ReadFile(pub.store.SnapshotPath())
	other := newEnv(t, Config{}, true) // another data directory: another key
	otherFile, _ := os.ReadFile(other.store.SnapshotPath())

	var serve atomic.Value
	serve.Store(newer)
	publisher := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(serve.Load().([]byte))
	}))
	defer publisher.Close()
	rst := replicaDir(t, pub.store, pub.tokens[auth.Lookup])
	rep, _ := startServer(t, Config{Store: rst, ReplicaOf: publisher.URL, ReplicaPoll: time.Hour})
	client := publisher.Client()
	if err := rep.syncOnce(context.Background(), client); err != nil || rep.Snapshot().Info().Version != 2 {
		t.Fatalf("first sync: %v", err)
	}
	tampered := bytes.Clone(newer)
	tampered[len(tampered)/2] ^= 1
	unsigned := bytes.Clone(newer)
	clear(unsigned[len(unsigned)-ed25519.SignatureSize:])
	for name, c := range map[string]struct {
		file []byte
		want string
	}{
		"tampered":  {tampered, "checksum"},
		"truncated": {newer[:len(newer)-100], "truncated"},
		"wrong key": {otherFile, "signature"}, // signed by another publisher, too
		"unsigned":  {unsigned, "not signed"},
		"older":     {good, "older than the live 2"},
	} {
		serve.Store(c.file)
		err := rep.syncOnce(context.Background(), client)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
		if rep.Snapshot().Info().Version != 2 {
			t.Fatalf("%s replaced the live snapshot", name)
		}
	}
	// The right publisher, but the replica was installed with another
	// pseudonym key: its lookups would all be wrong, so it refuses.
	wrong := replicaDir(t, pub.store, pub.tokens[auth.Lookup])
	os.WriteFile(filepath.Join(wrong.Dir, loader.KeyFile), []byte(hex.EncodeToString(make([]byte, 16))+"\n"), 0o600)
	wrong, err = loader.Open(wrong.Dir, testCal)
	if err != nil {
		t.Fatal(err)
	}
	serve.Store(newer)
	wrep, _ := startServer(t, Config{Store: wrong, ReplicaOf: publisher.URL, ReplicaPoll: time.Hour})
	if err := wrep.syncOnce(context.Background(), client); err == nil || !strings.Contains(err.Error(), "another pseudonym key") || wrep.Ready() {
		t.Fatalf("pseudonym key mismatch: %v", err)
	}
}

// TestReplicaPublisherDown: the replica keeps answering from its last good
// snapshot, says how far behind it is, and catches up when the publisher
// returns.
func TestReplicaPublisherDown(t *testing.T) {
	pub := newEnv(t, Config{}, true)
	file, _ := os.ReadFile(pub.store.SnapshotPath())
	var up atomic.Bool
	up.Store(true)
	var body atomic.Value
	body.Store(file)
	publisher := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		w.Write(body.Load().([]byte))
	}))
	defer publisher.Close()
	rst := replicaDir(t, pub.store, pub.tokens[auth.Lookup])
	rep, base := startServer(t, Config{Store: rst, ReplicaOf: publisher.URL, ReplicaPoll: 20 * time.Millisecond})
	r := &env{srv: rep, base: base, tokens: pub.tokens}
	waitFor(t, rep.Ready)
	up.Store(false)
	waitFor(t, func() bool { return rep.replicaInfo().Failures >= 2 })
	if got := r.do(t, "GET", "/v1/status/"+pub.sh[0], auth.Lookup, nil).json(t)["status"]; got != "red" {
		t.Fatalf("while the publisher is down: %v", got)
	}
	var info struct{ Replica replicaInfo }
	json.Unmarshal(r.do(t, "GET", "/v1/snapshot", auth.Lookup, nil).body, &info)
	if info.Replica.Failures < 2 || !strings.Contains(info.Replica.LastError, "503") || info.Replica.SecondsBehind <= 0 {
		t.Fatalf("replica status while down: %+v", info.Replica)
	}
	if !bytes.Contains(r.do(t, "GET", "/metrics", "", nil).body, []byte("hcx_replica_sync_failures_total")) {
		t.Fatal("no failure metric")
	}
	// Back, with a new day.
	pub.do(t, "PUT", "/v1/uploads/sh/2026-11-27", auth.Upload("sh"), []byte(fixture.CSV(pub.sh)))
	newer, _ := os.ReadFile(pub.store.SnapshotPath())
	body.Store(newer)
	up.Store(true)
	waitFor(t, func() bool { return rep.Snapshot().Info().Version == 2 && rep.replicaInfo().Failures == 0 })
}

// TestReplicaNotReady: with no snapshot yet and the publisher unreachable,
// a replica is alive but not ready.
func TestReplicaNotReady(t *testing.T) {
	pub := newEnv(t, Config{}, true)
	rst := replicaDir(t, pub.store, pub.tokens[auth.Lookup])
	_, base := startServer(t, Config{Store: rst, ReplicaOf: "http://127.0.0.1:1", ReplicaPoll: 20 * time.Millisecond})
	r := &env{base: base}
	if c := r.do(t, "GET", "/readyz", "", nil).code; c != 503 {
		t.Fatalf("readyz %d", c)
	}
	if c := r.do(t, "GET", "/healthz", "", nil).code; c != 200 {
		t.Fatalf("healthz %d", c)
	}
}

// TestReplicaStaticHost: a plain file server holding snapshot.hcx (what
// `hcx snapshot export` writes) stands in for the publisher.
func TestReplicaStaticHost(t *testing.T) {
	pub := newEnv(t, Config{}, true)
	www := t.TempDir()
	file, _ := os.ReadFile(pub.store.SnapshotPath())
	os.WriteFile(filepath.Join(www, loader.SnapshotFile), file, 0o644)
	host := httptest.NewServer(http.FileServer(http.Dir(www)))
	defer host.Close()
	rst := replicaDir(t, pub.store, pub.tokens[auth.Lookup])
	rep, _ := startServer(t, Config{Store: rst, ReplicaOf: host.URL + "/" + loader.SnapshotFile, ReplicaPoll: 20 * time.Millisecond})
	waitFor(t, rep.Ready)
	pub.do(t, "PUT", "/v1/uploads/sh/2026-11-27", auth.Upload("sh"), []byte(fixture.CSV(pub.sh)))
	file, _ = os.ReadFile(pub.store.SnapshotPath())
	loader.WriteFileAtomic(filepath.Join(www, loader.SnapshotFile), file, 0o644)
	waitFor(t, func() bool { return rep.Snapshot().Info().Version == 2 })
}
