package bench

import (
	"bufio"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Colour is an expected answer. The order encodes severity.
type Colour uint8

const (
	// Unknown means the expected colour is not known (an --ids file line
	// without one): any colour is accepted.
	Unknown Colour = iota
	Green
	Yellow
	Red
)

var colourNames = [...]string{"unknown", "green", "yellow", "red"}

func (c Colour) String() string {
	if int(c) < len(colourNames) {
		return colourNames[c]
	}
	return fmt.Sprintf("Colour(%d)", c)
}

// ParseColour reads green, yellow or red, in any case.
func ParseColour(s string) (Colour, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "green":
		return Green, true
	case "yellow":
		return Yellow, true
	case "red":
		return Red, true
	}
	return Unknown, false
}

// IDLen is the length of a resident ID.
const IDLen = 18

// ID is a normalised resident ID (upper-case check character).
type ID [IDLen]byte

func (id ID) String() string { return string(id[:]) }

var (
	checkWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	checkChars   = "10X98765432"
)

// CheckChar is the ISO 7064 MOD 11-2 check character of 17 digits.
func CheckChar(body []byte) byte {
	sum := 0
	for i, w := range checkWeights {
		sum += int(body[i]-'0') * w
	}
	return checkChars[sum%11]
}

// ParseID normalises s (trimmed, lower-case x folded) into an ID. It checks
// the shape and the check character only; the server is the judge of dates.
func ParseID(s string) (ID, bool) {
	var id ID
	s = strings.Trim(s, " \t")
	if len(s) != IDLen {
		return id, false
	}
	copy(id[:], s)
	for _, c := range id[:17] {
		if c < '0' || c > '9' {
			return id, false
		}
	}
	if id[17] == 'x' {
		id[17] = 'X'
	}
	return id, CheckChar(id[:17]) == id[17]
}

// Day is the merged truth of one generated day: every listed ID with its
// most severe colour across the regions.
type Day struct {
	Colours map[ID]Colour
	Files   []string // the files read, one per region (its newest date)
	Rows    int      // data rows read
}

var dayFile = regexp.MustCompile(`^([a-z][a-z0-9_]*)-(\d{4}-\d{2}-\d{2})\.csv(\.gz)?$`)

// LoadDay reads the daily files `{region}-{YYYY-MM-DD}.csv[.gz]` in dir
// (docs/daily-files.md) and merges them as the server does: each region's
// newest file counts, and an ID gets the most severe colour any region
// gives it. It is deliberately independent of the loader: it is the
// reference the answers are checked against.
func LoadDay(dir string) (*Day, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	newest := map[string]string{} // region -> file name
	for _, e := range ents {
		m := dayFile.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			continue
		}
		if cur, ok := newest[m[1]]; !ok || dayFile.FindStringSubmatch(cur)[2] < m[2] {
			newest[m[1]] = e.Name()
		}
	}
	if len(newest) == 0 {
		return nil, fmt.Errorf("bench: no daily files {region}-{date}.csv[.gz] in %s", dir)
	}
	d := &Day{Colours: make(map[ID]Colour, 1<<16)}
	for _, name := range newest {
		d.Files = append(d.Files, filepath.Join(dir, name))
	}
	slices.Sort(d.Files)
	for _, path := range d.Files {
		if err := d.readFile(path); err != nil {
			return nil, fmt.Errorf("bench: %s: %w", path, err)
		}
	}
	return d, nil
}

func (d *Day) readFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = bufio.NewReaderSize(f, 1<<16)
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return err
		}
		defer zr.Close()
		r = zr
	}
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	hdr, err := cr.Read()
	if err != nil {
		return fmt.Errorf("header: %w", err)
	}
	idCol, colCol := -1, -1
	for i, h := range hdr {
		switch strings.ToLower(strings.Trim(strings.TrimPrefix(h, "\ufeff"), " \t")) {
		case "id":
			idCol = i
		case "color":
			colCol = i
		}
	}
	if idCol < 0 || colCol < 0 {
		return errors.New("header lacks id or color")
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if len(rec) <= max(idCol, colCol) {
			continue // a blank line
		}
		id, ok := ParseID(rec[idCol])
		c, ok2 := ParseColour(rec[colCol])
		if !ok || !ok2 || c == Green {
			return fmt.Errorf("line %d: not a valid id,color row", d.Rows+2)
		}
		d.Rows++
		if c > d.Colours[id] {
			d.Colours[id] = c
		}
	}
}

// Listed returns the listed IDs in sorted order (deterministic sampling).
func (d *Day) Listed() []ID {
	ids := make([]ID, 0, len(d.Colours))
	for id := range d.Colours {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b ID) int { return strings.Compare(string(a[:]), string(b[:])) })
	return ids
}

// unlistedCodes are real address codes inside and outside the Yangtze River
// Delta for the unlisted IDs.
var unlistedCodes = []string{"310101", "310115", "320102", "320583", "330106", "330203", "340104", "340202", "110105", "440305", "510107", "610113"}

// Unlisted returns n distinct valid IDs (check character right, born
// 1940-2019) that day does not list, deterministic for seed. day may be nil.
func Unlisted(day *Day, n int, seed uint64) []ID {
	r := rand.New(rand.NewPCG(seed, 0x68637862))
	base := time.Date(1940, 1, 1, 0, 0, 0, 0, time.UTC)
	seen := make(map[ID]bool, n)
	out := make([]ID, 0, n)
	for len(out) < n {
		t := base.AddDate(0, 0, r.IntN(80*365))
		body := fmt.Sprintf("%s%s%03d", unlistedCodes[r.IntN(len(unlistedCodes))], t.Format("20060102"), r.IntN(1000))
		var id ID
		copy(id[:], body)
		id[17] = CheckChar(id[:17])
		if seen[id] {
			continue
		}
		if day != nil {
			if _, listed := day.Colours[id]; listed {
				continue
			}
		}
		seen[id] = true
		out = append(out, id)
	}
	return out
}

// Query is one ID to ask about, with the answer expected.
type Query struct {
	ID   ID
	Want Colour
}

// Mix draws n queries from day: each is a listed ID with probability
// hitRatio (at least one when the ratio is above zero and the day lists
// anyone), an unlisted one (expected green) otherwise, shuffled,
// deterministic for seed.
func Mix(day *Day, n int, hitRatio float64, seed uint64) []Query {
	listed := day.Listed()
	hits := int(float64(n)*hitRatio + 0.5)
	if hitRatio > 0 && hits == 0 {
		hits = 1
	}
	if len(listed) == 0 {
		hits = 0
	}
	hits = min(hits, n)
	r := rand.New(rand.NewPCG(seed, 0x6d6978))
	qs := make([]Query, 0, n)
	for _, i := range sampleIndexes(r, len(listed), hits) {
		qs = append(qs, Query{listed[i], day.Colours[listed[i]]})
	}
	for _, id := range Unlisted(day, n-hits, seed) {
		qs = append(qs, Query{id, Green})
	}
	r.Shuffle(len(qs), func(i, j int) { qs[i], qs[j] = qs[j], qs[i] })
	return qs
}

// sampleIndexes picks k indexes below n, without repeats while k <= n.
func sampleIndexes(r *rand.Rand, n, k int) []int {
	if n == 0 {
		return nil
	}
	if k > n {
		out := make([]int, k)
		for i := range out {
			out[i] = r.IntN(n)
		}
		return out
	}
	return r.Perm(n)[:k]
}

// ReadQueries reads an IDs file: one ID a line, optionally followed by a
// comma and its expected colour (`ID,red`). Blank lines and lines starting
// with # are skipped. Without a colour any colour is accepted.
func ReadQueries(path string) ([]Query, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var qs []Query
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		idPart, colPart, hasCol := strings.Cut(line, ",")
		id, ok := ParseID(idPart)
		if !ok {
			return nil, fmt.Errorf("bench: %s:%d: not a valid ID", path, n)
		}
		q := Query{ID: id}
		if hasCol {
			if q.Want, ok = ParseColour(colPart); !ok {
				return nil, fmt.Errorf("bench: %s:%d: colour must be green, yellow or red", path, n)
			}
		}
		qs = append(qs, q)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(qs) == 0 {
		return nil, fmt.Errorf("bench: %s: no IDs", path)
	}
	return qs, nil
}

// WriteIDs writes the queries' IDs one a line (the format wrk scripts read).
func WriteIDs(path string, qs []Query) error {
	var b strings.Builder
	for _, q := range qs {
		b.Write(q.ID[:])
		b.WriteByte('\n')
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
