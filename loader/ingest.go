package loader

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"slices"
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
const MaxDaysAhead = 7

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
// signs and atomically replaces the snapshot, once for the whole batch.
// Files are parsed in parallel; Progress may be called from several
// goroutines at once (for different files).
// Files of one region are taken in date order. Each file is all-or-nothing:
// a rejected one leaves its region's current list live, and the others still
// land. The reports come back in the order of ups. The error is non-nil when
// any file was rejected (errors.As gives each *RejectError) or the store
// could not be written (then nothing changed).
func (s *Store) Ingest(ups []Upload, opts IngestOptions) ([]*Report, *engine.Snapshot, error) {
	if !opts.DryRun {
		if s.Signing == nil {
			return nil, nil, ErrReadOnly
		}
		unlock, err := s.lock()
		if err != nil {
			return nil, nil, err
		}
		defer unlock()
		s.removeTemps()
	}
	cur, _, err := s.Current()
	if err != nil && !errors.Is(err, ErrNoSnapshot) {
		return nil, nil, err
	}
	// The state each upload is judged against: the live lists, then the
	// batch's own accepted files.
	type list struct {
		date    engine.Day
		size    int
		records []Record // nil: carried over from cur
		fresh   bool
		edge    *edgeBuild // its edge filter part (loader/edge.go)
	}
	lists := make(map[string]*list, len(s.Regions))
	for _, name := range s.Regions {
		l := &list{date: engine.NoDay}
		if cur != nil {
			if i := cur.RegionIndex(name); i >= 0 {
				ri := cur.Regions()[i]
				l.date, l.size = ri.ListDate, ri.Red+ri.Yellow
			}
		}
		lists[name] = l
	}

	reports := make([]*Report, len(ups))
	var rejected []error
	order := make([]int, 0, len(ups))
	for i := range ups {
		reports[i] = &Report{File: ups[i].Name}
		if ups[i].Region == "" {
			region, date, gz, err := ParseName(ups[i].Name)
			if err != nil {
				rejected = append(rejected, reject(reports[i], ErrName, err.Error()))
				continue
			}
			ups[i].Region, ups[i].Date, ups[i].Gzip = region, date, ups[i].Gzip || gz
		}
		order = append(order, i)
	}
	slices.SortStableFunc(order, func(a, b int) int { return int(ups[a].Date) - int(ups[b].Date) })

	// Checks that need no parsing first; then the files that pass are parsed
	// in parallel (they are independent: BenchmarkIngest, four files on two
	// cores); then they are taken in date order.
	today := s.Calendar.Today()
	type parsed struct {
		records []Record
		err     error
		edge    *edgeBuild
	}
	results := make([]*parsed, len(ups))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for _, i := range order {
		up, rep := &ups[i], reports[i]
		rep.Region, rep.Date = up.Region, up.Date.String()
		l, known := lists[up.Region]
		switch {
		case !known:
			rejected = append(rejected, reject(rep, ErrRegion, fmt.Sprintf("unknown region %q (this data directory has %s)", up.Region, strings.Join(s.Regions, ", "))))
			continue
		case up.Date > today+MaxDaysAhead:
			rejected = append(rejected, reject(rep, ErrFuture, fmt.Sprintf("list date %s is more than %d days ahead of today (%s): a typo would block every later list as a replay", up.Date, MaxDaysAhead, today)))
			continue
		case l.date != engine.NoDay && up.Date < l.date:
			rejected = append(rejected, reject(rep, ErrReplay, fmt.Sprintf("list date %s is older than %s's current list of %s (a replay?)", up.Date, up.Region, l.date)))
			continue
		}
		res := &parsed{}
		results[i] = res
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			progress := func(int64) {}
			if opts.Progress != nil {
				progress = func(n int64) { opts.Progress(up.Name, n) }
			}
			res.edge = s.newEdgeBuild(up.Region, up.Date, opts.DryRun)
			records, prep, err := Parse(up.Body, ParseOptions{
				Key: s.Key, Calendar: s.Calendar, Date: up.Date, MaxInvalid: opts.MaxInvalid,
				MaxBytes: opts.MaxBytes, Gzip: up.Gzip, Progress: progress, OnValid: res.edge.onValid(),
			})
			if err == nil {
				res.edge.finish(records)
			}
			prep.File, prep.Region, prep.Date = rep.File, rep.Region, rep.Date
			*rep = *prep
			res.records, res.err = records, err
		})
	}
	wg.Wait()

	accepted := 0
	for _, i := range order {
		res, up, rep := results[i], &ups[i], reports[i]
		if res == nil {
			continue // refused above
		}
		if res.err != nil {
			rejected = append(rejected, res.err)
			continue
		}
		l := lists[up.Region]
		if !opts.AllowShrink && len(res.records)*2 < l.size {
			rejected = append(rejected, reject(rep, ErrShrink, fmt.Sprintf("the list has %d people, less than half of %s's current %d: refused as a possible truncated export (confirm with --allow-shrink or ?allowShrink=true)", len(res.records), up.Region, l.size)))
			continue
		}
		*l = list{date: up.Date, size: len(res.records), records: res.records, fresh: true, edge: res.edge}
		accepted++
	}
	errs := errors.Join(rejected...)
	if accepted == 0 || opts.DryRun {
		return reports, cur, errs
	}

	b, err := engine.NewBuilder(engine.Options{
		Key: s.Key, Regions: s.Regions, Calendar: s.Calendar, Version: nextVersion(cur), Built: time.Now(),
		Trust: trustOf(cur), // issuer.go: the trust list carries over
	})
	if err != nil {
		return reports, cur, err
	}
	for i, name := range s.Regions {
		l := lists[name]
		if !l.fresh {
			if cur != nil && cur.RegionIndex(name) >= 0 {
				if err := b.AddRegion(i, cur, cur.RegionIndex(name)); err != nil {
					return reports, cur, err
				}
			}
			continue
		}
		b.Grow(len(l.records))
		for _, r := range l.records {
			if err := b.Add(i, r.P, r.Color, r.Since); err != nil {
				return reports, cur, fmt.Errorf("region %s: %w", name, err)
			}
		}
		if err := b.SetListDate(i, l.date); err != nil {
			return reports, cur, err
		}
		_ = b.SetIngested(i, time.Now()) // i is in range: SetListDate took it; AddRegion carries the others'
	}
	snap := b.Build()
	file, err := snap.MarshalBinary()
	if err == nil {
		err = engine.Sign(file, s.Signing)
	}
	for _, name := range s.Regions {
		if l := lists[name]; l.fresh && err == nil {
			err = s.writeEdge(l.edge) // before the commit that lists it
		}
	}
	if err == nil {
		err = WriteFileAtomic(s.SnapshotPath(), file, 0o640)
	}
	if err != nil {
		for _, r := range reports {
			if r.Accepted {
				r.Accepted, r.Reason = false, "not stored: "+err.Error()
			}
		}
		return reports, cur, fmt.Errorf("writing the snapshot: %w", err)
	}
	s.removeUnusedEdge(snap)
	return reports, snap, errs
}

// nextVersion numbers publications: one more than the current snapshot.
func nextVersion(cur *engine.Snapshot) uint64 {
	if cur == nil {
		return 1
	}
	return cur.Info().Version + 1
}

// reject marks a report rejected for a reason found outside the parser.
func reject(rep *Report, cause error, reason string) error {
	rep.Accepted, rep.Reason = false, reason
	return &RejectError{Report: rep, cause: cause}
}
