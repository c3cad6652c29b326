package engine

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestEdgeBuildDistinct: a part built from hashes merged by person
// (BuildDistinct, how the loader builds it) is byte for byte the part Add
// and Build make of the same rows, repeats and people listed red and
// yellow included.
func TestEdgeBuildDistinct(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	salt := [EdgeSaltSize]byte{1, 2, 3}
	for _, n := range []int{0, 1, 100, 5000} {
		viaAdd, err := NewEdgeRegionBuilder("sh", edgeDay, salt, 1e-4)
		if err != nil {
			t.Fatal(err)
		}
		viaHash, _ := NewEdgeRegionBuilder("sh", edgeDay, salt, 1e-4)
		color := map[string]Status{} // the merged list: red wins
		for range 3 * n {
			id := fmt.Sprintf("%017dX", r.Uint64N(uint64(n)+1)*7919)
			c := []Status{Red, Yellow}[r.IntN(2)]
			if err := viaAdd.Add([]byte(id), c); err != nil {
				t.Fatal(err)
			}
			if color[id] != Red {
				color[id] = c
			}
		}
		var red, yellow []uint64
		for id, c := range color {
			h := viaHash.Hash((*[IDLen]byte)([]byte(id)))
			if c == Red {
				red = append(red, h)
			} else {
				yellow = append(yellow, h)
			}
		}
		got, _ := viaHash.BuildDistinct(edgeBuilt, 5, red, yellow).MarshalBinary()
		want, _ := viaAdd.Build(edgeBuilt, 5).MarshalBinary()
		if !bytes.Equal(got, want) {
			t.Fatalf("%d people: BuildDistinct's part differs from Build's (%d and %d bytes)", len(color), len(got), len(want))
		}
	}
}
