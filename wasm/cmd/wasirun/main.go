//go:build !js && !wasip1

// Command wasirun runs a wasip1 module with wazero, the way `go test -exec`
// needs: the host's / mounted at /, the environment (so PWD) inherited,
// stdin, stdout and stderr passed through, the module's exit status as its
// own. It is how BENCHMARKS.md measures the engine under wazero:
//
//	go build -o /tmp/wasirun ./wasm/cmd/wasirun
//	GOOS=wasip1 GOARCH=wasm go test -exec /tmp/wasirun -run '^$' -bench EdgeCheck ./engine
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/yrd-hcx/hcx/wasm/wasmtest"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: wasirun MODULE.wasm [ARGS...]")
		os.Exit(2)
	}
	ctx := context.Background()
	mod, err := wasmtest.CompileWASI(ctx, os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "wasirun:", err)
		os.Exit(1)
	}
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	code, err := mod.Run(ctx, wasmtest.Run{Args: os.Args[2:], Mounts: map[string]string{"/": "/"}, Env: env,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	if err != nil {
		fmt.Fprintln(os.Stderr, "wasirun:", err)
		os.Exit(1)
	}
	os.Exit(code)
}
