package engine

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// TestBase45RFC9285: the examples of RFC 9285 section 4.
func TestBase45RFC9285(t *testing.T) {
	for _, c := range []struct{ plain, enc string }{
		{"AB", "BB8"},
		{"Hello!!", "%69 VD92EX0"},
		{"base-45", "UJCLQE7W581"},
		{"ietf!", "QED8WEX0"},
		{"", ""},
		{"\x00", "00"},
		{"\xff\xff", "FGW"},
	} {
		if got := string(Base45Encode(nil, []byte(c.plain))); got != c.enc {
			t.Errorf("encode %q: %q, want %q", c.plain, got, c.enc)
		}
		got, err := Base45Decode(nil, []byte(c.enc))
		if err != nil || string(got) != c.plain {
			t.Errorf("decode %q: %q %v, want %q", c.enc, got, err, c.plain)
		}
		if Base45EncodedLen(len(c.plain)) != len(c.enc) || Base45DecodedLen(len(c.enc)) != len(c.plain) {
			t.Errorf("%q: lengths", c.plain)
		}
	}
	// Appending keeps what dst held.
	if got := Base45Encode([]byte("x:"), []byte("AB")); string(got) != "x:BB8" {
		t.Errorf("append: %q", got)
	}
	if got, err := Base45Decode([]byte("x:"), []byte("BB8")); err != nil || string(got) != "x:AB" {
		t.Errorf("append decode: %q %v", got, err)
	}
}

// TestBase45Errors: each malformed input with the offset and reason.
func TestBase45Errors(t *testing.T) {
	for _, c := range []struct {
		in     string
		off    int
		reason string
	}{
		{"GGW", 0, "group value"},    // 16 + 16*45 + 32*2025 = 65536
		{"BB8GGW", 3, "group value"}, // the second group
		{"::", 0, "group value"},     // 44 + 44*45 > 255
		{"A", 0, "length"},
		{"BB8A", 3, "length"},
		{"bb8", 0, "character"}, // lowercase is not Base45
		{"B\x008", 1, "character"},
		{"BB#", 2, "character"},
		{"BB8B\xff", 4, "character"},
	} {
		got, err := Base45Decode([]byte("keep"), []byte(c.in))
		var be *Base45Error
		if !errors.Is(err, ErrBase45) || !errors.As(err, &be) || be.Offset != c.off || be.Reason != c.reason {
			t.Errorf("%q: %v, want %s at %d", c.in, err, c.reason, c.off)
		}
		if string(got) != "keep" {
			t.Errorf("%q: dst %q after an error", c.in, got)
		}
	}
}

// TestBase45RoundTrip: random bytes of every small length round-trip.
func TestBase45RoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(45, 45))
	for n := range 200 {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(r.Uint32())
		}
		enc := Base45Encode(nil, src)
		for _, c := range enc {
			if bytes.IndexByte([]byte(base45Alphabet), c) < 0 {
				t.Fatalf("%d bytes: %q outside the alphabet", n, c)
			}
		}
		dec, err := Base45Decode(nil, enc)
		if err != nil || !bytes.Equal(dec, src) {
			t.Fatalf("%d bytes: %v", n, err)
		}
	}
}
