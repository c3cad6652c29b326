package loader

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/yrd-hcx/hcx/engine"
)

// Health-code issuers (docs/health-codes.md). The trust list lives in the
// snapshot, so replicas and edge filters receive it signed, and a change
// is one atomic commit like an ingest: under the writer lock, a new
// snapshot version with the same lists and the new trust list. A running
// server sees the newer file and swaps it in; replicas follow it; the next
// edge filter carries it. Before the first ingest, that snapshot has no
// lists (every region stale).
//
// The private key of an issuer made here is kept beside the snapshot as
//
//	issuer-{kid}.key   (the Ed25519 seed, hex; mode 0600)
//
// written before the snapshot that lists its kid is committed, and never
// put in a snapshot, an edge filter, a log or an answer. An issuer a region
// runs itself is registered by its public key alone.

// ErrNoIssuerKey: no active issuer of the region has its private key in
// this data directory (none added, all revoked, or external ones only).
var ErrNoIssuerKey = errors.New("no active issuer key of this region in the data directory (hcx issuer add)")

// IssuerKeyName is the file name of the private key of issuer kid.
func IssuerKeyName(kid engine.Kid) string { return "issuer-" + kid.String() + ".key" }

// Issuers returns the trust list of the current snapshot (empty before
// the first one).
func (s *Store) Issuers() (*engine.TrustList, error) {
	cur, _, err := s.Current()
	if errors.Is(err, ErrNoSnapshot) {
		return &engine.TrustList{}, nil
	}
	if err != nil {
		return nil, err
	}
	return cur.TrustList(), nil
}

// AddIssuer makes an Ed25519 key pair for region, keeps its private key in
// the data directory (mode 0600) and publishes the trust list with its
// public key, active from now. It returns the new entry.
func (s *Store) AddIssuer(region string) (engine.TrustedIssuer, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return engine.TrustedIssuer{}, err
	}
	return s.addIssuer(region, pub, priv)
}

// RegisterIssuer publishes the trust list with the public key of an issuer
// that region runs itself (its private key is never here).
func (s *Store) RegisterIssuer(region string, pub ed25519.PublicKey) (engine.TrustedIssuer, error) {
	return s.addIssuer(region, pub, nil)
}

func (s *Store) addIssuer(region string, pub ed25519.PublicKey, priv ed25519.PrivateKey) (engine.TrustedIssuer, error) {
	if !slices.Contains(s.Regions, region) {
		return engine.TrustedIssuer{}, fmt.Errorf("%w %q (this data directory has %s)", ErrRegion, region, strings.Join(s.Regions, ", "))
	}
	e := engine.TrustedIssuer{Region: region, PublicKey: pub, Status: engine.IssuerActive, Added: time.Now()}
	trust, err := s.changeTrust(func(t *engine.TrustList) (*engine.TrustList, error) {
		next, err := t.Add(e)
		if err != nil || priv == nil {
			return next, err
		}
		// The key first: a published kid always has its key here.
		return next, WriteFileAtomic(filepath.Join(s.Dir, IssuerKeyName(engine.KidOf(pub))), []byte(hex.EncodeToString(priv.Seed())+"\n"), 0o600)
	})
	if err != nil {
		if priv != nil && !errors.Is(err, engine.ErrIssuerExists) {
			os.Remove(filepath.Join(s.Dir, IssuerKeyName(engine.KidOf(pub))))
		}
		return engine.TrustedIssuer{}, err
	}
	added, _ := trust.Find(engine.KidOf(pub))
	return *added, nil
}

// RevokeIssuer publishes the trust list with kid revoked: its codes are
// refused (revoked_issuer) from that snapshot and the next edge filter on.
// Its private key, if held here, stays on disk but is never used again.
func (s *Store) RevokeIssuer(kid engine.Kid) (engine.TrustedIssuer, error) {
	trust, err := s.changeTrust(func(t *engine.TrustList) (*engine.TrustList, error) { return t.Revoke(kid) })
	if err != nil {
		return engine.TrustedIssuer{}, err
	}
	e, _ := trust.Find(kid)
	return *e, nil
}

// changeTrust commits a new snapshot version with the current lists and
// the trust list change makes of the current one, under the writer lock.
func (s *Store) changeTrust(change func(*engine.TrustList) (*engine.TrustList, error)) (*engine.TrustList, error) {
	if s.Signing == nil {
		return nil, ErrReadOnly
	}
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	s.removeTemps()
	cur, _, err := s.Current()
	if err != nil && !errors.Is(err, ErrNoSnapshot) {
		return nil, err
	}
	trust, err := change(trustOf(cur))
	if err != nil {
		return nil, err
	}
	b, err := engine.NewBuilder(engine.Options{
		Key: s.Key, Regions: s.Regions, Calendar: s.Calendar, Version: nextVersion(cur), Built: time.Now(), Trust: trust,
	})
	if err != nil {
		return nil, err
	}
	for i, name := range s.Regions {
		if cur == nil || cur.RegionIndex(name) < 0 {
			continue
		}
		if err := b.AddRegion(i, cur, cur.RegionIndex(name)); err != nil {
			return nil, err
		}
	}
	file, err := b.Build().MarshalBinary()
	if err == nil {
		err = engine.Sign(file, s.Signing)
	}
	if err == nil {
		err = WriteFileAtomic(s.SnapshotPath(), file, 0o640)
	}
	if err != nil {
		return nil, fmt.Errorf("writing the snapshot: %w", err)
	}
	return trust, nil
}

// trustOf is the trust list a new snapshot carries over from cur (nil:
// none yet).
func trustOf(cur *engine.Snapshot) *engine.TrustList {
	if cur == nil {
		return nil
	}
	return cur.TrustList()
}

// IssuerKey returns the private key of region's newest active issuer in
// trust (a live snapshot's list) whose key is held in this data
// directory, or ErrNoIssuerKey. It reads the key file: callers that issue
// often keep the key while trust is live, and read it again when the trust
// list changes (a revocation).
func (s *Store) IssuerKey(trust *engine.TrustList, region string) (ed25519.PrivateKey, engine.TrustedIssuer, error) {
	issuers := trust.Issuers()
	for i := len(issuers) - 1; i >= 0; i-- {
		e := issuers[i]
		if e.Region != region || e.Status != engine.IssuerActive {
			continue
		}
		seed, err := readHex(filepath.Join(s.Dir, IssuerKeyName(e.Kid)), ed25519.SeedSize)
		if errors.Is(err, fs.ErrNotExist) {
			continue // an external issuer
		}
		if err != nil {
			return nil, e, err
		}
		key := ed25519.NewKeyFromSeed(seed)
		if !e.PublicKey.Equal(key.Public()) {
			return nil, e, fmt.Errorf("%s does not hold the private key of kid %s", IssuerKeyName(e.Kid), e.Kid)
		}
		return key, e, nil
	}
	return nil, engine.TrustedIssuer{}, fmt.Errorf("%w: region %s", ErrNoIssuerKey, region)
}

// HasIssuerKey reports whether the private key of kid is held here.
func (s *Store) HasIssuerKey(kid engine.Kid) bool {
	_, err := os.Stat(filepath.Join(s.Dir, IssuerKeyName(kid)))
	return err == nil
}
