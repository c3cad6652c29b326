package loader

import (
	"compress/gzip"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/fixture"
	"github.com/yrd-hcx/hcx/internal/gen"
)

// edgeParts lists the data directory's edge filter parts.
func edgeParts(t testing.TB, s *Store) []string {
	t.Helper()
	parts, err := filepath.Glob(filepath.Join(s.Dir, "edge-*.bin"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range parts {
		parts[i] = filepath.Base(parts[i])
	}
	return parts
}

func exportEdge(t testing.TB, s *Store) (*engine.Snapshot, *EdgeExport) {
	t.Helper()
	snap, _, err := s.Current()
	if err != nil {
		t.Fatal(err)
	}
	ex, err := s.EdgeFilter(snap, 0)
	if err != nil {
		t.Fatal(err)
	}
	return snap, ex
}

// readDay reads a generated day's files: ID -> region -> colour.
func readDay(t testing.TB, paths []string) map[string]map[string]engine.Status {
	t.Helper()
	out := map[string]map[string]engine.Status{}
	for _, p := range paths {
		region, _, _, err := ParseName(p)
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r := csv.NewReader(zr)
		hdr, err := r.Read()
		if err != nil {
			t.Fatal(err)
		}
		idCol, colorCol := slices.Index(hdr, "id"), slices.Index(hdr, "color")
		for {
			row, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			c, _ := engine.ParseColor(row[colorCol])
			id := strings.ToUpper(row[idCol])
			if out[id] == nil {
				out[id] = map[string]engine.Status{}
			}
			out[id][region] = max(out[id][region], c)
		}
		f.Close()
	}
	return out
}

// TestEdgeGeneratedDay: a whole generated day ingested; the edge filter
// never answers lower than the snapshot for anyone listed (no false
// negatives), each region that lists a person hits in that colour or red,
// and absent people are rarely hit.
func TestEdgeGeneratedDay(t *testing.T) {
	s := newStore(t)
	paths, err := gen.Write(t.TempDir(), gen.Options{Date: testCal.Today() - 1, Records: 40000, Seed: 5}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ups := make([]Upload, len(paths))
	for i, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		ups[i] = Upload{Name: p, Body: f}
	}
	if _, _, err := s.Ingest(ups, IngestOptions{}); err != nil {
		t.Fatal(err)
	}
	if parts := edgeParts(t, s); len(parts) != 4 {
		t.Fatalf("parts %v", parts)
	}
	snap, ex := exportEdge(t, s)
	if len(ex.Uncovered) != 0 {
		t.Fatalf("uncovered %v", ex.Uncovered)
	}
	f := ex.Filter
	now := snap.Info().Built.Add(time.Hour)
	day := readDay(t, paths)
	for id, regions := range day {
		want := snap.Lookup(id)
		got := f.CheckAt(id, now)
		if want.Status == engine.Invalid || got.Status < want.Status || !got.Probable() || got.Stale {
			t.Fatalf("%s: snapshot %v, edge %+v", engine.Mask(id), want.Status, got)
		}
		for i, r := range snap.Regions() {
			bit := uint64(1) << i
			switch regions[r.Name] {
			case engine.Red:
				if got.Red&bit == 0 {
					t.Fatalf("%s: %s lists red, edge %+v", engine.Mask(id), r.Name, got)
				}
			case engine.Yellow:
				if (got.Red|got.Yellow)&bit == 0 {
					t.Fatalf("%s: %s lists yellow, edge %+v", engine.Mask(id), r.Name, got)
				}
			}
		}
	}
	fp := 0
	absent := fixture.IDs(99, 20000)
	for _, id := range absent {
		if _, listed := day[id]; !listed && f.CheckAt(id, now).Probable() {
			fp++
		}
	}
	if info := f.Info(); fp > 10 || info.FPR != engine.DefaultEdgeFPR || info.Records < len(day) {
		t.Fatalf("%d false positives of %d; info %+v", fp, len(absent), info)
	}
	// The export is deterministic for a snapshot and its parts.
	_, again := exportEdge(t, s)
	if string(again.File) != string(ex.File) {
		t.Fatal("two exports differ")
	}
}

func TestEdgeParts(t *testing.T) {
	s := newStore(t)
	ids := fixture.IDs(1, 40)
	day := testCal.Today()
	mustIngest(t, s, "sh-"+(day-1).String()+".csv", fixture.CSV(ids[:20]))
	sh1 := edgeParts(t, s)
	if len(sh1) != 1 || !strings.HasPrefix(sh1[0], "edge-sh-"+(day-1).String()+"-") {
		t.Fatalf("parts %v", sh1)
	}
	// Only sh is covered; the others have no list.
	_, ex := exportEdge(t, s)
	if len(ex.Uncovered) != 3 || !strings.HasPrefix(ex.Uncovered[0], "js: no list yet") {
		t.Fatalf("uncovered %v", ex.Uncovered)
	}
	if r := ex.Filter.Check(ids[0]); r.Answer() != "red" || r.NotCurrent != 0b1110 {
		t.Fatalf("%+v", r)
	}

	// A correction of the same date: a new part; the old one goes once the
	// new snapshot is committed.
	mustIngest(t, s, "sh-"+(day-1).String()+".csv", fixture.CSV(ids[1:21]))
	sh2 := edgeParts(t, s)
	if len(sh2) != 1 || sh2[0] == sh1[0] {
		t.Fatalf("after a correction: %v (before %v)", sh2, sh1)
	}
	_, ex = exportEdge(t, s)
	if r := ex.Filter.Check(ids[20]); !r.Probable() {
		t.Fatalf("corrected list: %+v", r)
	}

	// A part left by a crash before its commit, and one for another region,
	// are removed by the next ingest.
	stray := filepath.Join(s.Dir, EdgePartName("sh", day, 42))
	if err := os.WriteFile(stray, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustIngest(t, s, "js-"+day.String()+".csv", fixture.CSV(ids[20:]))
	if parts := edgeParts(t, s); len(parts) != 2 || slices.Contains(parts, filepath.Base(stray)) {
		t.Fatalf("parts %v", parts)
	}

	// A missing or damaged part leaves its region uncovered, not the rest.
	js := filepath.Join(s.Dir, edgeParts(t, s)[0])
	if err := os.WriteFile(js, []byte("HCXEDGE\x00 damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, ex = exportEdge(t, s)
	if len(ex.Uncovered) != 3 || !strings.Contains(strings.Join(ex.Uncovered, ";"), "truncated") {
		t.Fatalf("uncovered %v", ex.Uncovered)
	}
	for _, p := range edgeParts(t, s) {
		os.Remove(filepath.Join(s.Dir, p))
	}
	snap, _, _ := s.Current()
	if _, err := s.EdgeFilter(snap, 0); !errors.Is(err, ErrNoEdge) {
		t.Fatalf("no parts: %v", err)
	}
}

// TestEdgeNotWritten: a dry run, a rejected file and a refused shrink
// write no part.
func TestEdgeNotWritten(t *testing.T) {
	s := newStore(t)
	ids := fixture.IDs(2, 40)
	day := testCal.Today()
	if _, err := ingest(t, s, "sh-"+day.String()+".csv", fixture.CSV(ids), IngestOptions{DryRun: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := ingest(t, s, "sh-"+day.String()+".csv", fixture.CSV(ids)+"bad,red\n", IngestOptions{}); err == nil {
		t.Fatal("bad file accepted")
	}
	if parts := edgeParts(t, s); len(parts) != 0 {
		t.Fatalf("parts %v", parts)
	}
	mustIngest(t, s, "sh-"+(day-1).String()+".csv", fixture.CSV(ids))
	before := edgeParts(t, s)
	if _, err := ingest(t, s, "sh-"+day.String()+".csv", fixture.CSV(ids[:5]), IngestOptions{}); !errors.Is(err, ErrShrink) {
		t.Fatalf("shrink: %v", err)
	}
	if after := edgeParts(t, s); !slices.Equal(before, after) {
		t.Fatalf("parts %v, before %v", after, before)
	}
}

// TestEdgeFPRFile: the data directory's edge-fpr sets the rate of the
// lists ingested after it; a bad value fails the ingest and changes
// nothing.
func TestEdgeFPRFile(t *testing.T) {
	s := newStore(t)
	ids := fixture.IDs(3, 40)
	day := testCal.Today()
	if err := os.WriteFile(filepath.Join(s.Dir, EdgeFPRFile), []byte("1e-3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustIngest(t, s, "sh-"+day.String()+".csv", fixture.CSV(ids))
	_, ex := exportEdge(t, s)
	if got := ex.Filter.Regions()[0].FPR(); got != 1e-3/8 {
		t.Fatalf("per-filter rate %g", got)
	}
	if got := ex.Filter.Info().FPR; got != 1e-3/4 { // one region of four covered
		t.Fatalf("filter rate %g", got)
	}
	if err := os.WriteFile(filepath.Join(s.Dir, EdgeFPRFile), []byte("often\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := dirState(t, s.Dir)
	if _, err := ingest(t, s, "js-"+day.String()+".csv", fixture.CSV(ids), IngestOptions{}); err == nil || !strings.Contains(err.Error(), EdgeFPRFile) {
		t.Fatalf("bad %s: %v", EdgeFPRFile, err)
	}
	if after := dirState(t, s.Dir); len(after) != len(before) {
		t.Fatal("a failed ingest changed the data directory")
	}
}

func TestEdgePartName(t *testing.T) {
	if got := EdgePartName("sh", engine.DateOf(2026, 11, 26), 0xabc); got != "edge-sh-2026-11-26-0000000000000abc.bin" {
		t.Fatal(got)
	}
}
