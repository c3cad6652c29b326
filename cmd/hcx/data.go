package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/answer"
	"github.com/yrd-hcx/hcx/internal/auth"
	"github.com/yrd-hcx/hcx/internal/gen"
	"github.com/yrd-hcx/hcx/loader"
)

const defaultData = "./hcx-data"

func cmdInit(_ context.Context, e *env, args []string) error {
	fs := e.flags("init", "--data DIR [--regions sh,js,zj,ah]", "Create a data directory: a pseudonym key, an Ed25519 signing key pair and an empty tokens file (secrets mode 0600), whole or not at all (DIR must not exist yet, or be empty). Refuses to overwrite one. Prints the publisher's public key (hex) alone on stdout")
	dir := fs.String("data", defaultData, "data directory to create")
	regions := fs.String("regions", strings.Join(engine.DefaultRegions, ","), "region names, in order (at most 64), or \"national\" for the 40 of a national deployment")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("init takes no arguments")
	}
	s, err := loader.Init(*dir, regionsFlag(*regions))
	if err != nil {
		return err
	}
	e.log.Info("data directory created", "dir", *dir, "regions", strings.Join(s.Regions, ","))
	fmt.Fprintln(e.stdout, s.PublicHex())
	return nil
}

// regionsFlag is a --regions flag: comma-separated names, or "national" for
// gen.NationalRegions.
func regionsFlag(s string) []string {
	if s == "national" {
		return gen.NationalRegions
	}
	return rolesList(s)
}

func cmdToken(_ context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "add" {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "-help") {
			fmt.Fprintln(e.stdout, "Usage: hcx token add --data DIR --role ROLE[,ROLE]")
			return nil
		}
		return usagef("usage: hcx token add --data DIR --role ROLE[,ROLE]")
	}
	fs := e.flags("token add", "--data DIR --role ROLE[,ROLE]", "Create a bearer token with roles "+auth.RoleNames+". Prints it once, alone on stdout; the tokens file keeps only its SHA-256")
	dir := fs.String("data", defaultData, "data directory")
	role := fs.String("role", "", "roles, comma-separated: "+auth.RoleNames)
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	roles := rolesList(*role)
	if len(roles) == 0 || fs.NArg() > 0 {
		return usagef("token add needs --role and no arguments")
	}
	s, err := loader.Open(*dir, nil)
	if err != nil {
		return err
	}
	for _, r := range roles {
		region, ok := strings.CutPrefix(r, auth.UploadPrefix)
		if !ok {
			region, ok = strings.CutPrefix(r, auth.IssuePrefix)
		}
		if ok && !slices.Contains(s.Regions, region) {
			return usagef("role %s: region %q is not in %s", r, region, strings.Join(s.Regions, ","))
		}
	}
	tok, err := auth.NewToken()
	if err != nil {
		return err
	}
	line, err := auth.Line(tok, roles)
	if err != nil {
		return usagef("%v", err)
	}
	if err := s.AddToken(line); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, tok)
	return nil
}

func cmdGen(_ context.Context, e *env, args []string) error {
	fs := e.flags("gen", "--out DIR --date D [--records N] [--seed S]", "Write realistic synthetic daily files {region}-{D}.csv.gz for every region, N records in all, deterministic for a seed")
	out := fs.String("out", "", "directory to write the files to")
	date := fs.String("date", "", "list date, YYYY-MM-DD")
	records := fs.Int("records", 100000, "records in all regions together")
	seed := fs.Uint64("seed", 1, "random seed")
	regions := fs.String("regions", strings.Join(engine.DefaultRegions, ","), "region names, or \"national\" for the 40 of a national deployment (IDs from every province)")
	if err := parse(fs, args); err != nil {
		return err
	}
	d, ok := engine.ParseDay(*date)
	if *out == "" || !ok || *records < 0 || fs.NArg() > 0 {
		return usagef("gen needs --out DIR and --date YYYY-MM-DD (and --records >= 0)")
	}
	bar := newProgress(e.stderr, int64(*records), "generating", false)
	paths, err := gen.Write(*out, gen.Options{Date: d, Records: *records, Seed: *seed, Regions: regionsFlag(*regions)},
		func(done int) { bar.set(int64(done)) })
	bar.done()
	if err != nil {
		return err
	}
	for _, p := range paths {
		fmt.Fprintln(e.stdout, p)
	}
	return nil
}

// ingestFlags are the flags validate and ingest share.
type ingestFlags struct {
	data        *string
	json        *bool
	maxInvalid  *int
	allowShrink *bool
	maxBytes    *int64
	tz          *zone
}

func addIngestFlags(fs *flagSet, dataDefault string) *ingestFlags {
	return &ingestFlags{
		data:        fs.String("data", dataDefault, "data directory"),
		json:        fs.Bool("json", false, "print the reports as JSON"),
		maxInvalid:  fs.Int("max-invalid", 0, "accept a file with up to N bad rows (reported)"),
		allowShrink: fs.Bool("allow-shrink", false, "accept a list that loses more than half of the region's current one"),
		maxBytes:    fs.Int64("max-bytes", 4<<30, "decompressed size limit per file"),
		tz:          zoneFlag(fs.FlagSet),
	}
}

func cmdValidate(ctx context.Context, e *env, args []string) error {
	fs := &flagSet{e.flags("validate", "[--data DIR] [--json] FILE...", "Dry run: validate daily files and print the report; changes nothing. Exit 1 if any file would be rejected. With --data, also checks replay and shrink against the data directory")}
	f := addIngestFlags(fs, "")
	return ingestFiles(ctx, e, fs, f, args, true)
}

func cmdIngest(ctx context.Context, e *env, args []string) error {
	fs := &flagSet{e.flags("ingest", "--data DIR [--json] FILE...", "Validate, pseudonymise and store daily files ({region}-{YYYY-MM-DD}.csv[.gz]), then rebuild and sign the snapshot. A rejected file leaves the region's current list live; exit 1")}
	f := addIngestFlags(fs, defaultData)
	return ingestFiles(ctx, e, fs, f, args, false)
}

// flagSet lets the shared flag helpers take either command's set.
type flagSet struct{ *flag.FlagSet }

func ingestFiles(_ context.Context, e *env, fs *flagSet, f *ingestFlags, args []string, dry bool) error {
	if err := parse(fs.FlagSet, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("no files given")
	}
	cal := f.tz.calendar()
	var s *loader.Store
	if *f.data != "" {
		var err error
		if s, err = loader.Open(*f.data, cal); err != nil {
			return err
		}
	} else {
		// No data directory: check the files alone, under a throwaway key.
		var k [engine.KeySize]byte
		rand.Read(k[:])
		s = &loader.Store{Key: engine.KeyFromBytes(k), Regions: engine.DefaultRegions, Calendar: cal}
	}
	ups := make([]loader.Upload, fs.NArg())
	for i, name := range fs.Args() {
		file, err := os.Open(name)
		if err != nil {
			return err
		}
		defer file.Close()
		ups[i] = loader.Upload{Name: name, Body: file}
	}
	var total int64
	for _, u := range ups {
		if fi, err := u.Body.(*os.File).Stat(); err == nil {
			total += fi.Size()
		}
	}
	bar := newProgress(e.stderr, total, "reading", true)
	var mu sync.Mutex
	var done int64
	read := map[string]int64{} // files are parsed in parallel
	start := time.Now()
	reports, snap, err := s.Ingest(ups, loader.IngestOptions{
		MaxInvalid: *f.maxInvalid, AllowShrink: *f.allowShrink, MaxBytes: *f.maxBytes, DryRun: dry,
		Progress: func(file string, n int64) {
			mu.Lock()
			defer mu.Unlock()
			done += n - read[file]
			read[file] = n
			bar.set(done)
		},
	})
	bar.done()
	var rej *loader.RejectError
	if err != nil && !errors.As(err, &rej) {
		return err // the store failed: nothing changed
	}
	if !slices.ContainsFunc(reports, func(r *loader.Report) bool { return r.Accepted }) {
		snap = nil // nothing landed: the snapshot was not rebuilt
	}
	if !dry && snap != nil {
		e.log.Info("snapshot rebuilt", "version", snap.Info().Version, "records", snap.Len(), "seconds", time.Since(start).Seconds())
	}
	if *f.json {
		out := struct {
			OK       bool             `json:"ok"`
			Files    []*loader.Report `json:"files"`
			Snapshot *snapshotSummary `json:"snapshot,omitempty"`
		}{OK: err == nil, Files: reports}
		if !dry && snap != nil {
			out.Snapshot = summarize(snap)
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if werr := enc.Encode(out); werr != nil {
			return werr
		}
	} else {
		for i, r := range reports {
			if i > 0 {
				fmt.Fprintln(e.stdout)
			}
			if werr := r.WriteText(e.stdout); werr != nil {
				return werr
			}
		}
		if !dry && snap != nil {
			sum := summarize(snap)
			fmt.Fprintf(e.stdout, "\nsnapshot:   version %d, %d people (red %d, yellow %d)\n", sum.Version, sum.Records, sum.Red, sum.Yellow)
		}
	}
	if err != nil {
		return errSilent
	}
	return nil
}

type snapshotSummary struct {
	Version uint64 `json:"version"`
	Records int    `json:"records"`
	Red     int    `json:"red"`
	Yellow  int    `json:"yellow"`
}

func summarize(s *engine.Snapshot) *snapshotSummary {
	_, red, yellow := s.Counts()
	return &snapshotSummary{Version: s.Info().Version, Records: s.Len(), Red: red, Yellow: yellow}
}

// offlineFlags are those of the commands that answer from the data
// directory's snapshot (hcx lookup, hcx code verify).
type offlineFlags struct {
	dir    *string
	maxAge *time.Duration
	tz     *zone
}

func addOfflineFlags(fs *flag.FlagSet) offlineFlags {
	return offlineFlags{
		dir:    fs.String("data", defaultData, "data directory"),
		maxAge: fs.Duration("max-age", answer.DefaultMaxAge, "a region whose newest list is older than this is reported stale"),
		tz:     zoneFlag(fs),
	}
}

// view opens the data directory's current snapshot and its answer view as
// of now.
func (o offlineFlags) view() (*engine.Snapshot, *answer.View, time.Time, error) {
	cal := o.tz.calendar()
	st, err := loader.Open(*o.dir, cal)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	snap, _, err := st.Current()
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	now := cal.Now()
	return snap, answer.NewView(snap, now, *o.maxAge, cal.Location()), now, nil
}

func cmdLookup(_ context.Context, e *env, args []string) error {
	fs := e.flags("lookup", "--data DIR [ID...]", "Answer IDs offline from the data directory's snapshot: IDs as arguments, or one a line on stdin; one JSON object a line, as the HTTP API answers")
	off := addOfflineFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	snap, v, _, err := off.view()
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(e.stdout, 64<<10)
	buf := make([]byte, 0, 512)
	err = eachInput(fs.Args(), e.stdin, "IDs", func(id []byte) {
		buf = answer.AppendJSON(buf[:0], v, id, snap.LookupBytes(id))
		buf = append(buf, '\n')
		w.Write(buf)
	})
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	return err
}

// eachInput calls fn with each argument or, with none, each non-blank line
// of stdin (CRLF accepted; a line longer than 4 KiB is passed cut to its
// first 4 KiB, which no ID or code is, so it is answered as invalid). What
// fn is given is valid only during the call. what names the inputs in a
// read error.
func eachInput(args []string, stdin io.Reader, what string, fn func([]byte)) error {
	if len(args) > 0 {
		for _, a := range args {
			fn([]byte(a))
		}
		return nil
	}
	r := bufio.NewReaderSize(stdin, 4096)
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			fn(line)
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.ReadSlice('\n')
			}
			line = nil
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte{'\n'}), []byte{'\r'})
		if len(bytes.TrimSpace(line)) > 0 {
			fn(line)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s from stdin: %w", what, err)
		}
	}
}
