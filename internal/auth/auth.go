// Package auth is the tokens file: bearer tokens stored only as SHA-256
// hashes, each with its roles (DESIGN section 4 and 5).
//
// File format, one token a line: `<sha256-hex> <role>[,<role>...]`; `#`
// starts a comment. Roles: lookup, upload:{region}, replica, admin (admin
// may do everything).
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
	Lookup  = "lookup"
	Replica = "replica"
	Admin   = "admin"
	// UploadPrefix + region: may upload that region's lists only.
	UploadPrefix = "upload:"
)

// Upload is the role that may upload region's lists.
func Upload(region string) string { return UploadPrefix + region }

// ValidRole reports whether role is one of the roles above.
func ValidRole(role string) bool {
	switch role {
	case Lookup, Replica, Admin:
		return true
	}
	r, ok := strings.CutPrefix(role, UploadPrefix)
	return ok && engine.ValidRegionName(r)
}

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
			return "", fmt.Errorf("unknown role %q (lookup, upload:REGION, replica, admin)", r)
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
	seen   sync.Map // [16]byte -> []string
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

// Allowed reports whether token is known and whether it holds role (or
// admin). Only SHA-256 digests are ever compared: the time a lookup takes
// depends on the digest of what the caller sent, which tells an attacker
// nothing about any stored token (no byte-by-byte compare of secrets).
func (s *Set) Allowed(token []byte, role string) (known, allowed bool) {
	var key [16]byte
	h0, h1 := siphash.Hash128(s.k0, s.k1, token)
	binary.LittleEndian.PutUint64(key[:8], h0)
	binary.LittleEndian.PutUint64(key[8:], h1)
	var roles []string
	if v, ok := s.seen.Load(key); ok {
		roles = v.([]string)
	} else if roles, ok = s.byHash[Hash(token)]; ok {
		s.seen.Store(key, roles)
	} else {
		return false, false
	}
	return true, slices.Contains(roles, role) || slices.Contains(roles, Admin)
}
