package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

var kidOnly = regexp.MustCompile(`^[0-9a-f]{16}\n$`)

// issuerkey DATADIR: the last command printed one kid alone on stdout, and
// DATADIR holds issuer-{kid}.key, mode 0600: the hex seed of an Ed25519 key
// whose kid (first 8 bytes of SHA-256 of the public key, computed here
// without hcx code) it is. No other file under DATADIR, nor the command's
// stderr, holds the seed or the private key, raw or in hex.
func cmdIssuerKey(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: issuerkey DATADIR")
	}
	out := ts.ReadFile("stdout")
	if !kidOnly.MatchString(out) {
		ts.Fatalf("stdout is not one kid alone: %q", out)
	}
	kid := strings.TrimSpace(out)
	dir := ts.MkAbs(args[0])
	keyFile := filepath.Join(dir, "issuer-"+kid+".key")
	info, err := os.Stat(keyFile)
	ts.Check(err)
	if info.Mode().Perm() != 0o600 {
		ts.Fatalf("%s has mode %#o, want 0600", keyFile, info.Mode().Perm())
	}
	seed, err := hex.DecodeString(strings.TrimSpace(ts.ReadFile(keyFile)))
	if err != nil || len(seed) != ed25519.SeedSize {
		ts.Fatalf("%s: not a hex Ed25519 seed", keyFile)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	sum := sha256.Sum256(priv[32:])
	if hex.EncodeToString(sum[:8]) != kid {
		ts.Fatalf("%s holds the key of kid %x, not %s", keyFile, sum[:8], kid)
	}
	secrets := [][]byte{seed, priv, []byte(hex.EncodeToString(seed)), []byte(strings.ToUpper(hex.EncodeToString(seed)))}
	if stderr := []byte(ts.ReadFile("stderr")); containsAny(stderr, secrets) {
		ts.Fatalf("the private key is in the log")
	}
	ts.Check(filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path == keyFile {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if containsAny(b, secrets) {
			ts.Fatalf("%s holds the private key of issuer %s", path, kid)
		}
		return nil
	}))
}

func containsAny(b []byte, subs [][]byte) bool {
	for _, s := range subs {
		if bytes.Contains(b, s) {
			return true
		}
	}
	return false
}

// TestIssuerChangeFollowed: an issuer added or revoked while a publisher
// and a replica run is published as a new snapshot version with the same
// lists: the publisher swaps it in, the replica fetches it (its own
// directory then holds the new trust list), and both answer as before.
func TestIssuerChangeFollowed(t *testing.T) {
	t.Parallel()
	e := newServeEnv(t)
	replicaToken := strings.TrimSpace(e.c.must(0, nil, "token", "add", "--data", e.data, "--role", "replica").stdout)
	e.tokens = append(e.tokens, replicaToken)
	tokenFile := filepath.Join(e.tmp, "replica.token")
	os.WriteFile(tokenFile, []byte(replicaToken+"\n"), 0o600)
	tr, files := e.gen(daysAgo(0), 2000, 81)
	e.c.must(0, nil, "ingest", "--data", e.data, files["sh"], files["zj"])
	lists := truth{"sh": tr["sh"], "zj": tr["zj"]}
	pub := e.start(e.data)
	dir := filepath.Join(e.tmp, "replica")
	os.MkdirAll(dir, 0o700)
	for _, f := range []string{"pseudonym.key", "signing.pub", "regions", "tokens"} {
		b, err := os.ReadFile(filepath.Join(e.data, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o600)
	}
	const poll = time.Second
	rep := e.start(dir, "--replica-of", pub.base, "--token-file", tokenFile, "--poll", poll.String())
	probe := append(sample(tr["sh"], lists, "", 20), sample(tr["zj"], lists, "", 20)...)

	version := func(s *hcxServer) uint64 {
		var info struct{ Version uint64 }
		if err := json.Unmarshal(s.must(200, "GET", "/v1/snapshot", e.lookup, nil), &info); err != nil {
			t.Fatal(err)
		}
		return info.Version
	}
	// waitFor polls until cond holds, within two polls and slack.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(2*poll + 3*time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %v", what, 2*poll+3*time.Second)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	trustOn := func(data string) string {
		return e.c.must(0, nil, "issuer", "list", "--data", data, "--json").stdout
	}

	v0 := version(pub)
	waitFor("replica at the publisher's version", func() bool { return version(rep) == v0 })
	kid := strings.TrimSpace(e.c.must(0, nil, "issuer", "add", "--data", e.data, "--region", "sh").stdout)
	waitFor("publisher serves the new version", func() bool { return version(pub) == v0+1 })
	waitFor("replica follows", func() bool { return version(rep) == v0+1 })
	if got := trustOn(dir); !strings.Contains(got, `"kid":"`+kid+`"`) || !strings.Contains(got, `"status":"active"`) {
		t.Fatalf("the replica's trust list: %s", got)
	}
	for _, s := range []*hcxServer{pub, rep} {
		s.checkBatch("after an issuer change", probe, lists)
	}

	e.c.must(0, nil, "issuer", "revoke", "--data", e.data, kid)
	waitFor("replica follows the revocation", func() bool { return version(rep) == v0+2 })
	if got := trustOn(dir); !strings.Contains(got, `"kid":"`+kid+`"`) || !strings.Contains(got, `"status":"revoked"`) {
		t.Fatalf("the replica's trust list after the revocation: %s", got)
	}
	rep.checkBatch("after a revocation", probe, lists)
	e.checkLogs(tr)
}
