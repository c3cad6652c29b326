package webpage

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuild builds the verifier as `make wasm` and `hcx demo` do: every
// listed file is written, the module is WebAssembly, wasm_exec.js is the
// running toolchain's and the page is the committed one.
func TestBuild(t *testing.T) {
	out := filepath.Join(t.TempDir(), "web")
	if err := Build(context.Background(), out, Options{}); err != nil {
		t.Fatal(err)
	}
	root, err := Root(".")
	if err != nil {
		t.Fatal(err)
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range Files {
		got, err := os.ReadFile(filepath.Join(out, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		var want []byte
		switch f.From {
		case Page:
			want, err = os.ReadFile(filepath.Join(root, "wasm", "web", f.Name))
		case GoRoot:
			want, err = os.ReadFile(filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", f.Name))
		case Module:
			if !bytes.HasPrefix(got, []byte("\x00asm")) {
				t.Errorf("%s is not a WebAssembly module", f.Name)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from its source", f.Name)
		}
	}
	if ents, _ := os.ReadDir(out); len(ents) != len(Files) {
		t.Errorf("%d files written, want %d", len(ents), len(Files))
	}
}

// TestBuildErrors: no source tree, no go command, a failing compile: each
// an error, never a half-built page taken for a whole one.
func TestBuildErrors(t *testing.T) {
	foreign := t.TempDir()
	if err := os.WriteFile(filepath.Join(foreign, "go.mod"), []byte("module example.com/other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Root(foreign); !errors.Is(err, ErrNoSource) {
		t.Errorf("Root in another module: %v", err)
	}
	if _, err := Root(t.TempDir()); !errors.Is(err, ErrNoSource) {
		t.Errorf("Root outside any module: %v", err)
	}
	ctx := context.Background()
	if err := Build(ctx, t.TempDir(), Options{Go: filepath.Join(t.TempDir(), "no-go")}); err == nil {
		t.Error("Build with a missing go command succeeded")
	}
	root, err := Root(".")
	if err != nil {
		t.Fatal(err)
	}
	err = BuildModule(ctx, "js", "./no/such/package", filepath.Join(t.TempDir(), "x.wasm"), Options{Root: root})
	if err == nil || !strings.Contains(err.Error(), "no/such/package") {
		t.Errorf("BuildModule of a missing package: %v", err)
	}
}

func TestRootAndLookup(t *testing.T) {
	root, err := Root(".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "wasm", "web", Index)); err != nil {
		t.Fatal(err)
	}
	for _, f := range Files {
		if g, ok := Lookup(f.Name); !ok || g != f {
			t.Errorf("Lookup(%q) = %v, %v", f.Name, g, ok)
		}
	}
	if _, ok := Lookup(StaticConfig); ok {
		t.Errorf("%s is listed: the server would serve the static configuration", StaticConfig)
	}
	if modulePath([]byte("// c\nmodule \"github.com/yrd-hcx/hcx\"\n\ngo 1.26\n")) != ModulePath {
		t.Error("quoted module path not read")
	}
}
