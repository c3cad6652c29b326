//go:build goexperiment.simd && amd64

package engine

import "simd/archsimd"

// hasAVX512: this processor runs 512-bit vectors, so the batch path hashes
// and tests the bloom filter with them (wide, in wide.go's terms).
var hasAVX512 = archsimd.X86.AVX512()

// wide chooses the batch path's vector forms; the tests clear it to run
// the scalar forms on the same machine.
var wide = hasAVX512

type vec = archsimd.Uint64x8

// sip17x8 is sip17 for eight bodies at once, under one key: m0, m1 and
// last hold lane i's two words and last byte, out receives its hash. The
// eight hashes cost about what one costs in scalar code
// (BenchmarkSip17x2, path=x8). TestSip17x8 pins it to sip17.
func sip17x8(k0, k1 uint64, m0, m1, last, out *[8]uint64) {
	if !hasAVX512 {
		sip17x8Scalar(k0, k1, m0, m1, last, out)
		return
	}
	v0 := archsimd.BroadcastUint64x8(k0 ^ 0x736f6d6570736575)
	v1 := archsimd.BroadcastUint64x8(k1 ^ 0x646f72616e646f6d)
	v2 := archsimd.BroadcastUint64x8(k0 ^ 0x6c7967656e657261)
	v3 := archsimd.BroadcastUint64x8(k1 ^ 0x7465646279746573)
	m2 := archsimd.LoadUint64x8(last).Or(archsimd.BroadcastUint64x8(bodyLen << 56))
	for _, m := range [3]vec{archsimd.LoadUint64x8(m0), archsimd.LoadUint64x8(m1), m2} {
		v3 = v3.Xor(m)
		v0, v1, v2, v3 = sipRoundVec(v0, v1, v2, v3)
		v0, v1, v2, v3 = sipRoundVec(v0, v1, v2, v3)
		v0 = v0.Xor(m)
	}
	v2 = v2.Xor(archsimd.BroadcastUint64x8(0xff))
	for range 4 {
		v0, v1, v2, v3 = sipRoundVec(v0, v1, v2, v3)
	}
	v0.Xor(v1).Xor(v2).Xor(v3).Store(out)
}

// sipRoundVec is sipRound in each lane.
func sipRoundVec(v0, v1, v2, v3 vec) (vec, vec, vec, vec) {
	v0 = v0.Add(v1)
	v1 = v1.RotateAllLeft(13).Xor(v0)
	v0 = v0.RotateAllLeft(32)
	v2 = v2.Add(v3)
	v3 = v3.RotateAllLeft(16).Xor(v2)
	v0 = v0.Add(v3)
	v3 = v3.RotateAllLeft(21).Xor(v0)
	v2 = v2.Add(v1)
	v1 = v1.RotateAllLeft(17).Xor(v2)
	v2 = v2.RotateAllLeft(32)
	return v0, v1, v2, v3
}

// probeShifts puts probe i's 9-bit position in the block, (g >> 9i) & 511,
// at the bottom of lane i; lane 7 repeats probe 0.
var probeShifts = [8]uint64{0, 9, 18, 27, 36, 45, 54, 0}

// bloomTestVec is bloomTest for k = 7 (maxBloomK) with the block as one
// vector: lane i takes probe i's word by a permute (which reads bits 6-8
// of the position) and rotates its bit to the bottom (a rotation reads
// bits 0-5), and the ID passes if every lane's bottom bit is set
// (BenchmarkBloomTest, path=vector). TestBloomTest7 pins it to bloomTest.
func bloomTestVec(words []uint64, at, p uint64) bool {
	if !hasAVX512 {
		return bloomTest(words, at, maxBloomK, p)
	}
	blk := archsimd.LoadUint64x8((*[blockWords]uint64)(words[at:]))
	pos := archsimd.BroadcastUint64x8(bloomMix(p)).ShiftRight(archsimd.LoadUint64x8(&probeShifts))
	one := archsimd.BroadcastUint64x8(1)
	return blk.Permute(pos.ShiftAllRight(6)).RotateRight(pos).And(one).Equal(one).ToBits() == 0xff
}
