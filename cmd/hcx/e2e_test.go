package main

// End-to-end tests of the hcx binary: it is built once (TestMain) and run as
// a user runs it. The CLI's contract is covered by testscript scripts in
// testdata/scripts (help, exit codes, init, tokens, rejections); the Go tests
// here check lookups against the truth computed from the generated CSV files
// alone, with no hcx package in the loop, and that no raw ID leaks to disk or
// to a log. serve_e2e_test.go does the same for `hcx serve`.

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// hcxBin is the binary under test, built by TestMain.
var hcxBin string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "hcx-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	hcxBin = filepath.Join(dir, "hcx")
	goTool, err := exec.LookPath("go") // go test puts its own go first on PATH
	if err != nil {
		goTool = "go"
	}
	// The binary is built without -race even under go test -race: the e2e
	// tests time real work (uploads, crashes) and the race detector would
	// only slow the child down; the packages' own tests run raced.
	build := exec.Command(goTool, "build", "-o", hcxBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building hcx for the end-to-end tests:", err)
		return 1
	}
	return m.Run()
}

// cst is China Standard Time, the zone of list dates. Computed here rather
// than taken from the engine: the tests check the product, not with it.
var cst = time.FixedZone("CST", 8*3600)

// daysAgo is the CST calendar date n days before today.
func daysAgo(n int) string {
	return time.Now().In(cst).AddDate(0, 0, -n).Format(time.DateOnly)
}

// ---- running the binary ----

type result struct {
	stdout, stderr string
	code           int
}

// cli runs hcx commands for one test and keeps everything they printed, for
// the privacy checks.
type cli struct {
	t      *testing.T
	stdout bytes.Buffer // every command's stdout, concatenated
	stderr bytes.Buffer // every command's stderr, concatenated
}

// run runs hcx with args (stdin may be nil) and returns what it printed and
// its exit status.
func (c *cli) run(stdin io.Reader, args ...string) result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, hcxBin, args...)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	default:
		c.t.Fatalf("hcx %s: %v\nstderr: %s", strings.Join(args, " "), err, r.stderr)
	}
	c.stdout.WriteString(r.stdout)
	c.stderr.WriteString(r.stderr)
	return r
}

// must runs hcx and fails the test unless it exits with want.
func (c *cli) must(want int, stdin io.Reader, args ...string) result {
	c.t.Helper()
	r := c.run(stdin, args...)
	if r.code != want {
		c.t.Fatalf("hcx %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, want, clip(r.stdout), clip(r.stderr))
	}
	return r
}

func clip(s string) string {
	if len(s) > 4000 {
		return s[:4000] + "\n[...]"
	}
	return s
}

// ---- testscript ----

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "scripts"),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("PATH", filepath.Dir(hcxBin)+string(os.PathListSeparator)+env.Getenv("PATH"))
			// List dates relative to today in CST: never in the future,
			// never hard-coded.
			env.Setenv("TODAY", daysAgo(0))
			env.Setenv("FAR", daysAgo(-30)) // past the days ahead a list may be dated
			for n := 1; n <= 5; n++ {
				env.Setenv("D"+strconv.Itoa(n), daysAgo(n))
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":       cmdExits,
			"dirstate":    cmdDirstate,
			"perm":        cmdPerm,
			"tokenstored": cmdTokenStored,
			"issuerkey":   cmdIssuerKey, // issuer_e2e_test.go
			"qrread":      cmdQRRead,    // code_e2e_test.go
			"envfile":     cmdEnvFile,   // code_e2e_test.go
			"output":      cmdOutput,
			"gzip":        cmdGzip,
		},
	})
}

// exits N PROG ARGS...: run PROG and check that it exits with status N
// (testscript's own `! exec` only tells zero from non-zero).
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits STATUS PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		got = ee.ExitCode()
	default:
		ts.Fatalf("%s: %v", args[1], err)
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}

// output REGEXP: the last command's stdout or stderr matches (usage text
// may go to either).
func cmdOutput(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: output REGEXP")
	}
	re, err := regexp.Compile("(?m)" + args[0])
	ts.Check(err)
	if re.MatchString(ts.ReadFile("stdout")) || re.MatchString(ts.ReadFile("stderr")) {
		if neg {
			ts.Fatalf("output matches %q", args[0])
		}
	} else if !neg {
		ts.Fatalf("no output matches %q", args[0])
	}
}

// gzip SRC DST: compress a file.
func cmdGzip(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: gzip SRC DST")
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(ts.ReadFile(args[0])))
	ts.Check(zw.Close())
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), b.Bytes(), 0o644))
}

// dirstate DIR FILE: write a manifest of DIR (every file's path, mode and
// SHA-256, except the writer lock) to FILE, for cmp before and after.
func cmdDirstate(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: dirstate DIR FILE")
	}
	m, err := dirState(ts.MkAbs(args[0]))
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(m), 0o644))
}

// dirState describes every file under dir but the .lock file: path, mode,
// size and SHA-256, one a line, sorted.
func dirState(dir string) (string, error) {
	var lines []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.Name() == ".lock" {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			lines = append(lines, fmt.Sprintf("%s/ %v", rel, info.Mode()))
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		lines = append(lines, fmt.Sprintf("%s %v %d %x", rel, info.Mode(), len(b), sha256.Sum256(b)))
		return nil
	})
	slices.Sort(lines)
	return strings.Join(lines, "\n") + "\n", err
}

// perm MODE FILE...: check the files' permission bits (octal).
func cmdPerm(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: perm MODE FILE...")
	}
	want, err := strconv.ParseUint(args[0], 8, 32)
	ts.Check(err)
	for _, f := range args[1:] {
		info, err := os.Stat(ts.MkAbs(f))
		ts.Check(err)
		if got := info.Mode().Perm(); (got == fs.FileMode(want)) == neg {
			ts.Fatalf("%s has mode %#o; want %s%#o", f, got, map[bool]string{true: "not "}[neg], want)
		}
	}
}

// tokenstored TOKENSFILE ROLES: the last command printed one token alone on
// stdout; the tokens file holds its SHA-256 with ROLES, and not the token.
func cmdTokenStored(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: tokenstored TOKENSFILE ROLES")
	}
	out := ts.ReadFile("stdout")
	tok := strings.TrimSuffix(out, "\n")
	if tok == "" || strings.ContainsAny(tok, " \t\r\n") {
		ts.Fatalf("stdout is not one token alone: %q", out)
	}
	tokens := ts.ReadFile(args[0])
	if strings.Contains(tokens, tok) {
		ts.Fatalf("%s holds the token itself", args[0])
	}
	sum := sha256.Sum256([]byte(tok))
	line := hex.EncodeToString(sum[:]) + " " + args[1]
	if !slices.Contains(strings.Split(tokens, "\n"), line) {
		ts.Fatalf("%s has no line %q:\n%s", args[0], line, tokens)
	}
}

// ---- the truth, from the CSV files alone ----

// Colours, ordered by severity.
const (
	green = iota
	yellow
	red
)

var colourNames = [...]string{"green", "yellow", "red"}

// listing is one region's record of a person.
type listing struct {
	colour int
	since  string // "" unknown
}

// regionList is one region's list as its file says, with the file's counts.
type regionList struct {
	region, date string
	people       map[string]listing // by 18-character ID, X upper case
	rows         int
	red, yellow  int // distinct people of each colour
}

// readList reads a daily file (.csv or .csv.gz) by docs/daily-files.md's
// rules, with encoding/csv and no hcx code.
func readList(t *testing.T, path string) *regionList {
	t.Helper()
	base := filepath.Base(path)
	name := strings.TrimSuffix(strings.TrimSuffix(base, ".gz"), ".csv")
	region, date, ok := strings.Cut(name, "-")
	if !ok {
		t.Fatalf("%s: not a daily file name", path)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(base, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		r = zr
	}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		t.Fatalf("%s: header: %v", path, err)
	}
	col := map[string]int{"since": -1}
	for i, h := range header {
		col[strings.ToLower(strings.Trim(strings.TrimPrefix(h, "\ufeff"), " \t"))] = i
	}
	l := &regionList{region: region, date: date, people: map[string]listing{}}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		l.rows++
		id := strings.ToUpper(strings.Trim(rec[col["id"]], " \t"))
		var c int
		switch strings.ToLower(strings.Trim(rec[col["color"]], " \t")) {
		case "red":
			c = red
		case "yellow":
			c = yellow
		default:
			t.Fatalf("%s line %d: colour %q", path, l.rows+1, rec[col["color"]])
		}
		since := ""
		if i := col["since"]; i >= 0 {
			since = strings.Trim(rec[i], " \t")
		}
		prev, seen := l.people[id]
		switch {
		case !seen || c > prev.colour:
			l.people[id] = listing{c, since}
		case c == prev.colour:
			l.people[id] = listing{c, earliest(prev.since, since)}
		}
	}
	for _, p := range l.people {
		if p.colour == red {
			l.red++
		} else {
			l.yellow++
		}
	}
	return l
}

// earliest of two since dates, "" being unknown.
func earliest(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "" || a < b:
		return a
	}
	return b
}

// truth is the current list of every region.
type truth map[string]*regionList

// expect is the answer docs/http-api.md promises for one listed or unlisted ID.
type expect struct {
	status  string
	since   string // "" means null
	sources map[string]string
}

func (tr truth) answer(id string) expect {
	id = strings.ToUpper(id)
	merged, since := green, ""
	sources := map[string]string{}
	for region, l := range tr {
		p, ok := l.people[id]
		if !ok {
			continue
		}
		sources[region] = colourNames[p.colour]
		switch {
		case p.colour > merged:
			merged, since = p.colour, p.since
		case p.colour == merged:
			since = earliest(since, p.since)
		}
	}
	return expect{status: colourNames[merged], since: since, sources: sources}
}

// listed is every ID on a current list, sorted.
func (tr truth) listed() []string {
	set := map[string]bool{}
	for _, l := range tr {
		for id := range l.people {
			set[id] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// ---- IDs built here ----

var checkWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// withCheck appends the ISO 7064 MOD 11-2 check character to a 17-digit body.
func withCheck(body string) string {
	sum := 0
	for i := range 17 {
		sum += int(body[i]-'0') * checkWeights[i]
	}
	return body + string("10X98765432"[sum%11])
}

// mask is the echo docs/http-api.md promises: first 4 and last 4 characters of the
// trimmed query, the rest starred.
func mask(q string) string {
	q = strings.Trim(q, " \t")
	return q[:4] + strings.Repeat("*", len(q)-8) + q[len(q)-4:]
}

// unlistedIDs makes n valid IDs on no list in files: the address code and
// birth date of listed people with another sequence number.
func unlistedIDs(rng *rand.Rand, n int, like []string, files ...truth) []string {
	taken := func(id string) bool {
		for _, tr := range files {
			for _, l := range tr {
				if _, ok := l.people[id]; ok {
					return true
				}
			}
		}
		return false
	}
	seen := map[string]bool{}
	var out []string
	for len(out) < n {
		from := like[rng.IntN(len(like))]
		id := withCheck(fmt.Sprintf("%s%03d", from[:14], rng.IntN(1000)))
		if !seen[id] && !taken(id) {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// ---- answers ----

// answerJSON is one answer object of `hcx lookup` and the HTTP API.
type answerJSON struct {
	ID      string  `json:"id"`
	Status  string  `json:"status"`
	Since   *string `json:"since"`
	Sources []struct {
		Region string `json:"region"`
		Status string `json:"status"`
	} `json:"sources"`
	AsOf  *string  `json:"asOf"`
	Stale []string `json:"stale"`
	Error string   `json:"error"`
}

// parseAnswers reads NDJSON answers.
func parseAnswers(t *testing.T, ndjson string) []answerJSON {
	t.Helper()
	if ndjson == "" {
		return nil
	}
	out, err := decodeAnswers([]byte(ndjson))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// checkAnswer compares an answer for query with what the truth says. It
// returns a description of the first difference, or "".
func checkAnswer(a answerJSON, query string, want expect) string {
	if a.ID != mask(query) {
		return fmt.Sprintf("id %q, want %q", a.ID, mask(query))
	}
	if a.Status != want.status {
		return fmt.Sprintf("status %q, want %q", a.Status, want.status)
	}
	switch {
	case want.since == "" && a.Since != nil:
		return fmt.Sprintf("since %q, want null", *a.Since)
	case want.since != "" && (a.Since == nil || *a.Since != want.since):
		return fmt.Sprintf("since %v, want %q", strOrNull(a.Since), want.since)
	}
	got := map[string]string{}
	for _, s := range a.Sources {
		if _, dup := got[s.Region]; dup {
			return fmt.Sprintf("region %s twice in sources", s.Region)
		}
		got[s.Region] = s.Status
	}
	if fmt.Sprint(got) != fmt.Sprint(want.sources) {
		return fmt.Sprintf("sources %v, want %v", got, want.sources)
	}
	if a.Error != "" {
		return fmt.Sprintf("error %q on a valid ID", a.Error)
	}
	return ""
}

func strOrNull(s *string) string {
	if s == nil {
		return "null"
	}
	return strconv.Quote(*s)
}

// ---- privacy ----

// queried makes a pseudo-list of IDs that were looked up but are on no
// list, so that the privacy checks look for them too.
func queried(ids ...string) truth {
	l := &regionList{people: map[string]listing{}}
	for _, id := range ids {
		id = strings.ToUpper(strings.Trim(id, " \t"))
		if len(id) == 18 {
			l.people[id] = listing{}
		}
	}
	return truth{"queried": l}
}

// idBodies is the set of 17-digit bodies of every raw ID in the lists.
func idBodies(lists ...truth) map[string]bool {
	set := map[string]bool{}
	for _, tr := range lists {
		for _, l := range tr {
			for id := range l.people {
				set[id[:17]] = true
			}
		}
	}
	return set
}

// findID returns the first raw ID body (the 18-character IDs contain it)
// that occurs in b, or "".
func findID(b []byte, bodies map[string]bool) string {
	run := 0 // length of the run of digits ending at i
	for i := range len(b) {
		if b[i] < '0' || b[i] > '9' {
			run = 0
			continue
		}
		if run++; run >= 17 && bodies[string(b[i-16:i+1])] {
			return string(b[i-16 : i+1])
		}
	}
	return ""
}

// findBinaryID returns the offset of the first 8 bytes of b that hold one
// of values, little- or big-endian, or -1: a raw ID stored as a number
// rather than as text.
func findBinaryID(b []byte, values map[uint64]bool) int {
	for i := 0; i+8 <= len(b); i++ {
		if values[binary.LittleEndian.Uint64(b[i:])] || values[binary.BigEndian.Uint64(b[i:])] {
			return i
		}
	}
	return -1
}

// checkNoIDsInDir fails if any file under dir holds a raw ID, as text or
// as a 64-bit number.
func checkNoIDsInDir(t *testing.T, dir string, bodies map[string]bool) {
	t.Helper()
	values := map[uint64]bool{}
	for body := range bodies {
		v, _ := strconv.ParseUint(body, 10, 64)
		values[v] = true
	}
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n++
		if id := findID(b, bodies); id != "" {
			t.Errorf("%s holds the raw ID body %s...", path, id[:6])
		}
		if at := findBinaryID(b, values); at >= 0 {
			t.Errorf("%s holds a raw ID body as a 64-bit integer at offset %d", path, at)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatalf("no files in %s", dir)
	}
}

// checkNoIDs fails if text, written by what, holds a raw ID.
func checkNoIDs(t *testing.T, what string, text []byte, bodies map[string]bool) {
	t.Helper()
	if id := findID(text, bodies); id != "" {
		t.Errorf("%s holds the raw ID body %s...", what, id[:6])
	}
}

// ---- the tests ----

// TestLookupTruth runs gen, validate, ingest and lookup as a user would and
// checks every answer against the lists' truth, computed from the files.
// Two days are ingested: the newer one for sh and js only, so the newer
// lists must replace the older ones whole while zj and ah stay.
func TestLookupTruth(t *testing.T) {
	t.Parallel()
	c := &cli{t: t}
	tmp := t.TempDir()
	data := filepath.Join(tmp, "data")
	dayA, dayB := daysAgo(2), daysAgo(0)
	const records = 50_000

	pub := c.must(0, nil, "init", "--data", data).stdout
	if !regexp.MustCompile(`^[0-9a-f]{64}\n$`).MatchString(pub) {
		t.Fatalf("init printed %q, want a public key in hex alone", pub)
	}
	token := strings.TrimSpace(c.must(0, nil, "token", "add", "--data", data, "--role", "lookup").stdout)

	gen := func(day string, seed int) (dir string, files []string) {
		dir = filepath.Join(tmp, "files-"+day)
		out := c.must(0, nil, "gen", "--out", dir, "--date", day, "--records", strconv.Itoa(records), "--seed", strconv.Itoa(seed)).stdout
		files = strings.Fields(out)
		var want []string
		for _, r := range []string{"sh", "js", "zj", "ah"} {
			want = append(want, filepath.Join(dir, r+"-"+day+".csv.gz"))
		}
		if !slices.Equal(files, want) {
			t.Fatalf("gen printed %q, want the paths %q", out, want)
		}
		return dir, files
	}
	_, filesA := gen(dayA, 7)
	_, filesB := gen(dayB, 8)

	// The truth: day A for every region, then day B's sh and js lists.
	trA, trB, cur := truth{}, truth{}, truth{}
	rows := 0
	for _, f := range filesA {
		l := readList(t, f)
		trA[l.region], cur[l.region] = l, l
		rows += l.rows
	}
	for _, f := range filesB {
		l := readList(t, f)
		trB[l.region] = l
		rows += l.rows
	}
	if rows != 2*records {
		t.Fatalf("gen wrote %d rows in all, want %d", rows, 2*records)
	}
	cur["sh"], cur["js"] = trB["sh"], trB["js"]

	// validate: text and JSON, exit 0, counts as the files say.
	text := c.must(0, nil, append([]string{"validate"}, filesA...)...).stdout
	for _, f := range filesA {
		if !strings.Contains(text, f) {
			t.Errorf("validate's report does not name %s:\n%s", f, clip(text))
		}
	}
	checkReports := func(out string, want truth, files []string) {
		t.Helper()
		var rep struct {
			OK    bool `json:"ok"`
			Files []struct {
				File, Region, Date                              string
				OK                                              bool
				Rows, Accepted, Red, Yellow, Invalid, Conflicts int
			} `json:"files"`
			Snapshot *struct{ Records, Red, Yellow int } `json:"snapshot"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("report: %v:\n%s", err, clip(out))
		}
		if !rep.OK || len(rep.Files) != len(files) {
			t.Fatalf("report ok=%v with %d files, want ok with %d:\n%s", rep.OK, len(rep.Files), len(files), clip(out))
		}
		for _, f := range rep.Files {
			l := want[f.Region]
			if l == nil || !f.OK || f.Date != l.date || f.Rows != l.rows || f.Accepted != len(l.people) ||
				f.Red != l.red || f.Yellow != l.yellow || f.Invalid != 0 || f.Conflicts != 0 {
				t.Errorf("report for %s: %+v; the file has %d rows, %d people (red %d, yellow %d)",
					f.File, f, l.rows, len(l.people), l.red, l.yellow)
			}
		}
	}
	checkReports(c.must(0, nil, append([]string{"validate", "--json"}, filesA...)...).stdout, trA, filesA)
	// With --data, validate also checks against the (empty) data dir and
	// still changes nothing.
	before, err := dirState(data)
	if err != nil {
		t.Fatal(err)
	}
	c.must(0, nil, append([]string{"validate", "--data", data, "--json"}, filesA...)...)
	if after, _ := dirState(data); after != before {
		t.Fatalf("validate --data changed the data directory:\n%s\n%s", before, after)
	}

	// ingest day A, then day B for sh and js.
	checkReports(c.must(0, nil, append([]string{"ingest", "--data", data, "--json"}, filesA...)...).stdout, trA, filesA)
	newer := []string{filesB[0], filesB[1]}
	out := c.must(0, nil, append([]string{"ingest", "--data", data, "--json"}, newer...)...).stdout
	checkReports(out, truth{"sh": trB["sh"], "js": trB["js"]}, newer)
	var snap struct {
		Snapshot struct{ Records, Red, Yellow int } `json:"snapshot"`
	}
	if err := json.Unmarshal([]byte(out), &snap); err != nil {
		t.Fatal(err)
	}
	listed := cur.listed()
	nRed := 0
	for _, id := range listed {
		if cur.answer(id).status == "red" {
			nRed++
		}
	}
	if s := snap.Snapshot; s.Records != len(listed) || s.Red != nRed || s.Yellow != len(listed)-nRed {
		t.Errorf("snapshot %+v; the lists hold %d people, %d red", s, len(listed), nRed)
	}

	// The queries: listed people (all with more than one source, and a
	// random sample), people only on the replaced sh and js lists of day A
	// (now green), and valid IDs nobody lists.
	rng := rand.New(rand.NewPCG(1, 2))
	var queries []string
	var multi []string
	for _, id := range listed {
		if len(cur.answer(id).sources) > 1 {
			multi = append(multi, id)
		}
	}
	if len(multi) < 100 {
		t.Fatalf("only %d people on two lists: the generator lost its overlap", len(multi))
	}
	queries = append(queries, multi[:min(len(multi), 1000)]...)
	for range 3000 {
		queries = append(queries, listed[rng.IntN(len(listed))])
	}
	dropped := 0
	for _, r := range []string{"sh", "js"} {
		for id := range trA[r].people {
			if cur.answer(id).status == "green" && dropped < 1000 {
				queries = append(queries, id)
				dropped++
			}
		}
	}
	if dropped < 1000 {
		t.Fatalf("only %d people dropped by the newer lists", dropped)
	}
	queries = append(queries, unlistedIDs(rng, 4000, listed, trA, trB)...)
	// As a user may type them: a lower-case check x, spaces and tabs around.
	for i, q := range queries {
		switch {
		case strings.HasSuffix(q, "X") && i%2 == 0:
			queries[i] = q[:17] + "x"
		case i%7 == 0:
			queries[i] = " \t" + q + " "
		}
	}
	rng.Shuffle(len(queries), func(i, j int) { queries[i], queries[j] = queries[j], queries[i] })

	// IDs on stdin: mixed LF and CRLF line ends, blank lines between.
	var stdin strings.Builder
	for i, q := range queries {
		stdin.WriteString(q)
		if i%3 == 0 {
			stdin.WriteString("\r\n")
		} else {
			stdin.WriteString("\n")
		}
		if i%50 == 0 {
			stdin.WriteString("\n\r\n")
		}
	}
	start := time.Now()
	got := parseAnswers(t, c.must(0, strings.NewReader(stdin.String()), "lookup", "--data", data).stdout)
	t.Logf("lookup answered %d IDs on stdin in %v", len(got), time.Since(start).Round(time.Millisecond))
	// And as arguments.
	args := queries[:200]
	gotArgs := parseAnswers(t, c.must(0, nil, append([]string{"lookup", "--data", data}, args...)...).stdout)

	compare := func(how string, got []answerJSON, queries []string) {
		t.Helper()
		if len(got) != len(queries) {
			t.Fatalf("%s: %d answers to %d IDs", how, len(got), len(queries))
		}
		bad := 0
		for i, q := range queries {
			a := got[i]
			diff := checkAnswer(a, q, cur.answer(strings.Trim(q, " \t")))
			if diff == "" && (a.AsOf == nil || *a.AsOf != dayB) {
				diff = fmt.Sprintf("asOf %s, want %q", strOrNull(a.AsOf), dayB)
			}
			// Day A is two days old, past the 36h default; day B is today's.
			if diff == "" && fmt.Sprint(sorted(a.Stale)) != "[ah zj]" {
				diff = fmt.Sprintf("stale %v, want [ah zj] (zj and ah lists of %s, sh and js of %s)", a.Stale, dayA, dayB)
			}
			if diff != "" {
				if bad++; bad <= 10 {
					t.Errorf("%s: answer %d for %s: %s", how, i+1, mask(q), diff)
				}
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d answers wrong", how, bad, len(queries))
		}
	}
	compare("stdin", got, queries)
	compare("arguments", gotArgs, args)

	// Invalid IDs answer invalid with the reason, in line with the rest.
	future := time.Now().In(cst).AddDate(1, 0, 0).Format("20060102")
	invalid := []struct{ q, reason string }{
		{"12345", "length"},
		{"3101041980010100177", "length"},
		{"310104800101001", "legacy 15-digit"},
		{"31010419800101001A", "non-digit"},
		{"3101041980O101001" + "7", "non-digit"},
		{withCheck("31010419800230001"), "date"},
		{withCheck("310104" + future + "001"), "date"},
		{withCheck("31010417990101001"), "date"},
		{"310104198001010018", "check digit"},
		{"３１０１０４１９８００１０１００１７", ""}, // full-width digits: any reason
	}
	var in strings.Builder
	var valid []string
	for i, v := range invalid {
		in.WriteString(v.q + "\n")
		valid = append(valid, listed[i])
		in.WriteString(listed[i] + "\r\n")
	}
	ans := parseAnswers(t, c.must(0, strings.NewReader(in.String()), "lookup", "--data", data).stdout)
	if len(ans) != 2*len(invalid) {
		t.Fatalf("%d answers to %d IDs", len(ans), 2*len(invalid))
	}
	for i, v := range invalid {
		a := ans[2*i]
		if a.Status != "invalid" || a.Error == "" || v.reason != "" && a.Error != v.reason {
			t.Errorf("%q: status %q, error %q; want invalid, %q", v.q, a.Status, a.Error, v.reason)
		}
		if a.Since != nil || a.Sources != nil {
			t.Errorf("%q: an invalid answer with since or sources: %+v", v.q, a)
		}
		if diff := checkAnswer(ans[2*i+1], valid[i], cur.answer(valid[i])); diff != "" {
			t.Errorf("the ID after %q: %s", v.q, diff)
		}
	}

	// Privacy: no raw ID in the data directory, nor in anything the
	// commands wrote to stderr, nor on stdout (lookup echoes masked IDs,
	// gen prints paths, validate and ingest print counts). No token on
	// stderr either.
	bodies := idBodies(trA, trB, queried(queries...))
	checkNoIDsInDir(t, data, bodies)
	checkNoIDs(t, "stderr", c.stderr.Bytes(), bodies)
	checkNoIDs(t, "stdout", c.stdout.Bytes(), bodies)
	if strings.Contains(c.stderr.String(), token) {
		t.Error("a token on stderr")
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// randFor is a seeded random source: the same IDs on every run.
func randFor(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed)) }

// TestLookupLongLine: a line too long to be an ID is answered invalid, like
// any other bad ID; it does not end the run or lose the answers before it.
func TestLookupLongLine(t *testing.T) {
	t.Parallel()
	c := &cli{t: t}
	data := filepath.Join(t.TempDir(), "data")
	c.must(0, nil, "init", "--data", data)
	csvFile := filepath.Join(t.TempDir(), "sh-"+daysAgo(1)+".csv")
	if err := os.WriteFile(csvFile, []byte("id,color\n310104198001010017,red\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.must(0, nil, "ingest", "--data", data, csvFile)
	in := "310104198001010017\n" + strings.Repeat("1", 5000) + "\n310104198001010025\n"
	got := parseAnswers(t, c.must(0, strings.NewReader(in), "lookup", "--data", data).stdout)
	if len(got) != 3 || got[0].Status != "red" || got[1].Status != "invalid" || got[1].Error != "length" || got[2].Status != "green" {
		t.Errorf("answers %+v; want red, invalid (length), green", got)
	}
}
