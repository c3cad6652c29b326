package engine

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/bits-and-blooms/bloom/v3"
)

// DefaultRegions is the Yangtze River Delta: Shanghai, Jiangsu, Zhejiang, Anhui.
var DefaultRegions = []string{"sh", "js", "zj", "ah"}

// DefaultBloomFPR is the false-positive rate of a snapshot's bloom filter.
const DefaultBloomFPR = 0.01

// Options configure a Builder. The zero value builds with DefaultRegions,
// the zero key (tests only), DefaultCalendar, a bloom filter at
// DefaultBloomFPR tested before the exact index, an empty trust list,
// version 0 and the build time of time.Now.
type Options struct {
	Key     Key
	Regions []string // region names, in index order; at most MaxRegions
	// Calendar decides future birth dates in lookups; nil is DefaultCalendar.
	Calendar *Calendar
	// BloomFPR is the bloom filter's false-positive rate; negative builds none.
	BloomFPR float64
	// ExactOnly makes lookups skip the bloom filter and go straight to the
	// exact index. Off by default: the filter is small enough to stay in
	// cache, and BenchmarkLookupExactOnly shows the exact index alone about
	// 2x slower on the 99%-absent mix gates see.
	ExactOnly bool
	// Trust is the trust list of health-code issuers the snapshot carries;
	// nil is the empty list.
	Trust   *TrustList
	Version uint64
	Built   time.Time
}

// Builder collects pseudonymised records and builds a Snapshot. Not safe for
// concurrent use.
type Builder struct {
	opts    Options
	regions []RegionInfo
	recs    []record
}

// record is one region's listing of one person.
type record struct {
	p      uint64
	since  uint16 // sinceCode
	region uint8
	color  Status
}

// Errors from building.
var (
	ErrRegion = errors.New("engine: unknown region")
	ErrColor  = errors.New("engine: a list colour is red or yellow")
	ErrSince  = errors.New("engine: since date out of range")
)

// NewBuilder returns a builder for opts.
func NewBuilder(opts Options) (*Builder, error) {
	if opts.Regions == nil {
		opts.Regions = DefaultRegions
	}
	if len(opts.Regions) == 0 || len(opts.Regions) > MaxRegions {
		return nil, fmt.Errorf("engine: %d regions, want 1 to %d", len(opts.Regions), MaxRegions)
	}
	regions := make([]RegionInfo, len(opts.Regions))
	for i, name := range opts.Regions {
		if !ValidRegionName(name) {
			return nil, fmt.Errorf("engine: bad region name %q", name)
		}
		if slices.Contains(opts.Regions[:i], name) {
			return nil, fmt.Errorf("engine: region %q twice", name)
		}
		regions[i] = RegionInfo{Name: name, ListDate: NoDay}
	}
	if opts.Calendar == nil {
		opts.Calendar = DefaultCalendar
	}
	if opts.BloomFPR == 0 {
		opts.BloomFPR = DefaultBloomFPR
	}
	if opts.BloomFPR >= 1 {
		return nil, fmt.Errorf("engine: bloom false-positive rate %g >= 1", opts.BloomFPR)
	}
	return &Builder{opts: opts, regions: regions}, nil
}

// ValidRegionName reports whether name is a region name: 1 to 16 characters
// of a-z, 0-9 (it appears in file names and URLs).
func ValidRegionName(name string) bool {
	if len(name) == 0 || len(name) > 16 {
		return false
	}
	for i := range len(name) {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Grow reserves room for n more records.
func (b *Builder) Grow(n int) { b.recs = slices.Grow(b.recs, n) }

// SetListDate records the date of region i's current list.
func (b *Builder) SetListDate(i int, d Day) error {
	if i < 0 || i >= len(b.regions) {
		return ErrRegion
	}
	b.regions[i].ListDate = d
	return nil
}

// SetIngested records when region i's current list was ingested: its
// freshness counts from the earlier of this and the start of its list date
// (RegionInfo.FreshFrom).
func (b *Builder) SetIngested(i int, t time.Time) error {
	if i < 0 || i >= len(b.regions) {
		return ErrRegion
	}
	b.regions[i].Ingested = t
	return nil
}

// Add records that region i lists pseudonym p in colour c (Red or Yellow)
// since the given day (NoDay if unknown). The same person may be added by
// several regions, or twice by one: red wins, and the earliest since at the
// winning colour is kept.
func (b *Builder) Add(i int, p Pseudonym, c Status, since Day) error {
	if i < 0 || i >= len(b.regions) {
		return ErrRegion
	}
	if c != Red && c != Yellow {
		return ErrColor
	}
	if since != NoDay && (since < MinSince || since > MaxSince) {
		return ErrSince
	}
	b.recs = append(b.recs, record{p: uint64(p), since: sinceCode(since), region: uint8(i), color: c})
	return nil
}

// Build sorts and merges the records into a Snapshot. The builder is empty
// afterwards and may be reused.
func (b *Builder) Build() *Snapshot {
	recs := sortRecords(b.recs)
	b.recs = nil

	nreg := len(b.regions)
	s := &Snapshot{
		key:   b.opts.Key,
		cal:   b.opts.Calendar,
		trust: b.opts.Trust,
		info: Info{
			Version: b.opts.Version,
			Built:   b.opts.Built,
			Key:     b.opts.Key.Fingerprint(),
			Regions: slices.Clone(b.regions),
		},
		red:       roaring.New(),
		yellow:    roaring.New(),
		regRed:    make([]*roaring.Bitmap, nreg),
		regYellow: make([]*roaring.Bitmap, nreg),
	}
	if s.info.Built.IsZero() {
		s.info.Built = time.Now()
	}
	if s.trust == nil {
		s.trust = &TrustList{}
	}
	for i := range nreg {
		s.regRed[i], s.regYellow[i] = roaring.New(), roaring.New()
	}
	distinct := 0
	for i := range recs {
		if i == 0 || recs[i].p != recs[i-1].p {
			distinct++
		}
	}
	s.keys = make([]uint64, 0, distinct)
	s.since = make([]uint16, 0, distinct)

	var color [MaxRegions]Status
	var since [MaxRegions]uint16
	for lo := 0; lo < len(recs); {
		hi := lo + 1
		for hi < len(recs) && recs[hi].p == recs[lo].p {
			hi++
		}
		// Per region: red beats yellow; the earliest known since at the
		// region's colour.
		var mask uint64
		for _, r := range recs[lo:hi] {
			bit := uint64(1) << r.region
			switch {
			case mask&bit == 0 || r.color > color[r.region]:
				color[r.region], since[r.region] = r.color, r.since
			case r.color == color[r.region]:
				since[r.region] = earlierSince(since[r.region], r.since)
			}
			mask |= bit
		}
		ord := uint32(len(s.keys))
		merged := Yellow
		var msince uint16
		for m := mask; m != 0; m &= m - 1 {
			i := bits.TrailingZeros64(m)
			if color[i] == Red {
				merged = Red
			}
		}
		for m := mask; m != 0; m &= m - 1 {
			i := bits.TrailingZeros64(m)
			if color[i] == merged {
				msince = earlierSince(msince, since[i])
			}
			if color[i] == Red {
				s.regRed[i].Add(ord)
			} else {
				s.regYellow[i].Add(ord)
			}
		}
		for m := mask; m != 0; m &= m - 1 {
			if i := bits.TrailingZeros64(m); since[i] != msince {
				s.overKey = append(s.overKey, uint64(ord)<<6|uint64(i))
				s.overSince = append(s.overSince, since[i])
			}
		}
		if merged == Red {
			s.red.Add(ord)
		} else {
			s.yellow.Add(ord)
		}
		s.keys = append(s.keys, recs[lo].p)
		s.since = append(s.since, msince)
		lo = hi
	}
	for _, bm := range s.allBitmaps() {
		bm.RunOptimize()
	}
	if b.opts.BloomFPR > 0 && len(s.keys) > 0 {
		m, k := bloomSize(len(s.keys), b.opts.BloomFPR)
		s.setBloom(bloom.New(uint(m), uint(k)), !b.opts.ExactOnly)
		for _, p := range s.keys {
			bloomAdd(s.bloomBits, s.bloomM, s.bloomK, p)
		}
	}
	s.index()
	return s
}

// setBloom attaches a bloom filter whose bits the snapshot probes directly.
func (s *Snapshot) setBloom(f *bloom.BloomFilter, hot bool) {
	s.bloom = f
	s.bloomBits = f.BitSet().Words()
	s.bloomM = uint64(f.Cap())
	s.bloomK = uint64(f.K())
	s.useBloom = hot
}

// allBitmaps lists the bitmaps in their serialised order: merged red,
// merged yellow, then each region's red and yellow.
func (s *Snapshot) allBitmaps() []*roaring.Bitmap {
	out := []*roaring.Bitmap{s.red, s.yellow}
	for i := range s.regRed {
		out = append(out, s.regRed[i], s.regYellow[i])
	}
	return out
}

// earlierSince returns the earlier of two since codes; unknown (0) loses to
// any known date.
func earlierSince(a, b uint16) uint16 {
	if a == 0 || b != 0 && b < a {
		return b
	}
	return a
}

// sortRecords returns recs sorted by pseudonym (maybe in a new slice).
// Pseudonyms are uniform, so one counting pass on enough top bits leaves
// buckets of about four records that insertion sort finishes in cache
// (BenchmarkBuild: 2x faster at n=1e7 than 2^16 buckets each sorted with
// slices.SortFunc).
func sortRecords(recs []record) []record {
	if len(recs) < 1<<12 {
		slices.SortFunc(recs, cmpRecord)
		return recs
	}
	b := uint(8)
	for b < 24 && 1<<(b+2) < len(recs) {
		b++
	}
	count := make([]uint32, 1<<b+1)
	for i := range recs {
		count[recs[i].p>>(64-b)+1]++
	}
	for i := 1; i < len(count); i++ {
		count[i] += count[i-1]
	}
	out := make([]record, len(recs))
	next := slices.Clone(count)
	for _, r := range recs {
		k := r.p >> (64 - b)
		out[next[k]] = r
		next[k]++
	}
	for k := range len(count) - 1 {
		bucket := out[count[k]:count[k+1]]
		if len(bucket) > 32 { // not uniform after all (tests, hostile input)
			slices.SortFunc(bucket, cmpRecord)
			continue
		}
		for i := 1; i < len(bucket); i++ {
			for j := i; j > 0 && bucket[j].p < bucket[j-1].p; j-- {
				bucket[j], bucket[j-1] = bucket[j-1], bucket[j]
			}
		}
	}
	return out
}

func cmpRecord(a, b record) int {
	switch {
	case a.p < b.p:
		return -1
	case a.p > b.p:
		return 1
	}
	return 0
}

// AddRegion copies region from's list in snapshot s into the builder as
// region to: how a publisher carries the other regions' lists over when one
// region uploads a new day. The list date and ingest time are copied too:
// a list carried over is as old as it was.
func (b *Builder) AddRegion(to int, s *Snapshot, from int) error {
	if to < 0 || to >= len(b.regions) || from < 0 || from >= len(s.regRed) {
		return ErrRegion
	}
	b.regions[to].ListDate = s.info.Regions[from].ListDate
	b.regions[to].Ingested = s.info.Regions[from].Ingested
	b.Grow(int(s.regRed[from].GetCardinality() + s.regYellow[from].GetCardinality()))
	for _, c := range []struct {
		bm    *roaring.Bitmap
		color Status
	}{{s.regRed[from], Red}, {s.regYellow[from], Yellow}} {
		it := c.bm.Iterator()
		for it.HasNext() {
			ord := it.Next()
			b.recs = append(b.recs, record{p: s.keys[ord], since: sinceCode(s.regionSince(ord, from)), region: uint8(to), color: c.color})
		}
	}
	return nil
}
