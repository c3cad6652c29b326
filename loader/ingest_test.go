package loader

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/fixture"
)

func newStore(t testing.TB) *Store {
	t.Helper()
	s, err := Init(t.TempDir()+"/data", nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Calendar = testCal
	return s
}

func ingest(t testing.TB, s *Store, name, body string, opts IngestOptions) (*Report, error) {
	t.Helper()
	reps, _, err := s.Ingest([]Upload{{Name: name, Body: strings.NewReader(body)}}, opts)
	if len(reps) != 1 {
		t.Fatalf("%d reports", len(reps))
	}
	return reps[0], err
}

func mustIngest(t testing.TB, s *Store, name, body string) {
	t.Helper()
	if rep, err := ingest(t, s, name, body, IngestOptions{}); err != nil {
		t.Fatalf("%s: %v (%+v)", name, err, rep)
	}
}

// dirState hashes every file of the data directory.
func dirState(t testing.TB, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == lockFile {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[p] = sha256.Sum256(b)
		return nil
	})
	return out
}

func status(t testing.TB, s *Store, id string) engine.Status {
	t.Helper()
	snap, _, err := s.Current()
	if err != nil {
		t.Fatal(err)
	}
	return snap.Lookup(id).Status
}

func TestInit(t *testing.T) {
	dir := t.TempDir() + "/d"
	s, err := Init(dir, []string{"sh", "js"})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.PublicHex()) != 64 || strings.Join(s.Regions, ",") != "sh,js" {
		t.Fatalf("public %q regions %v", s.PublicHex(), s.Regions)
	}
	for name, perm := range map[string]os.FileMode{KeyFile: 0o600, SigningFile: 0o600, TokensFile: 0o600, PublicFile: 0o644} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != perm {
			t.Errorf("%s: %v %v", name, fi.Mode(), err)
		}
	}
	before := dirState(t, dir)
	if _, err := Init(dir, nil); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("second init: %v", err)
	}
	if after := dirState(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatal("second init changed the directory")
	}
	o, err := Open(dir, nil)
	if err != nil || o.Key != s.Key || !o.Public.Equal(s.Public) {
		t.Fatalf("reopen: %v", err)
	}
	if _, _, err := o.Current(); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("fresh directory: %v", err)
	}
	if _, err := Open(t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "hcx init") {
		t.Fatalf("open a non-data dir: %v", err)
	}
	if _, err := Init(t.TempDir()+"/x", []string{"sh", "SH"}); err == nil {
		t.Fatal("bad region accepted")
	}
	// An empty directory is taken (replaced whole); one holding anything
	// else is refused and left as it was.
	empty := t.TempDir()
	if _, err := Init(empty, nil); err != nil {
		t.Fatalf("init into an empty directory: %v", err)
	}
	checkDataDir(t, empty, "")
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "notes.txt"), []byte("mine"), 0o644)
	if _, err := Init(other, nil); err == nil || !strings.Contains(err.Error(), "is not empty") {
		t.Fatalf("init into a directory holding notes.txt: %v", err)
	}
	if entries, _ := os.ReadDir(other); len(entries) != 1 {
		t.Fatalf("the refused directory holds %d entries", len(entries))
	}
}

func TestIngestAndLookup(t *testing.T) {
	s := newStore(t)
	sh, js := fixture.IDs(1, 300), fixture.IDs(2, 200)
	mustIngest(t, s, "sh-2026-11-26.csv", fixture.CSV(sh))
	mustIngest(t, s, "/some/dir/js-2026-11-26.csv", fixture.CSV(js))
	snap, _, err := s.Current()
	if err != nil {
		t.Fatal(err)
	}
	if snap.Info().Version != 2 || snap.Len() != 500 {
		t.Fatalf("version %d len %d", snap.Info().Version, snap.Len())
	}
	if r := snap.Lookup(sh[0]); r.Status != engine.Red || r.Since.String() != "2026-11-01" || r.Red != 1 {
		t.Fatalf("sh[0]: %+v", r)
	}
	if r := snap.Lookup(js[1]); r.Status != engine.Yellow || r.Yellow != 2 {
		t.Fatalf("js[1]: %+v", r)
	}
	if got := snap.Regions()[0].ListDate.String(); got != "2026-11-26" {
		t.Fatalf("sh list date %s", got)
	}
	// The next day's sh list replaces sh's list whole; js stays.
	mustIngest(t, s, "sh-2026-11-27.csv.gz", gzipString(fixture.CSV(sh[100:])))
	if status(t, s, sh[0]) != engine.Green || status(t, s, sh[150]) == engine.Green || status(t, s, js[0]) != engine.Red {
		t.Fatal("next day did not replace sh's list alone")
	}
	// A correction: the same date again replaces it.
	mustIngest(t, s, "sh-2026-11-27.csv", fixture.CSV(sh[90:]))
	if status(t, s, sh[95]) == engine.Green {
		t.Fatal("correction not applied")
	}
}

// TestIngestRefusals: every refusal leaves the data directory byte for byte
// as it was, and the previous list live.
func TestIngestRefusals(t *testing.T) {
	s := newStore(t)
	ids := fixture.IDs(3, 100)
	mustIngest(t, s, "zj-2026-11-26.csv", fixture.CSV(ids))
	before := dirState(t, s.Dir)
	bad := fixture.CSV(ids[:60]) + ids[0][:17] + "Z,red\n"
	for _, c := range []struct {
		name, body string
		opts       IngestOptions
		want       error
		reason     string
	}{
		{"zj-2026-11-25.csv", fixture.CSV(ids), IngestOptions{}, ErrReplay, "older than zj's current list of 2026-11-26"},
		{"zj-2026-11-29.csv", fixture.CSV(ids), IngestOptions{}, ErrFuture, "list date 2026-11-29 is more than 1 day ahead of today (2026-11-27)"},
		{"zj-2027-11-27.csv", fixture.CSV(ids), IngestOptions{}, ErrFuture, "more than 1 day ahead"},
		{"xx-2026-11-27.csv", fixture.CSV(ids), IngestOptions{}, ErrRegion, `unknown region "xx"`},
		{"zj_2026-11-27.csv", fixture.CSV(ids), IngestOptions{}, ErrName, "is not {region}-{YYYY-MM-DD}.csv"},
		{"zj-2026-11-27.txt", fixture.CSV(ids), IngestOptions{}, ErrName, "is not {region}-{YYYY-MM-DD}.csv"},
		{"zj-2026-11-27.csv", fixture.CSV(ids[:49]), IngestOptions{}, ErrShrink, "49 people, less than half of zj's current 100"},
		{"zj-2026-11-27.csv", "id,color\n", IngestOptions{}, ErrShrink, "0 people"},
		{"zj-2026-11-27.csv", bad, IngestOptions{}, ErrInvalidRows, ""},
		{"zj-2026-11-27.csv", fixture.CSV(ids), IngestOptions{DryRun: true}, nil, ""},
	} {
		rep, err := ingest(t, s, c.name, c.body, c.opts)
		var rej *RejectError
		if c.want == nil {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
		} else if !errors.Is(err, c.want) || !errors.As(err, &rej) || rep.Accepted || !strings.Contains(rep.Reason, c.reason) {
			t.Errorf("%s: err %v, report %+v; want %v %q", c.name, err, rep, c.want, c.reason)
		}
		if after := dirState(t, s.Dir); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("%s changed the data directory", c.name)
		}
		if status(t, s, ids[0]) != engine.Red {
			t.Fatalf("%s: the previous list is no longer live", c.name)
		}
	}
	// Tomorrow's list, published tonight, goes through (a dry run: it would
	// refuse today's lists after it as replays).
	if _, err := ingest(t, s, "zj-2026-11-28.csv", fixture.CSV(ids), IngestOptions{DryRun: true}); err != nil {
		t.Fatalf("tomorrow's list: %v", err)
	}
	// Confirmed, the shrink and the empty list go through.
	if _, err := ingest(t, s, "zj-2026-11-27.csv", fixture.CSV(ids[:10]), IngestOptions{AllowShrink: true}); err != nil {
		t.Fatal(err)
	}
	if status(t, s, ids[50]) != engine.Green || status(t, s, ids[3]) != engine.Red {
		t.Fatal("confirmed shrink not applied")
	}
	if _, err := ingest(t, s, "zj-2026-11-27.csv", "id,color\n", IngestOptions{AllowShrink: true}); err != nil {
		t.Fatal(err)
	}
	if status(t, s, ids[3]) != engine.Green {
		t.Fatal("empty list not applied")
	}
	// The tolerance accepts the file with its bad row reported.
	rep, err := ingest(t, s, "zj-2026-11-27.csv", bad, IngestOptions{MaxInvalid: 1})
	if err != nil || rep.Invalid != 1 || rep.Records != 60 {
		t.Fatalf("tolerated: %v %+v", err, rep)
	}
}

// TestIngestBatch: in one call, a rejected file does not stop the others,
// files of one region go in date order, and the snapshot is rebuilt once.
func TestIngestBatch(t *testing.T) {
	s := newStore(t)
	a, b := fixture.IDs(4, 50), fixture.IDs(5, 50)
	reps, snap, err := s.Ingest([]Upload{
		{Name: "ah-2026-11-27.csv", Body: strings.NewReader(fixture.CSV(b))},
		{Name: "ah-2026-11-26.csv", Body: strings.NewReader(fixture.CSV(a))},
		{Name: "js-2026-11-26.csv", Body: strings.NewReader("id,color,name\n")},
		{Name: "sh-2026-11-26.csv", Body: strings.NewReader(fixture.CSV(a[:5]))},
	}, IngestOptions{})
	var rej *RejectError
	if !errors.As(err, &rej) || !errors.Is(err, ErrHeader) {
		t.Fatalf("err %v", err)
	}
	if !reps[0].Accepted || !reps[1].Accepted || reps[2].Accepted || !reps[3].Accepted || reps[2].File != "js-2026-11-26.csv" {
		t.Fatalf("reports %+v %+v %+v %+v", reps[0], reps[1], reps[2], reps[3])
	}
	if snap.Info().Version != 1 || snap.Lookup(b[0]).Red != 1<<3 {
		t.Fatalf("snapshot %+v", snap.Info())
	}
	if snap.Lookup(a[10]).Status != engine.Green || snap.Lookup(a[0]).Source(0) != engine.Red {
		t.Fatal("ah's later list did not win, or sh's list is missing")
	}
}

// TestNoRawIDs: nothing in the data directory holds an ID, in any form the
// input had (18 characters or the 17-digit body).
func TestNoRawIDs(t *testing.T) {
	s := newStore(t)
	ids := fixture.IDs(6, 2000)
	mustIngest(t, s, "sh-2026-11-26.csv", fixture.CSV(ids))
	filepath.WalkDir(s.Dir, func(p string, d fs.DirEntry, err error) error {
		if d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, id := range ids {
			if bytes.Contains(b, []byte(id[:17])) {
				t.Fatalf("%s holds a raw ID", p)
			}
		}
		return nil
	})
}

// TestConcurrentIngest: writers are serialised; each lands.
func TestConcurrentIngest(t *testing.T) {
	s := newStore(t)
	var wg sync.WaitGroup
	for i, region := range engine.DefaultRegions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := Open(s.Dir, testCal)
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := ingest(t, o, region+"-2026-11-26.csv", fixture.CSV(fixture.IDs(uint64(10+i), 100)), IngestOptions{}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	snap, _, err := s.Current()
	if err != nil || snap.Info().Version != 4 || snap.Len() != 400 {
		t.Fatalf("after 4 concurrent ingests: %v %+v len %d", err, snap.Info(), snap.Len())
	}
}

func TestParseName(t *testing.T) {
	for in, want := range map[string]string{
		"sh-2026-11-26.csv": "sh 2026-11-26 false", "a/b/zj-2026-01-31.csv.gz": "zj 2026-01-31 true",
		"sh-2026-11-31.csv": "error", "SH-2026-11-26.csv": "error", "sh-2026-11-26.CSV": "error",
		"sh-26-11-2026.csv": "error", "sh.csv": "error", "-2026-11-26.csv": "error", "sh-2026-11-26.csv.bz2": "error",
	} {
		region, date, gz, err := ParseName(in)
		got := fmt.Sprint(region, " ", date, " ", gz)
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("ParseName(%q) = %s, want %s", in, got, want)
		}
	}
}

// gateReader gives the first bytes of a body, then blocks until its gate
// opens: an upload trickling in over a slow network.
type gateReader struct {
	r       io.Reader
	first   int
	started chan struct{} // closed once the first bytes are read
	gate    chan struct{} // closed to let the rest through
	n       int
	once    sync.Once
}

func newGateReader(body string, first int) *gateReader {
	return &gateReader{r: strings.NewReader(body), first: first, started: make(chan struct{}), gate: make(chan struct{})}
}

func (g *gateReader) Read(b []byte) (int, error) {
	if g.n < g.first {
		n, err := g.r.Read(b[:min(len(b), g.first-g.n)])
		g.n += n
		return n, err
	}
	g.once.Do(func() { close(g.started) })
	<-g.gate
	return g.r.Read(b)
}

// TestRegionsDoNotWait: while one region's upload is stuck in its body,
// another region's ingest lands at once; the stuck one lands after, and the
// snapshot holds both.
func TestRegionsDoNotWait(t *testing.T) {
	s := newStore(t)
	sh, js := fixture.IDs(50, 500), fixture.IDs(51, 300)
	slow := newGateReader(fixture.CSV(sh), 1000)
	done := make(chan error, 1)
	go func() {
		_, _, err := s.Ingest([]Upload{{Name: "sh-2026-11-26.csv", Body: slow}}, IngestOptions{})
		done <- err
	}()
	<-slow.started
	fast := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := ingest(t, s, "js-2026-11-26.csv", fixture.CSV(js), IngestOptions{})
		fast <- err
	}()
	select {
	case err := <-fast:
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("js landed in %v while sh's body was stuck", time.Since(start))
	case <-time.After(10 * time.Second):
		close(slow.gate)
		<-done
		t.Fatal("js's ingest waited for sh's body")
	}
	if status(t, s, js[0]) != engine.Red || status(t, s, sh[0]) != engine.Green {
		t.Fatal("js not live alone")
	}
	close(slow.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	snap, _, err := s.Current()
	if err != nil || snap.Info().Version != 2 || snap.Lookup(sh[0]).Status != engine.Red || snap.Lookup(js[0]).Status != engine.Red {
		t.Fatalf("after both: %v %+v", err, snap.Info())
	}
}

// TestSameRegionSerialised: a second upload of a region waits for the
// first, and is then judged against it.
func TestSameRegionSerialised(t *testing.T) {
	s := newStore(t)
	ids := fixture.IDs(52, 400)
	slow := newGateReader(fixture.CSV(ids), 1000)
	first := make(chan error, 1)
	go func() {
		_, _, err := s.Ingest([]Upload{{Name: "sh-2026-11-27.csv", Body: slow}}, IngestOptions{})
		first <- err
	}()
	<-slow.started
	second := make(chan error, 1)
	go func() {
		_, err := ingest(t, s, "sh-2026-11-26.csv", fixture.CSV(ids[:10]), IngestOptions{})
		second <- err
	}()
	select {
	case err := <-second:
		t.Fatalf("the second upload of sh did not wait for the first: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(slow.gate)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; !errors.Is(err, ErrReplay) {
		t.Fatalf("the older list after the newer: %v, want a replay", err)
	}
}

// TestCommitJudgesTheLiveState: what another process commits while a file
// is parsed counts: a list dated before it is then a replay, and one less
// than half its size a shrink; a third region's list stays.
func TestCommitJudgesTheLiveState(t *testing.T) {
	for _, c := range []struct {
		name, mine, theirs string
		mineIDs            int
		want               error
	}{
		{"replay", "sh-2026-11-26.csv", "sh-2026-11-27.csv", 300, ErrReplay},
		{"shrink", "sh-2026-11-27.csv", "sh-2026-11-27.csv", 40, ErrShrink},
		{"other region", "sh-2026-11-26.csv", "js-2026-11-27.csv", 300, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			mustIngest(t, s, "zj-2026-11-26.csv", fixture.CSV(fixture.IDs(53, 50)))
			other, err := Open(s.Dir, testCal) // another process: its own locks
			if err != nil {
				t.Fatal(err)
			}
			slow := newGateReader(fixture.CSV(fixture.IDs(54, c.mineIDs)), 500)
			done := make(chan error, 1)
			go func() {
				_, _, err := s.Ingest([]Upload{{Name: c.mine, Body: slow}}, IngestOptions{})
				done <- err
			}()
			<-slow.started
			mustIngest(t, other, c.theirs, fixture.CSV(fixture.IDs(55, 200)))
			close(slow.gate)
			err = <-done
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			snap, _, err := s.Current()
			if err != nil {
				t.Fatal(err)
			}
			if zj := snap.Regions()[snap.RegionIndex("zj")]; zj.Red+zj.Yellow != 50 {
				t.Fatalf("zj's list lost: %+v", zj)
			}
			if c.want != nil && snap.Info().Version != 2 || c.want == nil && snap.Info().Version != 3 {
				t.Fatalf("version %d", snap.Info().Version)
			}
		})
	}
}
