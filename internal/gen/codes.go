package gen

import (
	_ "embed"
	"encoding/csv"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// addressCSV is the reference list of county-level address codes of every
// province, and the residence-permit codes of Hong Kong, Macao and Taiwan;
// README.md beside it says where it comes from. Embedded so that neither the
// binary nor the tests depend on a file outside the module.
//
//go:embed address_codes_cn.csv
var addressCSV string

// code is one address code: the six ASCII digits an ID starts with.
type code [6]byte

// addressCodes returns the embedded codes sorted, so that each province is one
// contiguous run (the generator picks residents and travellers by index
// ranges). Parsed once, on first use: most binaries never generate.
var addressCodes = sync.OnceValue(func() []code {
	codes, err := parseCodes(addressCSV)
	if err != nil {
		panic("gen: embedded address codes: " + err.Error()) // caught by TestAddressCodes
	}
	return codes
})

func parseCodes(s string) ([]code, error) {
	rows, err := csv.NewReader(strings.NewReader(s)).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) < 2 || !slices.Equal(rows[0], []string{"code", "province", "name"}) {
		return nil, fmt.Errorf("want header code,province,name and rows")
	}
	codes := make([]code, 0, len(rows)-1)
	for i, r := range rows[1:] {
		c := r[0]
		if len(c) != 6 || strings.Trim(c, "0123456789") != "" {
			return nil, fmt.Errorf("line %d: bad code %q", i+2, c)
		}
		codes = append(codes, code([]byte(c)))
	}
	slices.SortFunc(codes, func(a, b code) int { return strings.Compare(string(a[:]), string(b[:])) })
	for i := 1; i < len(codes); i++ {
		if codes[i] == codes[i-1] {
			return nil, fmt.Errorf("code %s twice", codes[i][:])
		}
	}
	return codes, nil
}

// provinceRange returns the index range [lo, hi) of the codes starting with
// the two-digit province prefix p.
func provinceRange(codes []code, p string) (lo, hi int) {
	lo, _ = slices.BinarySearchFunc(codes, p, func(c code, p string) int { return strings.Compare(string(c[:2]), p) })
	hi = lo
	for hi < len(codes) && string(codes[hi][:2]) == p {
		hi++
	}
	return lo, hi
}

// deltaCodes returns the Yangtze River Delta's codes (Shanghai, Jiangsu,
// Zhejiang, Anhui: prefixes 31 to 34, one contiguous run), the list a day of
// the default regions draws from.
func deltaCodes() []code {
	codes := addressCodes()
	lo, _ := provinceRange(codes, "31")
	_, hi := provinceRange(codes, "34")
	return codes[lo:hi]
}
