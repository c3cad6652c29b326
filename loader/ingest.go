package loader

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/yrd-hcx/hcx/engine"
)

// Reasons an upload is refused before or after parsing, besides the
// parser's own (errors.Is on the *RejectError).
var (
	ErrName   = errors.New("loader: bad file name")
	ErrRegion = errors.New("loader: unknown region")
	ErrReplay = errors.New("loader: older than the current list")
	ErrFuture = errors.New("loader: list date too far in the future")
	ErrShrink = errors.New("loader: list shrank by more than half")
)

// MaxDaysAhead is how far past today a list date may lie. A region may
// publish tomorrow's list tonight; a date years ahead is a typo, and taking
// it would refuse every correct list after it as a replay.
const MaxDaysAhead = 1

// Upload is one daily file to ingest.
type Upload struct {
	// Name is the file name as the user gave it, for the report. When Region
	// is empty, the region and date come from it: {region}-{YYYY-MM-DD}.csv[.gz].
	Name   string
	Region string
	Date   engine.Day
	Body   io.Reader
	Gzip   bool
}

// ParseName splits a daily file name, `{region}-{YYYY-MM-DD}.csv` or
// `.csv.gz`, ignoring any directory.
func ParseName(name string) (region string, date engine.Day, gzip bool, err error) {
	base := filepath.Base(name)
	stem, gzip := strings.CutSuffix(base, ".csv.gz")
	if !gzip {
		var ok bool
		if stem, ok = strings.CutSuffix(base, ".csv"); !ok {
			return "", engine.NoDay, false, fmt.Errorf("%w: %q is not {region}-{YYYY-MM-DD}.csv or .csv.gz", ErrName, base)
		}
	}
	region, day, ok := strings.Cut(stem, "-")
	date, dok := engine.ParseDay(day)
	if !ok || !dok || !engine.ValidRegionName(region) {
		return "", engine.NoDay, false, fmt.Errorf("%w: %q is not {region}-{YYYY-MM-DD}.csv or .csv.gz", ErrName, base)
	}
	return region, date, gzip, nil
}

// IngestOptions tune Ingest. The zero value is strict: no bad rows
// tolerated, no shrinking by more than half, the 4 GiB size limit.
type IngestOptions struct {
	MaxInvalid  int   // bad rows tolerated per file (--max-invalid)
	AllowShrink bool  // accept a list that loses more than half of the previous one
	MaxBytes    int64 // decompressed size limit per file; 0 = 4 GiB
	DryRun      bool  // validate against the current state, change nothing
	// Progress, if set, is called with the bytes read so far of the file
	// being parsed.
	Progress func(file string, bytesRead int64)
}

// Ingest validates, pseudonymises and stores daily files, then rebuilds,
// signs and atomically replaces the snapshot, once for the whole batch, and
// returns the snapshot it built (the live one when nothing landed), so a
// server installs it without reading the disk.
//
// Files are parsed in parallel; Progress may be called from several
// goroutines at once (for different files). Files of one region are taken
// in date order. Each file is all-or-nothing: a rejected one leaves its
// region's current list live, and the others still land. The reports come
// back in the order of ups. The error is non-nil when any file was rejected
// (errors.As gives each *RejectError) or the store could not be written
// (then nothing changed, and the previous snapshot stays live).
//
// Concurrency: Ingest is safe to call from many goroutines, and regions do
// not wait on each other: files are read, parsed and pseudonymised holding
// only their regions' locks, so a region uploading slowly holds up no other
// region. Uploads of one region are serialised (within this Store). The
// data directory's lock (shared with other processes) is held only to
// judge the parsed files against the then-current state (replay, shrink)
// and to commit: what another ingest committed meanwhile is kept, and
// judged against.
func (s *Store) Ingest(ups []Upload, opts IngestOptions) ([]*Report, *engine.Snapshot, error) {
	if !opts.DryRun && s.Signing == nil {
		return nil, nil, ErrReadOnly
	}
	b := &batch{s: s, ups: ups, opts: opts, reports: make([]*Report, len(ups)), parsed: make([]*parsed, len(ups))}
	b.names()
	if !opts.DryRun {
		defer s.lockRegions(b.regions())()
	}
	// Checks that need no parsing first, against the state now: a replay
	// or a date too far ahead is refused before its body is read.
	cur, err := s.current()
	if err != nil {
		return b.reports, nil, err
	}
	b.judge(cur, false)
	b.parse()
	if opts.DryRun {
		b.judge(cur, true)
		return b.reports, cur, b.err()
	}
	snap, err := b.commit()
	if err != nil {
		return b.reports, cur, err
	}
	return b.reports, snap, b.err()
}

// batch is one Ingest call's files on their way.
type batch struct {
	s        *Store
	ups      []Upload
	opts     IngestOptions
	reports  []*Report
	parsed   []*parsed // nil: refused before parsing (or not yet parsed)
	order    []int     // the files with a known region, by date
	rejected []error
}

// parsed is one file after Parse: its records, or why it was rejected.
type parsed struct {
	people  int // its records (one a person)
	err     error
	edge    *edgeBuild   // its edge filter part (loader/edge.go)
	list    *engine.List // its records as the snapshot's build takes them (not in a dry run)
	listErr error        // why they could not be
	fresh   bool         // judged and taken into the next snapshot
}

// names reads the region and date of each file from its name (or takes
// them as given) and refuses unknown regions.
func (b *batch) names() {
	for i := range b.ups {
		up := &b.ups[i]
		rep := &Report{File: up.Name}
		b.reports[i] = rep
		if up.Region == "" {
			region, date, gz, err := ParseName(up.Name)
			if err != nil {
				b.reject(i, ErrName, err.Error())
				continue
			}
			up.Region, up.Date, up.Gzip = region, date, up.Gzip || gz
		}
		rep.Region, rep.Date = up.Region, up.Date.String()
		if !slices.Contains(b.s.Regions, up.Region) {
			b.reject(i, ErrRegion, fmt.Sprintf("unknown region %q (this data directory has %s)", up.Region, strings.Join(b.s.Regions, ", ")))
			continue
		}
		b.order = append(b.order, i)
	}
	slices.SortStableFunc(b.order, func(x, y int) int { return int(b.ups[x].Date) - int(b.ups[y].Date) })
}

// regions lists the batch's regions, by index in the store.
func (b *batch) regions() []int {
	var idx []int
	for _, i := range b.order {
		idx = append(idx, slices.Index(b.s.Regions, b.ups[i].Region))
	}
	slices.Sort(idx)
	return slices.Compact(idx)
}

// judge takes the files in date order against the state of cur and what the
// batch itself takes: it refuses a date too far ahead or older than the
// region's list and, once parsed (withRecords), a rejected parse or a list
// that shrank by more than half. Before parsing it only drops files; after,
// it marks the ones the next snapshot takes (fresh) and returns how many.
func (b *batch) judge(cur *engine.Snapshot, withRecords bool) int {
	type list struct {
		date engine.Day
		size int
	}
	lists := make(map[string]list, len(b.s.Regions))
	for _, name := range b.s.Regions {
		l := list{date: engine.NoDay}
		if cur != nil {
			if i := cur.RegionIndex(name); i >= 0 {
				ri := cur.Regions()[i]
				l = list{ri.ListDate, ri.Red + ri.Yellow}
			}
		}
		lists[name] = l
	}
	today := b.s.Calendar.Today()
	taken := 0
	for _, i := range b.order {
		up, res := &b.ups[i], b.parsed[i]
		if withRecords && res == nil {
			continue // refused before parsing
		}
		if res != nil {
			res.fresh = false
		}
		l := lists[up.Region]
		switch {
		case up.Date > today+MaxDaysAhead:
			b.reject(i, ErrFuture, fmt.Sprintf("list date %s is more than %s ahead of today (%s): a typo would block every later list as a replay", up.Date, daysString(MaxDaysAhead), today))
		case l.date != engine.NoDay && up.Date < l.date:
			b.reject(i, ErrReplay, fmt.Sprintf("list date %s is older than %s's current list of %s (a replay?)", up.Date, up.Region, l.date))
		case !withRecords:
			b.parsed[i] = &parsed{} // to be parsed
		case res.err != nil:
			// rejected by Parse; its error is already in the report
		case !b.opts.AllowShrink && res.people*2 < l.size:
			b.reject(i, ErrShrink, fmt.Sprintf("the list has %d people, less than half of %s's current %d: refused as a possible truncated export (confirm with --allow-shrink or ?allowShrink=true)", res.people, up.Region, l.size))
		default:
			res.fresh = true
			lists[up.Region] = list{up.Date, res.people}
			taken++
		}
	}
	return taken
}

func daysString(n int) string {
	if n == 1 {
		return "1 day"
	}
	return strconv.Itoa(n) + " days"
}

// parse reads the files judge let through, in parallel (they are
// independent: BenchmarkIngest, four files on two cores), as many at once
// as there are cores, the largest first where the sizes are known (files
// on disk): then the cores finish together, rather than one parsing the
// last large file alone.
func (b *batch) parse() {
	var todo []int
	for _, i := range b.order {
		if b.parsed[i] != nil {
			todo = append(todo, i)
		}
	}
	slices.SortStableFunc(todo, func(x, y int) int { return cmp.Compare(bodySize(b.ups[y].Body), bodySize(b.ups[x].Body)) })
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for _, i := range todo {
		res, up, rep := b.parsed[i], &b.ups[i], b.reports[i]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			progress := func(int64) {}
			if b.opts.Progress != nil {
				progress = func(n int64) { b.opts.Progress(up.Name, n) }
			}
			res.edge = b.s.newEdgeBuild(up.Region, up.Date, b.opts.DryRun)
			records, hashes, prep, err := parse(up.Body, ParseOptions{
				Key: b.s.Key, Calendar: b.s.Calendar, Date: up.Date, MaxInvalid: b.opts.MaxInvalid,
				MaxBytes: b.opts.MaxBytes, Gzip: up.Gzip, Progress: progress,
			}, res.edge.builder())
			if err == nil {
				res.edge.finish(records, hashes)
				if !b.opts.DryRun {
					res.list, res.listErr = engineList(slices.Index(b.s.Regions, up.Region), records)
				}
			}
			prep.File, prep.Region, prep.Date = rep.File, rep.Region, rep.Date
			*rep = *prep
			res.people, res.err = len(records), err
		})
	}
	wg.Wait()
	for _, i := range b.order {
		if res := b.parsed[i]; res != nil && res.err != nil {
			b.rejected = append(b.rejected, res.err)
		}
	}
}

// bodySize is how many bytes r holds, if it knows (a regular file, a
// bytes.Reader); 0 if not.
func bodySize(r io.Reader) int64 {
	switch r := r.(type) {
	case interface{ Stat() (fs.FileInfo, error) }:
		if fi, err := r.Stat(); err == nil && fi.Mode().IsRegular() {
			return fi.Size()
		}
	case interface{ Len() int }:
		return int64(r.Len())
	}
	return 0
}

// commit judges the parsed files against the state now live, under the
// data directory's lock, and stores the ones it takes with a new snapshot.
func (b *batch) commit() (*engine.Snapshot, error) {
	s := b.s
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	s.removeTemps()
	cur, err := s.current()
	if err != nil {
		return nil, err
	}
	if b.judge(cur, true) == 0 {
		return cur, nil
	}
	fresh := make(map[string]*parsed, len(s.Regions))
	dates := make(map[string]engine.Day, len(s.Regions))
	for _, i := range b.order {
		if res := b.parsed[i]; res != nil && res.fresh {
			up := b.ups[i]
			fresh[up.Region], dates[up.Region] = res, up.Date // the latest date wins
		}
	}
	built := time.Now() // also when the fresh lists were ingested
	// The edge parts are written (and synced) by one goroutine, in region
	// order, while this one builds and signs the snapshot: the fsyncs wait
	// on the disk, not the CPU. The snapshot is committed only after them.
	var parts []*edgeBuild
	for _, name := range s.Regions {
		if res := fresh[name]; res != nil {
			parts = append(parts, res.edge)
		}
	}
	edgeDone := make(chan error, 1)
	go func() {
		var err error
		for _, e := range parts {
			if err = s.writeEdge(e); err != nil {
				break
			}
		}
		edgeDone <- err
	}()
	snap, file, err := b.build(cur, fresh, dates, built)
	if eerr := <-edgeDone; err == nil {
		err = eerr
	}
	if err == nil {
		crashPoint("ingest: edge parts written")
		err = s.writeSnapshot(snap, file)
	}
	if err != nil {
		// The live snapshot stays; so do only its parts.
		s.removeUnusedEdge(cur, nil)
		err = fmt.Errorf("storing the new lists (the current ones stay live): %w", err)
		for _, r := range b.reports {
			if r.Accepted {
				r.Accepted, r.Reason = false, "not stored: "+err.Error()
			}
		}
		return nil, err
	}
	crashPoint("ingest: committed")
	known := make(map[string]engine.ListDigest, len(fresh))
	for name, res := range fresh {
		if res.edge != nil && res.edge.part != nil {
			known[name] = res.edge.part.Digest
		}
	}
	s.removeUnusedEdge(snap, known)
	return snap, nil
}

// build makes and signs the next snapshot: the fresh lists, and the other
// regions' lists carried over from cur.
func (b *batch) build(cur *engine.Snapshot, fresh map[string]*parsed, dates map[string]engine.Day, built time.Time) (*engine.Snapshot, []byte, error) {
	s := b.s
	eb, err := engine.NewBuilder(engine.Options{
		Key: s.Key, Regions: s.Regions, Calendar: s.Calendar, Version: nextVersion(cur), Built: built,
		Trust: trustOf(cur), // issuer.go: the trust list carries over
	})
	if err != nil {
		return nil, nil, err
	}
	for i, name := range s.Regions {
		res := fresh[name]
		if res == nil {
			if j := snapRegion(cur, name); j >= 0 {
				if err := eb.AddRegion(i, cur, j); err != nil {
					return nil, nil, err
				}
			}
			continue
		}
		err := res.listErr
		if err == nil {
			err = eb.AddList(res.list)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("region %s: %w", name, err)
		}
		if err := eb.SetListDate(i, dates[name]); err != nil {
			return nil, nil, err
		}
		if err := eb.SetIngested(i, built); err != nil { // AddRegion carries the others'
			return nil, nil, err
		}
	}
	snap := eb.Build()
	file, err := snap.MarshalBinary()
	if err == nil {
		err = engine.Sign(file, s.Signing)
	}
	return snap, file, err
}

// engineList is region i's records in the form the snapshot's build takes
// them, made on the goroutine that parsed them (while other files are
// still parsed) rather than in the commit, which runs alone.
func engineList(i int, records []Record) (*engine.List, error) {
	l := engine.NewList(i, len(records))
	for _, r := range records {
		if err := l.Add(r.P, r.Color, r.Since); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// snapRegion is the index of region name in snap, -1 if none (or no
// snapshot).
func snapRegion(snap *engine.Snapshot, name string) int {
	if snap == nil {
		return -1
	}
	return snap.RegionIndex(name)
}

// reject marks file i rejected for a reason found outside the parser.
func (b *batch) reject(i int, cause error, reason string) {
	rep := b.reports[i]
	rep.Accepted, rep.Reason = false, reason
	b.parsed[i] = nil
	b.rejected = append(b.rejected, &RejectError{Report: rep, cause: cause})
}

// err joins the rejections.
func (b *batch) err() error { return errors.Join(b.rejected...) }

// nextVersion numbers publications: one more than the current snapshot.
func nextVersion(cur *engine.Snapshot) uint64 {
	if cur == nil {
		return 1
	}
	return cur.Info().Version + 1
}
