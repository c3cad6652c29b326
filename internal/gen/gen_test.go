package gen

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/engine"
)

func day(t testing.TB, s string) engine.Day {
	t.Helper()
	d, ok := engine.ParseDay(s)
	if !ok {
		t.Fatalf("bad day %q", s)
	}
	return d
}

func TestAddressCodes(t *testing.T) {
	codes := addressCodes()
	if len(codes) != 2857 {
		t.Fatalf("%d codes, want 2857", len(codes))
	}
	// Every province of the national regions has codes, the delta's as
	// many as before the national list.
	want := map[string]int{"31": 16, "32": 95, "33": 90, "34": 104, "44": 124, "81": 1, "82": 1, "83": 1}
	for _, name := range NationalRegions {
		p, ok := provinces[name]
		if !ok {
			continue
		}
		lo, hi := provinceRange(codes, p.prefix)
		if n, ok := want[p.prefix]; ok && hi-lo != n || hi == lo {
			t.Errorf("province %s (%s): %d codes", p.prefix, name, hi-lo)
		}
	}
	if d := deltaCodes(); len(d) != 305 || string(d[0][:]) != "310101" || string(d[len(d)-1][:2]) != "34" {
		t.Errorf("delta codes: %d from %s to %s, want 305 from 310101 to 34xxxx", len(d), d[0][:], d[len(d)-1][:])
	}
	for _, c := range codes {
		if c[4] == '7' {
			t.Errorf("development-zone code %s: never on an ID card", c[:])
		}
	}
	if _, err := parseCodes("code,province,name\n31010x,shanghai,x\n"); err == nil {
		t.Error("bad code accepted")
	}
	if _, err := parseCodes("code,name\n310101,x\n"); err == nil {
		t.Error("bad header accepted")
	}
}

// TestDeltaDayUnchanged: a day of the delta's regions (and of regions with
// no province) is byte for byte what it was when the embedded list held the
// delta's codes alone, so seeds keep their data sets.
func TestDeltaDayUnchanged(t *testing.T) {
	t.Parallel()
	paths, err := Write(t.TempDir(), Options{Date: day(t, "2026-11-26"), Records: 20000, Seed: 9, Regions: []string{"sh", "js", "zj", "ah", "x1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != "3f2b01e327c693df3d73fede4576e421ead1e19834a960c89c6b81043ab03e02" {
		t.Errorf("files hash to %s: the delta's day changed", got)
	}
}

// TestWriteNational: a day of the 40 national regions draws from every
// province, each province's list mostly from its own residents, and the
// lists are as long as the populations say.
func TestWriteNational(t *testing.T) {
	t.Parallel()
	const records = 200_000
	date := day(t, "2026-11-26")
	paths, err := Write(t.TempDir(), Options{Date: date, Records: records, Seed: 3, Regions: NationalRegions}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 40 || len(NationalRegions) != 40 {
		t.Fatalf("%d files for %d regions, want 40", len(paths), len(NationalRegions))
	}
	lists := readDay(t, paths, date)
	total := 0
	prefixes := map[string]int{}
	size := map[string]int{}
	for r, list := range lists {
		name := NationalRegions[r]
		total += len(list)
		size[name] = len(list)
		residents := 0
		for _, l := range list {
			prefixes[l.id[:2]]++
			if p, ok := provinces[name]; ok && strings.HasPrefix(l.id, p.prefix) {
				residents++
			}
		}
		if p, ok := provinces[name]; ok && len(list) >= 1000 {
			between(t, "residents in "+name+" ("+p.prefix+")", float64(residents)/float64(len(list)), 0.83, 0.91)
		}
	}
	if total != records {
		t.Errorf("%d rows, want %d", total, records)
	}
	if len(prefixes) != 34 {
		t.Errorf("IDs from %d province prefixes, want all 34: %v", len(prefixes), prefixes)
	}
	if !(size["gd"] > size["sd"] && size["sd"] > size["js"] && size["js"] > size["sh"] && size["sh"] > size["xz"] && size["xz"] > size["hk"]) {
		t.Errorf("list lengths gd %d sd %d js %d sh %d xz %d hk %d: want them in the order of the populations",
			size["gd"], size["sd"], size["js"], size["sh"], size["xz"], size["hk"])
	}
}

// listing is one row of a generated file.
type listing struct {
	id    string
	red   bool
	since string
}

// readDay reads every region's file back, checking what any file must hold:
// the header, valid IDs as of the list date, canonical colours, since dates
// not after the date, no ID twice in a file.
func readDay(t *testing.T, paths []string, date engine.Day) [][]listing {
	t.Helper()
	cal := engine.NewCalendar(engine.CST, func() time.Time { return date.Time(engine.CST).Add(12 * time.Hour) })
	out := make([][]listing, len(paths))
	for i, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		if zr.Name != "" || !zr.ModTime.IsZero() {
			t.Errorf("%s: gzip header name %q time %v, want none", path, zr.Name, zr.ModTime)
		}
		rows, err := csv.NewReader(zr).ReadAll()
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if !slices.Equal(rows[0], []string{"id", "color", "since"}) {
			t.Fatalf("%s: header %q", path, rows[0])
		}
		seen := make(map[string]bool, len(rows))
		for n, r := range rows[1:] {
			line := n + 2
			if _, err := cal.ParseID(r[0]); err != nil {
				t.Fatalf("%s:%d: %s: %v", path, line, r[0], err)
			}
			if seen[r[0]] {
				t.Fatalf("%s:%d: %s twice", path, line, r[0])
			}
			seen[r[0]] = true
			if r[1] != "red" && r[1] != "yellow" {
				t.Fatalf("%s:%d: colour %q", path, line, r[1])
			}
			if r[2] != "" {
				s, ok := engine.ParseDay(r[2])
				if !ok || s > date || s < date-MaxSinceAge {
					t.Fatalf("%s:%d: since %q for a list of %s", path, line, r[2], date)
				}
			}
			out[i] = append(out[i], listing{r[0], r[1] == "red", r[2]})
		}
	}
	return out
}

func between(t *testing.T, what string, got, lo, hi float64) {
	t.Helper()
	if got < lo || got > hi {
		t.Errorf("%s = %.4f, want %.3f to %.3f", what, got, lo, hi)
	} else {
		t.Logf("%s = %.4f", what, got)
	}
}

func TestWriteRealistic(t *testing.T) {
	t.Parallel()
	const records = 50_000
	date := day(t, "2026-11-26")
	dir := filepath.Join(t.TempDir(), "out") // Write creates it
	var calls []int
	paths, err := Write(dir, Options{Date: date, Records: records, Seed: 7}, func(n int) { calls = append(calls, n) })
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range paths {
		names = append(names, filepath.Base(p))
	}
	want := []string{"sh-2026-11-26.csv.gz", "js-2026-11-26.csv.gz", "zj-2026-11-26.csv.gz", "ah-2026-11-26.csv.gz"}
	if !slices.Equal(names, want) {
		t.Fatalf("files %q, want %q", names, want)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(want) {
		t.Errorf("%d entries in the output dir, want %d (temporary files left?)", len(entries), len(want))
	}
	if len(calls) == 0 || calls[len(calls)-1] != records || !slices.IsSorted(calls) {
		t.Errorf("progress calls %v, want increasing to %d", calls, records)
	}

	lists := readDay(t, paths, date)
	prefix := []string{"31", "32", "33", "34"}
	total, red, unknownSince, recent, male := 0, 0, 0, 0, 0
	regionsOf := map[string]int{}
	colours := map[string][]bool{}
	ages := make([]int, 102)
	for r, list := range lists {
		residents := 0
		for _, l := range list {
			total++
			if l.red {
				red++
			}
			switch {
			case l.since == "":
				unknownSince++
			case date-day(t, l.since) < 14:
				recent++
			}
			if strings.HasPrefix(l.id, prefix[r]) {
				residents++
			}
			if regionsOf[l.id]++; regionsOf[l.id] > 1 {
				continue
			}
			if (l.id[16]-'0')%2 == 1 {
				male++
			}
			birth := day(t, l.id[6:10]+"-"+l.id[10:12]+"-"+l.id[12:14])
			by, bm, bd := birth.Civil()
			ly, lm, ld := date.Civil()
			age := ly - by
			if lm < bm || lm == bm && ld < bd {
				age--
			}
			if age < 0 || age > 100 {
				t.Fatalf("%s: age %d", l.id, age)
			}
			ages[age]++
			colours[l.id] = append(colours[l.id], l.red)
		}
		between(t, "residents in "+want[r], float64(residents)/float64(len(list)), 0.83, 0.91)
	}
	if total != records {
		t.Errorf("%d rows, want exactly %d", total, records)
	}
	people := len(regionsOf)
	twice := 0
	for _, n := range regionsOf {
		if n > 2 {
			t.Fatalf("a person in %d regions", n)
		}
		if n == 2 {
			twice++
		}
	}
	between(t, "distinct people / records", float64(people)/records, 0.93, 0.97)
	between(t, "people in two regions", float64(twice)/float64(people), 0.04, 0.06)
	between(t, "red listings", float64(red)/records, 0.22, 0.28)
	between(t, "empty since", float64(unknownSince)/records, 0.04, 0.06)
	between(t, "since within 14 days", float64(recent)/records, 0.82, 0.88)
	between(t, "male", float64(male)/float64(people), 0.47, 0.53)
	sum := func(lo, hi int) float64 {
		n := 0
		for _, c := range ages[lo:hi] {
			n += c
		}
		return float64(n) / float64(people)
	}
	between(t, "aged 90 and over", sum(90, 101), 0.001, 0.006)
	between(t, "aged 0-4", sum(0, 5), 0.045, 0.065)
	between(t, "aged 30-34", sum(30, 35), 0.08, 0.10)
	// Shares by population: Jiangsu's list is the longest, Shanghai's the
	// shortest.
	if !(len(lists[1]) > len(lists[2]) && len(lists[2]) > len(lists[3]) && len(lists[3]) > len(lists[0])) {
		t.Errorf("list lengths sh %d js %d zj %d ah %d, want js > zj > ah > sh",
			len(lists[0]), len(lists[1]), len(lists[2]), len(lists[3]))
	}
}

func TestWriteDeterministic(t *testing.T) {
	t.Parallel()
	date := day(t, "2026-11-26")
	read := func(opts Options) [][]byte {
		t.Helper()
		paths, err := Write(t.TempDir(), opts, nil)
		if err != nil {
			t.Fatal(err)
		}
		var files [][]byte
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, b)
		}
		return files
	}
	opts := Options{Date: date, Records: 5000, Seed: 42}
	a, b := read(opts), read(opts)
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Errorf("file %d differs between two runs with the same options", i)
		}
	}
	opts.Seed = 43
	c := read(opts)
	for i := range a {
		if bytes.Equal(a[i], c[i]) {
			t.Errorf("file %d is the same for seeds 42 and 43", i)
		}
	}

	// WriteRegion gives the bytes Write's file decompresses to.
	opts.Seed = 42
	for i := range a {
		var buf bytes.Buffer
		if err := WriteRegion(&buf, i, opts); err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(a[i]))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(plain, buf.Bytes()) {
			t.Errorf("region %d: WriteRegion differs from Write's file", i)
		}
	}
}

func TestWriteRegions(t *testing.T) {
	t.Parallel()
	date := day(t, "2020-03-30")
	for _, tc := range []struct {
		name    string
		regions []string
		records int
	}{
		{"one region", []string{"zj"}, 5000},
		{"unknown region", []string{"sh", "x1"}, 5000},
		{"one record", nil, 1},
		{"default records", nil, 0},
		{"many regions", []string{"a", "b", "c", "d", "e", "f", "g", "h", "sh", "ah"}, 20_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			paths, err := Write(t.TempDir(), Options{Date: date, Records: tc.records, Regions: tc.regions, Seed: 1}, nil)
			if err != nil {
				t.Fatal(err)
			}
			regions := tc.regions
			if regions == nil {
				regions = engine.DefaultRegions
			}
			if len(paths) != len(regions) {
				t.Fatalf("%d files for %d regions", len(paths), len(regions))
			}
			lists := readDay(t, paths, date)
			n := 0
			for _, l := range lists {
				n += len(l)
			}
			want := tc.records
			if want == 0 {
				want = DefaultRecords
			}
			if n != want {
				t.Errorf("%d rows, want %d", n, want)
			}
		})
	}
}

func TestOptionsRefused(t *testing.T) {
	t.Parallel()
	date := day(t, "2026-11-26")
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"zero date", Options{}},
		{"date too early for since", Options{Date: engine.MinSince + MaxSinceAge - 1}},
		{"date past the since column", Options{Date: engine.MaxSince + 1}},
		{"negative records", Options{Date: date, Records: -1}},
		{"too many records", Options{Date: date, Records: MaxRecords + 1}},
		{"no regions", Options{Date: date, Regions: []string{}}},
		{"bad region", Options{Date: date, Regions: []string{"SH"}}},
		{"region twice", Options{Date: date, Regions: []string{"sh", "js", "sh"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := Write(dir, tc.opts, nil); err == nil {
				t.Error("Write accepted the options")
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("refused options left %d files", len(entries))
			}
			if err := WriteRegion(io.Discard, 0, tc.opts); err == nil {
				t.Error("WriteRegion accepted the options")
			}
		})
	}
	if err := WriteRegion(io.Discard, 4, Options{Date: date}); err == nil {
		t.Error("WriteRegion accepted region 4 of 4")
	}
}

type failWriter struct{ n int }

var errFull = errors.New("disk full")

func (w *failWriter) Write(b []byte) (int, error) {
	if w.n += len(b); w.n > 100_000 {
		return 0, errFull
	}
	return len(b), nil
}

func TestWriteErrors(t *testing.T) {
	t.Parallel()
	date := day(t, "2026-11-26")
	if err := WriteRegion(&failWriter{}, 1, Options{Date: date, Records: 100_000}); !errors.Is(err, errFull) {
		t.Errorf("WriteRegion to a failing writer: %v, want %v", err, errFull)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(filepath.Join(file, "out"), Options{Date: date}, nil); err == nil {
		t.Error("Write under a regular file succeeded")
	}
}
