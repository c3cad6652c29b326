//go:build !js && !wasip1

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/fixture"
	"github.com/yrd-hcx/hcx/internal/gen"
	"github.com/yrd-hcx/hcx/loader"
	"github.com/yrd-hcx/hcx/wasm/wasmtest"
)

// The wasip1 build, run by wazero inside go test: built on demand once per
// test binary (TestMain removes it), compiled once.

func TestMain(m *testing.M) {
	code := wasmtest.Main(m)
	if theDay != nil {
		os.RemoveAll(theDay.dir)
	}
	os.Exit(code)
}

var (
	modOnce sync.Once
	mod     *wasmtest.WASI
	modErr  error
)

func module(t testing.TB) *wasmtest.WASI {
	t.Helper()
	path := wasmtest.Build(t, "wasip1", "./wasm/wasi")
	modOnce.Do(func() { mod, modErr = wasmtest.CompileWASI(context.Background(), path) })
	if modErr != nil {
		t.Fatal(modErr)
	}
	return mod
}

// day is a generated day ingested into a data directory, its signed edge
// filter written to dir/edge.bin, and the IDs to ask about.
type day struct {
	dir, pub string
	ids      []string // every listed ID, absent ones, invalid ones
	filter   []byte
	store    *loader.Store // holds sh's issuer key
	trust    *engine.TrustList
}

// code issues a health code for id, green, signed by sh's issuer.
func (d *day) code(t testing.TB, id string, issued time.Time) string {
	t.Helper()
	key, _, err := d.store.IssuerKey(d.trust, "sh")
	if err != nil {
		t.Fatal(err)
	}
	pid, err := engine.ParseID(id)
	if err != nil {
		t.Fatal(err)
	}
	c, err := engine.IssueCode(nil, key, engine.CodeClaims{ID: pid, Colour: engine.Green, Issued: issued, Expires: issued.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return string(c)
}

var (
	dayOnce sync.Once
	theDay  *day
)

func generatedDay(t testing.TB) *day {
	t.Helper()
	dayOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hcx-wasi-test-")
		if err != nil {
			t.Fatal(err)
		}
		st, err := loader.Init(filepath.Join(dir, "data"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.AddIssuer("sh"); err != nil {
			t.Fatal(err)
		}
		paths, err := gen.Write(filepath.Join(dir, "gen"), gen.Options{Date: st.Calendar.Today(), Records: 30000, Seed: 8}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ups := make([]loader.Upload, len(paths))
		for i, p := range paths {
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			ups[i] = loader.Upload{Name: p, Body: f}
		}
		_, snap, err := st.Ingest(ups, loader.IngestOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ex, err := st.EdgeFilter(snap, 0)
		if err != nil {
			t.Fatal(err)
		}
		d := &day{dir: dir, pub: st.PublicHex(), filter: ex.File, store: st, trust: snap.TrustList()}
		if err := os.WriteFile(filepath.Join(dir, "edge.bin"), ex.File, 0o644); err != nil {
			t.Fatal(err)
		}
		// Every listed person: read back from the files by the snapshot's
		// own parser would need raw IDs, so regenerate them: gen writes
		// each region's file, the parser's OnValid sees every ID.
		seen := map[string]bool{}
		for _, p := range paths {
			f, _ := os.Open(p)
			loader.Parse(f, loader.ParseOptions{Gzip: true, Calendar: st.Calendar, OnValid: func(id []byte, _ engine.Status) {
				seen[string(id)] = true
			}})
			f.Close()
		}
		for id := range seen {
			d.ids = append(d.ids, id)
		}
		d.ids = append(d.ids, fixture.IDs(77, 5000)...)
		d.ids = append(d.ids, "110105194912310021", "11010519491231002x", " 110105491231002 ", "1101051949123A002X", "１１０１０５１９４９１２３１００２Ｘ", strings.Repeat("9", 70000))
		theDay = d
	})
	if theDay == nil {
		t.Fatal("no generated day")
	}
	return theDay
}

// TestWASIMatchesNative: for a whole generated day (every listed ID, 5000
// absent, some invalid, one line longer than the read buffer) the wasip1
// module under wazero writes exactly what the same program writes natively,
// and never answers green for a listed person.
func TestWASIMatchesNative(t *testing.T) {
	d := generatedDay(t)
	input := strings.Join(d.ids, "\n") + "\n"
	args := []string{"--pubkey", d.pub, "/d/edge.bin"}

	var native, nerr bytes.Buffer
	nativeArgs := []string{"--pubkey", d.pub, filepath.Join(d.dir, "edge.bin")}
	if code := run(nativeArgs, strings.NewReader(input), &native, &nerr); code != 0 {
		t.Fatalf("native exit %d: %s", code, nerr.String())
	}
	var wasm, werr bytes.Buffer
	code, err := module(t).Run(context.Background(), wasmtest.Run{Args: args, Mounts: map[string]string{"/d": d.dir},
		Stdin: strings.NewReader(input), Stdout: &wasm, Stderr: &werr})
	if err != nil || code != 0 {
		t.Fatalf("wasm exit %d %v: %s", code, err, werr.String())
	}
	nl, wl := strings.Split(native.String(), "\n"), strings.Split(wasm.String(), "\n")
	if len(nl) != len(d.ids)+1 || len(wl) != len(nl) {
		t.Fatalf("%d native lines, %d wasm lines, %d IDs", len(nl), len(wl), len(d.ids))
	}
	for i := range nl {
		if nl[i] != wl[i] {
			t.Fatalf("line %d: native %s, wasm %s", i+1, nl[i], wl[i])
		}
	}
	listed := len(d.ids) - 5000 - 6
	for i, l := range wl[:listed] {
		if !strings.Contains(l, `"probable":true`) {
			t.Fatalf("listed ID %d answered %s", i, l)
		}
	}
	fp := strings.Count(strings.Join(wl[listed:listed+5000], "\n"), `"probable":true`)
	if fp > 5 {
		t.Fatalf("%d false positives in 5000", fp)
	}
	for _, want := range []string{`"error":"check digit"`, `"status":"red"`, `"error":"legacy 15-digit"`, `"error":"non-digit"`, `"error":"length"`} {
		if !strings.Contains(wasm.String(), want) {
			t.Errorf("no answer with %s", want)
		}
	}
}

// TestWASIRefuses: a filter that is tampered with, truncated, unsigned, or
// signed by another key makes the module exit 1 with a reason, answering
// nothing; usage errors exit 2.
func TestWASIRefuses(t *testing.T) {
	d := generatedDay(t)
	dir := t.TempDir()
	tampered := bytes.Clone(d.filter)
	tampered[len(tampered)/2] ^= 0x40
	unsigned := bytes.Clone(d.filter)
	clear(unsigned[len(unsigned)-64:])
	other, err := loader.Init(filepath.Join(dir, "other"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"tampered": tampered, "truncated": d.filter[:len(d.filter)-100], "unsigned": unsigned, "empty": nil} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		args []string
		code int
		err  string
	}{
		{"tampered", []string{"--pubkey", d.pub, "/d/tampered"}, 1, "checksum"},
		{"truncated", []string{"--pubkey", d.pub, "/d/truncated"}, 1, "truncated"},
		{"unsigned", []string{"--pubkey", d.pub, "/d/unsigned"}, 1, "not signed"},
		{"empty", []string{"--pubkey", d.pub, "/d/empty"}, 1, "bad magic"},
		{"wrong key", []string{"--pubkey=" + other.PublicHex(), "/e/edge.bin"}, 1, "signature invalid"},
		{"missing", []string{"--pubkey", d.pub, "/d/nope"}, 1, "No such file"},
		{"bad key", []string{"--pubkey", "abc", "/e/edge.bin"}, 2, "64 hex digits"},
		{"no key", []string{"/e/edge.bin"}, 2, "usage"},
		{"two files", []string{"--pubkey", d.pub, "/e/edge.bin", "/e/edge.bin"}, 2, "one filter"},
		{"unknown flag", []string{"--max", "/e/edge.bin"}, 2, "unknown flag"},
	} {
		t.Run(c.name, func(t *testing.T) {
			lines, stderr, code, err := module(t).RunLines(context.Background(), wasmtest.Run{Args: c.args,
				Mounts: map[string]string{"/d": dir, "/e": d.dir}, Stdin: strings.NewReader(d.ids[0] + "\n")})
			if err != nil || code != c.code || len(lines) != 0 || !strings.Contains(stderr, c.err) {
				t.Fatalf("exit %d %v, %d lines, stderr %q; want exit %d with %q", code, err, len(lines), stderr, c.code, c.err)
			}
		})
	}
}

// BenchmarkWASIStream: IDs in, JSON lines out, natively and under wazero
// (module instantiation and the filter's verification included; 10,000
// IDs a run).
func BenchmarkWASIStream(b *testing.B) {
	d := generatedDay(b)
	var in strings.Builder
	for i := range 10000 {
		in.WriteString(d.ids[(i*7919)%len(d.ids)])
		in.WriteByte('\n')
	}
	input := in.String()
	b.Run("native", func(b *testing.B) {
		for b.Loop() {
			var out bytes.Buffer
			if run([]string{"--pubkey", d.pub, filepath.Join(d.dir, "edge.bin")}, strings.NewReader(input), &out, &out) != 0 {
				b.Fatal(out.String())
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(10000*b.N), "ns/id")
	})
	b.Run("wazero", func(b *testing.B) {
		m := module(b)
		for b.Loop() {
			var out bytes.Buffer
			code, err := m.Run(context.Background(), wasmtest.Run{Args: []string{"--pubkey", d.pub, "/d/edge.bin"},
				Mounts: map[string]string{"/d": d.dir}, Stdin: strings.NewReader(input), Stdout: &out, Stderr: &out})
			if code != 0 || err != nil {
				b.Fatal(code, err, out.String())
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(10000*b.N), "ns/id")
	})
}

// TestWASICodes: lines starting HCX1: are health codes, answered from the
// filter's trust list and filters exactly as natively, mixed with IDs:
// a green code of a listed person does not pass (its status red or yellow,
// probable), one of a person listed nowhere passes, an expired one is
// refused by name.
func TestWASICodes(t *testing.T) {
	d := generatedDay(t)
	now := time.Now()
	listed, absent := d.ids[0], fixture.IDs(78, 1)[0]
	input := d.code(t, listed, now.Add(-time.Minute)) + "\n" + d.code(t, absent, now.Add(-time.Minute)) + "\n" + listed + "\n" +
		d.code(t, absent, now.Add(-25*time.Hour)) + "\n"
	var native, nerr bytes.Buffer
	if code := run([]string{"--pubkey", d.pub, filepath.Join(d.dir, "edge.bin")}, strings.NewReader(input), &native, &nerr); code != 0 {
		t.Fatalf("native exit %d: %s", code, nerr.String())
	}
	lines, stderr, code, err := module(t).RunLines(context.Background(), wasmtest.Run{Args: []string{"--pubkey", d.pub, "/d/edge.bin"},
		Mounts: map[string]string{"/d": d.dir}, Stdin: strings.NewReader(input)})
	if err != nil || code != 0 || strings.Join(lines, "\n")+"\n" != native.String() {
		t.Fatalf("exit %d %v %s:\nwasm %s\nnative %s", code, err, stderr, strings.Join(lines, "\n"), native.String())
	}
	if len(lines) != 4 || !strings.HasPrefix(lines[0], `{"valid":true,"pass":false`) || !strings.Contains(lines[0], `"probable":true`) ||
		!strings.HasPrefix(lines[1], `{"valid":true,"pass":true`) || !strings.Contains(lines[1], `"region":"sh"`) ||
		!strings.HasPrefix(lines[2], `{"id":`) || lines[3] != `{"valid":false,"pass":false,"error":"expired"}` {
		t.Fatalf("answers:\n%s", strings.Join(lines, "\n"))
	}
	if strings.Contains(strings.Join(lines, ""), "HCX1") || strings.Contains(strings.Join(lines, ""), listed[4:14]) {
		t.Fatal("a code or a whole ID was echoed")
	}
}
