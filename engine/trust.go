package engine

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"time"
)

// The trust list names the issuers whose health codes are recognised: per
// issuer key its region, kid, public key, status and when it was added
// (docs/health-codes.md). Snapshots and edge filters carry it in the binary
// form below (FORMAT.md "Trust list"), so replicas and offline verifiers
// receive it signed by the publisher. It holds public keys only.

// KidSize is the size of a key id.
const KidSize = 8

// Kid identifies an issuer key: the first 8 bytes of SHA-256 of its 32-byte
// Ed25519 public key. Written as 16 lowercase hex digits.
type Kid [KidSize]byte

// KidOf returns the kid of a public key.
func KidOf(pub ed25519.PublicKey) Kid {
	sum := sha256.Sum256(pub)
	return Kid(sum[:KidSize])
}

func (k Kid) String() string { return hex.EncodeToString(k[:]) }

// ParseKid reads a kid written as 16 hex digits (either case).
func ParseKid(s string) (Kid, error) {
	var k Kid
	if len(s) != 2*KidSize {
		return k, errIssuer("a kid is 16 hex digits, not " + strconv.Quote(s))
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		return k, errIssuer("a kid is 16 hex digits, not " + strconv.Quote(s))
	}
	return k, nil
}

// IssuerStatus is whether codes signed by a key are recognised. The zero
// value is not a status, so an entry nobody filled in is refused.
type IssuerStatus uint8

const (
	IssuerActive  IssuerStatus = 1 // its codes are recognised
	IssuerRevoked IssuerStatus = 2 // its codes are refused (revoked_issuer)
)

func (s IssuerStatus) String() string {
	switch s {
	case IssuerActive:
		return "active"
	case IssuerRevoked:
		return "revoked"
	}
	return "invalid"
}

// TrustedIssuer is one entry of a trust list.
type TrustedIssuer struct {
	Region    string            // the region whose codes the key signs
	Kid       Kid               // KidOf(PublicKey)
	PublicKey ed25519.PublicKey // 32 bytes
	Status    IssuerStatus
	Added     time.Time // when the key was added to the list
}

// MaxTrustedIssuers bounds a trust list: 64 regions with room for key
// rotations, and a bound on what a hostile file can make a reader allocate.
const MaxTrustedIssuers = 1024

// Errors about trust lists. Decoding errors are *FormatError wrapping
// ErrTrustList; the others are wrapped with a reason. Test with errors.Is.
var (
	ErrTrustList     = errors.New("trust list corrupt")
	ErrIssuer        = errors.New("bad issuer entry")
	ErrIssuerExists  = errors.New("issuer key already in the trust list")
	ErrUnknownIssuer = errors.New("no such issuer key in the trust list")
	ErrIssuerRevoked = errors.New("issuer key already revoked")
)

// issuerError wraps a sentinel with a reason, without fmt (the verifier's
// WebAssembly builds).
type issuerError struct {
	err    error
	reason string
}

func (e *issuerError) Error() string { return e.err.Error() + ": " + e.reason }
func (e *issuerError) Unwrap() error { return e.err }

func errIssuer(reason string) error { return &issuerError{ErrIssuer, reason} }

// TrustList is an immutable list of issuer keys, in the order they were
// added. The nil *TrustList is the empty list. Safe for concurrent use;
// Issuers returns a slice shared with the list: do not modify it.
type TrustList struct {
	issuers []TrustedIssuer
	// byKid holds each kid as a big-endian integer with its entry's index,
	// sorted, for a lookup without allocation or hashing.
	byKid []kidIndex
}

type kidIndex struct {
	kid uint64
	i   int
}

// NewTrustList checks the entries (a valid region name, a 32-byte key, a
// status, a time added after 1970, a kid matching the key: a zero Kid is
// filled in, no kid twice, at most MaxTrustedIssuers) and returns them as a list. It copies the
// entries and their keys.
func NewTrustList(issuers ...TrustedIssuer) (*TrustList, error) {
	if len(issuers) > MaxTrustedIssuers {
		return nil, errIssuer(strconv.Itoa(len(issuers)) + " issuers, at most " + strconv.Itoa(MaxTrustedIssuers))
	}
	t := &TrustList{issuers: make([]TrustedIssuer, len(issuers))}
	for i, e := range issuers {
		if !ValidRegionName(e.Region) {
			return nil, errIssuer("bad region name " + strconv.Quote(e.Region))
		}
		if len(e.PublicKey) != ed25519.PublicKeySize {
			return nil, errIssuer("a public key is 32 bytes, not " + strconv.Itoa(len(e.PublicKey)))
		}
		kid := KidOf(e.PublicKey)
		if e.Kid != (Kid{}) && e.Kid != kid {
			return nil, errIssuer("kid " + e.Kid.String() + " is not the public key's (" + kid.String() + ")")
		}
		if e.Status != IssuerActive && e.Status != IssuerRevoked {
			return nil, errIssuer("status " + strconv.Itoa(int(e.Status)))
		}
		if e.Added.IsZero() || e.Added.UnixNano() <= 0 {
			return nil, errIssuer("no time added (or one before 1970)")
		}
		e.Kid, e.PublicKey = kid, bytes.Clone(e.PublicKey)
		t.issuers[i] = e
	}
	if err := t.index(); err != nil {
		return nil, err
	}
	return t, nil
}

// index builds byKid and refuses a kid twice. An insertion sort: lists are
// short (at most MaxTrustedIssuers, sorted once), and a generic sort
// instantiated for kidIndex added 10 KB to the verifier's WebAssembly module.
func (t *TrustList) index() error {
	t.byKid = make([]kidIndex, len(t.issuers))
	for i, e := range t.issuers {
		x := kidIndex{binary.BigEndian.Uint64(e.Kid[:]), i}
		j := i
		for ; j > 0 && t.byKid[j-1].kid > x.kid; j-- {
			t.byKid[j] = t.byKid[j-1]
		}
		t.byKid[j] = x
	}
	for i := 1; i < len(t.byKid); i++ {
		if t.byKid[i].kid == t.byKid[i-1].kid {
			return &issuerError{ErrIssuerExists, "kid " + t.issuers[t.byKid[i].i].Kid.String() + " twice"}
		}
	}
	return nil
}

// Len returns the number of entries.
func (t *TrustList) Len() int {
	if t == nil {
		return 0
	}
	return len(t.issuers)
}

// Issuers returns the entries in the order they were added (shared: do not
// modify).
func (t *TrustList) Issuers() []TrustedIssuer {
	if t == nil {
		return nil
	}
	return t.issuers
}

// Find returns the entry for kid (shared: do not modify). It does not
// allocate.
func (t *TrustList) Find(kid Kid) (*TrustedIssuer, bool) {
	if i := t.find(kid); i >= 0 {
		return &t.issuers[i], true
	}
	return nil, false
}

// find returns the index of kid's entry, or -1.
func (t *TrustList) find(kid Kid) int {
	if t == nil {
		return -1
	}
	k := binary.BigEndian.Uint64(kid[:])
	lo, hi := 0, len(t.byKid)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t.byKid[m].kid < k {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(t.byKid) && t.byKid[lo].kid == k {
		return t.byKid[lo].i
	}
	return -1
}

// Add returns a new list with e appended (checked as NewTrustList does);
// ErrIssuerExists if its key is in the list already, revoked or not: a
// revoked key stays revoked.
func (t *TrustList) Add(e TrustedIssuer) (*TrustList, error) {
	if len(e.PublicKey) == ed25519.PublicKeySize {
		if _, ok := t.Find(KidOf(e.PublicKey)); ok {
			return nil, &issuerError{ErrIssuerExists, "kid " + KidOf(e.PublicKey).String()}
		}
	}
	return NewTrustList(append(slices.Clone(t.Issuers()), e)...)
}

// Revoke returns a new list in which kid is revoked: ErrUnknownIssuer if it
// is not in the list, ErrIssuerRevoked if it is revoked already.
func (t *TrustList) Revoke(kid Kid) (*TrustList, error) {
	i := t.find(kid)
	switch {
	case i < 0:
		return nil, &issuerError{ErrUnknownIssuer, "kid " + kid.String()}
	case t.issuers[i].Status == IssuerRevoked:
		return nil, &issuerError{ErrIssuerRevoked, "kid " + kid.String()}
	}
	issuers := slices.Clone(t.issuers)
	issuers[i].Status = IssuerRevoked
	return NewTrustList(issuers...)
}

// Equal reports whether two lists hold the same entries in the same order.
func (t *TrustList) Equal(o *TrustList) bool {
	a, b := t.Issuers(), o.Issuers()
	return slices.EqualFunc(a, b, func(x, y TrustedIssuer) bool {
		return x.Region == y.Region && x.Kid == y.Kid && x.PublicKey.Equal(y.PublicKey) &&
			x.Status == y.Status && x.Added.Equal(y.Added)
	})
}

// Binary form (FORMAT.md "Trust list"): a header of count (u32) and a
// reserved u32, then count entries of trustEntrySize bytes. No magic: it
// lives inside a snapshot section or an edge filter, whose envelope has
// one.
const (
	trustHeadSize  = 8
	trustEntrySize = 72
)

// trustBinarySize is the size of the binary form of n entries.
func trustBinarySize(n int) int { return trustHeadSize + n*trustEntrySize }

// MarshalBinary encodes the list (the empty list is 8 bytes).
func (t *TrustList) MarshalBinary() ([]byte, error) {
	return t.AppendBinary(make([]byte, 0, trustBinarySize(t.Len())))
}

// AppendBinary appends the binary form of the list to b.
func (t *TrustList) AppendBinary(b []byte) ([]byte, error) {
	le := binary.LittleEndian
	b = le.AppendUint32(b, uint32(t.Len()))
	b = le.AppendUint32(b, 0)
	for _, e := range t.Issuers() {
		var name [16]byte
		copy(name[:], e.Region)
		b = append(b, name[:]...)
		b = append(b, e.Kid[:]...)
		b = append(b, e.PublicKey...)
		b = le.AppendUint64(b, uint64(unixNanoOrZero(e.Added)))
		b = append(b, byte(e.Status), 0, 0, 0, 0, 0, 0, 0)
	}
	return b, nil
}

// UnmarshalBinary decodes a list from bytes from outside: every length is
// checked before anything is allocated, and every entry as NewTrustList
// checks it (the kid recomputed from the key). Errors are *FormatError
// wrapping ErrTrustList, offsets relative to b. t must not be in use.
func (t *TrustList) UnmarshalBinary(b []byte) error { return t.decode(b, 0) }

// decode is UnmarshalBinary for b found at offset base of a file, which
// error offsets count from.
func (t *TrustList) decode(b []byte, base int) error {
	trustErr := func(off int, reason string) error {
		return &FormatError{Offset: int64(base + off), Reason: reason, Err: ErrTrustList}
	}
	le := binary.LittleEndian
	if len(b) < trustHeadSize {
		return trustErr(0, "shorter than its header")
	}
	n := le.Uint32(b)
	if n > MaxTrustedIssuers {
		return trustErr(0, strconv.FormatUint(uint64(n), 10)+" entries, at most "+strconv.Itoa(MaxTrustedIssuers))
	}
	if le.Uint32(b[4:]) != 0 {
		return trustErr(4, "reserved bytes set")
	}
	if len(b) != trustBinarySize(int(n)) {
		return trustErr(0, strconv.Itoa(len(b))+" bytes for "+strconv.Itoa(int(n))+" entries")
	}
	issuers := make([]TrustedIssuer, n)
	keys := make([]byte, int(n)*ed25519.PublicKeySize)
	for i := range issuers {
		at := trustHeadSize + i*trustEntrySize
		e := b[at : at+trustEntrySize]
		name := string(bytes.TrimRight(e[:16], "\x00"))
		if !ValidRegionName(name) { // also refuses a NUL inside the name
			return trustErr(at, "bad region name")
		}
		pub := ed25519.PublicKey(keys[i*ed25519.PublicKeySize : (i+1)*ed25519.PublicKeySize : (i+1)*ed25519.PublicKeySize])
		copy(pub, e[24:56])
		kid := Kid(e[16:24])
		if kid != KidOf(pub) {
			return trustErr(at+16, "kid is not the public key's")
		}
		added := int64(le.Uint64(e[56:]))
		if added <= 0 {
			return trustErr(at+56, "no time added")
		}
		st := IssuerStatus(e[64])
		if st != IssuerActive && st != IssuerRevoked {
			return trustErr(at+64, "unknown status")
		}
		if !allZero(e[65:72]) {
			return trustErr(at+65, "reserved bytes set")
		}
		issuers[i] = TrustedIssuer{Region: name, Kid: kid, PublicKey: pub, Status: st, Added: time.Unix(0, added)}
	}
	nt := TrustList{issuers: issuers}
	if err := nt.index(); err != nil {
		return trustErr(0, err.Error())
	}
	*t = nt
	return nil
}

// ParseTrustList decodes the binary form (UnmarshalBinary) into a new list.
func ParseTrustList(b []byte) (*TrustList, error) {
	t := &TrustList{}
	if err := t.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	return t, nil
}

// unixNanoOrZero is t in Unix nanoseconds, 0 for the zero time (which
// UnixNano cannot represent).
func unixNanoOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// timeOrZero is the inverse of unixNanoOrZero.
func timeOrZero(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// AppendJSON appends the list as the JSON object GET /v1/trust answers
// (docs/http-api.md): {"issuers":[{"region","kid","publicKey","status",
// "added"}]}, times in RFC 3339 UTC. Written by hand so the verifier's
// WebAssembly builds need no encoding/json.
func (t *TrustList) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"issuers":[`...)
	for i, e := range t.Issuers() {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"region":"`...)
		dst = append(dst, e.Region...) // a-z0-9 only
		dst = append(dst, `","kid":"`...)
		dst = hex.AppendEncode(dst, e.Kid[:])
		dst = append(dst, `","publicKey":"`...)
		dst = hex.AppendEncode(dst, e.PublicKey)
		dst = append(dst, `","status":"`...)
		dst = append(dst, e.Status.String()...)
		dst = append(dst, `","added":"`...)
		dst = e.Added.UTC().AppendFormat(dst, time.RFC3339)
		dst = append(dst, `"}`...)
	}
	return append(dst, "]}"...)
}
