package engine

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/bits"

	"github.com/dchest/siphash"
)

// Pseudonym is what a listed person is known by inside hcx: SipHash-2-4 of
// the 17 body digits of their ID (as ASCII) under a secret Key. Raw IDs are
// never stored; lookups pseudonymise the queried ID the same way.
type Pseudonym uint64

// KeySize is the size of a pseudonym key in bytes (128 bits).
const KeySize = 16

// Key is the secret SipHash key. The zero Key is valid but must never be used
// outside tests. Safe for concurrent use (it is a value).
type Key struct{ k0, k1 uint64 }

// Fingerprint identifies a key without revealing it; snapshots record it so
// that a server holding another key refuses them.
type Fingerprint [16]byte

func (f Fingerprint) String() string { return hex.EncodeToString(f[:]) }

// KeyFromBytes makes a Key from 16 bytes, split little-endian into the two
// 64-bit halves as the SipHash reference does.
func KeyFromBytes(b [KeySize]byte) Key {
	return Key{binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])}
}

// Bytes returns the key's 16 bytes (for storing it, mode 0600).
func (k Key) Bytes() [KeySize]byte {
	var b [KeySize]byte
	binary.LittleEndian.PutUint64(b[:8], k.k0)
	binary.LittleEndian.PutUint64(b[8:], k.k1)
	return b
}

// Fingerprint returns the first 16 bytes of SHA-256 over a domain label and
// the key.
func (k Key) Fingerprint() Fingerprint {
	b := k.Bytes()
	h := sha256.New()
	h.Write([]byte("hcx pseudonym key fingerprint v1\x00"))
	h.Write(b[:])
	var f Fingerprint
	copy(f[:], h.Sum(nil))
	return f
}

// Of returns the pseudonym of a valid ID.
func (k Key) Of(id ID) Pseudonym {
	var body [bodyLen]byte
	id.Body(&body)
	return k.hash(&body)
}

func (k Key) hash(body *[bodyLen]byte) Pseudonym {
	return Pseudonym(siphash.Hash(k.k0, k.k1, body[:]))
}

// Parse validates s with cal and returns its pseudonym, hashing the digits
// it has just read (no re-rendering). It does not allocate.
func (k Key) Parse(cal *Calendar, s string) (Pseudonym, error) {
	return pseudonymOf(k, cal, s)
}

// ParseBytes is Parse for a byte slice; b is not retained.
func (k Key) ParseBytes(cal *Calendar, b []byte) (Pseudonym, error) {
	return pseudonymOf(k, cal, b)
}

func pseudonymOf[T string | []byte](k Key, cal *Calendar, s T) (Pseudonym, error) {
	p, e := hashID(k, cal, s)
	if e != 0 {
		return 0, e
	}
	return Pseudonym(p), nil
}

// hashID is pseudonymOf returning the plain IDError, for the lookups: no
// error interface to build and assert on every one (BenchmarkLookup).
func hashID[T string | []byte](k Key, cal *Calendar, s T) (uint64, IDError) {
	b, e := validate(cal, s)
	if e != 0 {
		return 0, e
	}
	return sip17(k.k0, k.k1, b.m0, b.m1, b.last), 0
}

// sip17 is SipHash-2-4 specialised to a 17-byte message given as its two
// 8-byte words and last byte: fully inlined, no slice, no assembly call
// (BenchmarkPseudonym: about twice as fast as siphash.Hash here, and the
// same in js/wasm). TestSip17 pins it to github.com/dchest/siphash.
func sip17(k0, k1, m0, m1 uint64, last byte) uint64 {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	// Unrolled by hand: a loop over the three words kept them in memory.
	v3 ^= m0
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= m0
	v3 ^= m1
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= m1
	m2 := uint64(bodyLen)<<56 | uint64(last)
	v3 ^= m2
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= m2
	v2 ^= 0xff
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	return v0 ^ v1 ^ v2 ^ v3
}

// sip17x2 is two sip17 under one key computed side by side: the two
// dependency chains are interleaved in the instruction stream, so the
// processor runs one hash's rounds in the other's latency
// (BenchmarkSip17x2: 33 ns a pair against 39 for two sip17 calls, side by
// side on the idle machine; BenchmarkLookupBatch's screening 1-8% faster
// per ID). The key's initial state is computed once for both and the
// bodies are passed by pointer (bench/instructions.sh on
// BenchmarkScreeningHandler/text: 11 instructions an ID fewer than with
// two keys and the bodies by value). Its last four rounds are unrolled,
// as sip17's are (BenchmarkSip17x2/path=x2: 376 instructions a pair
// against 397 in a loop). TestSip17x2 pins it to sip17.
func sip17x2(k0, k1 uint64, a, b *idBody) (uint64, uint64) {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	w0, w1, w2, w3 := v0, v1, v2, v3
	v3 ^= a.m0
	w3 ^= b.m0
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	w0, w1, w2, w3 = sipRound(w0, w1, w2, w3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	w0, w1, w2, w3 = sipRound(w0, w1, w2, w3)
	v0 ^= a.m0
	w0 ^= b.m0
	v3 ^= a.m1
	w3 ^= b.m1
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	w0, w1, w2, w3 = sipRound(w0, w1, w2, w3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	w0, w1, w2, w3 = sipRound(w0, w1, w2, w3)
	v0 ^= a.m1
	w0 ^= b.m1
	am2, bm2 := uint64(bodyLen)<<56|uint64(a.last), uint64(bodyLen)<<56|uint64(b.last)
	v3 ^= am2
	w3 ^= bm2
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	w0, w1, w2, w3 = sipRound(w0, w1, w2, w3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	w0, w1, w2, w3 = sipRound(w0, w1, w2, w3)
	v0 ^= am2
	w0 ^= bm2
	v2 ^= 0xff
	w2 ^= 0xff
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	w0, w1, w2, w3 = sipRound(w0, w1, w2, w3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	w0, w1, w2, w3 = sipRound(w0, w1, w2, w3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	w0, w1, w2, w3 = sipRound(w0, w1, w2, w3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	w0, w1, w2, w3 = sipRound(w0, w1, w2, w3)
	return v0 ^ v1 ^ v2 ^ v3, w0 ^ w1 ^ w2 ^ w3
}

func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}

// sip17x8Scalar is sip17x8 without vectors: eight sip17 calls.
func sip17x8Scalar(k0, k1 uint64, m0, m1, last, out *[8]uint64) {
	for i := range out {
		out[i] = sip17(k0, k1, m0[i], m1[i], byte(last[i]))
	}
}
