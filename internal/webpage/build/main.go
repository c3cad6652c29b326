// Command build writes the web verifier (webpage.Files) into the first
// directory named on its command line and copies it into the others; `make
// wasm` runs it.
//
//	go run ./internal/webpage/build dist/web server/webdist
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/yrd-hcx/hcx/internal/webpage"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(dirs []string) error {
	if len(dirs) == 0 {
		return fmt.Errorf("usage: go run ./internal/webpage/build DIR...")
	}
	if err := webpage.Build(context.Background(), dirs[0], webpage.Options{}); err != nil {
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
	return nil
}
