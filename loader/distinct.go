package loader

import (
	"math"
	"math/bits"

	"github.com/yrd-hcx/hcx/engine"
)

// distinct estimates how many distinct pseudonyms it was given: a
// HyperLogLog sketch (Flajolet et al. 2007) of 4096 one-byte registers,
// whose estimate is within about 1.6% (one standard error; 5% almost
// always). Pseudonyms are uniform and keyed by the secret key, so they are
// its hash, and nobody can choose rows that fool it. people uses it to tell
// a file of distinct people, which it never merges early, from one that
// repeats rows. 4 KiB, no allocation.
type distinct struct {
	reg [1 << distinctBits]uint8
	// The sum over the registers of 1 - 2^-reg, and how many are not
	// zero, kept as registers change (rarely, once warm), so that an
	// estimate costs no pass over them: people checks often on files that
	// repeat a few people.
	lost    float64
	nonzero int
}

const distinctBits = 12

func (d *distinct) add(p engine.Pseudonym) {
	i := uint64(p) >> (64 - distinctBits)
	// The rank of the remaining bits: 1 + their leading zeros, capped by a
	// guard bit.
	rank := uint8(bits.LeadingZeros64(uint64(p)<<distinctBits|1<<(distinctBits-1)) + 1)
	if old := d.reg[i]; rank > old {
		if old == 0 {
			d.nonzero++
		}
		d.lost += math.Ldexp(1, -int(old)) - math.Ldexp(1, -int(rank))
		d.reg[i] = rank
	}
}

// estimate returns the estimated count, with the small-range (linear
// counting) correction; no large-range one is needed for 64-bit hashes.
func (d *distinct) estimate() int {
	const m = float64(len(d.reg))
	sum, zeros := m-d.lost, len(d.reg)-d.nonzero
	e := 0.7213 / (1 + 1.079/m) * m * m / sum
	if e <= 2.5*m && zeros > 0 {
		e = m * math.Log(m/float64(zeros))
	}
	return int(e)
}
