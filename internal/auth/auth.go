// Package auth is the tokens file: bearer tokens stored only as SHA-256
// hashes, each with its roles (docs/http-api.md, docs/cli.md).
//
// File format, one token a line: `<sha256-hex> <role>[,<role>...]`; `#`
// starts a comment. Roles: lookup, upload:{region}, issue:{region},
// replica, edge, admin (admin may do everything).
//
// # Concurrency
//
// A Set's tokens are fixed once loaded; it is safe for concurrent use.
package auth

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/dchest/siphash"

	"github.com/yrd-hcx/hcx/engine"
)

// Roles.
const (
	Lookup  = "lookup"  // station gates: look people up
	Replica = "replica" // read replicas: fetch the signed snapshot and edge filter
	Edge    = "edge"    // verifier devices: fetch the edge filter
	Admin   = "admin"   // everything
	// UploadPrefix + region: may upload that region's lists only.
	UploadPrefix = "upload:"
	// IssuePrefix + region: may issue health codes in that region's name.
	IssuePrefix = "issue:"
)

// Upload is the role that may upload region's lists.
func Upload(region string) string { return UploadPrefix + region }

// Issue is the role that may issue health codes for region.
func Issue(region string) string { return IssuePrefix + region }

// ValidRole reports whether role is one of the roles above.
func ValidRole(role string) bool {
	switch role {
	case Lookup, Replica, Edge, Admin:
		return true
	}
	if r, ok := strings.CutPrefix(role, UploadPrefix); ok {
		return engine.ValidRegionName(r)
	}
	r, ok := strings.CutPrefix(role, IssuePrefix)
	return ok && engine.ValidRegionName(r)
}

// RoleNames lists the roles for messages.
const RoleNames = "lookup, upload:REGION, issue:REGION, replica, edge, admin"

// NewToken returns a fresh random token: 32 bytes from crypto/rand, hex.
func NewToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "hcx_" + hex.EncodeToString(b[:]), nil
}

// Hash is the stored form of a token.
func Hash[T string | []byte](token T) [32]byte { return sha256.Sum256([]byte(token)) }

// Line returns the tokens-file line for a token and its roles.
func Line(token string, roles []string) (string, error) {
	if len(roles) == 0 {
		return "", fmt.Errorf("a token needs at least one role")
	}
	for _, r := range roles {
		if !ValidRole(r) {
			return "", fmt.Errorf("unknown role %q (%s)", r, RoleNames)
		}
	}
	h := Hash(token)
	return hex.EncodeToString(h[:]) + " " + strings.Join(roles, ",") + "\n", nil
}

// Set is a loaded tokens file.
type Set struct {
	byHash map[[32]byte][]string
	// seen caches the roles of tokens already checked, keyed by SipHash-128
	// of the token under a random per-process key: a PRF whose outputs an
	// attacker cannot predict or collide, so the cache is as safe as the
	// SHA-256 table and costs a fraction of a SHA-256 per request
	// (BenchmarkLookupHandler). Only known tokens enter it, so its size is
	// bounded by the file.
	seen   sync.Map // [16]byte -> Roles
	k0, k1 uint64
}

// Load reads a tokens file.
func Load(path string) (*Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Parse reads the tokens file format.
func Parse(r io.Reader) (*Set, error) {
	s := &Set{byHash: map[[32]byte][]string{}}
	var k [16]byte
	if _, err := rand.Read(k[:]); err != nil {
		return nil, err
	}
	s.k0, s.k1 = binary.LittleEndian.Uint64(k[:8]), binary.LittleEndian.Uint64(k[8:])
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		var h [32]byte
		if len(fields) != 2 || hex.DecodedLen(len(fields[0])) != 32 {
			return nil, fmt.Errorf("line %d: want `<sha256-hex> <role>[,<role>...]`", n)
		}
		if _, err := hex.Decode(h[:], []byte(fields[0])); err != nil {
			return nil, fmt.Errorf("line %d: bad hash: %v", n, err)
		}
		roles := strings.Split(fields[1], ",")
		for _, role := range roles {
			if !ValidRole(role) {
				return nil, fmt.Errorf("line %d: unknown role %q", n, role)
			}
		}
		s.byHash[h] = append(s.byHash[h], roles...)
	}
	return s, sc.Err()
}

// Len returns the number of tokens.
func (s *Set) Len() int { return len(s.byHash) }

// Roles returns the roles of token; known is false for a token not in the
// set. Only digests are ever compared: the time a lookup takes depends on
// the digest of what the caller sent, which tells an attacker nothing about
// any stored token (no byte-by-byte compare of secrets). It does not
// allocate once the token has been seen.
func (s *Set) Roles(token []byte) (roles Roles, known bool) {
	var key [16]byte
	h0, h1 := siphash.Hash128(s.k0, s.k1, token)
	binary.LittleEndian.PutUint64(key[:8], h0)
	binary.LittleEndian.PutUint64(key[8:], h1)
	if v, ok := s.seen.Load(key); ok {
		return v.(Roles), true
	}
	r, ok := s.byHash[Hash(token)]
	if !ok {
		return nil, false
	}
	s.seen.Store(key, Roles(r))
	return r, true
}

// Allowed reports whether token is known and whether it holds role (or
// admin).
func (s *Set) Allowed(token []byte, role string) (known, allowed bool) {
	roles, known := s.Roles(token)
	return known, roles.Has(role)
}

// Roles are one token's roles. The slice is shared: do not modify.
type Roles []string

// Has reports whether the roles include role, or admin.
func (r Roles) Has(role string) bool { return slices.Contains(r, role) || slices.Contains(r, Admin) }

// Uploads reports whether the roles include upload:{region}, or admin.
// region is taken as bytes (a request path's) and not retained.
func (r Roles) Uploads(region []byte) bool { return r.scoped(UploadPrefix, region) }

// Issues reports whether the roles include issue:{region}, or admin.
func (r Roles) Issues(region []byte) bool { return r.scoped(IssuePrefix, region) }

// IssuesAny reports whether the roles include issue: for some region, or
// admin: enough to be let in to the issuing endpoint, which then checks the
// region a code is asked for.
func (r Roles) IssuesAny() bool {
	return slices.Contains(r, Admin) || slices.ContainsFunc(r, func(role string) bool { return strings.HasPrefix(role, IssuePrefix) })
}

func (r Roles) scoped(prefix string, region []byte) bool {
	for _, role := range r {
		if role == Admin {
			return true
		}
		if name, ok := strings.CutPrefix(role, prefix); ok && name == string(region) {
			return true
		}
	}
	return false
}
