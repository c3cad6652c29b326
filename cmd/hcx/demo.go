package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/auth"
	"github.com/yrd-hcx/hcx/internal/gen"
	"github.com/yrd-hcx/hcx/internal/webpage"
	"github.com/yrd-hcx/hcx/loader"
	"github.com/yrd-hcx/hcx/server"
)

// edgeRole is the role of verifier devices that fetch the edge filter;
// the demo hands the page a token with it when this build knows the role.
const edgeRole = "edge"

// cmdDemo is the README's first command: one synthetic day, served, with a
// token, the web verifier's address and ready-to-paste calls printed.
func cmdDemo(ctx context.Context, e *env, args []string) error {
	fs := e.flags("demo", "[--listen ADDR] [--records N]", "Run hcx on a synthetic day: a temporary data directory, generated lists for every region, an issuer for every region, the HTTP API and the web verifier on 127.0.0.1:8080; prints a lookup token, example IDs, example health codes with their QR images, the page's address and curl calls. "+
		"A binary built without the web verifier (go run, go build) builds it first from the source tree, with the go command on PATH. Ctrl-C stops it and removes the directory")
	f := addServeFlags(fs)
	records := fs.Int("records", 200000, "records in the generated day")
	seed := fs.Uint64("seed", 1, "random seed of the generated day")
	if err := parse(fs, args); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "hcx-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// The verifier builds while the day is generated and ingested.
	web := startWebBuild(ctx, e, filepath.Join(tmp, "web"))
	defer web.wait() // before the directory it writes into is removed
	dir := filepath.Join(tmp, "data")
	cal := f.tz.calendar()
	st, err := loader.Init(dir, nil)
	if err != nil {
		return err
	}
	st.Calendar = cal
	tokens := map[string]string{}
	roles := []string{auth.Lookup, auth.Upload("sh")}
	if auth.ValidRole(edgeRole) {
		roles = append(roles, edgeRole)
	}
	for _, role := range roles {
		tok, err := auth.NewToken()
		if err != nil {
			return err
		}
		line, _ := auth.Line(tok, []string{role})
		if err := st.AddToken(line); err != nil {
			return err
		}
		tokens[role] = tok
	}
	today := cal.Today()
	bar := newProgress(e.stderr, int64(*records), "generating", false)
	paths, err := gen.Write(filepath.Join(tmp, "files"), gen.Options{Date: today, Records: *records, Seed: *seed}, func(n int) { bar.set(int64(n)) })
	bar.done()
	if err != nil {
		return err
	}
	codes, err := newDemoCodes(st, filepath.Join(tmp, "codes"), paths)
	if err != nil {
		return err
	}
	ups := make([]loader.Upload, len(paths))
	for i, p := range paths {
		file, err := os.Open(p)
		if err != nil {
			return err
		}
		defer file.Close()
		ups[i] = loader.Upload{Name: p, Body: file}
	}
	_, snap, err := st.Ingest(ups, loader.IngestOptions{})
	if err != nil {
		return err
	}
	red, yellow, err := exampleIDs(paths[0])
	if err != nil {
		return err
	}
	green := unlistedID(snap, red)
	if err := codes.issueAfter(st, red, green); err != nil {
		return err
	}
	// A synthetic day on loopback: the page at / may load the edge filter
	// without a device token (a deployment gives its verifiers role edge).
	f.cfg.PublicEdge = true
	webNote := web.wait()
	if web.files != nil {
		f.cfg.Web = web.files
	}
	return f.start(ctx, e, dir, func(addr string) {
		base := "http://" + addr
		tok := tokens[auth.Lookup]
		w := e.stdout
		fmt.Fprintf(w, "hcx demo: %d synthetic records for %s from %d regions, serving on %s\n", *records, today, len(paths), base)
		fmt.Fprintf(w, "data directory %s (removed when the demo stops; Ctrl-C)\n\n", dir)
		fmt.Fprintf(w, "lookup token:    %s\nupload token sh: %s\n\n", tok, tokens[auth.Upload("sh")])
		fmt.Fprintf(w, "example IDs: red %s, yellow %s, green %s\n\n", red, yellow, green)
		page, hint := base+"/#id="+red, "checks the red example on load"
		if t, ok := tokens[edgeRole]; ok {
			// The page keeps the device token and drops it from the address.
			page, hint = base+"/#token="+t, "add &id=ID to check one on load"
		}
		fmt.Fprintf(w, "web verifier: %s\n", page)
		fmt.Fprintf(w, "  (%s; it answers offline in the browser; %s)\n\n", webNote, hint)
		codes.print(w, base, "")
		auth := fmt.Sprintf("-H 'Authorization: Bearer %s'", tok)
		fmt.Fprintf(w, "Try:\n")
		fmt.Fprintf(w, "  printf '%s\\n' | curl -s %s --data-binary @- %s/v1/status   # an ID in a body stays out of proxies' logs\n", red, auth, base)
		fmt.Fprintf(w, "  printf '%s\\n%s\\n%s\\n' | curl -s %s --data-binary @- %s/v1/status\n", red, yellow, green, auth, base)
		fmt.Fprintf(w, "  printf '%s\\n%s\\n%s\\n' | curl -s %s --data-binary @- '%s/v1/status?only=listed'\n", green, red, yellow, auth, base)
		for _, id := range []string{red, yellow, green} {
			fmt.Fprintf(w, "  curl -s %s %s/v1/status/%s\n", auth, base, id)
		}
		fmt.Fprintf(w, "  curl -s %s %s/v1/regions/sh/status/%s\n", auth, base, red)
		fmt.Fprintf(w, "  curl -s %s %s/v1/snapshot\n", auth, base)
		codes.printCalls(w, base, tok, green)
		fmt.Fprintf(w, "  curl -s %s/metrics | grep ^hcx_\n", base)
	})
}

// webBuild is the demo's web verifier: the one embedded in this binary, or
// one being built from source into dir.
type webBuild struct {
	once sync.Once
	done chan error // nil: embedded
	dir  string
	note string
	log  *slog.Logger
	// files is the verifier built from source, for the server's Config.Web
	// (nil: the embedded one).
	files fs.FS
}

// startWebBuild starts building the web verifier unless the binary embeds
// one (make build does; go run and go build do not).
func startWebBuild(ctx context.Context, e *env, dir string) *webBuild {
	w := &webBuild{dir: dir, log: e.log}
	if server.HasWebVerifier() {
		w.note = "embedded in this binary"
		return w
	}
	e.log.Info("building the web verifier (this binary has none embedded)", "out", dir, "cmd", "GOOS=js GOARCH=wasm go build "+webpage.Package)
	w.done = make(chan error, 1)
	go func() { w.done <- webpage.Build(ctx, dir, webpage.Options{}) }()
	return w
}

// wait waits for the build and keeps its result in files; it says where the
// served verifier came from. Without a verifier the page at "/" says how to
// get one, and the API is served all the same.
func (w *webBuild) wait() string {
	w.once.Do(func() {
		if w.done == nil {
			return
		}
		if err := <-w.done; err != nil {
			w.log.Warn("the web verifier could not be built: the page at / says so; the API is served all the same", "err", err)
			w.note = "NOT AVAILABLE: " + strings.SplitN(err.Error(), "\n", 2)[0] + "; make build embeds it"
			return
		}
		w.files = os.DirFS(w.dir)
		w.note = "built from this source tree just now"
	})
	return w.note
}

// exampleIDs reads a generated file for its first red and yellow IDs.
func exampleIDs(path string) (red, yellow string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return "", "", err
	}
	sc := bufio.NewScanner(zr)
	for sc.Scan() && (red == "" || yellow == "") {
		id, rest, _ := strings.Cut(sc.Text(), ",")
		color, _, _ := strings.Cut(rest, ",")
		switch {
		case color == "red" && red == "":
			red = id
		case color == "yellow" && yellow == "":
			yellow = id
		}
	}
	if red == "" || yellow == "" {
		return "", "", fmt.Errorf("%s has no red or no yellow row", path)
	}
	return red, yellow, sc.Err()
}

// unlistedID derives a valid ID nobody lists from a listed one, by changing
// its sequence number.
func unlistedID(snap *engine.Snapshot, from string) string {
	for seq := 0; seq < 1000; seq++ {
		body := fmt.Sprintf("%s%03d", from[:14], seq)
		id := body + string(engine.CheckChar(body))
		if snap.Lookup(id).Status == engine.Green {
			return id
		}
	}
	return from
}
