package engine

import "math/bits"

// Batch lookups: a train's manifest or a building's visitor list answered
// in one call. A lookup of an unlisted ID is mostly one cache miss into the
// bloom filter after some 50 ns of validation and hashing; one at a time,
// the processor can only overlap the miss with the next ID's arithmetic
// (its reorder window holds about one lookup's instructions). The batch
// path works in groups instead: it validates and hashes a whole group
// first, then touches every bloom block of the group in a tight loop of
// independent loads (one or two instructions an ID, so a group's misses
// are all in flight together, as a software prefetch would have them),
// and only then tests the blocks, which are in L1 by now. Where the build
// and processor have AVX-512 vectors (wide_simd.go) a group is also
// validated, hashed and tested eight IDs at a time.
// BenchmarkLookupBatch measures it against the per-ID loop on the same IDs.

// batchGroup is how many IDs are hashed before their blocks are touched:
// enough to keep the processor's outstanding misses busy, small enough
// that the group's blocks (64 bytes each) stay in L1 until they are tested
// and that the scratch arrays live on the stack. BenchmarkLookupBatch
// (path=paired) showed no difference between groups of 32 and 256, nor
// from also touching the radix table and first key of each candidate for
// the exact index (the 2% of a gate's IDs that pass the bloom filter).
const batchGroup = 32

// BatchVectors reports whether this build, on this processor, runs the
// batch lookups in AVX-512 vectors (wide_simd.go) rather than in scalar
// code: the answers are the same, the time an ID 0.53-0.69x the scalar
// code's (BENCHMARKS.md, "The batch path in vectors").
func BatchVectors() bool { return wide }

// A group's IDs are bits of a uint32 in batch: this fails to compile if
// batchGroup outgrows it.
const _ = uint32(1) << (batchGroup - 1)

// Hit is one answer of a screening batch that is not green: the ID's
// 0-based position in the batch and its Result (Status Red, Yellow or
// Invalid, with Err set).
type Hit struct {
	Index int
	Result
}

// LookupBatch answers ids into out[:len(ids)] and returns that slice; out
// must be at least as long as ids (it panics otherwise). out[i] is what
// Lookup(ids[i]) returns. It does not allocate.
func (s *Snapshot) LookupBatch(ids []string, out []Result) []Result {
	out = out[:len(ids)]
	batch(s, ids, out, nil)
	return out
}

// LookupBatchBytes is LookupBatch for byte slices (a request body's
// lines); the slices are not retained.
func (s *Snapshot) LookupBatchBytes(ids [][]byte, out []Result) []Result {
	out = out[:len(ids)]
	batch(s, ids, out, nil)
	return out
}

// Screen answers ids but keeps only those that are not green: it appends a
// Hit for each listed or invalid ID, in order, to dst and returns the
// extended slice. A green ID costs no Result at all, so a manifest of
// people nobody lists is screened at the price of the pseudonyms and the
// bloom probes. It does not allocate when dst has room for the hits
// (cap(dst)-len(dst) >= len(ids) always suffices).
func (s *Snapshot) Screen(ids []string, dst []Hit) []Hit {
	dst, _ = batch(s, ids, nil, dst)
	return dst
}

// ScreenBytes is Screen for byte slices; the slices are not retained.
func (s *Snapshot) ScreenBytes(ids [][]byte, dst []Hit) []Hit {
	dst, _ = batch(s, ids, nil, dst)
	return dst
}

var greenResult = Result{Status: Green, Since: NoDay}

// batch looks ids up a group at a time: into out[i] when out is not nil,
// otherwise appending the answers that are not green to hits, which it
// returns (passed by value, not by pointer: a pointer made the caller's
// slice escape, one allocation a screening). It also returns the sum of
// the touched words, only so that the compiler keeps the touching loads
// (an unused load is dead code to it; batch is far too large to be
// inlined, so the ignored result survives).
func batch[T string | []byte](s *Snapshot, ids []T, out []Result, hits []Hit) (_ []Hit, touched uint64) {
	var (
		ps     [batchGroup]uint64
		blocks [batchGroup]uint64  // ps[j]'s bloom block, its first word's index
		errs   [batchGroup]IDError // 0 for a valid ID
		// The IDs' words and last bytes, lane by lane, for the vectors.
		m0, m1, last, chk [batchGroup]uint64
	)
	words, m, k := s.bloomBits, s.bloomM, s.bloomK
	emit := func(i int, r Result) {
		if out != nil {
			out[i] = r
		} else if r.Status != Green {
			hits = append(hits, Hit{i, r})
		}
	}
	for base := 0; base < len(ids); base += batchGroup {
		group := ids[base:min(base+batchGroup, len(ids))]
		// Bit j of bad: group[j] is invalid; of look: it passed the bloom
		// filter (or there is none), so the exact index decides. Only
		// those bits are visited at the end, not every ID
		// (bench/instructions.sh on BenchmarkScreeningHandler/text: 738
		// instructions an ID before, 704 after).
		var bad, look uint32
		k0, k1 := s.key.k0, s.key.k1
		if wide {
			// Loaded into lanes, validated and hashed eight at a time
			// (engine/wide_simd.go). validate8 shows most valid IDs so;
			// validate decides the rest and finds their errors. Lanes past
			// a short group's end, or of an ID of another length, hold
			// what an earlier ID left there, and are ignored.
			var other uint32 // not IDLen bytes long
			for j, id := range group {
				if len(id) != IDLen {
					other |= 1 << j
					continue
				}
				m0[j], m1[j], last[j], chk[j] = load64(id[0:8]), load64(id[8:16]), uint64(id[16]), uint64(id[17])
			}
			var shown uint32
			for g := 0; g < len(group); g += 8 {
				shown |= uint32(validate8(s.cal, (*[8]uint64)(m0[g:]), (*[8]uint64)(m1[g:]), (*[8]uint64)(last[g:]), (*[8]uint64)(chk[g:]))) << g
			}
			for x := (1<<len(group) - 1) &^ (shown &^ other); x != 0; x &= x - 1 {
				j := bits.TrailingZeros32(x)
				b, e := validate(s.cal, group[j])
				errs[j], bad = e, bad|bit(e != 0, j)
				m0[j], m1[j], last[j] = b.m0, b.m1, uint64(b.last)
			}
			for g := 0; g < len(group); g += 8 {
				sip17x8(k0, k1, (*[8]uint64)(m0[g:]), (*[8]uint64)(m1[g:]), (*[8]uint64)(last[g:]), (*[8]uint64)(ps[g:]))
			}
		} else {
			// Validated and hashed two at a time (sip17x2), in one pass;
			// an invalid ID's zero body is hashed too, and ignored. The
			// touch keeps each block's index for the test
			// (bench/instructions.sh on BenchmarkScreeningHandler/text,
			// 200,000 IDs: 621 instructions an ID with a pass each and the
			// index computed twice, 603 now).
			for j := 0; j < len(group); j += 2 {
				if j+1 == len(group) {
					b, e := validate(s.cal, group[j])
					errs[j], bad = e, bad|bit(e != 0, j)
					ps[j] = sip17(k0, k1, b.m0, b.m1, b.last)
					break
				}
				a, ea := validate(s.cal, group[j])
				b, eb := validate(s.cal, group[j+1])
				errs[j], errs[j+1] = ea, eb
				bad |= bit(ea != 0, j) | bit(eb != 0, j+1)
				ps[j], ps[j+1] = sip17x2(k0, k1, &a, &b)
			}
		}
		if s.useBloom {
			// Touch each ID's block (an invalid ID's too: no branch): the
			// loads are independent and a few instructions apart, so
			// they miss in parallel.
			for j := range group {
				blocks[j] = bloomBlock(ps[j], m)
				touched += words[blocks[j]]
			}
			if wide && k == maxBloomK {
				for j := range group {
					look |= bit(bloomTestVec(words, blocks[j], ps[j]), j)
				}
			} else {
				for j := range group {
					look |= bit(bloomTest(words, blocks[j], k, ps[j]), j)
				}
			}
		} else {
			look = 1<<len(group) - 1
		}
		look &^= bad
		if out != nil {
			for j := range group {
				out[base+j] = greenResult
			}
		}
		for x := bad | look; x != 0; x &= x - 1 {
			j := bits.TrailingZeros32(x)
			if bad>>j&1 != 0 {
				emit(base+j, Result{Err: errs[j], Since: NoDay})
			} else if ord, ok := s.exact(ps[j]); ok {
				emit(base+j, s.at(ord))
			}
		}
	}
	return hits, touched
}

// bit is 1<<j if b, else 0, without a branch.
func bit(b bool, j int) uint32 {
	var u uint32
	if b {
		u = 1
	}
	return u << j
}
