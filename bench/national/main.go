// Command national is bench/national.sh's helper for a day too large to
// hold as a map of expected answers (100 million records):
//
//	national sample --gen DIR --out FILE [--n 100000] [--hit-ratio 0.01]
//	national lookup --data DIR --ids FILE
//
// sample writes an IDs file for hcx bench --ids and for lookup: listed IDs
// taken from the first rows of every generated file (the generator writes
// people in random order), and valid IDs that are almost surely listed
// nowhere, shuffled, one a line and without expected colours (a random
// valid ID is listed with a probability of about 1e-3 at this scale, so
// none is promised green). lookup opens the data directory's signed
// snapshot as hcx serve does and times Lookup, LookupBatch and Screen over
// those IDs, in ns per ID.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/yrd-hcx/hcx/bench"
	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/loader"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: national sample|lookup ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "sample":
		err = sample(os.Args[2:])
	case "lookup":
		err = lookup(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "national:", err)
		os.Exit(1)
	}
}

func sample(args []string) error {
	fs := flag.NewFlagSet("sample", flag.ExitOnError)
	gen := fs.String("gen", "", "directory of generated daily files")
	out := fs.String("out", "", "IDs file to write")
	n := fs.Int("n", 100_000, "IDs in all")
	hit := fs.Float64("hit-ratio", 0.01, "share of listed IDs")
	fs.Parse(args)
	files, _ := filepath.Glob(filepath.Join(*gen, "*.csv.gz"))
	if len(files) == 0 || *out == "" {
		return errors.New("sample needs --gen DIR (with .csv.gz files) and --out FILE")
	}
	sort.Strings(files)
	hits := int(float64(*n) * *hit)
	var ids []bench.ID
	for i, f := range files {
		// Spread the listed IDs over the files, one more for the first
		// files when they do not divide evenly.
		want := hits / len(files)
		if i < hits%len(files) {
			want++
		}
		got, err := firstIDs(f, want)
		if err != nil {
			return err
		}
		ids = append(ids, got...)
	}
	ids = append(ids, bench.Unlisted(nil, *n-len(ids), 7)...)
	r := rand.New(rand.NewPCG(7, 7))
	r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	qs := make([]bench.Query, len(ids))
	for i, id := range ids {
		qs[i].ID = id
	}
	return bench.WriteIDs(*out, qs)
}

// firstIDs reads the IDs of the first n data rows of a gzip-compressed
// daily file.
func firstIDs(path string, n int) ([]bench.ID, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	sc := bufio.NewScanner(zr)
	sc.Scan() // header
	var ids []bench.ID
	for len(ids) < n && sc.Scan() {
		field, _, _ := bytes.Cut(sc.Bytes(), []byte{','})
		id, ok := bench.ParseID(string(field))
		if !ok {
			return nil, fmt.Errorf("%s: bad ID %q", path, field)
		}
		ids = append(ids, id)
	}
	return ids, sc.Err()
}

func lookup(args []string) error {
	fs := flag.NewFlagSet("lookup", flag.ExitOnError)
	data := fs.String("data", "", "data directory")
	idsFile := fs.String("ids", "", "IDs file")
	fs.Parse(args)
	qs, err := bench.ReadQueries(*idsFile)
	if err != nil {
		return err
	}
	st, err := loader.Open(*data, nil)
	if err != nil {
		return err
	}
	t0 := time.Now()
	snap, _, err := st.Current() // the file's bytes are dropped: only the snapshot is timed
	if err != nil {
		return err
	}
	opened := time.Since(t0)
	runtime.GC()
	ids := make([]string, len(qs))
	for i, q := range qs {
		ids[i] = q.ID.String()
	}
	// The three paths take turns, a batch of 1,000 IDs each, 2,000 times,
	// each over its own IDs (so that none finds what another brought into
	// the cache); the medians hold on a machine shared with other work
	// (as BenchmarkLookupBatch's path=paired in package engine).
	const size, rounds = 1000, 2000
	out := make([]engine.Result, size)
	hits := make([]engine.Hit, 0, size)
	paths := []func(ids []string){
		func(ids []string) {
			for i, id := range ids {
				out[i] = snap.Lookup(id)
			}
		},
		func(ids []string) { snap.LookupBatch(ids, out) },
		func(ids []string) { snap.Screen(ids, hits[:0]) },
	}
	ns := make([][]float64, len(paths))
	at := 0
	for range rounds {
		for k, f := range paths {
			chunk := ids[at : at+size]
			if at += size; at+size > len(ids) {
				at = 0
			}
			t := time.Now()
			f(chunk)
			ns[k] = append(ns[k], float64(time.Since(t).Nanoseconds())/size)
		}
	}
	loop, batch, screen := median(ns[0]), median(ns[1]), median(ns[2])
	fmt.Printf("snapshot: %d people, opened (read, SHA-256, Ed25519, decode) in %.2f s\n", snap.Len(), opened.Seconds())
	fmt.Printf("lookup ns/ID over %d IDs (%s listed), medians of %d batches of %d: Lookup %.1f, LookupBatch %.1f, Screen %.1f\n",
		len(ids), listedShare(snap, ids), rounds, size, loop, batch, screen)
	return nil
}

// listedShare is the share of ids the snapshot lists.
func listedShare(s *engine.Snapshot, ids []string) string {
	n := 0
	for _, id := range ids {
		if s.Lookup(id).Status > engine.Green {
			n++
		}
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", 100*float64(n)/float64(len(ids))), "0"), ".") + "%"
}

func median(x []float64) float64 {
	sort.Float64s(x)
	return x[len(x)/2]
}
