package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/webpage"
	"github.com/yrd-hcx/hcx/loader"
	"github.com/yrd-hcx/hcx/server"
	"github.com/yrd-hcx/hcx/wasm/verifier"
)

const edgeUsage = `usage: hcx edge export --data DIR --out FILE [--max-age 36h] [--web DIR]
       hcx edge check --pubkey HEX --filter FILE [ID...]`

// cmdEdge: the signed edge filter for offline verifiers (DESIGN section 6).
func cmdEdge(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "export":
			return cmdEdgeExport(ctx, e, args[1:])
		case "check":
			return cmdEdgeCheck(ctx, e, args[1:])
		case "--help", "-h", "-help":
			fmt.Fprintln(e.stdout, edgeUsage)
			return nil
		}
	}
	return usagef("%s", edgeUsage)
}

func cmdEdgeExport(_ context.Context, e *env, args []string) error {
	fs := e.flags("edge export", "--data DIR --out FILE [--max-age 36h] [--web DIR]",
		"Write the signed edge filter for the current snapshot: per region, bloom filters of the red and the yellow IDs under a public salt, "+
			"built when each list was ingested (the false-positive rate is the data directory's "+loader.EdgeFPRFile+" file, default 1e-4). "+
			"A region whose list has no filter part is listed as not covered. --web also writes a static copy of the web verifier with the filter and the pinned public key")
	dir := fs.String("data", defaultData, "data directory")
	out := fs.String("out", "", "file to write the filter to (- for stdout)")
	maxAge := fs.Duration("max-age", engine.DefaultEdgeMaxAge, "verifiers answer stale once the snapshot is older than this")
	web := fs.String("web", "", "also write the static web verifier with this filter to this directory")
	tz := zoneFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if (*out == "" && *web == "") || fs.NArg() > 0 {
		return usagef("edge export needs --out FILE (or --web DIR)")
	}
	st, err := loader.Open(*dir, tz.calendar())
	if err != nil {
		return err
	}
	if st.Signing == nil {
		return loader.ErrReadOnly
	}
	snap, _, err := st.Current()
	if err != nil {
		return err
	}
	ex, err := st.EdgeFilter(snap, *maxAge)
	if err != nil {
		return err
	}
	for _, u := range ex.Uncovered {
		e.log.Warn("region not covered by the edge filter", "region", u)
	}
	if *out == "-" {
		if _, err := e.stdout.Write(ex.File); err != nil {
			return err
		}
	} else if *out != "" {
		if err := loader.WriteFileAtomic(*out, ex.File, 0o644); err != nil {
			return err
		}
	}
	if *web != "" {
		if err := writeWeb(*web, st.PublicHex(), ex.File); err != nil {
			return err
		}
	}
	info := ex.Filter.Info()
	e.log.Info("edge filter written", "out", strings.TrimSpace(*out+" "+*web), "version", info.Version, "bytes", len(ex.File), "records", info.Records,
		"fpr", info.FPR, "stale_at", info.StaleAt.Format(time.RFC3339))
	return nil
}

// writeWeb writes the embedded web verifier as static files with the
// filter (edge.bin) and a config.json pinning the publisher's key.
func writeWeb(dir, pubHex string, filter []byte) error {
	files := server.WebFiles()
	if !server.HasWebVerifier() {
		return errors.New("this hcx was built without the web verifier (build it with make build)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range webpage.Files {
		b, err := fs.ReadFile(files, f.Name)
		if err != nil {
			return err
		}
		if err := loader.WriteFileAtomic(filepath.Join(dir, f.Name), b, 0o644); err != nil {
			return err
		}
	}
	cfg, _ := json.MarshalIndent(map[string]string{"publicKey": pubHex, "filter": "edge.bin"}, "", "  ")
	if err := loader.WriteFileAtomic(filepath.Join(dir, webpage.StaticConfig), append(cfg, '\n'), 0o644); err != nil {
		return err
	}
	return loader.WriteFileAtomic(filepath.Join(dir, "edge.bin"), filter, 0o644)
}

// cmdEdgeCheck is the native twin of the wasip1 verifier: the same
// answers, one JSON object a line.
func cmdEdgeCheck(_ context.Context, e *env, args []string) error {
	fs := e.flags("edge check", "--pubkey HEX --filter FILE [ID...]",
		"Answer IDs offline from a signed edge filter, as the WebAssembly verifiers do: IDs as arguments or one a line on stdin; one JSON object a line. Exit 1 if the filter does not verify")
	pubHex := fs.String("pubkey", "", "the publisher's public key (hex, as hcx init printed it)")
	path := fs.String("filter", "", "the signed edge filter file")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *pubHex == "" || *path == "" {
		return usagef("edge check needs --pubkey HEX and --filter FILE")
	}
	pub, err := verifier.ParsePublicKey(*pubHex)
	if err != nil {
		return usagef("%v", err)
	}
	file, err := os.ReadFile(*path)
	if err != nil {
		return err
	}
	f, err := engine.OpenEdge(file, engine.EdgeOpenOptions{PublicKey: pub})
	if err != nil {
		return fmt.Errorf("%s: %w", *path, err)
	}
	in := e.stdin
	if fs.NArg() > 0 {
		in = strings.NewReader(strings.Join(fs.Args(), "\n") + "\n")
	}
	return verifier.Stream(f, in, e.stdout)
}
