package loader

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/yrd-hcx/hcx/engine"
)

// The edge filter's parts (FORMAT.md "Edge filter"). Raw IDs never reach disk, and
// the stored lists hold only pseudonyms under the secret key, so a region's
// part of the edge filter (bloom filters under a fresh public salt) is built
// while its daily file is parsed, from the IDs the parser hands to
// ParseOptions.OnValid. Each part is written beside the snapshot, before the
// snapshot that lists it is committed, as
//
//	edge-{region}-{YYYY-MM-DD}-{list digest, 16 hex}.bin
//
// The digest (engine.ListDigest of the pseudonymised list) pairs a part with
// exactly one list: a correction of the same date gets a new file, so a
// crash between part and snapshot leaves the live list's part in place, and
// the unused new one is removed by the next ingest. EdgeFilter assembles
// the parts matching a snapshot into the signed filter.

// EdgeFPRFile, if present in the data directory, holds the edge filter's
// false-positive rate (one number, 1e-9 to 0.5; default
// engine.DefaultEdgeFPR). It applies to lists ingested after it changes.
const EdgeFPRFile = "edge-fpr"

// ErrNoEdge: no region's live list has an edge filter part (lists ingested
// by a version of hcx without edge filters): re-ingest them.
var ErrNoEdge = errors.New("no region's current list has an edge filter part (ingested before edge filters existed?): re-ingest the lists")

// EdgePartName is the file name of region's part for its list of date with
// the given digest.
func EdgePartName(region string, date engine.Day, d engine.ListDigest) string {
	return "edge-" + region + "-" + date.String() + "-" + fmt.Sprintf("%016x", uint64(d)) + ".bin"
}

// EdgeFPR returns the configured edge filter false-positive rate.
func (s *Store) EdgeFPR() (float64, error) {
	if s.Dir == "" {
		return engine.DefaultEdgeFPR, nil
	}
	b, err := os.ReadFile(filepath.Join(s.Dir, EdgeFPRFile))
	if errors.Is(err, fs.ErrNotExist) {
		return engine.DefaultEdgeFPR, nil
	}
	if err != nil {
		return 0, err
	}
	p, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil || !(p >= 1e-9 && p <= 0.5) {
		return 0, fmt.Errorf("%s: want a false-positive rate between 1e-9 and 0.5", EdgeFPRFile)
	}
	return p, nil
}

// edgeBuild collects one upload's edge part while it is parsed. A nil
// *edgeBuild (a dry run, a Store without a directory) does nothing.
type edgeBuild struct {
	b    *engine.EdgeRegionBuilder
	part *engine.EdgeRegion
	file []byte // part, marshalled in the parse goroutine (in parallel)
	err  error
}

// newEdgeBuild starts the part for region's list of date under a fresh
// random salt, or returns nil when nothing is to be stored.
func (s *Store) newEdgeBuild(region string, date engine.Day, dry bool) *edgeBuild {
	if dry || s.Dir == "" {
		return nil
	}
	e := &edgeBuild{}
	fpr, err := s.EdgeFPR()
	if err != nil {
		e.err = err
		return e
	}
	var salt [engine.EdgeSaltSize]byte
	if _, err := rand.Read(salt[:]); err != nil {
		e.err = err
		return e
	}
	e.b, e.err = engine.NewEdgeRegionBuilder(region, date, salt, engine.EdgeFPRPerFilter(fpr, len(s.Regions)))
	return e
}

// builder is the part's builder for parse (nil when e is nil or failed).
func (e *edgeBuild) builder() *engine.EdgeRegionBuilder {
	if e == nil || e.err != nil {
		return nil
	}
	return e.b
}

// finish builds the part once the file is accepted, binding it to the
// pseudonymised records, from the people's edge hashes parse returned
// (one a record, in their order; reordered here). Its counts must be the
// records'.
func (e *edgeBuild) finish(records []Record, hashes []uint64) {
	if e == nil || e.err != nil {
		return
	}
	if len(hashes) != len(records) {
		e.err = fmt.Errorf("edge filter: %d hashes for %d people", len(hashes), len(records))
		return
	}
	var d engine.ListDigest
	red := 0 // the red people's hashes first, then the yellow ones'
	for k, r := range records {
		d.Add(r.P, r.Color)
		if r.Color == engine.Red {
			hashes[red], hashes[k] = hashes[k], hashes[red]
			red++
		}
	}
	yellow := len(records) - red
	e.part = e.b.BuildDistinct(time.Now(), d, hashes[:red], hashes[red:])
	e.b = nil
	if r, y := e.part.Counts(); r != red || y != yellow {
		e.err = fmt.Errorf("edge filter holds %d red and %d yellow, the list %d and %d", r, y, red, yellow)
		return
	}
	e.file, e.err = e.part.MarshalBinary()
}

// writeEdge stores the part crash-safely; called before the snapshot that
// lists it is committed.
func (s *Store) writeEdge(e *edgeBuild) error {
	if e == nil {
		return nil
	}
	if e.err != nil {
		return fmt.Errorf("edge filter: %w", e.err)
	}
	return WriteFileAtomic(filepath.Join(s.Dir, EdgePartName(e.part.Name, e.part.ListDate, e.part.Digest)), e.file, 0o640)
}

// removeUnusedEdge deletes the parts no region of the committed snapshot
// uses (replaced lists, or left by a crash or a failed write before a
// commit). snap nil: no snapshot yet. known holds the digests of the lists
// just ingested, by region; another region's digest is computed from the
// snapshot (a pass over its list) only when a part of its list date is
// there to judge. Only called with the lock held.
func (s *Store) removeUnusedEdge(snap *engine.Snapshot, known map[string]engine.ListDigest) {
	parts, _ := filepath.Glob(filepath.Join(s.Dir, "edge-*.bin"))
	keep := map[string]bool{}
	for i, r := range snapRegions(snap) {
		if r.ListDate == engine.NoDay {
			continue
		}
		d, ok := known[r.Name]
		if !ok {
			prefix := filepath.Join(s.Dir, "edge-"+r.Name+"-"+r.ListDate.String()+"-")
			if !slices.ContainsFunc(parts, func(p string) bool { return strings.HasPrefix(p, prefix) }) {
				continue
			}
			d = snap.RegionDigest(i)
		}
		keep[EdgePartName(r.Name, r.ListDate, d)] = true
	}
	for _, p := range parts {
		if !keep[filepath.Base(p)] {
			os.Remove(p)
		}
	}
}

// snapRegions is snap's regions, none for no snapshot.
func snapRegions(snap *engine.Snapshot) []engine.RegionInfo {
	if snap == nil {
		return nil
	}
	return snap.Regions()
}

// EdgeExport is an assembled, signed edge filter.
type EdgeExport struct {
	File   []byte             // the signed filter file
	Filter *engine.EdgeFilter // the same, decoded
	// Uncovered explains each region the filter does not cover (no list
	// yet, or no part matching its list), for logs.
	Uncovered []string
}

// EdgeFilter assembles the signed edge filter for snap (the store's live
// snapshot) from the parts matching its regions' lists. A region without a
// matching part is listed as not covered, and verifiers say so. maxAge is
// how long verifiers trust the filter after the snapshot was built (0:
// engine.DefaultEdgeMaxAge). ErrNoEdge if no region is covered. The file is
// deterministic for a snapshot and its parts. It carries the snapshot's
// trust list and its regions' ingest times.
func (s *Store) EdgeFilter(snap *engine.Snapshot, maxAge time.Duration) (*EdgeExport, error) {
	ex := &EdgeExport{}
	regions := make([]*engine.EdgeRegion, 0, len(snap.Regions()))
	fpr := 0.0
	for i, r := range snap.Regions() {
		part, why := s.edgePart(snap, i)
		if part == nil {
			ex.Uncovered = append(ex.Uncovered, r.Name+": "+why)
			part = engine.UncoveredRegion(r.Name, r.ListDate)
		}
		fpr += 2 * part.FPR()
		regions = append(regions, part.WithIngested(r.Ingested)) // the snapshot's, for the same freshness
	}
	if len(ex.Uncovered) == len(regions) {
		return ex, fmt.Errorf("%w (%s)", ErrNoEdge, strings.Join(ex.Uncovered, "; "))
	}
	info := snap.Info()
	f, err := engine.NewEdgeFilter(engine.EdgeFilterOptions{Built: info.Built, MaxAge: maxAge, FPR: fpr,
		Version: info.Version, Zone: s.Calendar.Location(), Trust: snap.TrustList()}, regions)
	if err != nil {
		return ex, err
	}
	file, err := f.MarshalBinary()
	if err == nil {
		err = engine.SignEdge(file, s.Signing)
	}
	if err != nil {
		return ex, err
	}
	// Decode what was signed, so the filter served is the filter checked.
	ex.Filter, err = engine.OpenEdge(file, engine.EdgeOpenOptions{PublicKey: s.Public, Calendar: s.Calendar})
	if err != nil {
		return ex, fmt.Errorf("the assembled edge filter does not verify: %w", err)
	}
	ex.File = file
	return ex, nil
}

// edgePart reads region i's part for its live list, or says why there is
// none.
func (s *Store) edgePart(snap *engine.Snapshot, i int) (*engine.EdgeRegion, string) {
	r := snap.Regions()[i]
	if r.ListDate == engine.NoDay {
		return nil, "no list yet"
	}
	d := snap.RegionDigest(i)
	name := EdgePartName(r.Name, r.ListDate, d)
	b, err := os.ReadFile(filepath.Join(s.Dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "no edge filter part for its list of " + r.ListDate.String() + " (ingested before edge filters existed?)"
	}
	if err != nil {
		return nil, err.Error()
	}
	part, err := engine.OpenEdgeRegion(b)
	if err != nil {
		return nil, name + ": " + err.Error()
	}
	if part.Name != r.Name || part.ListDate != r.ListDate || part.Digest != d {
		return nil, name + ": the part is for another list"
	}
	return part, ""
}
