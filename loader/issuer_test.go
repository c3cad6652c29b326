package loader

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/fixture"
)

func current(t testing.TB, s *Store) *engine.Snapshot {
	t.Helper()
	snap, _, err := s.Current()
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// TestIssuers: adding, registering and revoking each commits a new snapshot
// version with the same lists and the new trust list; ingests carry it.
func TestIssuers(t *testing.T) {
	s := newStore(t)
	if tl, err := s.Issuers(); err != nil || tl.Len() != 0 {
		t.Fatalf("before anything: %v %v", tl, err)
	}
	// Before any ingest: a snapshot with no lists, carrying the issuer.
	sh, err := s.AddIssuer("sh")
	if err != nil {
		t.Fatal(err)
	}
	snap := current(t, s)
	if snap.Info().Version != 1 || snap.Len() != 0 || snap.TrustList().Len() != 1 || snap.Regions()[0].ListDate != engine.NoDay {
		t.Fatalf("first snapshot: %+v", snap.Info())
	}
	if sh.Region != "sh" || sh.Status != engine.IssuerActive || sh.Kid != engine.KidOf(sh.PublicKey) || time.Since(sh.Added) > time.Minute {
		t.Fatalf("entry %+v", sh)
	}

	ids := fixture.IDs(1, 50)
	mustIngest(t, s, "sh-2026-11-26.csv", fixture.CSV(ids))
	snap = current(t, s)
	if snap.Info().Version != 2 || !snap.TrustList().Equal(mustIssuers(t, s)) || snap.TrustList().Len() != 1 {
		t.Fatal("ingest did not carry the trust list")
	}
	shIngested := snap.Regions()[0].Ingested

	pub, _, _ := ed25519.GenerateKey(nil)
	ext, err := s.RegisterIssuer("js", pub)
	if err != nil || ext.Kid != engine.KidOf(pub) {
		t.Fatal(err)
	}
	if s.HasIssuerKey(ext.Kid) || !s.HasIssuerKey(sh.Kid) {
		t.Fatal("an external issuer's key is not here; an issuer made here has its key")
	}
	snap = current(t, s)
	if snap.Info().Version != 3 || snap.Len() != 50 || snap.Lookup(ids[0]).Status != engine.Red ||
		snap.Regions()[0].ListDate.String() != "2026-11-26" || !snap.Regions()[0].Ingested.Equal(shIngested) {
		t.Fatalf("the lists did not carry over: %+v", snap.Info())
	}
	if _, err := s.RegisterIssuer("js", pub); !errors.Is(err, engine.ErrIssuerExists) {
		t.Fatalf("twice: %v", err)
	}
	if _, err := s.AddIssuer("xx"); !errors.Is(err, ErrRegion) {
		t.Fatalf("unknown region: %v", err)
	}
	if _, err := s.RegisterIssuer("js", pub[:31]); !errors.Is(err, engine.ErrIssuer) {
		t.Fatalf("short key: %v", err)
	}
	if v := current(t, s).Info().Version; v != 3 {
		t.Fatalf("a refused change published version %d", v)
	}

	rev, err := s.RevokeIssuer(sh.Kid)
	if err != nil || rev.Status != engine.IssuerRevoked {
		t.Fatal(err)
	}
	if _, err := s.RevokeIssuer(sh.Kid); !errors.Is(err, engine.ErrIssuerRevoked) {
		t.Fatalf("revoking twice: %v", err)
	}
	if _, err := s.RevokeIssuer(engine.Kid{1}); !errors.Is(err, engine.ErrUnknownIssuer) {
		t.Fatalf("unknown kid: %v", err)
	}
	tl := mustIssuers(t, s)
	if tl.Len() != 2 || tl.Issuers()[0].Status != engine.IssuerRevoked || tl.Issuers()[1].Status != engine.IssuerActive {
		t.Fatalf("%+v", tl.Issuers())
	}
	// A replica's directory holds no signing key: it cannot change the list.
	ro := &Store{Dir: s.Dir, Key: s.Key, Public: s.Public, Regions: s.Regions, Calendar: s.Calendar}
	if _, err := ro.AddIssuer("sh"); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("read-only: %v", err)
	}
}

func mustIssuers(t testing.TB, s *Store) *engine.TrustList {
	t.Helper()
	tl, err := s.Issuers()
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

// TestIssuerKey: the key issuing uses is the region's newest active one
// held here, and its codes verify against the published trust list; a
// revoked or external issuer's is not used.
func TestIssuerKey(t *testing.T) {
	s := newStore(t)
	first, _ := s.AddIssuer("sh")
	second, _ := s.AddIssuer("sh")
	pub, _, _ := ed25519.GenerateKey(nil)
	if _, err := s.RegisterIssuer("sh", pub); err != nil { // newest, but external
		t.Fatal(err)
	}
	key, e, err := s.IssuerKey(mustIssuers(t, s), "sh")
	if err != nil || e.Kid != second.Kid || !key.Public().(ed25519.PublicKey).Equal(second.PublicKey) {
		t.Fatalf("%v %+v", err, e)
	}
	now := time.Now()
	code, err := engine.IssueCode(nil, key, engine.CodeClaims{ID: 11010519491231002, Colour: engine.Green, Issued: now, Expires: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if r := engine.VerifyCode(code, current(t, s).TrustList(), now); !r.Valid || r.Region != "sh" {
		t.Fatalf("%+v", r)
	}
	if _, err := s.RevokeIssuer(second.Kid); err != nil {
		t.Fatal(err)
	}
	if r := engine.VerifyCode(code, current(t, s).TrustList(), now); r.Reason != engine.ReasonRevokedIssuer {
		t.Fatalf("after revocation: %v", r.Reason)
	}
	if _, e, err := s.IssuerKey(mustIssuers(t, s), "sh"); err != nil || e.Kid != first.Kid {
		t.Fatalf("after revoking the newest: %v %+v", err, e)
	}
	s.RevokeIssuer(first.Kid)
	if _, _, err := s.IssuerKey(mustIssuers(t, s), "sh"); !errors.Is(err, ErrNoIssuerKey) {
		t.Fatalf("all revoked: %v", err)
	}
	if _, _, err := s.IssuerKey(mustIssuers(t, s), "js"); !errors.Is(err, ErrNoIssuerKey) {
		t.Fatalf("no issuer: %v", err)
	}
	// A key file that does not hold its kid's key is an error, not a key.
	third, _ := s.AddIssuer("zj")
	other, _, _ := ed25519.GenerateKey(nil)
	os.WriteFile(filepath.Join(s.Dir, IssuerKeyName(third.Kid)), []byte(hex.EncodeToString(other)+"\n"), 0o600)
	if _, _, err := s.IssuerKey(mustIssuers(t, s), "zj"); err == nil || errors.Is(err, ErrNoIssuerKey) {
		t.Fatalf("mismatched key file: %v", err)
	}
}

// TestIssuerKeysPrivate: private keys are 0600 files of their own and
// appear in no snapshot, edge filter or edge part, in any encoding.
func TestIssuerKeysPrivate(t *testing.T) {
	s := newStore(t)
	day := testCal.Today()
	mustIngest(t, s, "sh-"+day.String()+".csv", fixture.CSV(fixture.IDs(1, 100)))
	var seeds [][]byte
	for _, r := range []string{"sh", "js", "zj"} {
		e, err := s.AddIssuer(r)
		if err != nil {
			t.Fatal(err)
		}
		key, _, err := s.IssuerKey(mustIssuers(t, s), r)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(s.Dir, IssuerKeyName(e.Kid)))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s key file: %v %v", r, fi.Mode(), err)
		}
		seeds = append(seeds, key.Seed(), []byte(hex.EncodeToString(key.Seed())), key[32:])
	}
	mustIngest(t, s, "js-"+day.String()+".csv", fixture.CSV(fixture.IDs(2, 100)))
	snap, ex := exportEdge(t, s)
	if !ex.Filter.TrustList().Equal(snap.TrustList()) || ex.Filter.TrustList().Len() != 3 {
		t.Fatal("the edge filter does not carry the trust list")
	}
	files := [][]byte{ex.File}
	parts, _ := filepath.Glob(filepath.Join(s.Dir, "edge-*.bin"))
	for _, p := range append(parts, s.SnapshotPath()) {
		b, _ := os.ReadFile(p)
		files = append(files, b)
	}
	for _, f := range files {
		for i, secret := range seeds {
			if i%3 == 2 {
				if !bytes.Contains(files[0], secret) {
					t.Fatal("the public key should be in the filter (the test's own check)")
				}
				continue
			}
			if bytes.Contains(f, secret) {
				t.Fatal("a private issuer key in a published file")
			}
		}
	}
}

// TestIngestTimes: a fresh list's ingest time is the ingest's; a carried
// over list keeps its own, in the snapshot and in the edge filter.
func TestIngestTimes(t *testing.T) {
	s := newStore(t)
	day := testCal.Today()
	before := time.Now()
	mustIngest(t, s, "sh-"+day.String()+".csv", fixture.CSV(fixture.IDs(1, 100)))
	sh := current(t, s).Regions()[0].Ingested
	if sh.Before(before) || time.Since(sh) > time.Minute {
		t.Fatalf("sh ingested %v", sh)
	}
	time.Sleep(10 * time.Millisecond)
	mustIngest(t, s, "js-"+day.String()+".csv", fixture.CSV(fixture.IDs(2, 100)))
	snap, ex := exportEdge(t, s)
	r := snap.Regions()
	if !r[0].Ingested.Equal(sh) || !r[1].Ingested.After(sh) || !r[2].Ingested.IsZero() {
		t.Fatalf("ingest times %v %v %v", r[0].Ingested, r[1].Ingested, r[2].Ingested)
	}
	for i, e := range ex.Filter.Info().Regions {
		if !e.Ingested.Equal(r[i].Ingested) {
			t.Fatalf("%s: the filter says ingested %v, the snapshot %v", e.Name, e.Ingested, r[i].Ingested)
		}
	}
}
