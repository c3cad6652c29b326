//go:build !(goexperiment.simd && amd64)

package engine

// Without Go's vector package (a build with GOEXPERIMENT=simd on amd64, as
// `make build` makes) the batch path takes its scalar forms. wide and the
// functions below exist so that the tests can run the other path too: the
// same code, with the vector functions' scalar forms.
var wide = false

// hasAVX512 is false: no vectors in this build.
const hasAVX512 = false

// sip17x8 is eight sip17 calls here (wide_simd.go has the vector form).
func sip17x8(k0, k1 uint64, m0, m1, last, out *[8]uint64) {
	sip17x8Scalar(k0, k1, m0, m1, last, out)
}

// bloomTestVec is bloomTest for k = 7 here.
func bloomTestVec(words []uint64, at, p uint64) bool {
	return bloomTest(words, at, maxBloomK, p)
}

// validate8's scalar form shows no ID valid: the batch then asks validate
// for each.
func validate8(c *Calendar, a, b, last, chk *[8]uint64) uint8 { return 0 }
