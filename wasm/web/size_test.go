//go:build !js && !wasip1

package web

import (
	"os"
	"os/exec"
	"testing"

	"github.com/yrd-hcx/hcx/wasm/wasmtest"
)

// moduleBudget is what the page's module may weigh on the wire, gzip -9
// (BENCHMARKS.md measures it the same way): a gate's phone downloads it
// before it can answer anything.
const moduleBudget = 950_000

// TestModuleBudget: hcx.wasm, built as make wasm builds it, fits the
// budget. It fails as soon as something pulls a large package into the
// module (fmt through an error type's Error method did: 86 KB).
func TestModuleBudget(t *testing.T) {
	path := wasmtest.Build(t, "js", "./wasm/js")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command("gzip", "-9", "-c")
	cmd.Stdin = f
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gzip -9: %v", err)
	}
	st, _ := f.Stat()
	t.Logf("hcx.wasm: %d bytes, %d gzipped (budget %d)", st.Size(), len(out), moduleBudget)
	if len(out) > moduleBudget {
		t.Fatalf("hcx.wasm is %d bytes gzipped, over its budget of %d", len(out), moduleBudget)
	}
}
