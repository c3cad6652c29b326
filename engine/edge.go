package engine

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/bits-and-blooms/bloom/v3"
)

// The edge filter (FORMAT.md "Edge filter") lets a
// verifier answer offline: per region, a bloom filter of the people it lists
// red and one of those it lists yellow, keyed by SipHash under a public
// random salt (never the secret pseudonym key), signed by the publisher.
//
// Raw IDs never reach disk, so a region's part can only be built while its
// daily file is parsed (EdgeRegionBuilder, fed by the loader); the loader
// keeps each part beside the snapshot and the publisher assembles the parts
// that match the live lists into one signed EdgeFilter.
//
// This file is all a verifier needs and uses no roaring, so the linker
// drops the snapshot code from the WebAssembly builds (fmt comes in anyway,
// through bits-and-blooms: BENCHMARKS.md).

// Edge filter layout (FORMAT.md has the byte tables):
//
//	header (64) | region table (56 x R) | trust list | region blocks (8-aligned) | trailer
//	trailer = SHA-256 over everything before it (32) | Ed25519 signature (64)
//
// Version 2 has no trust list (and its header's bytes 60-63 are reserved).
const (
	edgeMagic = "HCXEDGE\x00"
	// EdgeFormatVersion is the version written; readers accept it and
	// MinEdgeFormatVersion (FORMAT.md "Versions"). Version 3 added the
	// trust list and the regions' ingest times; version 1 was development
	// builds' other probe positions, refused.
	EdgeFormatVersion    = 3
	MinEdgeFormatVersion = 2
	edgeHeaderSize       = 64
	edgeEntrySize        = 56
	edgeBlockHead        = 24 // salt, rate
	edgeBloomHead        = 24 // n, m, k, reserved
	edgeSigLabel         = "hcx edge filter signature v1\x00"
	// EdgeSaltSize is the size of a region's public salt (a SipHash key).
	EdgeSaltSize = 16
	// maxEdgeK bounds the probes per key; DefaultEdgeFPR needs 17 per filter.
	maxEdgeK = 40
	// minEdgeFPR and maxEdgeFPR bound a filter's rate: below 1e-12 it would
	// need more than maxEdgeK probes. (The loader takes 1e-9 at least for a
	// whole filter, so 1e-9/128 for 64 regions.)
	minEdgeFPR = 1e-12
	maxEdgeFPR = 0.5
)

// DefaultEdgeFPR is the edge filter's false-positive rate: the chance that
// a person listed nowhere is answered as a probable red or yellow. It is
// the budget for the whole filter, shared out among its bloom filters.
const DefaultEdgeFPR = 1e-4

// DefaultEdgeMaxAge is how long a verifier trusts an edge filter after its
// publication, and how old a region's list may be before answers name it as
// not current: the server's staleness rule (36h).
const DefaultEdgeMaxAge = 36 * time.Hour

// Errors from opening an edge filter, wrapped in a *FormatError with the
// byte offset; test with errors.Is.
var (
	ErrEdgeMagic     = errors.New("not an hcx edge filter (bad magic)")
	ErrEdgeVersion   = errors.New("unsupported edge filter format version")
	ErrEdgeTruncated = errors.New("edge filter truncated")
	ErrEdgeChecksum  = errors.New("edge filter checksum mismatch")
	ErrEdgeCorrupt   = errors.New("edge filter corrupt")
	ErrEdgeSignature = errors.New("edge filter signature invalid (tampered, or signed by another publisher)")
	ErrEdgeUnsigned  = errors.New("edge filter is not signed")
	ErrEdgeNoKey     = errors.New("no publisher public key to verify the edge filter against")
	ErrEdgeBuild     = errors.New("edge filter: bad input")
)

// edgeErr builds a *FormatError, its reason without fmt.
func edgeErr(err error, off int, reason string) error {
	return &FormatError{Offset: int64(off), Reason: reason, Err: err}
}

// EdgeFPRPerFilter is the rate each of a region's two bloom filters is
// built for when the whole filter, over nregions regions, promises fpr: a
// person listed nowhere is tested against 2 x nregions filters, so each gets
// an equal share and the union stays within fpr.
func EdgeFPRPerFilter(fpr float64, nregions int) float64 {
	return fpr / float64(2*max(nregions, 1))
}

// edgeHash hashes the 17 body digits of a trimmed, valid ID under a salt
// with SipHash-2-4, the pseudonyms' own code (sip17, pinned to
// github.com/dchest/siphash), and derives the second hash of
// Kirsch-Mitzenmacher double hashing from the first with one multiply by an
// odd constant (a bijection whose top bits depend on every bit of h1).
// One 64-bit SipHash a region instead of the 128-bit variant: four rounds
// fewer, 45% less hashing time under wazero (57 ns against 103), and the
// probes use only 32-bit positions anyway.
func edgeHash[T string | []byte](k0, k1 uint64, s T) (h1, h2 uint64) {
	h1 = sip17(k0, k1, load64(s[0:8]), load64(s[8:16]), s[16])
	return h1, h1 * edgeH2
}

// edgeH2 is the odd multiplier that derives h2 (2^64 / golden ratio).
const edgeH2 = 0x9e3779b97f4a7c15

func saltKey(salt [EdgeSaltSize]byte) (uint64, uint64) {
	return binary.LittleEndian.Uint64(salt[:8]), binary.LittleEndian.Uint64(salt[8:])
}

// edgeBloom is one classic (unblocked) bloom filter, sized by
// bloom.EstimateParameters and stored in a bits-and-blooms filter. Probe i
// of a key with hashes (h1, h2) is Kirsch-Mitzenmacher double hashing of the
// SipHash output (edgeHash), nothing re-hashed: g = h1 + i*h2 (mod 2^64), then bit
// (g>>32)*m>>32, a multiply-shift in place of a modulo (m is at most 2^32).
// The bits are probed directly, one probe at a time with an early exit: each
// probe is a cache miss of its own, and an absent key usually fails at the
// first or second (BenchmarkEdgeCheck: 2x faster than computing all k
// positions for the container's TestLocations, and more so in wasm).
type edgeBloom struct {
	f     *bloom.BloomFilter // the container
	words []uint64           // f's bits
	m, k  uint64
	n     uint64 // keys added
}

// maxEdgeBits bounds a filter: positions are 32-bit multiply-shifts. At
// the default rate that is about 180 million people in one colour of one
// region's list.
const maxEdgeBits = 1 << 32

func newEdgeBloom(n int, fpr float64) edgeBloom {
	m, k := bloom.EstimateParameters(uint(n), fpr)
	m = min(max(m, 64), maxEdgeBits)
	k = min(max(k, 1), maxEdgeK)
	return wrapEdgeBloom(bloom.New(m, k), uint64(n))
}

func wrapEdgeBloom(f *bloom.BloomFilter, n uint64) edgeBloom {
	return edgeBloom{f: f, words: f.BitSet().Words(), m: uint64(f.Cap()), k: uint64(f.K()), n: n}
}

func (b *edgeBloom) add(h1, h2 uint64) {
	for range b.k {
		pos := (h1 >> 32) * b.m >> 32
		b.words[pos>>6] |= 1 << (pos & 63)
		h1 += h2
	}
}

func (b *edgeBloom) test(h1, h2 uint64) bool {
	p := edgeProbe{b.words, b.m, b.k}
	return p.test(h1, h2)
}

// estimatedFPR is the classic estimate (1 - e^(-kn/m))^k.
func (b *edgeBloom) estimatedFPR() float64 {
	if b.n == 0 {
		return 0
	}
	k, m := float64(b.k), float64(b.m)
	return math.Pow(1-math.Exp(-k*float64(b.n)/m), k)
}

// EdgeRegion is one region's part of an edge filter: its salt and its red
// and yellow bloom filters, or, when Covered is false, only its name, list
// date and ingest time (no filter matches its live list). Immutable once
// built or opened; safe for concurrent use.
type EdgeRegion struct {
	Name     string
	ListDate Day
	Covered  bool
	// Ingested is when the list was ingested: in a part, when the part was
	// built; in an assembled filter, the snapshot's RegionInfo.Ingested
	// (zero when unknown). Freshness counts from the earlier of it and the
	// start of the list date, in filters of format version 3.
	Ingested time.Time
	Digest   ListDigest

	salt        [EdgeSaltSize]byte
	k0, k1      uint64
	fpr         float64 // the rate each of the two filters was sized for
	red, yellow edgeBloom
}

// UncoveredRegion is a region listed in a filter without bloom filters: its
// answers are not known to the verifier, which says so.
func UncoveredRegion(name string, listDate Day) *EdgeRegion {
	return &EdgeRegion{Name: name, ListDate: listDate}
}

// WithIngested returns a copy of the region (sharing its filters) whose
// ingest time is t: a publisher assembling a filter gives each region its
// snapshot's ingest time (RegionInfo.Ingested), so that servers and
// verifiers count freshness from the same instant.
func (r *EdgeRegion) WithIngested(t time.Time) *EdgeRegion {
	c := *r
	c.Ingested = t
	return &c
}

// Counts returns how many people the region's red and yellow filters hold.
func (r *EdgeRegion) Counts() (red, yellow int) { return int(r.red.n), int(r.yellow.n) }

// FPR returns the rate the region's two filters were each sized for.
func (r *EdgeRegion) FPR() float64 { return r.fpr }

// Bits returns the size of the region's two bloom filters in bits.
func (r *EdgeRegion) Bits() uint64 {
	if !r.Covered {
		return 0
	}
	return r.red.m + r.yellow.m
}

// ListDigest identifies a region's pseudonymised list: an order-independent
// sum over its (pseudonym, colour) pairs. An edge part records the digest of
// the list it was built with, so a publisher pairs parts with lists exactly
// (a correction of the same date has another digest). Not a security
// measure: the parts are the publisher's own files.
type ListDigest uint64

// Add adds one listing to the digest.
func (d *ListDigest) Add(p Pseudonym, c Status) {
	*d += ListDigest(bloomMix(uint64(p) + uint64(c)*0x9e3779b97f4a7c15))
}

// RegionDigest returns the ListDigest of region i's list in the snapshot.
func (s *Snapshot) RegionDigest(i int) ListDigest {
	var d ListDigest
	if i < 0 || i >= len(s.regRed) {
		return d
	}
	for it := s.regRed[i].Iterator(); it.HasNext(); {
		d.Add(Pseudonym(s.keys[it.Next()]), Red)
	}
	for it := s.regYellow[i].Iterator(); it.HasNext(); {
		d.Add(Pseudonym(s.keys[it.Next()]), Yellow)
	}
	return d
}

// EdgeRegionBuilder builds one region's edge part from the raw IDs of its
// daily file, while they are at hand: Add and Build take the rows as they
// come and merge them (16 bytes a row), Hash and BuildDistinct let a
// caller that merges the rows by person itself (the loader's parser) keep
// one hash a person beside its own records. It holds only salted hashes,
// never an ID. Not safe for concurrent use.
type EdgeRegionBuilder struct {
	name        string
	date        Day
	salt        [EdgeSaltSize]byte
	k0, k1      uint64
	fpr         float64
	red, yellow [][2]uint64
}

// NewEdgeRegionBuilder starts region name's part for its list of date,
// keyed by salt (draw a fresh random one for every list) with each of its
// two filters sized for the false-positive rate fpr (EdgeFPRPerFilter).
func NewEdgeRegionBuilder(name string, date Day, salt [EdgeSaltSize]byte, fpr float64) (*EdgeRegionBuilder, error) {
	if !ValidRegionName(name) {
		return nil, edgeErr(ErrEdgeBuild, 0, "bad region name "+strconv.Quote(name))
	}
	if !(fpr >= minEdgeFPR && fpr <= maxEdgeFPR) {
		return nil, edgeErr(ErrEdgeBuild, 0, "false-positive rate "+strconv.FormatFloat(fpr, 'g', -1, 64)+" outside [1e-12, 0.5]")
	}
	b := &EdgeRegionBuilder{name: name, date: date, salt: salt, fpr: fpr}
	b.k0, b.k1 = saltKey(salt)
	return b, nil
}

// Add records that the list gives id colour c (Red or Yellow). id must be
// a valid ID as the parser passed it (trimmed); only its 17 body digits are
// hashed, so the check character's case does not matter. The slice is not
// retained. Listing a person twice, or red and yellow, is fine: Build
// merges like the parser (red wins).
func (b *EdgeRegionBuilder) Add(id []byte, c Status) error {
	id = trim(id)
	if len(id) != IDLen || !allDigits(id[:bodyLen]) {
		return edgeErr(ErrEdgeBuild, 0, "not an ID")
	}
	h1, h2 := edgeHash(b.k0, b.k1, id)
	switch c {
	case Red:
		b.red = append(b.red, [2]uint64{h1, h2})
	case Yellow:
		b.yellow = append(b.yellow, [2]uint64{h1, h2})
	default:
		return edgeErr(ErrEdgeBuild, 0, "colour "+c.String())
	}
	return nil
}

// Build sorts and deduplicates the hashes (a person red and yellow goes in
// red only), sizes the two filters with bloom.EstimateParameters and fills
// them. ingested is recorded as the part's build time, digest as the list it
// belongs to. The builder is empty afterwards.
func (b *EdgeRegionBuilder) Build(ingested time.Time, digest ListDigest) *EdgeRegion {
	red, yellow := dedupeHashes(b.red), dedupeHashes(b.yellow)
	b.red, b.yellow = nil, nil
	// Drop from yellow whoever is red (both sorted).
	w, j := 0, 0
	for _, h := range yellow {
		for j < len(red) && cmpHash(red[j], h) < 0 {
			j++
		}
		if j < len(red) && red[j] == h {
			continue
		}
		yellow[w] = h
		w++
	}
	yellow = yellow[:w]
	r := b.part(ingested, digest, len(red), len(yellow))
	for _, h := range red {
		r.red.add(h[0], h[1])
	}
	for _, h := range yellow {
		r.yellow.add(h[0], h[1])
	}
	return r
}

// Hash is the salted hash the part's filters take for id, a valid ID as
// the parser passed it (trimmed, IDLen bytes): what Add computes, for a
// caller that merges a list by person itself and then calls BuildDistinct.
func (b *EdgeRegionBuilder) Hash(id *[IDLen]byte) uint64 {
	h1, _ := edgeHash(b.k0, b.k1, id[:])
	return h1
}

// BuildDistinct is Build for hashes (Hash) already merged by person: red
// holds each person the list gives red once, yellow each other person
// once. Nothing is sorted, so the part costs the filters' inserts alone
// (BenchmarkIngest); the filters are those Build makes of the same people.
// Whatever Add collected is dropped.
func (b *EdgeRegionBuilder) BuildDistinct(ingested time.Time, digest ListDigest, red, yellow []uint64) *EdgeRegion {
	b.red, b.yellow = nil, nil
	r := b.part(ingested, digest, len(red), len(yellow))
	for _, h := range red {
		r.red.add(h, h*edgeH2)
	}
	for _, h := range yellow {
		r.yellow.add(h, h*edgeH2)
	}
	return r
}

// part is the region's part with empty filters sized for red and yellow
// people.
func (b *EdgeRegionBuilder) part(ingested time.Time, digest ListDigest, red, yellow int) *EdgeRegion {
	return &EdgeRegion{Name: b.name, ListDate: b.date, Covered: true, Ingested: ingested, Digest: digest,
		salt: b.salt, k0: b.k0, k1: b.k1, fpr: b.fpr,
		red: newEdgeBloom(red, b.fpr), yellow: newEdgeBloom(yellow, b.fpr)}
}

func cmpHash(a, b [2]uint64) int {
	switch {
	case a[0] != b[0]:
		if a[0] < b[0] {
			return -1
		}
		return 1
	case a[1] < b[1]:
		return -1
	case a[1] > b[1]:
		return 1
	}
	return 0
}

func dedupeHashes(h [][2]uint64) [][2]uint64 {
	return slices.Compact(sortHashes(h))
}

// sortHashes sorts salted hashes (maybe into a new slice). They are uniform,
// so, like sortRecords, one counting pass on the top bits leaves buckets of
// about four that insertion sort finishes (BenchmarkEdgeBuild: about 3x
// faster than slices.SortFunc at 250k, the sort being most of an ingest's
// edge cost).
func sortHashes(h [][2]uint64) [][2]uint64 {
	if len(h) < 1<<12 {
		slices.SortFunc(h, cmpHash)
		return h
	}
	b := uint(8)
	for b < 24 && 1<<(b+2) < len(h) {
		b++
	}
	count := make([]uint32, 1<<b+1)
	for _, x := range h {
		count[x[0]>>(64-b)+1]++
	}
	for i := 1; i < len(count); i++ {
		count[i] += count[i-1]
	}
	out := make([][2]uint64, len(h))
	next := slices.Clone(count)
	for _, x := range h {
		k := x[0] >> (64 - b)
		out[next[k]] = x
		next[k]++
	}
	for k := range len(count) - 1 {
		bucket := out[count[k]:count[k+1]]
		if len(bucket) > 32 { // not uniform after all
			slices.SortFunc(bucket, cmpHash)
			continue
		}
		for i := 1; i < len(bucket); i++ {
			for j := i; j > 0 && cmpHash(bucket[j], bucket[j-1]) < 0; j-- {
				bucket[j], bucket[j-1] = bucket[j-1], bucket[j]
			}
		}
	}
	return out
}

// EdgeFilterOptions describe an assembled filter. The zero value has no
// build time; MaxAge 0 is DefaultEdgeMaxAge; FPR 0 is DefaultEdgeFPR; Zone
// nil is CST.
type EdgeFilterOptions struct {
	// Built is the publication the filter belongs to (the snapshot's build
	// time): a verifier answers stale once now is past Built + MaxAge.
	Built  time.Time
	MaxAge time.Duration
	// FPR is the rate the publisher promised for the whole filter (what the
	// regions' parts were sized for).
	FPR     float64
	Version uint64 // the snapshot version, for display
	// Zone is where list dates start (the publisher's --tz); only its UTC
	// offset at Built is recorded.
	Zone *time.Location
	// Trust is the trust list of health-code issuers the filter carries
	// (the snapshot's); nil is the empty list.
	Trust *TrustList
}

// EdgeFilter is a verified, decoded edge filter: what an offline verifier
// answers from. Immutable; safe for concurrent use.
type EdgeFilter struct {
	built   time.Time
	maxAge  time.Duration
	fpr     float64
	version uint64
	offset  int32 // the zone's UTC offset, seconds
	regions []*EdgeRegion
	cal     *Calendar
	trust   *TrustList // never nil
	// ingestKnown: the regions' ingest times count for freshness (format
	// version 3; in version 2 only a part's build time was recorded).
	ingestKnown bool

	staleAt       int64   // Unix ns after which the whole filter is stale
	regionStaleAt []int64 // per region: after this its list is not current
	// hot is what a check reads, per region, in one flat array: in
	// WebAssembly every load is a bounds-checked memory access, so no
	// pointer chasing (BenchmarkEdgeCheck under wazero).
	hot []edgeHot
}

type edgeHot struct {
	k0, k1      uint64
	red, yellow edgeProbe
	staleAt     int64
	covered     bool
}

// edgeProbe is the part of an edgeBloom a probe reads.
type edgeProbe struct {
	words []uint64
	m, k  uint64
}

func (b *edgeProbe) test(h1, h2 uint64) bool {
	// Fields in locals: Go does not hoist loop-invariant loads, and in
	// WebAssembly every load is a bounds-checked memory access.
	words, m, k := b.words, b.m, b.k
	for range k {
		pos := (h1 >> 32) * m >> 32
		if words[pos>>6]&(1<<(pos&63)) == 0 {
			return false
		}
		h1 += h2
	}
	return true
}

// NewEdgeFilter assembles regions (covered parts and UncoveredRegion
// entries, in the publisher's region order, 1 to MaxRegions) into a filter.
// MarshalBinary and SignEdge turn it into the file verifiers load.
func NewEdgeFilter(opts EdgeFilterOptions, regions []*EdgeRegion) (*EdgeFilter, error) {
	if len(regions) == 0 || len(regions) > MaxRegions {
		return nil, edgeErr(ErrEdgeBuild, 0, strconv.Itoa(len(regions))+" regions, want 1 to 64")
	}
	for i, r := range regions {
		if !ValidRegionName(r.Name) {
			return nil, edgeErr(ErrEdgeBuild, 0, "bad region name "+strconv.Quote(r.Name))
		}
		for _, o := range regions[:i] {
			if o.Name == r.Name {
				return nil, edgeErr(ErrEdgeBuild, 0, "region "+r.Name+" twice")
			}
		}
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultEdgeMaxAge
	}
	if opts.FPR == 0 {
		opts.FPR = DefaultEdgeFPR
	}
	if opts.Zone == nil {
		opts.Zone = CST
	}
	_, off := opts.Built.In(opts.Zone).Zone()
	if opts.Trust == nil {
		opts.Trust = &TrustList{}
	}
	f := &EdgeFilter{built: opts.Built, maxAge: opts.MaxAge, fpr: opts.FPR, version: opts.Version,
		offset: int32(off), regions: slices.Clone(regions), trust: opts.Trust, ingestKnown: true}
	f.prepare(nil)
	return f, nil
}

// prepare sets the calendar and the staleness deadlines.
func (f *EdgeFilter) prepare(cal *Calendar) {
	loc := time.FixedZone("list", int(f.offset))
	if cal == nil {
		cal = NewCalendar(loc, nil)
	}
	f.cal = cal
	f.staleAt = f.built.Add(f.maxAge).UnixNano()
	f.regionStaleAt = make([]int64, len(f.regions))
	f.hot = make([]edgeHot, len(f.regions))
	for i, r := range f.regions {
		if r.ListDate == NoDay || !r.Covered {
			f.regionStaleAt[i] = math.MinInt64
		} else {
			ingested := r.Ingested
			if !f.ingestKnown {
				ingested = time.Time{}
			}
			f.regionStaleAt[i] = freshFrom(r.ListDate, ingested, loc).Add(f.maxAge).UnixNano()
		}
		f.hot[i] = edgeHot{k0: r.k0, k1: r.k1, staleAt: f.regionStaleAt[i], covered: r.Covered,
			red:    edgeProbe{r.red.words, r.red.m, r.red.k},
			yellow: edgeProbe{r.yellow.words, r.yellow.m, r.yellow.k}}
	}
}

// EdgeResult is a verifier's answer for one ID. It is a small value.
type EdgeResult struct {
	// Status is the merged colour over the covered regions: Green (certain
	// for them: a bloom filter has no false negatives), or Red/Yellow, which
	// are probable (a false positive at the filter's rate is possible).
	// Invalid when the ID is invalid (Err says why) or the filter is stale.
	Status Status
	Err    IDError
	// Stale: the filter is past its maximum age and answers nothing.
	Stale bool
	// Red and Yellow are the regions whose filters hit (bit i: region i).
	Red, Yellow uint64
	// NotCurrent are the regions the answer cannot vouch for: not covered by
	// the filter, or listed with a list older than the maximum age.
	NotCurrent uint64
}

// Probable reports a hit: red or yellow, to be checked online.
func (r EdgeResult) Probable() bool { return r.Status == Red || r.Status == Yellow }

// Answer is the answer's name: "invalid", "stale", "green", "yellow" or "red".
func (r EdgeResult) Answer() string {
	if r.Stale {
		return "stale"
	}
	return r.Status.String()
}

// Check answers for one ID string at the calendar's current time. It does
// not allocate.
func (f *EdgeFilter) Check(id string) EdgeResult { return edgeCheck(f, id, f.cal.Now().UnixNano()) }

// CheckBytes is Check for a byte slice; b is not retained.
func (f *EdgeFilter) CheckBytes(b []byte) EdgeResult {
	return edgeCheck(f, b, f.cal.Now().UnixNano())
}

// CheckAt answers as of now (a batch reads the clock once).
func (f *EdgeFilter) CheckAt(id string, now time.Time) EdgeResult {
	return edgeCheck(f, id, now.UnixNano())
}

// CheckBytesAt is CheckAt for a byte slice.
func (f *EdgeFilter) CheckBytesAt(b []byte, now time.Time) EdgeResult {
	return edgeCheck(f, b, now.UnixNano())
}

// CheckIDAt answers for an ID already validated (a health code's holder)
// as of now. It does not allocate.
func (f *EdgeFilter) CheckIDAt(id ID, now time.Time) EdgeResult {
	var body [bodyLen]byte
	id.Body(&body)
	return f.probe(load64(body[0:8]), load64(body[8:16]), body[16], now.UnixNano())
}

func edgeCheck[T string | []byte](f *EdgeFilter, id T, now int64) EdgeResult {
	b, e := validate(f.cal, id)
	if e != 0 {
		return EdgeResult{Err: e}
	}
	return f.probe(b.m0, b.m1, b.last, now)
}

// probe tests the 17 body digits (two little-endian words and the last
// digit) against every region.
func (f *EdgeFilter) probe(m0, m1 uint64, last byte, now int64) EdgeResult {
	if now > f.staleAt {
		return EdgeResult{Stale: true, NotCurrent: 1<<uint(len(f.regions)) - 1}
	}
	r := EdgeResult{Status: Green}
	hot := f.hot
	for i := range hot {
		reg := &hot[i]
		bit := uint64(1) << uint(i)
		if now > reg.staleAt {
			r.NotCurrent |= bit
		}
		if !reg.covered {
			continue
		}
		h1 := sip17(reg.k0, reg.k1, m0, m1, last)
		h2 := h1 * edgeH2
		switch {
		case reg.red.test(h1, h2):
			r.Red |= bit
			r.Status = Red
		case reg.yellow.test(h1, h2):
			r.Yellow |= bit
			r.Status = max(r.Status, Yellow)
		}
	}
	return r
}

// EdgeInfo describes a filter for display.
type EdgeInfo struct {
	Built   time.Time
	MaxAge  time.Duration
	StaleAt time.Time // Built + MaxAge
	// FPR is the rate promised for the whole filter; EstimatedFPR is the
	// rate its filters give as filled (the sum over the covered regions of
	// the classic estimate for each filter).
	FPR, EstimatedFPR float64
	Version           uint64
	ZoneOffset        int // seconds east of UTC, where list dates start
	Regions           []EdgeRegionInfo
	Bytes             uint64 // total size of the bloom filters, in bytes
	Records           int    // entries in all the filters
}

// EdgeRegionInfo is one region of an EdgeInfo.
type EdgeRegionInfo struct {
	Name        string
	ListDate    Day // NoDay when the publisher has no list for the region
	Covered     bool
	Ingested    time.Time
	Red, Yellow int     // people in the red and yellow filters
	FPR         float64 // the rate each of its filters was sized for
	// CurrentUntil is when the list stops being current (list date start +
	// MaxAge); zero when not covered.
	CurrentUntil time.Time
}

// Info returns the filter's metadata.
func (f *EdgeFilter) Info() EdgeInfo {
	info := EdgeInfo{Built: f.built, MaxAge: f.maxAge, StaleAt: f.built.Add(f.maxAge), FPR: f.fpr,
		Version: f.version, ZoneOffset: int(f.offset)}
	for i, r := range f.regions {
		ri := EdgeRegionInfo{Name: r.Name, ListDate: r.ListDate, Covered: r.Covered, Ingested: r.Ingested}
		if r.Covered {
			ri.FPR = r.fpr
			ri.Red, ri.Yellow = r.Counts()
			ri.CurrentUntil = time.Unix(0, f.regionStaleAt[i])
			info.EstimatedFPR += r.red.estimatedFPR() + r.yellow.estimatedFPR()
			info.Bytes += r.Bits() / 8
			info.Records += ri.Red + ri.Yellow
		}
		info.Regions = append(info.Regions, ri)
	}
	return info
}

// TrustList returns the issuers whose health codes the publisher
// recognises (never nil; empty in a filter of format version 2).
func (f *EdgeFilter) TrustList() *TrustList { return f.trust }

// Regions returns the filter's regions in order (shared; do not modify).
func (f *EdgeFilter) Regions() []*EdgeRegion { return f.regions }

// Calendar returns the calendar the filter validates IDs and reads the
// clock with.
func (f *EdgeFilter) Calendar() *Calendar { return f.cal }

// MarshalBinary encodes the filter, unsigned (SignEdge signs it), in the
// current format version.
func (f *EdgeFilter) MarshalBinary() ([]byte, error) {
	return encodeEdge(f.built, f.maxAge, f.fpr, f.version, f.offset, f.regions, f.trust)
}

// MarshalBinary encodes one region's part as a one-region, unsigned edge
// filter file: how the loader keeps it beside the snapshot.
func (r *EdgeRegion) MarshalBinary() ([]byte, error) {
	if !r.Covered {
		return nil, edgeErr(ErrEdgeBuild, 0, "an uncovered region has no part to store")
	}
	return encodeEdge(r.Ingested, DefaultEdgeMaxAge, r.fpr, 0, 8*3600, []*EdgeRegion{r}, nil)
}

func encodeEdge(built time.Time, maxAge time.Duration, fpr float64, version uint64, offset int32, regions []*EdgeRegion, trust *TrustList) ([]byte, error) {
	le := binary.LittleEndian
	trustSize := trustBinarySize(trust.Len()) // a multiple of 8: the blocks stay aligned
	size := edgeHeaderSize + edgeEntrySize*len(regions) + trustSize
	for _, r := range regions {
		if r.Covered {
			size += edgeBlockSize(r)
		}
	}
	size += trailerSize
	out := make([]byte, edgeHeaderSize+edgeEntrySize*len(regions), size)
	copy(out, edgeMagic)
	le.PutUint16(out[8:], EdgeFormatVersion)
	le.PutUint32(out[12:], uint32(len(regions)))
	le.PutUint64(out[16:], uint64(size))
	le.PutUint64(out[24:], uint64(built.UnixNano()))
	le.PutUint64(out[32:], uint64(maxAge))
	le.PutUint64(out[40:], math.Float64bits(fpr))
	le.PutUint64(out[48:], version)
	le.PutUint32(out[56:], uint32(offset))
	le.PutUint32(out[60:], uint32(trustSize))
	out, err := trust.AppendBinary(out)
	if err != nil {
		return nil, err
	}
	for i, r := range regions {
		e := out[edgeHeaderSize+i*edgeEntrySize:]
		copy(e[:16], r.Name)
		le.PutUint32(e[16:], uint32(r.ListDate))
		le.PutUint64(e[24:], uint64(unixNanoOrZero(r.Ingested)))
		if !r.Covered {
			continue
		}
		le.PutUint32(e[20:], 1)
		le.PutUint64(e[32:], uint64(r.Digest))
		le.PutUint64(e[40:], uint64(len(out)))
		le.PutUint64(e[48:], uint64(edgeBlockSize(r)))
		out = append(out, r.salt[:]...)
		out = le.AppendUint64(out, math.Float64bits(r.fpr))
		for _, b := range []*edgeBloom{&r.red, &r.yellow} {
			out = le.AppendUint64(out, b.n)
			out = le.AppendUint64(out, b.m)
			out = le.AppendUint32(out, uint32(b.k))
			out = le.AppendUint32(out, 0)
			for _, w := range b.words {
				out = le.AppendUint64(out, w)
			}
		}
	}
	sum := sha256.Sum256(out)
	out = append(out, sum[:]...)
	return append(out, make([]byte, ed25519.SignatureSize)...), nil
}

func edgeBlockSize(r *EdgeRegion) int {
	return edgeBlockHead + 2*edgeBloomHead + 8*(len(r.red.words)+len(r.yellow.words))
}

// SignEdge signs an encoded edge filter in place with the publisher's key.
// The signature covers the SHA-256 in the trailer, which covers the rest.
func SignEdge(file []byte, priv ed25519.PrivateKey) error {
	if len(file) < edgeHeaderSize+trailerSize {
		return edgeErr(ErrEdgeTruncated, len(file), "too short to sign")
	}
	t := len(file) - trailerSize
	copy(file[t+32:], ed25519.Sign(priv, edgeSignedMessage(file[t:t+32])))
	return nil
}

func edgeSignedMessage(digest []byte) []byte {
	return append([]byte(edgeSigLabel), digest...)
}

// EdgeOpenOptions are what opening an edge filter needs.
type EdgeOpenOptions struct {
	// PublicKey is the publisher's pinned Ed25519 key; required.
	PublicKey ed25519.PublicKey
	// Calendar validates birth dates and is the clock for staleness; nil is
	// the real clock in the zone the filter records.
	Calendar *Calendar
}

// OpenEdge verifies and decodes a signed edge filter: magic, version,
// length, SHA-256, the Ed25519 signature by opts.PublicKey, then every
// structural rule. Hostile input returns an error, never a panic. The
// filter reads its bits from b in place (as OpenBytes does, view.go): b must
// not be modified while the filter is in use; opening allocates a few
// hundred bytes a region beyond it.
func OpenEdge(b []byte, opts EdgeOpenOptions) (*EdgeFilter, error) {
	if len(opts.PublicKey) != ed25519.PublicKeySize {
		return nil, ErrEdgeNoKey
	}
	if err := edgeEnvelope(b); err != nil {
		return nil, err
	}
	t := len(b) - trailerSize
	sig := b[t+32:]
	if allZero(sig) {
		return nil, edgeErr(ErrEdgeUnsigned, t+32, "no signature")
	}
	if !ed25519.Verify(opts.PublicKey, edgeSignedMessage(b[t:t+32]), sig) {
		return nil, edgeErr(ErrEdgeSignature, t+32, "Ed25519 signature does not verify with the pinned public key")
	}
	f, err := decodeEdge(b)
	if err != nil {
		return nil, err
	}
	f.prepare(opts.Calendar)
	return f, nil
}

// OpenEdgeRegion decodes a region's part as stored by the loader (a
// one-region unsigned file, EdgeRegion.MarshalBinary), checking its
// SHA-256 and structure. Like OpenEdge it reads the bits from b in place.
func OpenEdgeRegion(b []byte) (*EdgeRegion, error) {
	if err := edgeEnvelope(b); err != nil {
		return nil, err
	}
	f, err := decodeEdge(b)
	if err != nil {
		return nil, err
	}
	if len(f.regions) != 1 || !f.regions[0].Covered {
		return nil, edgeErr(ErrEdgeCorrupt, 12, "a region part holds exactly one covered region")
	}
	return f.regions[0], nil
}

// edgeEnvelope checks magic, version, length and the SHA-256.
func edgeEnvelope(b []byte) error {
	if len(b) < len(edgeMagic) || string(b[:len(edgeMagic)]) != edgeMagic {
		return edgeErr(ErrEdgeMagic, 0, "want \"HCXEDGE\\x00\"")
	}
	if len(b) < edgeHeaderSize+trailerSize {
		return edgeErr(ErrEdgeTruncated, len(b), strconv.Itoa(len(b))+" bytes, shorter than header and trailer")
	}
	le := binary.LittleEndian
	if v := le.Uint16(b[8:]); v < MinEdgeFormatVersion || v > EdgeFormatVersion {
		return edgeErr(ErrEdgeVersion, 8, "version "+strconv.Itoa(int(v))+", this build reads "+
			strconv.Itoa(MinEdgeFormatVersion)+" to "+strconv.Itoa(EdgeFormatVersion))
	}
	if size := le.Uint64(b[16:]); size != uint64(len(b)) {
		err := ErrEdgeTruncated
		if size < uint64(len(b)) {
			err = ErrEdgeCorrupt
		}
		return edgeErr(err, 16, "header says "+strconv.FormatUint(size, 10)+" bytes, have "+strconv.Itoa(len(b)))
	}
	t := len(b) - trailerSize
	if sum := sha256.Sum256(b[:t]); !bytes.Equal(sum[:], b[t:t+32]) {
		return edgeErr(ErrEdgeChecksum, t, "SHA-256 over the file does not match")
	}
	return nil
}

// decodeEdge decodes the structure behind a checked envelope (format
// version 2 or 3).
func decodeEdge(b []byte) (*EdgeFilter, error) {
	le := binary.LittleEndian
	t := len(b) - trailerSize
	v3 := le.Uint16(b[8:]) >= 3
	trustSize := uint64(le.Uint32(b[60:])) // reserved, zero, in version 2
	if le.Uint16(b[10:]) != 0 || !v3 && trustSize != 0 {
		return nil, edgeErr(ErrEdgeCorrupt, 10, "reserved header bits set")
	}
	nreg := le.Uint32(b[12:])
	if nreg == 0 || nreg > MaxRegions || edgeHeaderSize+int(nreg)*edgeEntrySize > t {
		return nil, edgeErr(ErrEdgeCorrupt, 12, strconv.Itoa(int(nreg))+" regions")
	}
	f := &EdgeFilter{
		built:       time.Unix(0, int64(le.Uint64(b[24:]))),
		maxAge:      time.Duration(le.Uint64(b[32:])),
		fpr:         math.Float64frombits(le.Uint64(b[40:])),
		version:     le.Uint64(b[48:]),
		offset:      int32(le.Uint32(b[56:])),
		trust:       &TrustList{},
		ingestKnown: v3,
	}
	if f.maxAge <= 0 {
		return nil, edgeErr(ErrEdgeCorrupt, 32, "maximum age not positive")
	}
	if !(f.fpr > 0 && f.fpr <= maxEdgeFPR) {
		return nil, edgeErr(ErrEdgeCorrupt, 40, "false-positive rate out of range")
	}
	if f.offset < -18*3600 || f.offset > 18*3600 {
		return nil, edgeErr(ErrEdgeCorrupt, 56, "zone offset out of range")
	}
	next := edgeHeaderSize + int(nreg)*edgeEntrySize // the trust list, then blocks in table order, no gaps
	if v3 {
		if trustSize%8 != 0 || trustSize > uint64(t-next) {
			return nil, edgeErr(ErrEdgeCorrupt, 60, "trust list of "+strconv.FormatUint(trustSize, 10)+" bytes")
		}
		if err := f.trust.decode(b[next:next+int(trustSize)], next); err != nil {
			return nil, err
		}
		next += int(trustSize)
	}
	for i := range int(nreg) {
		at := edgeHeaderSize + i*edgeEntrySize
		e := b[at : at+edgeEntrySize]
		name := string(bytes.TrimRight(e[:16], "\x00"))
		if !ValidRegionName(name) { // also refuses a NUL inside the name
			return nil, edgeErr(ErrEdgeCorrupt, at, "bad region name")
		}
		for _, o := range f.regions {
			if o.Name == name {
				return nil, edgeErr(ErrEdgeCorrupt, at, "region "+name+" twice")
			}
		}
		r := &EdgeRegion{Name: name, ListDate: Day(int32(le.Uint32(e[16:])))}
		f.regions = append(f.regions, r)
		uncovered := e[24:] // version 3: an uncovered region has an ingest time
		if v3 {
			r.Ingested = timeOrZero(int64(le.Uint64(e[24:])))
			uncovered = e[32:]
		}
		switch flags := le.Uint32(e[20:]); flags {
		case 0:
			if !allZero(uncovered) {
				return nil, edgeErr(ErrEdgeCorrupt, at+24, "uncovered region with a filter")
			}
			continue
		case 1:
		default:
			return nil, edgeErr(ErrEdgeCorrupt, at+20, "unknown region flags")
		}
		if r.ListDate == NoDay {
			return nil, edgeErr(ErrEdgeCorrupt, at+16, "covered region without a list date")
		}
		r.Covered = true
		if !v3 {
			r.Ingested = time.Unix(0, int64(le.Uint64(e[24:])))
		}
		r.Digest = ListDigest(le.Uint64(e[32:]))
		off, l := le.Uint64(e[40:]), le.Uint64(e[48:])
		if off != uint64(next) || l > uint64(t-next) || l < edgeBlockHead+2*edgeBloomHead {
			return nil, edgeErr(ErrEdgeCorrupt, at+40, "region block out of place")
		}
		if err := r.decodeBlock(b[off:off+l], int(off)); err != nil {
			return nil, err
		}
		next += int(l)
	}
	if next != t {
		return nil, edgeErr(ErrEdgeCorrupt, next, strconv.Itoa(t-next)+" bytes after the region blocks")
	}
	return f, nil
}

func (r *EdgeRegion) decodeBlock(d []byte, off int) error {
	le := binary.LittleEndian
	copy(r.salt[:], d[:16])
	r.k0, r.k1 = saltKey(r.salt)
	r.fpr = math.Float64frombits(le.Uint64(d[16:]))
	if !(r.fpr >= minEdgeFPR && r.fpr <= maxEdgeFPR) {
		return edgeErr(ErrEdgeCorrupt, off+16, "region false-positive rate out of range")
	}
	d, off = d[edgeBlockHead:], off+edgeBlockHead
	for _, dst := range []*edgeBloom{&r.red, &r.yellow} {
		if len(d) < edgeBloomHead {
			return edgeErr(ErrEdgeCorrupt, off, "bloom header truncated")
		}
		n, m, k := le.Uint64(d), le.Uint64(d[8:]), le.Uint32(d[16:])
		words := (m + 63) / 64
		if m < 64 || m > maxEdgeBits || k == 0 || k > maxEdgeK || le.Uint32(d[20:]) != 0 || words > uint64(len(d)-edgeBloomHead)/8 || n > m {
			return edgeErr(ErrEdgeCorrupt, off, "bloom filter m="+strconv.FormatUint(m, 10)+" k="+strconv.Itoa(int(k)))
		}
		bits := viewU64s(d[edgeBloomHead : edgeBloomHead+8*words]) // in place (view.go)
		if m%64 != 0 && bits[words-1]>>(m%64) != 0 {
			return edgeErr(ErrEdgeCorrupt, off, "bits set beyond m")
		}
		*dst = wrapEdgeBloom(bloom.FromWithM(bits, uint(m), uint(k)), n)
		d, off = d[edgeBloomHead+8*words:], off+edgeBloomHead+8*int(words)
	}
	if len(d) != 0 {
		return edgeErr(ErrEdgeCorrupt, off, "trailing bytes in region block")
	}
	return nil
}
