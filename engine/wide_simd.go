//go:build goexperiment.simd && amd64

package engine

import "simd/archsimd"

// hasAVX512: this processor runs 512-bit vectors, so the batch path
// checks, hashes and tests the bloom filter with them. The functions below
// test it first and fall back to their scalar forms without it.
var hasAVX512 = archsimd.X86.AVX512()

// wide chooses the batch path's vector forms; the tests clear it to run
// the scalar forms on the same machine.
var wide = hasAVX512

type vec = archsimd.Uint64x8

// sip17x8 is sip17 for eight bodies at once, under one key: m0, m1 and
// last hold lane i's two words and last byte, out receives its hash:
// eight hashes for the time of about three scalar ones (BenchmarkSip17x2,
// path=x8 against path=x2). TestSip17x8 pins it to sip17.
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

// validate8 is validate's accepting half for eight IDs of IDLen bytes: a,
// b, last and chk hold lane i's bytes 0-7 and 8-15 (load64) and bytes 16
// and 17. Bit i of the result is set if lane i's ID is valid by every
// test validate makes, lane by lane in vectors, in validate's arithmetic.
// A clear bit only means "not shown valid here": the batch asks validate
// itself for those IDs, which finds the error, or accepts what this test
// leaves to it (an ID dated after c's floor, a padded one). So a set bit
// must never be wrong, and TestValidate8 checks it against validate.
func validate8(c *Calendar, a, b, last, chk *[8]uint64) uint8 {
	if !hasAVX512 {
		return 0
	}
	bc := archsimd.BroadcastUint64x8
	zero, one := bc(0), bc(1)
	va, vb, lw, ck := archsimd.LoadUint64x8(a), archsimd.LoadUint64x8(b), archsimd.LoadUint64x8(last), archsimd.LoadUint64x8(chk)
	three, f46, c30, c46 := bc(0x3030303030303030), bc(0x4646464646464646), bc(0x30), bc(0x46)
	top := bc(0x8080808080808080)
	da, db := va.Sub(three), vb.Sub(three)
	// Digits: as validate's, with the check character apart (a digit, X or x).
	ok := da.Or(va.Add(f46)).Or(db).Or(vb.Add(f46)).Or(lw.Sub(c30)).Or(lw.Add(c46)).And(top).Equal(zero)
	isX := ck.Or(bc(0x20)).Equal(bc('x'))
	ckVal := bc(10).Merge(ck.Sub(c30), isX) // 0-9, or 10 for X
	ok = ok.And(ck.Sub(c30).LessEqual(bc(9)).Or(isX))
	// The date.
	lanes, ff := bc(0x00FF00FF00FF00FF), bc(0xff)
	dx := da.ShiftAllRight(48).Or(db.ShiftAllLeft(16))
	dl := dx.Mul(bc(10)).Add(dx.ShiftAllRight(8)).And(lanes)
	cent, yy, m, d := dl.And(ff), dl.ShiftAllRight(16).And(ff), dl.ShiftAllRight(32).And(ff), dl.ShiftAllRight(48)
	leap := cent.Merge(yy, yy.Equal(zero)).And(bc(3)).Sub(one).ShiftAllRight(63)
	days := bc(28).Add(bc(monthLengths).ShiftRight(m.ShiftAllLeft(1).Add(leap.ShiftAllLeft(5)).And(bc(63))).And(bc(3)))
	ok = ok.And(cent.Sub(bc(18)).Or(m.Sub(one)).Or(bc(12).Sub(m)).Or(d.Sub(one)).Or(days.Sub(d)).ShiftAllRight(63).Equal(zero))
	key := cent.ShiftAllLeft(24).Or(yy.ShiftAllLeft(16)).Or(m.ShiftAllLeft(8)).Or(d)
	ok = ok.And(key.LessEqual(bc(uint64(c.floor))))
	// The check character: the weighted sum (at most 900) by 11 as a
	// multiply and shift (exact below 1024), then checkChars' order:
	// remainder r is check value 12-r, less 11 for r of 0 and 1.
	sum := da.And(lanes).Mul(bc(wEven0)).ShiftAllRight(48).
		Add(da.ShiftAllRight(8).And(lanes).Mul(bc(wOdd0)).ShiftAllRight(48)).
		Add(db.And(lanes).Mul(bc(wEven1)).ShiftAllRight(48)).
		Add(db.ShiftAllRight(8).And(lanes).Mul(bc(wOdd1)).ShiftAllRight(48)).
		Add(lw.Sub(c30).ShiftAllLeft(1))
	r := sum.Sub(sum.Mul(bc(2979)).ShiftAllRight(15).Mul(bc(11)))
	want := bc(12).Sub(r).Sub(bc(11).Masked(r.LessEqual(one)))
	return ok.And(want.Equal(ckVal)).ToBits()
}
