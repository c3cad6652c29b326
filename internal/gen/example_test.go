package gen_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/internal/gen"
)

func ExampleWrite() {
	date, _ := engine.ParseDay("2026-11-26")
	dir, _ := os.MkdirTemp("", "gen-example")
	defer os.RemoveAll(dir)
	paths, err := gen.Write(dir, gen.Options{Date: date, Records: 1000, Seed: 1}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range paths {
		fmt.Println(filepath.Base(p))
	}
	// Output:
	// sh-2026-11-26.csv.gz
	// js-2026-11-26.csv.gz
	// zj-2026-11-26.csv.gz
	// ah-2026-11-26.csv.gz
}

// The rows are pinned: the same options give the same file on every platform
// and Go release.
func ExampleWriteRegion() {
	date, _ := engine.ParseDay("2026-11-26")
	opts := gen.Options{Date: date, Records: 8, Seed: 1, Regions: []string{"sh", "zj"}}
	if err := gen.WriteRegion(os.Stdout, 1, opts); err != nil {
		fmt.Println(err)
	}
	// Output:
	// id,color,since
	// 330106199712211799,yellow,2026-11-16
	// 341204200002103049,yellow,2026-11-18
	// 33090220250224101X,yellow,2026-11-17
	// 330411199208064846,yellow,2026-11-14
}
