package engine

import (
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"slices"
	"sync"
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
	recs    []record   // from Add and AddRegion
	lists   [][]record // from AddList, each kept as it came
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
	r, err := makeRecord(i, p, c, since)
	if err == nil {
		b.recs = append(b.recs, r)
	}
	return err
}

// makeRecord checks a listing and makes it region i's record.
func makeRecord(i int, p Pseudonym, c Status, since Day) (record, error) {
	if c != Red && c != Yellow {
		return record{}, ErrColor
	}
	if since != NoDay && (since < MinSince || since > MaxSince) {
		return record{}, ErrSince
	}
	return record{p: uint64(p), since: sinceCode(since), region: uint8(i), color: c}, nil
}

// List is one region's records in the form a build takes them, made ahead
// of the build: the loader fills one as each file is parsed, on that
// file's goroutine while other files are still being parsed, so the build
// (one goroutine until then) neither converts nor copies them
// (BenchmarkIngest rows=1e7). Not safe for concurrent use.
type List struct {
	region int
	recs   []record
}

// NewList starts region i's list (i indexes Options.Regions) with room for
// n records.
func NewList(i, n int) *List {
	return &List{region: i, recs: make([]record, 0, n)}
}

// Add is Builder.Add for the list's region.
func (l *List) Add(p Pseudonym, c Status, since Day) error {
	r, err := makeRecord(l.region, p, c, since)
	if err == nil {
		l.recs = append(l.recs, r)
	}
	return err
}

// AddList adds l's records, as Add would one by one. l is the builder's
// afterwards: do not add to it again.
func (b *Builder) AddList(l *List) error {
	if l.region < 0 || l.region >= len(b.regions) {
		return ErrRegion
	}
	b.lists = append(b.lists, l.recs)
	l.recs = nil
	return nil
}

// Build sorts and merges the records into a Snapshot. The builder is empty
// afterwards and may be reused.
//
// A large build is shared by the cores (buildWorkers): the records are
// sorted on the top bits of their pseudonyms, so each worker takes the
// people of one range of pseudonyms (a segment) and writes its people's
// ordinals, keys, since codes, overflow and bloom bits where they lie; its
// bitmaps are then joined to the others' (BenchmarkBuild, BenchmarkIngest
// rows=1e7). The snapshot is the one a single worker builds, to the byte
// (TestBuildWorkers).
func (b *Builder) Build() *Snapshot {
	n := len(b.recs)
	for _, l := range b.lists {
		n += len(l)
	}
	return b.build(buildWorkers(n))
}

// buildWorkers is how many goroutines share a build of n records: a power
// of two, at most one a core and 8, and one for a build too small to gain.
func buildWorkers(n int) int {
	w := 1
	if n >= 1<<16 {
		for w < 8 && 2*w <= runtime.GOMAXPROCS(0) {
			w *= 2
		}
	}
	return w
}

// segment is one worker's share of a build: the sorted records of one
// range of pseudonyms, and what it makes of them.
type segment struct {
	recs     []record
	base     int // the ordinal of its first person
	distinct int // its people
	// its people's bitmaps, in allBitmaps' order, and overflow entries
	bitmaps    []*roaring.Bitmap
	overKey    []uint64
	overSince  []uint16
	firstBlock uint64 // the bloom block of its first person, if any
}

func (b *Builder) build(workers int) *Snapshot {
	recs, bounds := sortRecords(append(b.lists, b.recs), workers)
	b.recs, b.lists = nil, nil

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
		regRed:    make([]*roaring.Bitmap, nreg),
		regYellow: make([]*roaring.Bitmap, nreg),
	}
	if s.info.Built.IsZero() {
		s.info.Built = time.Now()
	}
	if s.trust == nil {
		s.trust = &TrustList{}
	}
	segs := make([]segment, len(bounds)-1)
	parallel(len(segs), func(w int) {
		seg := &segs[w]
		seg.recs = recs[bounds[w]:bounds[w+1]]
		for i := range seg.recs {
			if i == 0 || seg.recs[i].p != seg.recs[i-1].p {
				seg.distinct++
			}
		}
	})
	distinct := 0
	for w := range segs {
		segs[w].base = distinct
		distinct += segs[w].distinct
	}
	s.keys = make([]uint64, distinct)
	s.since = make([]uint16, distinct)
	if b.opts.BloomFPR > 0 && distinct > 0 {
		m, k := bloomSize(distinct, b.opts.BloomFPR)
		s.setBloom(bloom.New(uint(m), uint(k)), !b.opts.ExactOnly)
	}
	parallel(len(segs), func(w int) { s.merge(&segs[w], w > 0) })

	// The bloom blocks a segment shares with the one before it were left
	// for now: they are the only bits two workers could write.
	for w := 1; w < len(segs) && s.bloom != nil; w++ {
		if seg := &segs[w]; seg.distinct > 0 {
			for ord := seg.base; ord < seg.base+seg.distinct && bloomBlock(s.keys[ord], s.bloomM) == seg.firstBlock; ord++ {
				bloomAdd(s.bloomBits, s.bloomM, s.bloomK, s.keys[ord])
			}
		}
	}
	all := segs[0].bitmaps
	s.red, s.yellow = all[0], all[1]
	for i := range nreg {
		s.regRed[i], s.regYellow[i] = all[2+2*i], all[3+2*i]
	}
	for w := range segs {
		s.overKey = append(s.overKey, segs[w].overKey...)
		s.overSince = append(s.overSince, segs[w].overSince...)
	}
	parallel(len(all), func(j int) {
		// A later segment's ordinals all follow an earlier one's: the
		// union appends its containers (and joins the one they may share).
		for w := 1; w < len(segs); w++ {
			all[j].Or(segs[w].bitmaps[j])
		}
		all[j].RunOptimize()
	})
	s.index()
	return s
}

// merge merges one segment's records by person: red beats yellow in a
// region, the earliest known since at the region's colour, and the merged
// colour and since over the regions, with an overflow entry for each region
// whose since differs from the merged one. skipFirstBlock leaves the bloom
// bits of the segment's first block for the caller (another segment may
// share the block).
func (s *Snapshot) merge(seg *segment, skipFirstBlock bool) {
	nreg := len(s.info.Regions)
	seg.bitmaps = make([]*roaring.Bitmap, 2+2*nreg)
	for j := range seg.bitmaps {
		seg.bitmaps[j] = roaring.New()
	}
	red, yellow, reg := seg.bitmaps[0], seg.bitmaps[1], seg.bitmaps[2:] // reg: each region's red, yellow
	recs := seg.recs
	if s.bloom != nil && len(recs) > 0 {
		seg.firstBlock = bloomBlock(recs[0].p, s.bloomM)
	}
	var color [MaxRegions]Status
	var since [MaxRegions]uint16
	ord := uint32(seg.base)
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
				reg[2*i].Add(ord)
			} else {
				reg[2*i+1].Add(ord)
			}
		}
		for m := mask; m != 0; m &= m - 1 {
			if i := bits.TrailingZeros64(m); since[i] != msince {
				seg.overKey = append(seg.overKey, uint64(ord)<<6|uint64(i))
				seg.overSince = append(seg.overSince, since[i])
			}
		}
		if merged == Red {
			red.Add(ord)
		} else {
			yellow.Add(ord)
		}
		p := recs[lo].p
		s.keys[ord], s.since[ord] = p, msince
		if s.bloom != nil && (!skipFirstBlock || bloomBlock(p, s.bloomM) != seg.firstBlock) {
			bloomAdd(s.bloomBits, s.bloomM, s.bloomK, p)
		}
		ord++
		lo = hi
	}
}

// parallel runs f(0) to f(n-1), each on a goroutine of its own but the
// last, which runs on the caller's; it returns when all have.
func parallel(n int, f func(int)) {
	var wg sync.WaitGroup
	for i := range n - 1 {
		wg.Go(func() { f(i) })
	}
	if n > 0 {
		f(n - 1)
	}
	wg.Wait()
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

// sortRecords returns the records of runs sorted by pseudonym (maybe in
// one of them), and the bounds of workers segments of it: segment w is
// out[bounds[w]:bounds[w+1]], the records whose pseudonyms' top bits are w
// (all of them in one segment for a small input). Pseudonyms are uniform,
// so one counting pass on enough top bits leaves buckets of about four
// records that insertion sort finishes in cache (BenchmarkBuild: 2x faster
// at n=1e7 than 2^16 buckets each sorted with slices.SortFunc). The
// workers (a power of two) count and scatter a share of the input each,
// with counts of their own, and then sort their segment's buckets; the
// order is the one a single pass gives.
func sortRecords(runs [][]record, workers int) (out []record, bounds []int) {
	n := 0
	for _, r := range runs {
		n += len(r)
	}
	if n < 1<<12 {
		recs := slices.Concat(runs...)
		slices.SortFunc(recs, cmpRecord)
		return recs, []int{0, n}
	}
	b := uint(8)
	for b < 24 && 1<<(b+2) < n {
		b++
	}
	nb := 1 << b
	share := func(w int) [][]record { return pieces(runs, w*n/workers, (w+1)*n/workers) }
	counts := make([][]uint32, workers)
	parallel(workers, func(w int) {
		c := make([]uint32, nb)
		for _, piece := range share(w) {
			for _, r := range piece {
				c[r.p>>(64-b)]++
			}
		}
		counts[w] = c
	})
	// start[k] is bucket k's first record; each worker's counts become
	// where its next record of the bucket goes.
	start := make([]uint32, nb+1)
	sum := uint32(0)
	for k := range nb {
		start[k] = sum
		for _, c := range counts {
			c[k], sum = sum, sum+c[k]
		}
	}
	start[nb] = sum
	out = make([]record, n)
	parallel(workers, func(w int) {
		next := counts[w]
		for _, piece := range share(w) {
			for _, r := range piece {
				k := r.p >> (64 - b)
				out[next[k]] = r
				next[k]++
			}
		}
	})
	bounds = make([]int, workers+1)
	for w := range bounds {
		bounds[w] = int(start[w*nb/workers])
	}
	parallel(workers, func(w int) {
		for k := w * nb / workers; k < (w+1)*nb/workers; k++ {
			bucket := out[start[k]:start[k+1]]
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
	})
	return out, bounds
}

// pieces is the part of runs, taken as one sequence, from lo to hi.
func pieces(runs [][]record, lo, hi int) [][]record {
	var out [][]record
	for _, r := range runs {
		if lo < len(r) && hi > 0 {
			out = append(out, r[max(lo, 0):min(hi, len(r))])
		}
		lo, hi = lo-len(r), hi-len(r)
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
