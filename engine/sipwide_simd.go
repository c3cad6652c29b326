//go:build goexperiment.simd && amd64

package engine

import "simd/archsimd"

// wideSip: this processor has AVX-512, so sip17x8 runs as eight lanes of
// 64-bit vectors (one VPROLQ a rotation). The batch path hashes with it;
// without it the batch hashes pairs with sip17x2. A variable, not a
// constant, so that the tests run both paths on one machine.
var wideSip = archsimd.X86.AVX512()

type sipVec = archsimd.Uint64x8

// sip17x8 is sip17 for eight bodies at once, under one key: m0, m1 and
// last hold lane i's two words and last byte, out receives its hash. The eight hashes cost about what one costs in scalar
// code (BenchmarkSip17x8). TestSip17x8 pins it to sip17.
func sip17x8(k0, k1 uint64, m0, m1, last, out *[8]uint64) {
	if !wideSip {
		sip17x8Scalar(k0, k1, m0, m1, last, out)
		return
	}
	v0 := archsimd.BroadcastUint64x8(k0 ^ 0x736f6d6570736575)
	v1 := archsimd.BroadcastUint64x8(k1 ^ 0x646f72616e646f6d)
	v2 := archsimd.BroadcastUint64x8(k0 ^ 0x6c7967656e657261)
	v3 := archsimd.BroadcastUint64x8(k1 ^ 0x7465646279746573)
	m2 := archsimd.LoadUint64x8(last).Or(archsimd.BroadcastUint64x8(bodyLen << 56))
	for _, m := range [3]sipVec{archsimd.LoadUint64x8(m0), archsimd.LoadUint64x8(m1), m2} {
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
func sipRoundVec(v0, v1, v2, v3 sipVec) (sipVec, sipVec, sipVec, sipVec) {
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
