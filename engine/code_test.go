package engine

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

var (
	codeIssued = time.Date(2026, 11, 27, 8, 0, 0, 0, CST)
	codeClaims = CodeClaims{ID: 11010519491231002, Colour: Green, Issued: codeIssued, Expires: codeIssued.Add(24 * time.Hour)}
)

// goldenCode is the code sh's test issuer gives codeClaims. Ed25519
// signatures are deterministic, so this text is fixed for ever. An
// independent reader written from the contract alone (Python: its own
// Base45 decoder, struct "<B8sQBII", the cryptography package's Ed25519)
// reads it as 11010519491231002X, green, issued 2026-11-27 08:00 CST,
// expiring a day later, signed by kid 4b735ac174e40636.
const goldenCode = "HCX1:G70AQEOKO9$SZ$6IW7::AO 3000K40+21X8GCE1Z4V8A9::PGO1SRI+PH/N1XQ63GE05KK/F-Q9F+5%WM HBRBH9/OR*JC.7Y.L8-JR8A*J9C:6DYU:636MASY219C01I0+MX$I"

func issue(t testing.TB, key ed25519.PrivateKey, c CodeClaims) []byte {
	t.Helper()
	code, err := IssueCode(nil, key, c)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// TestCodeGolden pins the code text for fixed claims, key and times.
func TestCodeGolden(t *testing.T) {
	code := issue(t, shIssuer, codeClaims)
	if string(code) != goldenCode {
		t.Fatalf("code changed:\n%s\nwant\n%s", code, goldenCode)
	}
	if len(code) != CodeTextLen || CodeTextLen != 140 {
		t.Fatalf("%d characters", len(code))
	}
	// The layout, read back by hand.
	raw, err := Base45Decode(nil, code[len(CodePrefix):])
	if err != nil || len(raw) != CodeSize {
		t.Fatalf("%d bytes, %v", len(raw), err)
	}
	le := binary.LittleEndian
	kid := KidOf(pubOf(shIssuer))
	if raw[0] != 1 || !bytes.Equal(raw[1:9], kid[:]) || le.Uint64(raw[9:]) != 11010519491231002 || raw[17] != 0 ||
		le.Uint32(raw[18:]) != uint32(codeIssued.Unix()) || le.Uint32(raw[22:]) != uint32(codeIssued.Unix()+86400) {
		t.Fatalf("payload %x", raw[:CodePayloadSize])
	}
	if !ed25519.Verify(pubOf(shIssuer), append([]byte("hcx code v1\x00"), raw[:CodePayloadSize]...), raw[CodePayloadSize:]) {
		t.Fatal("the signature is not over the label and payload")
	}
	r := VerifyCode(code, testTrust(t), codeIssued.Add(time.Hour))
	if !r.Valid || r.Reason != ReasonNone || r.Region != "sh" || r.Kid != kid || r.ID.String() != "11010519491231002X" ||
		r.Colour != Green || !r.Issued.Equal(codeIssued) || !r.Expires.Equal(codeIssued.Add(24*time.Hour)) {
		t.Fatalf("%+v", r)
	}
}

// TestCodeRoundTrip: random claims come back as issued, to the second.
func TestCodeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	trust := testTrust(t)
	for range 300 {
		id := mustParse(t, randomID(rng))
		issued := time.Unix(int64(rng.Uint32N(1<<31)), int64(rng.Uint32N(1e9)))
		c := CodeClaims{ID: id, Colour: Green + Status(rng.IntN(3)), Issued: issued, Expires: issued.Add(time.Duration(1+rng.IntN(7*86400)) * time.Second)}
		key := []ed25519.PrivateKey{shIssuer, jsIssuer}[rng.IntN(2)]
		code := issue(t, key, c)
		r := VerifyCode(code, trust, issued)
		if !r.Valid || r.ID != id || r.Colour != c.Colour || r.Issued.Unix() != issued.Unix() || r.Expires.Unix() != c.Expires.Unix() || r.Kid != KidOf(pubOf(key)) {
			t.Fatalf("%+v from %+v", r, c)
		}
		// A line end from a scanner, or spaces, around the text are fine.
		if r := VerifyCode(append(append([]byte(" \t"), code...), "\r\n"...), trust, issued); !r.Valid {
			t.Fatalf("with a line end: %v", r.Reason)
		}
	}
}

// signedText builds a code from a payload the test controls, signed by
// key: how a hostile or broken issuer would.
func signedText(key ed25519.PrivateKey, p [CodePayloadSize]byte) []byte {
	msg := append([]byte(CodeSignatureLabel), p[:]...)
	raw := append(p[:], ed25519.Sign(key, msg)...)
	return Base45Encode([]byte(CodePrefix), raw)
}

// payloadOf decodes a code's payload (the test's own reading).
func payloadOf(t *testing.T, code []byte) (p [CodePayloadSize]byte, sig []byte) {
	t.Helper()
	raw, err := Base45Decode(nil, code[len(CodePrefix):])
	if err != nil {
		t.Fatal(err)
	}
	copy(p[:], raw)
	return p, raw[CodePayloadSize:]
}

// TestCodeRefusals: every reason a code is refused, from a table.
func TestCodeRefusals(t *testing.T) {
	trust := testTrust(t)
	now := codeIssued.Add(time.Hour)
	golden := []byte(goldenCode)
	p, sig := payloadOf(t, golden)
	// altered re-encodes the golden payload with one change and its
	// original signature.
	altered := func(f func(p *[CodePayloadSize]byte)) []byte {
		q := p
		f(&q)
		return Base45Encode([]byte(CodePrefix), append(q[:], sig...))
	}
	// resigned changes the payload and signs it with sh's key: the format
	// checks must catch it, not the signature.
	resigned := func(f func(p *[CodePayloadSize]byte)) []byte {
		q := p
		f(&q)
		return signedText(shIssuer, q)
	}
	le := binary.LittleEndian
	for _, c := range []struct {
		name string
		code []byte
		now  time.Time
		want CodeReason
	}{
		{"valid", golden, now, ReasonNone},
		{"altered colour (green to red)", altered(func(p *[26]byte) { p[17] = 2 }), now, ReasonSignature},
		{"altered ID", altered(func(p *[26]byte) { le.PutUint64(p[9:], 11010519491231003) }), now, ReasonSignature},
		{"altered expiry", altered(func(p *[26]byte) { le.PutUint32(p[22:], le.Uint32(p[22:])+86400) }), now, ReasonSignature},
		{"forged signature under sh's kid", func() []byte {
			return Base45Encode([]byte(CodePrefix), append(p[:], ed25519.Sign(otherIssuer, append([]byte(CodeSignatureLabel), p[:]...))...))
		}(), now, ReasonSignature},
		{"signature bit flipped", func() []byte {
			q := bytes.Clone(sig)
			q[10] ^= 1
			return Base45Encode([]byte(CodePrefix), append(p[:], q...))
		}(), now, ReasonSignature},
		{"unknown kid", issue(t, otherIssuer, codeClaims), now, ReasonUnknownIssuer},
		{"revoked kid", issue(t, zjIssuer, codeClaims), now, ReasonRevokedIssuer},
		{"expired: at the expiry second", golden, codeClaims.Expires, ReasonExpired},
		{"a second before expiry", golden, codeClaims.Expires.Add(-time.Second), ReasonNone},
		{"not yet valid: issued beyond the skew", golden, codeIssued.Add(-CodeClockSkew - time.Second), ReasonNotYetValid},
		{"issued within the skew", golden, codeIssued.Add(-CodeClockSkew), ReasonNone},
		{"bad Base45: lowercase", []byte(strings.Replace(goldenCode, "B", "b", 1)), now, ReasonFormat},
		{"bad Base45: a group over 65535", append([]byte(goldenCode[:len(goldenCode)-3]), "GGW"...), now, ReasonFormat},
		{"bad Base45: a character outside the set", []byte(strings.Replace(goldenCode, "Q", "#", 1)), now, ReasonFormat},
		{"wrong length: three characters short", golden[:len(golden)-3], now, ReasonFormat},
		{"wrong length: three characters over", append(bytes.Clone(golden), "000"...), now, ReasonFormat},
		{"wrong length: one character short", golden[:len(golden)-1], now, ReasonFormat},
		{"wrong prefix", []byte("HCX2:" + goldenCode[5:]), now, ReasonFormat},
		{"lowercase prefix", []byte("hcx1:" + goldenCode[5:]), now, ReasonFormat},
		{"no prefix", []byte(goldenCode[5:]), now, ReasonFormat},
		{"empty", nil, now, ReasonFormat},
		{"an ID", []byte("11010519491231002X"), now, ReasonFormat},
		{"version 2, signed", resigned(func(p *[26]byte) { p[0] = 2 }), now, ReasonFormat},
		{"colour 3, signed", resigned(func(p *[26]byte) { p[17] = 3 }), now, ReasonFormat},
		{"ID of 18 digits, signed", resigned(func(p *[26]byte) { le.PutUint64(p[9:], 1e17) }), now, ReasonFormat},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := VerifyCode(c.code, trust, c.now)
			if r.Reason != c.want || r.Valid != (c.want == ReasonNone) {
				t.Fatalf("%v (valid %v), want %v", r.Reason, r.Valid, c.want)
			}
			if c.want >= ReasonRevokedIssuer && r.Region == "" || c.want <= ReasonUnknownIssuer && r.Region != "" {
				t.Fatalf("region %q with %v", r.Region, r.Reason)
			}
		})
	}
	if r := VerifyCode(golden, nil, now); r.Reason != ReasonUnknownIssuer {
		t.Fatalf("nil trust list: %v", r.Reason)
	}
	if r := (CodeResult{}); r.Valid || r.Reason.String() != "format" {
		t.Fatal("a zero CodeResult must read as refused")
	}
}

func TestCodeReasonNames(t *testing.T) {
	want := []string{"format", "unknown_issuer", "revoked_issuer", "signature", "not_yet_valid", "expired", "none"}
	for i, w := range want {
		if got := CodeReason(i).String(); got != w {
			t.Errorf("%d: %q, want %q", i, got, w)
		}
	}
	if CodeReason(200).String() != "format" {
		t.Error("out of range")
	}
}

func TestIssueCodeErrors(t *testing.T) {
	for name, c := range map[string]CodeClaims{
		"colour invalid":  {ID: codeClaims.ID, Colour: Invalid, Issued: codeIssued, Expires: codeClaims.Expires},
		"colour 4":        {ID: codeClaims.ID, Colour: 4, Issued: codeIssued, Expires: codeClaims.Expires},
		"not an ID":       {ID: 1e17, Colour: Green, Issued: codeIssued, Expires: codeClaims.Expires},
		"before 1970":     {ID: codeClaims.ID, Colour: Green, Issued: time.Unix(-1, 0), Expires: codeClaims.Expires},
		"after 2106":      {ID: codeClaims.ID, Colour: Green, Issued: codeIssued, Expires: time.Unix(1<<32, 0)},
		"expires first":   {ID: codeClaims.ID, Colour: Green, Issued: codeIssued, Expires: codeIssued.Add(-time.Second)},
		"expires at once": {ID: codeClaims.ID, Colour: Green, Issued: codeIssued, Expires: codeIssued.Add(time.Millisecond)},
	} {
		if out, err := IssueCode([]byte("x"), shIssuer, c); !errors.Is(err, ErrCodeClaims) || string(out) != "x" {
			t.Errorf("%s: %v %q", name, err, out)
		}
	}
	if _, err := IssueCode(nil, shIssuer[:32], codeClaims); !errors.Is(err, ErrCodeClaims) {
		t.Errorf("short key: %v", err)
	}
}

// TestCodeLooksUp: a code's holder is looked up by ID in a snapshot and an
// edge filter, as the callers of VerifyCode do.
func TestCodeLooksUp(t *testing.T) {
	s := goldenSnapshot(t)
	r := VerifyCode([]byte(goldenCode), s.TrustList(), codeIssued.Add(time.Hour))
	if got, want := s.LookupID(r.ID), s.Lookup("11010519491231002X"); got != want || got.Status != Red {
		t.Fatalf("LookupID %+v, Lookup %+v", got, want)
	}
	if got := s.LookupID(mustParse(t, "310115198512120014")); got.Status != Green {
		t.Fatalf("absent: %+v", got)
	}
	f := openEdge(t, goldenEdge(t))
	at := edgeBuilt.Add(time.Hour)
	for _, id := range []string{"11010519491231002X", "440524188001010014", "310115198512120014"} {
		if got, want := f.CheckIDAt(mustParse(t, id), at), f.CheckAt(id, at); got != want {
			t.Fatalf("%s: CheckIDAt %+v, CheckAt %+v", id, got, want)
		}
	}
}

// FuzzVerifyCode: any text is answered without a panic; a valid code is
// exactly what IssueCode writes for its claims (Base45 and Ed25519 are
// both deterministic), so nothing but the canonical text passes.
func FuzzVerifyCode(f *testing.F) {
	f.Add([]byte(goldenCode))
	f.Add([]byte(goldenCode[:len(goldenCode)-1]))
	f.Add([]byte("HCX1:"))
	f.Add([]byte("HCX1:GGW"))
	f.Add(issue(f, jsIssuer, codeClaims)) // unknown to this trust list
	expired := codeClaims
	expired.Issued, expired.Expires = codeIssued.Add(-48*time.Hour), codeIssued.Add(-24*time.Hour)
	f.Add(issue(f, shIssuer, expired))
	f.Add([]byte(strings.Replace(goldenCode, "G7", "G8", 1))) // one character changed
	trust, err := NewTrustList(TrustedIssuer{Region: "sh", PublicKey: pubOf(shIssuer), Status: IssuerActive, Added: trustAdded})
	if err != nil {
		f.Fatal(err)
	}
	now := codeIssued.Add(time.Hour)
	f.Fuzz(func(t *testing.T, text []byte) {
		r := VerifyCode(text, trust, now)
		if r.Valid != (r.Reason == ReasonNone) {
			t.Fatalf("valid %v with %v", r.Valid, r.Reason)
		}
		if !r.Valid {
			return
		}
		again, err := IssueCode(nil, shIssuer, r.CodeClaims)
		if err != nil || !bytes.Equal(again, trimSpace(text)) {
			t.Fatalf("valid but not canonical: %q", text)
		}
	})
}
