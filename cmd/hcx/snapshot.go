package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/yrd-hcx/hcx/loader"
	"github.com/yrd-hcx/hcx/server"
)

// cmdSnapshot: `hcx snapshot export` puts the signed snapshot and a small
// manifest in a directory, for any static HTTP host (object store, CDN,
// nginx) to stand in for the publisher: replicas follow
// --replica-of https://host/path/snapshot.hcx and verify the signature
// themselves, so the host needs no trust.
func cmdSnapshot(_ context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "export" {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "-help") {
			fmt.Fprintln(e.stdout, "Usage: hcx snapshot export --data DIR --out DIR")
			return nil
		}
		return usagef("usage: hcx snapshot export --data DIR --out DIR")
	}
	fs := e.flags("snapshot export", "--data DIR --out DIR", "Write the current signed snapshot (snapshot.hcx) and manifest.json (version, etag, size, sha256) to a directory for a static host that replicas can follow")
	dir := fs.String("data", defaultData, "data directory")
	out := fs.String("out", "", "directory to write snapshot.hcx and manifest.json to")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		return usagef("snapshot export needs --out DIR")
	}
	st, err := loader.Open(*dir, nil)
	if err != nil {
		return err
	}
	snap, file, err := st.Current() // verified before it is published
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	sum := sha256.Sum256(file)
	info := snap.Info()
	manifest, _ := json.MarshalIndent(map[string]any{
		"version":        info.Version,
		"etag":           server.ETag(snap),
		"size":           len(file),
		"sha256":         hex.EncodeToString(sum[:]),
		"built":          info.Built.UTC().Format(time.RFC3339),
		"keyFingerprint": info.Key.String(),
		"file":           loader.SnapshotFile,
	}, "", "  ")
	// The file first, then the manifest that names it.
	if err := loader.WriteFileAtomic(filepath.Join(*out, loader.SnapshotFile), file, 0o644); err != nil {
		return err
	}
	if err := loader.WriteFileAtomic(filepath.Join(*out, "manifest.json"), append(manifest, '\n'), 0o644); err != nil {
		return err
	}
	e.log.Info("snapshot exported", "version", info.Version, "out", *out)
	return nil
}
