package gen

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/yrd-hcx/hcx/engine"
)

// Options say what to generate. The zero value of every field but Date has a
// default; Date is required.
type Options struct {
	// Date is the list date. It must lie between 1970-03-02 and 2149-06-05
	// so that every since date (up to MaxSinceAge days before it) fits a
	// snapshot's since column; the zero Day (1970-01-01) is refused, which
	// catches a forgotten field.
	Date engine.Day
	// Records is the number of rows across all regions' files, exactly
	// (headers not counted); 0 means DefaultRecords, at most MaxRecords.
	Records int
	// Seed selects the data set: the same Options give byte-identical files.
	Seed uint64
	// Regions are the list publishers, in file order; nil means
	// engine.DefaultRegions, NationalRegions is a national day. A
	// province's region (sh, js, zj, ah and the others of NationalRegions)
	// lists mostly residents of its province; any other valid region name
	// lists people from anywhere. IDs come from the Yangtze River Delta's
	// address codes unless a region is a province outside it: then from the
	// whole country's.
	Regions []string
}

const (
	// DefaultRecords is the size of a day when Options.Records is 0.
	DefaultRecords = 10_000
	// MaxRecords bounds Options.Records: ten times DESIGN's national scale,
	// and well inside the ID space the embedded address codes give.
	MaxRecords = 1_000_000_000
	// MaxSinceAge is how many days before the list date a since may lie.
	MaxSinceAge = 59
)

// The mix of a generated day, in parts per thousand. Colour and since are
// drawn per listing; residence and overlap per person. Second listings add
// travellers (a resident of one province listed by another region), so 13%
// to 15% of each list are travellers in all (TestWriteRealistic).
const (
	travellerPermille    = 100 // first listings of people from another province
	overlapPermille      = 50  // people listed by a second region as well
	sameColourPermille   = 700 // of those, listed in the same colour again
	redPermille          = 250 // the rest of the listings are yellow
	unknownSincePermille = 50  // listings with an empty since
	oldSincePermille     = 100 // since 14 to MaxSinceAge days ago; else 0 to 13
	recentDays           = 14
)

// provinces maps the regions hcx knows to the first two digits of their
// residents' address codes (GB/T 2260), with their populations (2020
// census, in units of 10,000) as the regions' share of the records: Jiangsu
// lists more people than Shanghai. The names are the ISO 3166-2:CN
// subdivision codes, lowercased (sh, js, zj and ah are the default
// regions). Hong Kong, Macao and Taiwan stand for the residence-permit
// holders from there (address codes 810000, 820000, 830000), weighted by the
// residents of each that the census counted on the mainland.
var provinces = map[string]struct {
	prefix string
	weight uint64
}{
	"bj": {"11", 2189}, "tj": {"12", 1387}, "he": {"13", 7461}, "sx": {"14", 3492}, "nm": {"15", 2405},
	"ln": {"21", 4259}, "jl": {"22", 2407}, "hl": {"23", 3185},
	"sh": {"31", 2487}, "js": {"32", 8475}, "zj": {"33", 6457}, "ah": {"34", 6103}, "fj": {"35", 4154}, "jx": {"36", 4519}, "sd": {"37", 10153},
	"ha": {"41", 9937}, "hb": {"42", 5775}, "hn": {"43", 6644}, "gd": {"44", 12601}, "gx": {"45", 5013}, "hi": {"46", 1008},
	"cq": {"50", 3205}, "sc": {"51", 8367}, "gz": {"52", 3856}, "yn": {"53", 4721}, "xz": {"54", 365},
	"sn": {"61", 3953}, "gs": {"62", 2502}, "qh": {"63", 592}, "nx": {"64", 720}, "xj": {"65", 2585},
	"hk": {"81", 37}, "mo": {"82", 6}, "tw": {"83", 16},
}

// NationalRegions is a national deployment's 40 list publishers: the 34
// provincial-level regions of provinces, and six national channels that
// list people from anywhere (labels for the benchmark, in the roles that
// checked codes in 2020: the national government service platform, the
// railways, civil aviation, customs, the telecom itinerary card and ports).
// A day of these regions draws its IDs from every province's codes.
var NationalRegions = []string{
	"bj", "tj", "he", "sx", "nm", "ln", "jl", "hl", "sh", "js", "zj", "ah", "fj", "jx", "sd", "ha", "hb",
	"hn", "gd", "gx", "hi", "cq", "sc", "gz", "yn", "xz", "sn", "gs", "qh", "nx", "xj", "hk", "mo", "tw",
	"gw", "tl", "mh", "hg", "xc", "gk",
}

// otherWeight is the share of a region hcx has no province for: an average
// Yangtze River Delta province.
const otherWeight = 5881

// deltaOnly reports whether a day of these regions draws from the delta's
// codes alone: when no region is a province outside the delta. So the
// default regions' days stay what they were before the national list
// (TestDeltaDayUnchanged), and a day with any other province's list draws
// from the whole country.
func deltaOnly(regions []string) bool {
	for _, name := range regions {
		if p, ok := provinces[name]; ok && (p.prefix < "31" || p.prefix > "34") {
			return false
		}
	}
	return true
}

// pyramid is the age structure of the listed people, in 0.01% of the
// population per five-year age group from 0-4 up, then 100 alone:
// approximately China's 2020 census (7th national census). It gives the
// birth dates a real population has: the 1960s and 1980s booms, few over
// 90, nobody over 100.
var pyramid = [...]int{552, 639, 604, 515, 531, 651, 879, 701, 661, 809, 858, 718, 520, 524, 351, 212, 139, 72, 24, 7, 1}

// FileName is the DESIGN section 3 name of a region's gzip-compressed daily
// file: {region}-{YYYY-MM-DD}.csv.gz.
func FileName(region string, date engine.Day) string {
	return region + "-" + date.String() + ".csv.gz"
}

// Write generates one day: a gzip-compressed file {region}-{date}.csv.gz
// (FileName) for every region, in dir, which it creates if needed. It returns
// the paths in region order. Files appear whole or not at all: each is
// written under a temporary name and renamed once every file is complete,
// and an error removes the temporary files. Files of the same names are
// replaced.
//
// progress, if not nil, is called from Write's goroutine with the number of
// records generated so far, every 65,536 records and once at the end.
func Write(dir string, opts Options, progress func(done int)) ([]string, error) {
	g, err := newGenerator(opts)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	files := make([]*regionFile, len(g.regions))
	cleanup := func() {
		for _, f := range files {
			if f != nil {
				f.tmp.Close()
				os.Remove(f.tmp.Name())
			}
		}
	}
	for i, name := range g.regions {
		path := filepath.Join(dir, FileName(name, g.date))
		tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
		if err != nil {
			cleanup()
			return nil, err
		}
		files[i] = newRegionFile(tmp, path)
	}

	// One compressor per region, the generator on this goroutine: a row
	// costs more to compress than to generate (BenchmarkGzipLevel against
	// BenchmarkGenerate), so the files compress in parallel while this
	// goroutine feeds them.
	var wg sync.WaitGroup
	var failed atomic.Bool
	outs := make([]*output, len(files))
	for i, f := range files {
		wg.Go(func() { f.compress(&failed) })
		outs[i] = &output{buf: <-f.free, flush: f.hand}
	}
	g.run(outs, progress, failed.Load)
	for i, f := range files {
		f.hand(outs[i].buf)
		close(f.full)
	}
	wg.Wait()

	var errs []error
	for _, f := range files {
		if f.err != nil {
			errs = append(errs, fmt.Errorf("gen: %s: %w", f.path, f.err))
		}
	}
	if len(errs) > 0 {
		cleanup()
		return nil, errors.Join(errs...)
	}
	paths := make([]string, len(files))
	for i, f := range files {
		if err := os.Rename(f.tmp.Name(), f.path); err != nil {
			cleanup()
			return nil, err
		}
		paths[i] = f.path
	}
	if progress != nil {
		progress(g.records)
	}
	return paths, nil
}

// WriteRegion writes the file of the region-th region (an index into
// opts.Regions, or into engine.DefaultRegions), uncompressed, to w: the same bytes Write's file
// holds once decompressed. It generates the whole day, as Write does, and
// keeps one region's rows. w sees writes of about 64 KiB.
func WriteRegion(w io.Writer, region int, opts Options) error {
	g, err := newGenerator(opts)
	if err != nil {
		return err
	}
	if region < 0 || region >= len(g.regions) {
		return fmt.Errorf("gen: region %d of %d", region, len(g.regions))
	}
	var werr error
	write := func(b []byte) []byte {
		if werr == nil {
			_, werr = w.Write(b)
		}
		return b[:0]
	}
	outs := make([]*output, len(g.regions))
	outs[region] = &output{buf: make([]byte, 0, bufSize), flush: write}
	g.run(outs, nil, func() bool { return werr != nil })
	write(outs[region].buf)
	return werr
}

// Buffers of rows on their way to a file. A region has buffersPerRegion of
// them: one filling, one compressing, one queued, so the generator rarely
// waits and memory stays bounded whatever Records is.
const (
	bufSize          = 64 << 10
	flushAt          = bufSize - 64 // room for one more row
	buffersPerRegion = 3
	progressEvery    = 1 << 16
	header           = "id,color,since\n"
)

// output is where the generator puts one region's rows.
type output struct {
	buf []byte
	// flush takes a buffer of rows and returns an empty one to fill.
	flush func([]byte) []byte
}

// regionFile is one file being written by its compressor goroutine.
type regionFile struct {
	tmp  *os.File
	path string
	full chan []byte // buffers of rows, in order, to compress
	free chan []byte // empty buffers back to the generator
	err  error       // read only after the compressor has finished
}

func newRegionFile(tmp *os.File, path string) *regionFile {
	f := &regionFile{tmp: tmp, path: path, full: make(chan []byte, buffersPerRegion), free: make(chan []byte, buffersPerRegion)}
	for range buffersPerRegion {
		f.free <- make([]byte, 0, bufSize)
	}
	return f
}

// hand queues a full buffer and waits for an empty one.
func (f *regionFile) hand(b []byte) []byte {
	f.full <- b
	return <-f.free
}

// gzipLevel: BestSpeed makes files about 25% larger than the default level
// (11.6 against 9.4 bytes a row) at seven times the speed
// (BenchmarkGzipLevel): test data wants speed.
const gzipLevel = gzip.BestSpeed

// compress writes the buffers it is handed until full is closed. After an
// error it keeps taking buffers, so the generator never blocks, and sets
// failed so that the generator stops early.
func (f *regionFile) compress(failed *atomic.Bool) {
	bw := bufio.NewWriterSize(f.tmp, 256<<10)
	// A gzip header with no name and no modification time: the same Options
	// give the same bytes.
	zw, _ := gzip.NewWriterLevel(bw, gzipLevel)
	for b := range f.full {
		if f.err == nil {
			if _, err := zw.Write(b); err != nil {
				f.err = err
				failed.Store(true)
			}
		}
		f.free <- b[:0]
	}
	if f.err == nil {
		f.err = zw.Close()
	}
	if f.err == nil {
		f.err = bw.Flush()
	}
	if err := f.tmp.Close(); f.err == nil {
		f.err = err
	}
}

// generator draws a day's people and listings from one random stream. It is
// used once, by one goroutine.
type generator struct {
	date    engine.Day
	records int
	regions []string
	codes   []code
	// resident[r] is the range of code indexes region r's residents have;
	// the whole list for a region with no province.
	resident []struct{ lo, hi int }
	cumW     []uint64 // cumulative region weights
	// home[c] is the region whose province holds code c, or -1: a traveller
	// listed twice is listed by the home region too.
	home []int
	// span is the number of possible birth dates (ages 0 to 100); births[a]
	// is the YYYYMMDD of the date a days before the list date.
	span   int
	births [][8]byte
	ageLo  [len(pyramid) + 1]int // age group g is ages in days [ageLo[g], ageLo[g+1])
	ageCum [len(pyramid)]int
	// used counts the IDs handed out per (code, birth date) cell: an ID's
	// sequence number is a per-cell permutation of that count, so IDs are
	// unique by construction, at a byte per cell (11 MB) for any Records.
	used    []uint8
	seqSalt uint64
	since   [MaxSinceAge + 1][10]byte
	rng     rng
}

// newGenerator checks opts and prepares the tables.
func newGenerator(opts Options) (*generator, error) {
	if opts.Date < engine.MinSince+MaxSinceAge || opts.Date > engine.MaxSince {
		return nil, fmt.Errorf("gen: list date %s out of range %s to %s",
			opts.Date, engine.MinSince+MaxSinceAge, engine.MaxSince)
	}
	if opts.Records == 0 {
		opts.Records = DefaultRecords
	}
	if opts.Records < 0 || opts.Records > MaxRecords {
		return nil, fmt.Errorf("gen: %d records, want 1 to %d", opts.Records, MaxRecords)
	}
	if opts.Regions == nil {
		opts.Regions = engine.DefaultRegions
	}
	if len(opts.Regions) == 0 || len(opts.Regions) > engine.MaxRegions {
		return nil, fmt.Errorf("gen: %d regions, want 1 to %d", len(opts.Regions), engine.MaxRegions)
	}
	for i, name := range opts.Regions {
		if !engine.ValidRegionName(name) {
			return nil, fmt.Errorf("gen: bad region name %q", name)
		}
		if slices.Contains(opts.Regions[:i], name) {
			return nil, fmt.Errorf("gen: region %q twice", name)
		}
	}

	g := &generator{
		date:    opts.Date,
		records: opts.Records,
		regions: slices.Clone(opts.Regions),
		codes:   addressCodes(),
		rng:     newRNG(opts.Seed),
	}
	if deltaOnly(g.regions) {
		g.codes = deltaCodes()
	}
	g.seqSalt = g.rng.next()
	g.home = make([]int, len(g.codes))
	for i := range g.home {
		g.home[i] = -1
	}
	var total uint64
	for r, name := range g.regions {
		lo, hi, w := 0, len(g.codes), uint64(otherWeight)
		if p, ok := provinces[name]; ok {
			lo, hi = provinceRange(g.codes, p.prefix)
			w = p.weight
			for c := lo; c < hi; c++ {
				g.home[c] = r
			}
		}
		g.resident = append(g.resident, struct{ lo, hi int }{lo, hi})
		total += w
		g.cumW = append(g.cumW, total)
	}

	// Ages 0 to 100: born after the date 101 years before the list date.
	y, m, d := g.date.Civil()
	g.span = int(g.date - engine.DateOf(y-101, m, d))
	g.births = make([][8]byte, g.span)
	for a := range g.births {
		y, m, d := (g.date - engine.Day(a)).Civil()
		g.births[a] = [8]byte{
			byte('0' + y/1000), byte('0' + y/100%10), byte('0' + y/10%10), byte('0' + y%10),
			byte('0' + m/10), byte('0' + m%10), byte('0' + d/10), byte('0' + d%10)}
	}
	sum := 0
	for i, w := range pyramid { // group i is ages 5i to 5i+4; the last, 100
		g.ageLo[i] = i * 5 * 365_2425 / 10_000
		sum += w
		g.ageCum[i] = sum
	}
	g.ageLo[len(pyramid)] = g.span

	g.used = make([]uint8, len(g.codes)*g.span)
	if uint64(g.records) > uint64(len(g.used))*255 {
		return nil, fmt.Errorf("gen: %d records exceed the ID space", g.records)
	}
	for k := range g.since {
		copy(g.since[k][:], (g.date - engine.Day(k)).String())
	}
	return g, nil
}

// run generates the day, handing region r's rows to outs[r] (nil skips the
// region: the random draws are the same whichever regions are kept). It
// leaves the last, partly filled buffers in outs.
func (g *generator) run(outs []*output, progress func(int), stop func() bool) {
	for _, o := range outs {
		if o != nil {
			o.buf = append(o.buf, header...)
		}
	}
	var id [engine.IDLen]byte
	next := progressEvery
	for done := 0; done < g.records; {
		r := g.region(-1)
		c, traveller := g.code(r)
		cell := c*g.span + g.age()
		for g.used[cell] == 255 { // full: the next free cell, nearly always the next day
			if cell++; cell == len(g.used) {
				cell = 0
			}
		}
		g.id(&id, cell)
		red := g.rng.permille(redPermille)
		g.emit(outs[r], &id, red, g.sinceAge())
		done++

		if done < g.records && len(g.regions) > 1 && g.rng.permille(overlapPermille) {
			r2 := g.home[cell/g.span]
			if !traveller || r2 < 0 {
				r2 = g.region(r)
			}
			if !g.rng.permille(sameColourPermille) {
				red = g.rng.permille(redPermille)
			}
			g.emit(outs[r2], &id, red, g.sinceAge())
			done++
		}
		if done >= next {
			next += progressEvery
			if progress != nil {
				progress(done)
			}
			if stop() {
				return
			}
		}
	}
}

// region draws a region by weight, other than not.
func (g *generator) region(not int) int {
	for {
		x := g.rng.below(g.cumW[len(g.cumW)-1])
		r, _ := slices.BinarySearch(g.cumW, x+1)
		if r != not {
			return r
		}
	}
}

// code draws the address code of a person region r lists: a resident's, or
// a traveller's from another province.
func (g *generator) code(r int) (c int, traveller bool) {
	lo, hi := g.resident[r].lo, g.resident[r].hi
	n := hi - lo
	if n < len(g.codes) && g.rng.permille(travellerPermille) {
		c = int(g.rng.below(uint64(len(g.codes) - n)))
		if c >= lo {
			c += n
		}
		return c, true
	}
	return lo + int(g.rng.below(uint64(n))), false
}

// age draws an age in days from the pyramid, uniform within a group.
func (g *generator) age() int {
	x := int(g.rng.below(uint64(g.ageCum[len(g.ageCum)-1])))
	i := 0
	for g.ageCum[i] <= x {
		i++
	}
	lo, hi := g.ageLo[i], g.ageLo[i+1] // never empty: span covers 101 years
	return lo + int(g.rng.below(uint64(hi-lo)))
}

// sinceAge draws how many days before the list date a colour was given, or
// -1 for unknown.
func (g *generator) sinceAge() int {
	switch x := g.rng.below(1000); {
	case x < unknownSincePermille:
		return -1
	case x < unknownSincePermille+oldSincePermille:
		return recentDays + int(g.rng.below(MaxSinceAge-recentDays+1))
	default:
		return int(g.rng.below(recentDays))
	}
}

// id takes the next ID of a cell: its code, its birth date and a sequence
// number. The k-th person of a cell gets (613k + salt) mod 1000, salt a hash
// of the cell: 613 is prime to 1000, so distinct k give distinct numbers,
// and both sexes (odd, even) come up.
func (g *generator) id(id *[engine.IDLen]byte, cell int) {
	k := uint64(g.used[cell])
	g.used[cell]++
	seq := (k*613 + mix(uint64(cell)^g.seqSalt)%1000) % 1000
	copy(id[0:6], g.codes[cell/g.span][:])
	copy(id[6:14], g.births[cell%g.span][:])
	id[14], id[15], id[16] = byte('0'+seq/100), byte('0'+seq/10%10), byte('0'+seq%10)
	id[17] = engine.CheckChar(id[:17])
}

func (g *generator) emit(o *output, id *[engine.IDLen]byte, red bool, since int) {
	if o == nil {
		return
	}
	b := append(o.buf, id[:]...)
	if red {
		b = append(b, ",red,"...)
	} else {
		b = append(b, ",yellow,"...)
	}
	if since >= 0 {
		b = append(b, g.since[since][:]...)
	}
	b = append(b, '\n')
	if len(b) >= flushAt {
		b = o.flush(b)
	}
	o.buf = b
}

// rng is SplitMix64 with our own bounded draws: math/rand/v2 does not promise
// the same numbers from one Go release to the next, and files must not
// change with the toolchain.
type rng struct{ s uint64 }

func newRNG(seed uint64) rng { return rng{s: mix(seed ^ 0x6863785f67656e00)} }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix(r.s)
}

// below returns a number in [0, n) by multiply-high; the bias, under n/2^64,
// does not matter here.
func (r *rng) below(n uint64) uint64 {
	hi, _ := bits.Mul64(r.next(), n)
	return hi
}

func (r *rng) permille(p uint64) bool { return r.below(1000) < p }

// mix is SplitMix64's finaliser.
func mix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
