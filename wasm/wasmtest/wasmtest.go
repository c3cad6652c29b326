//go:build !js && !wasip1

// Package wasmtest builds hcx's WebAssembly modules on demand inside `go
// test` and runs wasip1 modules with wazero, for the tests and benchmarks of
// the edge verifier. Not for production code.
//
// # Usage
//
//	func TestMain(m *testing.M) { os.Exit(wasmtest.Main(m)) }
//	path := wasmtest.Build(t, "wasip1", "./wasm/wasi") // once per test binary
//	mod, err := wasmtest.CompileWASI(ctx, path)         // compiled once, run many times
//	code, err := mod.Run(ctx, wasmtest.Run{Dir: dir, Args: args, Stdin: in, Stdout: &out})
//
// # Concurrency
//
// Build and a WASI module's Run are safe for concurrent use.
//
// # Performance
//
// Building a module takes 10 to 30 s cold on the 2-core machine and about
// 2 s from the build cache; compiling it for wazero about 1 s (cached on
// disk in the temporary directory across test runs, keyed by the module's
// bytes and wazero's version).
package wasmtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/yrd-hcx/hcx/internal/webpage"
)

var (
	tmpOnce sync.Once
	tmpDir  string
	tmpErr  error
	builds  sync.Map // goos + " " + pkg -> *build
)

type build struct {
	once sync.Once
	path string
	err  error
}

// Main runs the tests and removes the modules built for them.
func Main(m *testing.M) int {
	code := m.Run()
	if tmpDir != "" {
		os.RemoveAll(tmpDir)
	}
	return code
}

// Root returns the module's root directory (where go.mod is).
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// GoTool returns the go command the tests run with.
func GoTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

// Build builds package pkg (relative to the module root, like "./wasm/js")
// for GOOS=goos GOARCH=wasm with make wasm's flags, once per test binary,
// and returns the module's path. A failure fails the test.
func Build(t testing.TB, goos, pkg string) string {
	t.Helper()
	path, err := BuildErr(goos, pkg)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// BuildErr is Build without a testing.TB.
func BuildErr(goos, pkg string) (string, error) {
	tmpOnce.Do(func() { tmpDir, tmpErr = os.MkdirTemp("", "hcx-wasmtest-") })
	if tmpErr != nil {
		return "", tmpErr
	}
	v, _ := builds.LoadOrStore(goos+" "+pkg, &build{})
	b := v.(*build)
	b.once.Do(func() {
		root, err := Root()
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(tmpDir, goos+"-"+strings.NewReplacer("/", "_", ".", "_").Replace(pkg)+".wasm")
		b.err = webpage.BuildModule(context.Background(), goos, pkg, b.path, webpage.Options{Go: GoTool(), Root: root})
	})
	return b.path, b.err
}

// WASI is a wasip1 module compiled for wazero, ready to run many times.
type WASI struct {
	rt  wazero.Runtime
	mod wazero.CompiledModule
}

var (
	cacheOnce sync.Once
	cache     wazero.CompilationCache
)

// CompileWASI compiles the module at path with a compilation cache kept
// in the temporary directory.
func CompileWASI(ctx context.Context, path string) (*WASI, error) {
	bin, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cacheOnce.Do(func() {
		c, err := wazero.NewCompilationCacheWithDir(filepath.Join(os.TempDir(), "hcx-wazero-cache"))
		if err != nil {
			c = wazero.NewCompilationCache()
		}
		cache = c
	})
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(cache))
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	mod, err := rt.CompileModule(ctx, bin)
	if err != nil {
		rt.Close(ctx)
		return nil, err
	}
	return &WASI{rt: rt, mod: mod}, nil
}

// Close frees the runtime.
func (w *WASI) Close(ctx context.Context) error { return w.rt.Close(ctx) }

// Run is one run of a WASI module.
type Run struct {
	Args []string // after the program name
	// Mounts maps guest paths to host directories ("/d" -> dir).
	Mounts map[string]string
	Env    map[string]string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// Run instantiates the module and runs it to its exit; it returns the exit
// code (0 when main returned) and any error other than a non-zero exit.
// The module sees the real clock (WithSysWalltime, WithSysNanotime: without
// them a guest sees a fake one).
func (w *WASI) Run(ctx context.Context, r Run) (int, error) {
	fsc := wazero.NewFSConfig()
	for guest, host := range r.Mounts {
		fsc = fsc.WithDirMount(host, guest)
	}
	cfg := wazero.NewModuleConfig().WithName("").
		WithArgs(append([]string{"hcx-wasi"}, r.Args...)...).
		WithFSConfig(fsc).
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().
		WithRandSource(cryptoRand{})
	for k, v := range r.Env {
		cfg = cfg.WithEnv(k, v)
	}
	if r.Stdin != nil {
		cfg = cfg.WithStdin(r.Stdin)
	}
	if r.Stdout != nil {
		cfg = cfg.WithStdout(r.Stdout)
	}
	if r.Stderr != nil {
		cfg = cfg.WithStderr(r.Stderr)
	}
	mod, err := w.rt.InstantiateModule(ctx, w.mod, cfg)
	if mod != nil {
		mod.Close(ctx)
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		return int(exit.ExitCode()), nil
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}

// RunLines runs the module with stdin and returns its stdout lines, its
// stderr and exit code.
func (w *WASI) RunLines(ctx context.Context, r Run) (lines []string, stderr string, code int, err error) {
	var out, errb bytes.Buffer
	r.Stdout, r.Stderr = &out, &errb
	code, err = w.Run(ctx, r)
	for _, l := range strings.Split(out.String(), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines, errb.String(), code, err
}

// cryptoRand gives the guest real randomness (wazero's default is a fixed
// seed).
type cryptoRand struct{}

func (cryptoRand) Read(p []byte) (int, error) { return rand.Read(p) }
