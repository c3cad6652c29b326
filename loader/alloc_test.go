//go:build !race

package loader

import (
	"bytes"
	"fmt"
	"testing"
)

// Allocation counts under the race detector are not the program's (its
// instrumentation allocates), hence the build tag.

// Rows do not allocate: ten times the rows costs only a few more
// allocations (record chunks), not one per row.
func TestParseRowAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	allocs := func(n int) float64 {
		lines := []string{"id,color,since"}
		for i := range n {
			since := ""
			if i%2 == 0 {
				since = "2026-01-02"
			}
			lines = append(lines, fmt.Sprintf(`%s,"red",%s`, seqID(i), since))
			lines = append(lines, seqID(i)+",blue,") // invalid; after the first 100 not listed
		}
		data := []byte(rows(lines...))
		opts := testOptions()
		opts.MaxInvalid = 1 << 30
		return testing.AllocsPerRun(3, func() {
			if _, _, err := Parse(bytes.NewReader(data), opts); err != nil {
				t.Fatal(err)
			}
		})
	}
	small, large := allocs(2000), allocs(20000)
	if large-small > 20 {
		t.Errorf("%v allocations for 4000 rows, %v for 40000", small, large)
	}
}
