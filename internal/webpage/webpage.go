// Package webpage is the one list of the web verifier's files and the one
// recipe that builds them from source. `make wasm` runs the recipe (through
// ./internal/webpage/build), the server's "/" serves the files it lists,
// `hcx edge export --web` copies them, and `hcx demo`, when its binary has no
// verifier embedded, builds them itself with the Go toolchain that ran it.
//
// # Usage
//
//	err := webpage.Build(ctx, "dist/web", webpage.Options{})
//	for _, f := range webpage.Files { ... f.Name, f.Type ... }
//
// # Concurrency
//
// Files is read-only. Build may run concurrently with itself only into
// different directories.
//
// # Performance
//
// Build costs one `go build` of ./wasm/js for js/wasm, which the Go build
// cache makes cheap after the first.
package webpage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Source says where a file of the page comes from.
type Source uint8

const (
	Page   Source = iota // committed in wasm/web
	Module               // compiled from ./wasm/js for GOOS=js GOARCH=wasm
	GoRoot               // the Go toolchain's lib/wasm/wasm_exec.js, which must match the compiler
)

// File is one file of the web verifier.
type File struct {
	Name string // as served and as written
	Type string // its Content-Type
	From Source
}

// Index is the page itself; the other files are what it loads.
const Index = "index.html"

// StaticConfig is the configuration a static copy of the page reads (the
// server writes the configuration into the page instead, so it is not in
// Files).
const StaticConfig = "config.json"

// Files is the web verifier, in the order the page needs them.
var Files = []File{
	{Index, "text/html; charset=utf-8", Page},
	{"app.js", "text/javascript; charset=utf-8", Page},
	{"wasm_exec.js", "text/javascript; charset=utf-8", GoRoot},
	{"hcx.wasm", "application/wasm", Module},
	{"hcx.d.ts", "text/plain; charset=utf-8", Page},
}

// Lookup returns the file named name.
func Lookup(name string) (File, bool) {
	for _, f := range Files {
		if f.Name == name {
			return f, true
		}
	}
	return File{}, false
}

// Package is the js/wasm main package, relative to the module root.
const Package = "./wasm/js"

// BuildFlags are the go build flags of the module: no symbol table, DWARF
// or version-control stamp (a page downloads every byte of it) and no local
// paths.
var BuildFlags = []string{"-ldflags=-s -w", "-trimpath", "-buildvcs=false"}

// ModulePath is the import path of the module whose source Build needs.
const ModulePath = "github.com/yrd-hcx/hcx"

// ErrNoSource is returned by Root when no hcx source tree holds the
// directory: a binary installed elsewhere cannot build its page.
var ErrNoSource = errors.New("webpage: not inside the hcx source tree")

// Options configures Build. The zero value builds from the source tree
// holding the working directory with the go command on PATH.
type Options struct {
	// Go is the go command; "": "go" on PATH (under `go run`, the toolchain
	// that ran the program: it puts its own bin directory first).
	Go string
	// Root is the module's source tree; "": found from the working
	// directory upwards (Root).
	Root string
}

// Root returns the hcx source tree holding dir: the nearest directory at or
// above it whose go.mod declares ModulePath.
func Root(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
			if modulePath(b) == ModulePath {
				return dir, nil
			}
			return "", ErrNoSource // another module: not ours, and no nesting to climb out of
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNoSource
		}
		dir = parent
	}
}

func modulePath(gomod []byte) string {
	for line := range bytes.Lines(gomod) {
		if rest, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("module ")); ok {
			return strings.Trim(string(bytes.TrimSpace(rest)), `"`)
		}
	}
	return ""
}

// Build writes every file in Files into out (created if missing): the page
// from the source tree, hcx.wasm compiled now, wasm_exec.js from the same
// toolchain's GOROOT. Errors carry the go command's output.
func Build(ctx context.Context, out string, o Options) error {
	o, err := o.resolve()
	if err != nil {
		return err
	}
	if out, err = filepath.Abs(out); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	goroot, err := goOutput(ctx, o, nil, "env", "GOROOT")
	if err != nil {
		return err
	}
	for _, f := range Files {
		dst := filepath.Join(out, f.Name)
		switch f.From {
		case Page:
			err = copyFile(filepath.Join(o.Root, "wasm", "web", f.Name), dst)
		case GoRoot:
			err = copyFile(filepath.Join(goroot, "lib", "wasm", f.Name), dst)
		case Module:
			err = BuildModule(ctx, "js", Package, dst, o)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// BuildModule compiles the main package pkg (relative to the module root)
// for GOOS=goos GOARCH=wasm with BuildFlags into the file out: the page's
// module, and for `make wasm` the WASI one (./wasm/wasi, goos wasip1).
func BuildModule(ctx context.Context, goos, pkg, out string, o Options) error {
	o, err := o.resolve()
	if err != nil {
		return err
	}
	if out, err = filepath.Abs(out); err != nil {
		return err
	}
	args := append(append([]string{"build"}, BuildFlags...), "-o", out, pkg)
	_, err = goOutput(ctx, o, []string{"GOOS=" + goos, "GOARCH=wasm"}, args...)
	return err
}

// resolve fills in the zero fields of o.
func (o Options) resolve() (Options, error) {
	if o.Go == "" {
		p, err := exec.LookPath("go")
		if err != nil {
			return o, fmt.Errorf("webpage: no go command to build the web verifier with: %w", err)
		}
		o.Go = p
	}
	if o.Root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return o, err
		}
		if o.Root, err = Root(wd); err != nil {
			return o, err
		}
	}
	return o, nil
}

// goOutput runs the go command in the source tree and returns its trimmed
// standard output.
func goOutput(ctx context.Context, o Options, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, o.Go, args...)
	cmd.Dir = o.Root
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("webpage: %s %s %s: %w\n%s", strings.Join(env, " "), o.Go, strings.Join(args, " "), err, stderr.Bytes())
	}
	return strings.TrimSpace(string(b)), nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}
