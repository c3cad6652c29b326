package engine_test

import (
	"fmt"

	"github.com/yrd-hcx/hcx/engine"
)

func Example() {
	var key engine.Key // a real key is 16 random bytes from the data directory
	b, _ := engine.NewBuilder(engine.Options{Key: key})
	id, _ := engine.ParseID("11010519491231002X")
	since, _ := engine.ParseDay("2026-11-20")
	b.Add(3, key.Of(id), engine.Red, since) // Anhui lists them red
	b.Add(0, key.Of(id), engine.Yellow, engine.NoDay)
	snap := b.Build()

	for _, q := range []string{"11010519491231002x", "440524188001010014", "110105194912310021"} {
		r := snap.Lookup(q)
		if r.Status == engine.Invalid {
			fmt.Println(engine.Mask(q), r.Status, r.Err.Reason())
			continue
		}
		fmt.Println(engine.Mask(q), r.Status, r.Since, "ah:", r.Source(3), "sh:", r.Source(0))
	}
	// Output:
	// 1101**********002x red 2026-11-20 ah: red sh: yellow
	// 4405**********0014 green  ah: green sh: green
	// 1101**********0021 invalid check digit
}
