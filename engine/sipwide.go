//go:build !(goexperiment.simd && amd64)

package engine

// wideSip is false without the vector build (a build with
// GOEXPERIMENT=simd on amd64, as `make build` makes): the batch path
// hashes pairs with sip17x2. A variable so that the tests can run the
// other path too, through sip17x8's scalar form.
var wideSip = false

func sip17x8(k0, k1 uint64, m0, m1, last, out *[8]uint64) {
	sip17x8Scalar(k0, k1, m0, m1, last, out)
}
