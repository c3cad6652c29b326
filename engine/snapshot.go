package engine

import (
	"math"
	"math/bits"
	"slices"
	"sort"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/bits-and-blooms/bloom/v3"
)

// MaxRegions is how many regions a snapshot can hold: sources are a 64-bit
// mask per colour.
const MaxRegions = 64

// RegionInfo describes one region's list in a snapshot.
type RegionInfo struct {
	Name     string `json:"region"`
	ListDate Day    `json:"-"` // NoDay when the region has no list yet
	// Ingested is when the list was ingested; zero when unknown (a list
	// carried over from a snapshot of format version 1, which had none).
	Ingested time.Time `json:"-"`
	Red      int       `json:"red"`    // people this region lists red
	Yellow   int       `json:"yellow"` // people this region lists yellow
}

// FreshFrom is when the region's list starts to age: the start of its list
// date in loc, or its ingest time when that is earlier (a list dated
// tomorrow and uploaded tonight is as old as its upload, not a day
// younger). Zero when the region has no list. A list is stale once it is
// older than the maximum age (docs/http-api.md).
func (r RegionInfo) FreshFrom(loc *time.Location) time.Time {
	return freshFrom(r.ListDate, r.Ingested, loc)
}

func freshFrom(d Day, ingested time.Time, loc *time.Location) time.Time {
	if d == NoDay {
		return time.Time{}
	}
	t := d.Time(loc)
	if !ingested.IsZero() && ingested.Before(t) {
		return ingested
	}
	return t
}

// Info is a snapshot's metadata.
type Info struct {
	Version uint64
	Built   time.Time
	Key     Fingerprint
	Regions []RegionInfo
	Records int // distinct listed people
	Red     int // people whose merged status is red
	Yellow  int // people whose merged status is yellow
}

// Result is the answer for one queried ID. It is a small value: looking one
// up does not allocate.
type Result struct {
	Status Status
	Err    IDError // why the ID is invalid, when Status is Invalid
	Since  Day     // earliest since among the sources at Status; NoDay if unknown
	// Red and Yellow are the sources: bit i set means region i lists the
	// person in that colour.
	Red, Yellow uint64
}

// Source returns the colour region i lists the person with (Green if none).
func (r Result) Source(i int) Status {
	switch {
	case r.Red>>uint(i)&1 != 0:
		return Red
	case r.Yellow>>uint(i)&1 != 0:
		return Yellow
	}
	return Green
}

// Snapshot is the immutable merged index of all regions' lists. It is built
// once (Builder, OpenBytes) and then only read: all methods are safe for
// concurrent use, and a Snapshot never changes after it is published.
type Snapshot struct {
	info  Info
	key   Key
	cal   *Calendar
	trust *TrustList // never nil

	// Exact index: keys are the sorted unique pseudonyms; a key's position
	// is its ordinal. table[b] is the first ordinal whose top bits are b, so
	// a lookup reads two adjacent table entries (one cache miss) and then a
	// few neighbouring keys (usually one more).
	keys  []uint64
	table []uint32
	shift uint // 64 - table bits

	// since is the merged since per ordinal, as days since 1970-01-01 plus
	// one (0 = unknown). A region whose own since differs from the merged
	// one (several sources at one colour) has an entry in the overflow:
	// overKey = ordinal<<6 | region, sorted.
	since     []uint16
	overKey   []uint64
	overSince []uint16

	red, yellow       *roaring.Bitmap   // merged status by ordinal
	regRed, regYellow []*roaring.Bitmap // per region

	// src is each person's source in a byte, so that most listed people
	// are answered with one read beside the since: 1 + (region<<1 | 1 if
	// red) for a person one region lists, srcSeveral for one several list
	// (several answers those). Built from the bitmaps (index), 1 B a
	// person and 20 B one several list, for more than srcRegions regions
	// (else nil): with 40 the bitmaps alone took up to 81 roaring Contains
	// a listed person, 58% of a batch's time at 19M people
	// (bench/national), and as much CPU for a request of listed IDs.
	src     []uint8
	several severalIndex // the sources of the people src marks srcSeveral

	// bloom over the pseudonyms, probed by double hashing of the pseudonym
	// itself (no re-hashing of bytes). nil when built without one.
	bloom     *bloom.BloomFilter
	bloomBits []uint64
	bloomM    uint64
	bloomK    uint64
	useBloom  bool
}

// Info returns the snapshot's metadata. The Regions slice is shared: do not
// modify it.
func (s *Snapshot) Info() Info { return s.info }

// TrustList returns the issuers whose health codes the snapshot's
// publisher recognises (never nil).
func (s *Snapshot) TrustList() *TrustList { return s.trust }

// Len returns the number of distinct listed people.
func (s *Snapshot) Len() int { return len(s.keys) }

// Regions returns the region names in index order (shared; do not modify).
func (s *Snapshot) Regions() []RegionInfo { return s.info.Regions }

// RegionIndex returns the index of a region name, or -1.
func (s *Snapshot) RegionIndex(name string) int {
	for i, r := range s.info.Regions {
		if r.Name == name {
			return i
		}
	}
	return -1
}

// Calendar returns the calendar that decides future birth dates.
func (s *Snapshot) Calendar() *Calendar { return s.cal }

// Lookup answers for one ID string: merged status, since and sources, or
// Invalid with the reason. It does not allocate.
func (s *Snapshot) Lookup(id string) Result { return lookup(s, id) }

// LookupBytes is Lookup for a byte slice (a request path); b is not retained.
func (s *Snapshot) LookupBytes(b []byte) Result { return lookup(s, b) }

// LookupRegion answers from region i's list alone (i from RegionIndex).
// An out-of-range region answers Green.
func (s *Snapshot) LookupRegion(i int, id string) Result { return lookupRegion(s, i, id) }

// LookupRegionBytes is LookupRegion for a byte slice.
func (s *Snapshot) LookupRegionBytes(i int, b []byte) Result { return lookupRegion(s, i, b) }

// LookupID answers for an ID already validated (a health code's holder).
// It does not allocate.
func (s *Snapshot) LookupID(id ID) Result { return s.lookupPseudonym(uint64(s.key.Of(id))) }

func lookup[T string | []byte](s *Snapshot, id T) Result {
	if len(id) == IDLen && s.useBloom {
		// Hashed and probed before the ID is checked: the hash needs only
		// the bytes, and the probe's likely cache miss is then in flight
		// while the check runs, instead of after it (BenchmarkLookup). An
		// ID of IDLen bytes that passes the check is hashed as it is
		// (validate trims only other lengths or padding, which fails it).
		p := sip17(s.key.k0, s.key.k1, load64(id[0:8]), load64(id[8:16]), id[16])
		maybe := bloomTest(s.bloomBits, bloomBlock(p, s.bloomM), s.bloomK, p)
		if _, e := validate(s.cal, id); e != 0 {
			return Result{Err: e, Since: NoDay}
		}
		if !maybe {
			return Result{Status: Green, Since: NoDay}
		}
		return s.exactResult(p)
	}
	p, e := hashID(s.key, s.cal, id)
	if e != 0 {
		return Result{Err: e, Since: NoDay}
	}
	return s.lookupPseudonym(p)
}

func (s *Snapshot) lookupPseudonym(p uint64) Result {
	// The bloom test is written out here rather than left to find: it
	// answers 99% of lookups, and the calls cost several ns (BenchmarkLookup).
	if s.useBloom && !bloomTest(s.bloomBits, bloomBlock(p, s.bloomM), s.bloomK, p) {
		return Result{Status: Green, Since: NoDay}
	}
	return s.exactResult(p)
}

// exactResult answers p from the exact index.
func (s *Snapshot) exactResult(p uint64) Result {
	ord, ok := s.exact(p)
	if !ok {
		return Result{Status: Green, Since: NoDay}
	}
	return s.at(ord)
}

func lookupRegion[T string | []byte](s *Snapshot, i int, id T) Result {
	p, e := hashID(s.key, s.cal, id)
	if e != 0 {
		return Result{Err: e, Since: NoDay}
	}
	ord, ok := s.find(p)
	if !ok || i < 0 || i >= len(s.regRed) {
		return Result{Status: Green, Since: NoDay}
	}
	r := Result{Status: Green, Since: NoDay}
	switch {
	case s.regRed[i].Contains(ord):
		r.Status, r.Red = Red, 1<<uint(i)
	case s.regYellow[i].Contains(ord):
		r.Status, r.Yellow = Yellow, 1<<uint(i)
	default:
		return r
	}
	r.Since = s.regionSince(ord, i)
	return r
}

// find returns the ordinal of pseudonym p.
func (s *Snapshot) find(p uint64) (uint32, bool) {
	if s.useBloom && !s.mayContain(p) {
		return 0, false
	}
	return s.exact(p)
}

// exact looks p up in the radix table and the sorted keys.
func (s *Snapshot) exact(p uint64) (uint32, bool) {
	b := p >> s.shift
	lo, hi := s.table[b], s.table[b+1]
	keys := s.keys[lo:hi]
	for i, k := range keys {
		if k >= p {
			return lo + uint32(i), k == p
		}
	}
	return 0, false
}

// mayContain tests the bloom filter.
func (s *Snapshot) mayContain(p uint64) bool {
	return bloomTest(s.bloomBits, bloomBlock(p, s.bloomM), s.bloomK, p)
}

// The bloom filters are cache-line blocked: the pseudonym (already a uniform
// 64-bit hash, so nothing is re-hashed) picks one 512-bit block with its
// high bits and k bit positions inside it with 9-bit slices of a second mix,
// so a test costs one cache miss instead of up to k
// (BenchmarkLookupBloom: about 2x faster than k scattered probes). The
// price is a slightly higher false-positive rate for the same bits, which
// bloomBits accounts for.
const (
	blockWords = 8 // 512 bits, one cache line
	blockShift = 9
	maxBloomK  = 64 / blockShift // positions from one 64-bit mix; more re-mix
	maxProbes  = 32
)

func bloomBlock(p, m uint64) uint64 {
	hi, _ := bits.Mul64(p, m>>blockShift)
	return hi * blockWords
}

// bloomMix decorrelates the in-block positions from the block index (both
// come from the same pseudonym): a multiply alone leaves the product's low
// bits depending on the key's low bits only (murmur3's fmix64 halves).
func bloomMix(p uint64) uint64 {
	p ^= p >> 33
	p *= 0xff51afd7ed558ccd
	p ^= p >> 33
	return p
}

// bloomTestAny is bloomTest for any k.
func bloomTestAny(words []uint64, at, k, p uint64) bool {
	blk := words[at:][:blockWords]
	// No early exit: with half the bits set, whether the next probe hits is
	// a coin toss, and mispredicted branches cost more than the few extra
	// loads from a line already in L1.
	all := uint64(1)
	g := bloomMix(p)
	for range min(k, maxBloomK) {
		all &= blk[g>>6&7] >> (g & 63)
		g >>= blockShift
	}
	for i := uint64(maxBloomK); i < k; i++ {
		if i%maxBloomK == 0 {
			g = bloomMix(p + i*0x9e3779b97f4a7c15)
		}
		all &= blk[g>>6&7] >> (g & 63)
		g >>= blockShift
	}
	return all&1 != 0
}

// bloomTest for DefaultBloomFPR's k = 7 is unrolled: the seven positions
// are read from g at once and their words ANDed as a tree, not in a chain
// (BenchmarkBloomTest, blocks mostly in the second-level cache: 15-19 ns
// against 22-24 for the loop, under load). Other k take bloomTestAny. One
// function, so that a lookup makes one call for the test. at is p's block,
// bloomBlock(p, m): a batch has it from touching the block.
func bloomTest(words []uint64, at, k, p uint64) bool {
	if k != maxBloomK {
		return bloomTestAny(words, at, k, p)
	}
	blk := words[at:][:blockWords]
	g := bloomMix(p)
	a := blk[g>>6&7] >> (g & 63)
	b := blk[g>>15&7] >> (g >> 9 & 63)
	c := blk[g>>24&7] >> (g >> 18 & 63)
	d := blk[g>>33&7] >> (g >> 27 & 63)
	e := blk[g>>42&7] >> (g >> 36 & 63)
	f := blk[g>>51&7] >> (g >> 45 & 63)
	h := blk[g>>60&7] >> (g >> 54 & 63)
	return (a&b)&(c&d)&(e&f)&h&1 != 0
}

func bloomAdd(words []uint64, m, k, p uint64) {
	blk := words[bloomBlock(p, m):][:blockWords]
	g := bloomMix(p)
	for i := range k {
		if i%maxBloomK == 0 && i > 0 {
			g = bloomMix(p + i*0x9e3779b97f4a7c15)
		}
		blk[g>>6&7] |= 1 << (g & 63)
		g >>= blockShift
	}
}

// bloomSize returns the bits (a multiple of 512) and probes for n keys at
// false-positive rate fpr. Blocking costs accuracy (blocks fill unevenly),
// so the classic formula does not apply: it takes the smallest size whose
// blocked rate (blockedFPR) meets fpr, with the best k for that size.
// TestBloomFalsePositiveRate checks the promise empirically.
func bloomSize(n int, fpr float64) (m, k uint64) {
	n = max(n, 1)
	for bpk := 4.0; ; bpk += 0.25 {
		m = (uint64(float64(n)*bpk) + 511) &^ 511
		best, bestK := 2.0, uint64(1)
		for k := uint64(1); k <= maxProbes; k++ {
			if f := blockedFPR(n, m, k); f < best {
				best, bestK = f, k
			}
		}
		if best <= fpr || bpk > 64 {
			return m, bestK
		}
	}
}

// blockedFPR is the false-positive rate of a blocked filter: a block holds
// Poisson(lambda) keys, and a probe of a block holding j keys is a false
// positive with probability (1-(1-1/512)^(jk))^k.
func blockedFPR(n int, m, k uint64) float64 {
	lambda := float64(n) * 512 / float64(m)
	p := math.Exp(-lambda) // Poisson(0)
	sum := 0.0
	for j := 0; j < int(lambda*3)+50; j++ {
		if j > 0 {
			p *= lambda / float64(j)
		}
		sum += p * math.Pow(1-math.Pow(1-1.0/512, float64(j)*float64(k)), float64(k))
	}
	return sum
}

// srcSeveral marks a person several regions list in Snapshot.src.
const srcSeveral = 0xff

// srcRegions: up to this many regions a listed person costs at most
// 2*srcRegions+1 bitmap reads, and a snapshot goes without src. At 4
// regions src took a listed lookup from 610-1,040 to 480-630 CPU ns
// (BenchmarkLookupListed, 4 alternated rounds), a few percent of the usual
// 1%-listed mix, while its byte a person would be a twentieth of the
// served memory (TestServedRSS in cmd/hcx: 18.4 to 19.5 B a person,
// measured before the loader read files at their size).
const srcRegions = 8

// at builds the result for a listed ordinal: from src and several, if the
// snapshot has them, else from the bitmaps (bitmapAt).
func (s *Snapshot) at(ord uint32) Result {
	if s.src != nil {
		r := Result{Status: Yellow, Since: sinceDay(s.since[ord])}
		switch v := s.src[ord]; {
		case v == srcSeveral:
			m := s.several.masks[s.several.find(ord)]
			r.Red, r.Yellow = m[1], m[0]
			if r.Red != 0 {
				r.Status = Red
			}
			return r
		case v != 0: // 0: no region (a file may say so; a build never does)
			// One region: its colour is the merged one (decodeBitmaps).
			if bit := uint64(1) << ((v - 1) >> 1); v&1 == 0 {
				r.Status, r.Red = Red, bit
			} else {
				r.Yellow = bit
			}
			return r
		}
	}
	return s.bitmapAt(ord)
}

// bitmapAt is at from the bitmaps. Each bitmap read is a cache miss or
// more; a person yellow in the merged view is red in no region (red wins),
// so only the regions' yellow bitmaps are read for them
// (BenchmarkLookupListed at 4 regions, 4 alternated rounds: 830-1,140 CPU
// ns a listed lookup reading all, 610-1,040 so). decodeBitmaps checks in a
// file what at relies on: a region holds a person at one colour, and
// merged red is exactly the people some region holds at red.
func (s *Snapshot) bitmapAt(ord uint32) Result {
	r := Result{Status: Yellow, Since: sinceDay(s.since[ord])}
	if !s.red.Contains(ord) {
		for i := range s.regYellow {
			if s.regYellow[i].Contains(ord) {
				r.Yellow |= 1 << uint(i)
			}
		}
		return r
	}
	r.Status = Red
	for i := range s.regRed {
		if s.regRed[i].Contains(ord) {
			r.Red |= 1 << uint(i)
		} else if s.regYellow[i].Contains(ord) {
			r.Yellow |= 1 << uint(i)
		}
	}
	return r
}

// regionSince is region i's own since for a person it lists.
func (s *Snapshot) regionSince(ord uint32, i int) Day {
	k := uint64(ord)<<6 | uint64(i)
	j := sort.Search(len(s.overKey), func(j int) bool { return s.overKey[j] >= k })
	if j < len(s.overKey) && s.overKey[j] == k {
		return sinceDay(s.overSince[j])
	}
	return sinceDay(s.since[ord])
}

// since column encoding: days since 1970-01-01 plus one, 0 = unknown.
func sinceDay(v uint16) Day {
	if v == 0 {
		return NoDay
	}
	return Day(v) - 1
}

// MinSince and MaxSince bound the since dates a snapshot can hold.
const (
	MinSince Day = 0         // 1970-01-01
	MaxSince Day = 1<<16 - 2 // 2149-06-05
)

func sinceCode(d Day) uint16 {
	if d == NoDay {
		return 0
	}
	return uint16(d + 1)
}

// Counts returns per region and colour counts and the merged totals; the
// same numbers as Info, from the bitmaps' cardinalities.
func (s *Snapshot) Counts() (regions []RegionInfo, red, yellow int) {
	return s.info.Regions, s.info.Red, s.info.Yellow
}

// tableBits picks the radix table size: 6 to 12 keys per bucket, so a
// lookup scans a few keys in one or two cache lines and the table costs
// about half a byte per record. 3 to 6 a bucket cost a byte a record
// (a sixth of the served process's memory beyond the file, TestServedRSS in
// cmd/hcx) and measured no faster: the exact index is read only by the 1%
// of lookups the bloom filter passes (BenchmarkLookup), and even with every
// lookup going through it, BenchmarkLookupExactOnly at n=1e6 measured 278
// against 289 cpu-ns/op (20 interleaved rounds, within the noise).
func tableBits(n int) uint {
	b := uint(1)
	for b < 32 && (1<<b)*12 < n {
		b++
	}
	return b
}

// index builds the radix table over s.keys and sets the counts in s.info.
func (s *Snapshot) index() {
	b := tableBits(len(s.keys))
	s.shift = 64 - b
	s.table = make([]uint32, 1<<b+1)
	j := 0
	for t := range uint64(1) << b {
		for j < len(s.keys) && s.keys[j]>>s.shift < t {
			j++
		}
		s.table[t] = uint32(j)
	}
	s.table[1<<b] = uint32(len(s.keys))
	s.indexSources()
	s.info.Records = len(s.keys)
	s.info.Red = int(s.red.GetCardinality())
	s.info.Yellow = int(s.yellow.GetCardinality())
	for i := range s.info.Regions {
		s.info.Regions[i].Red = int(s.regRed[i].GetCardinality())
		s.info.Regions[i].Yellow = int(s.regYellow[i].GetCardinality())
	}
}

// indexSources fills src, and the several index, from the regions'
// bitmaps, in one pass over the listings: those of people several regions
// list are kept aside as ord<<8 | region<<1 | c and sorted (a second pass
// over every listing for them took as long as the first, bench/national).
func (s *Snapshot) indexSources() {
	if len(s.regRed) <= srcRegions {
		return
	}
	s.src = make([]uint8, len(s.keys))
	var aside []uint64
	several := 0 // people
	buf := make([]uint32, 1024)
	for i := range s.regRed {
		for c, bm := range [2]*roaring.Bitmap{s.regYellow[i], s.regRed[i]} {
			v := uint8(1 + i<<1 + c)
			it := bm.ManyIterator()
			for n := it.NextMany(buf); n > 0; n = it.NextMany(buf) {
				for _, ord := range buf[:n] {
					switch was := s.src[ord]; was {
					case 0:
						s.src[ord] = v
						continue
					case srcSeveral:
					default: // the first listing goes aside too
						aside = append(aside, uint64(ord)<<8|uint64(was-1))
						s.src[ord] = srcSeveral
						several++
					}
					aside = append(aside, uint64(ord)<<8|uint64(v-1))
				}
			}
		}
	}
	slices.Sort(aside)
	sev := &s.several
	sev.ords, sev.masks = make([]uint32, 0, several), make([][2]uint64, 0, several)
	for _, a := range aside {
		ord := uint32(a >> 8)
		if len(sev.ords) == 0 || sev.ords[len(sev.ords)-1] != ord {
			sev.ords = append(sev.ords, ord)
			sev.masks = append(sev.masks, [2]uint64{})
		}
		sev.masks[len(sev.masks)-1][a&1] |= 1 << (a >> 1 & 63)
	}
	sev.table = make([]uint32, len(s.keys)>>severalShift+2)
	j := 0
	for b := range sev.table {
		for j < len(sev.ords) && int(sev.ords[j]>>severalShift) < b {
			j++
		}
		sev.table[b] = uint32(j)
	}
}

// severalIndex holds the sources of the people several regions list (at
// most 5% of a national day's), by ordinal: table[ord>>severalShift] is
// the first of ords in that block of ordinals, so a find reads two
// adjacent table entries and a few ords, and then the masks.
type severalIndex struct {
	ords  []uint32
	masks [][2]uint64 // the regions that hold ords[j] at yellow, at red
	table []uint32
}

const severalShift = 8

// find returns ord's index in ords; ord must be there.
func (x *severalIndex) find(ord uint32) int {
	b := ord >> severalShift
	lo, hi := x.table[b], x.table[b+1]
	for j, o := range x.ords[lo:hi] {
		if o == ord {
			return int(lo) + j
		}
	}
	panic("engine: several-source index out of step with src")
}

// HasBloom reports whether the snapshot carries a bloom filter, and whether
// lookups consult it first.
func (s *Snapshot) HasBloom() (has, onHotPath bool) { return s.bloom != nil, s.useBloom }
