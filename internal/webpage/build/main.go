// Command build writes the web verifier (webpage.Files) into the first
// directory named on its command line and copies it into the others; with
// -wasi FILE it also compiles the WASI module. `make wasm` runs it:
//
//	go run ./internal/webpage/build -wasi dist/hcx-wasi.wasm dist/web server/webdist
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/yrd-hcx/hcx/internal/webpage"
)

func main() {
	wasi := flag.String("wasi", "", "also compile ./wasm/wasi for wasip1 into this file")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: go run ./internal/webpage/build [-wasi FILE] DIR...")
		os.Exit(2)
	}
	if err := run(context.Background(), *wasi, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, wasi string, dirs []string) error {
	if err := webpage.Build(ctx, dirs[0], webpage.Options{}); err != nil {
		return err
	}
	for _, dir := range dirs[1:] {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		for _, f := range webpage.Files {
			b, err := os.ReadFile(filepath.Join(dirs[0], f.Name))
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, f.Name), b, 0o644); err != nil {
				return err
			}
		}
	}
	if wasi == "" {
		return nil
	}
	return webpage.BuildModule(ctx, "wasip1", "./wasm/wasi", wasi, webpage.Options{})
}
