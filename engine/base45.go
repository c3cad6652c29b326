package engine

import (
	"errors"
	"strconv"
)

// Base45 (RFC 9285) writes bytes in the 45 characters of a QR code's
// alphanumeric mode: two bytes become three characters (n = 256a + b, written
// as n%45, n/45%45, n/2025), a last odd byte two. A QR code stores those
// characters in 5.5 bits each, so Base45 fills a code more densely than
// Base64 does in byte mode: a health code's 90 bytes are 135 characters.
const base45Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

// base45Value maps a character to its value, 0xff for characters outside the
// alphabet.
var base45Value = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := range len(base45Alphabet) {
		t[base45Alphabet[i]] = byte(i)
	}
	return t
}()

// ErrBase45 is wrapped by every Base45 decoding error (a *Base45Error).
var ErrBase45 = errors.New("invalid Base45")

// Base45Error says where Base45 input went wrong.
type Base45Error struct {
	Offset int    // of the character (or group) in the input
	Reason string // "character", "group value" or "length"
}

func (e *Base45Error) Error() string {
	return "invalid Base45 at character " + strconv.Itoa(e.Offset) + ": " + e.Reason
}

func (e *Base45Error) Unwrap() error { return ErrBase45 }

// Base45EncodedLen is the length of the Base45 encoding of n bytes.
func Base45EncodedLen(n int) int { return n/2*3 + n%2*2 }

// Base45DecodedLen is the number of bytes n characters of valid Base45
// decode to (n%3 == 1 is never valid).
func Base45DecodedLen(n int) int { return n/3*2 + n%3/2 }

// Base45Encode appends the Base45 encoding of src to dst and returns the
// extended slice. It allocates only when dst lacks room.
func Base45Encode(dst, src []byte) []byte {
	for len(src) >= 2 {
		n := int(src[0])<<8 | int(src[1])
		dst = append(dst, base45Alphabet[n%45], base45Alphabet[n/45%45], base45Alphabet[n/2025])
		src = src[2:]
	}
	if len(src) == 1 {
		dst = append(dst, base45Alphabet[src[0]%45], base45Alphabet[src[0]/45])
	}
	return dst
}

// Base45Decode appends the bytes src encodes to dst and returns the
// extended slice, or a *Base45Error: a character outside the alphabet
// (lowercase included: RFC 9285 has none), a group worth more than its
// bytes can hold (three characters over 65535, a final pair over 255), or a
// length that leaves one character alone.
func Base45Decode(dst, src []byte) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, Base45DecodedLen(len(src)))...)
	n, f := base45Decode(dst[start:], src)
	if f.reason != "" {
		return dst[:start], &Base45Error{Offset: f.off, Reason: f.reason}
	}
	return dst[:start+n], nil
}

// base45Fault is a decoding failure without an allocation: the code
// verifier reports only that the text is malformed.
type base45Fault struct {
	off    int
	reason string // "" when none
}

// base45Decode decodes src into dst, which must hold
// Base45DecodedLen(len(src)) bytes, and returns the bytes written.
func base45Decode(dst, src []byte) (int, base45Fault) {
	if len(src)%3 == 1 {
		return 0, base45Fault{len(src) - 1, "length"}
	}
	n := 0
	for i := 0; i < len(src); i += 3 {
		a := base45Value[src[i]]
		b := base45Value[src[i+1]]
		if a == 0xff || b == 0xff {
			return 0, base45Fault{i + badAt(a == 0xff), "character"}
		}
		if i+2 == len(src) { // the final pair: one byte
			v := int(a) + int(b)*45
			if v > 0xff {
				return 0, base45Fault{i, "group value"}
			}
			dst[n] = byte(v)
			return n + 1, base45Fault{}
		}
		c := base45Value[src[i+2]]
		if c == 0xff {
			return 0, base45Fault{i + 2, "character"}
		}
		v := int(a) + int(b)*45 + int(c)*2025
		if v > 0xffff {
			return 0, base45Fault{i, "group value"}
		}
		dst[n], dst[n+1] = byte(v>>8), byte(v)
		n += 2
	}
	return n, base45Fault{}
}

// badAt is 0 when the first of a group's characters is the bad one, else 1.
func badAt(first bool) int {
	if first {
		return 0
	}
	return 1
}
