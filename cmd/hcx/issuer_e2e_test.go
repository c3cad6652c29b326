package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

var kidOnly = regexp.MustCompile(`^[0-9a-f]{16}\n$`)

// issuerkey DATADIR: the last command printed one kid alone on stdout, and
// DATADIR holds issuer-{kid}.key, mode 0600: the hex seed of an Ed25519 key
// whose kid (first 8 bytes of SHA-256 of the public key, computed here
// without hcx code) it is. No other file under DATADIR, nor the command's
// stderr, holds the seed or the private key, raw or in hex.
func cmdIssuerKey(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: issuerkey DATADIR")
	}
	out := ts.ReadFile("stdout")
	if !kidOnly.MatchString(out) {
		ts.Fatalf("stdout is not one kid alone: %q", out)
	}
	kid := strings.TrimSpace(out)
	dir := ts.MkAbs(args[0])
	keyFile := filepath.Join(dir, "issuer-"+kid+".key")
	info, err := os.Stat(keyFile)
	ts.Check(err)
	if info.Mode().Perm() != 0o600 {
		ts.Fatalf("%s has mode %#o, want 0600", keyFile, info.Mode().Perm())
	}
	seed, err := hex.DecodeString(strings.TrimSpace(ts.ReadFile(keyFile)))
	if err != nil || len(seed) != ed25519.SeedSize {
		ts.Fatalf("%s: not a hex Ed25519 seed", keyFile)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	sum := sha256.Sum256(priv[32:])
	if hex.EncodeToString(sum[:8]) != kid {
		ts.Fatalf("%s holds the key of kid %x, not %s", keyFile, sum[:8], kid)
	}
	secrets := [][]byte{seed, priv, []byte(hex.EncodeToString(seed)), []byte(strings.ToUpper(hex.EncodeToString(seed)))}
	if stderr := []byte(ts.ReadFile("stderr")); containsAny(stderr, secrets) {
		ts.Fatalf("the private key is in the log")
	}
	ts.Check(filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path == keyFile {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if containsAny(b, secrets) {
			ts.Fatalf("%s holds the private key of issuer %s", path, kid)
		}
		return nil
	}))
}

func containsAny(b []byte, subs [][]byte) bool {
	for _, s := range subs {
		if bytes.Contains(b, s) {
			return true
		}
	}
	return false
}
