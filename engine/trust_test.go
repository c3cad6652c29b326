package engine

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

// issuerKey is a deterministic issuer key pair for the tests.
func issuerKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func pubOf(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// The test issuers: sh and js active, zj revoked; other is in no list.
var (
	shIssuer    = issuerKey(0x51)
	jsIssuer    = issuerKey(0x52)
	zjIssuer    = issuerKey(0x53)
	otherIssuer = issuerKey(0x54)
	trustAdded  = time.Date(2026, 11, 1, 9, 0, 0, 0, CST)
)

// testTrust is the trust list of the golden files.
func testTrust(t testing.TB) *TrustList {
	t.Helper()
	tl, err := NewTrustList(
		TrustedIssuer{Region: "sh", PublicKey: pubOf(shIssuer), Status: IssuerActive, Added: trustAdded},
		TrustedIssuer{Region: "js", PublicKey: pubOf(jsIssuer), Status: IssuerActive, Added: trustAdded.Add(time.Hour)},
		TrustedIssuer{Region: "zj", PublicKey: pubOf(zjIssuer), Status: IssuerRevoked, Added: trustAdded.Add(2 * time.Hour)},
	)
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

// TestKid: the kid is the first 8 bytes of SHA-256 of the public key,
// pinned for the test key (Python's hashlib agrees).
func TestKid(t *testing.T) {
	pub := pubOf(shIssuer)
	if got := KidOf(pub).String(); got != "4b735ac174e40636" {
		t.Errorf("kid %s of %s", got, hex.EncodeToString(pub))
	}
	k, err := ParseKid("4B735AC174E40636")
	if err != nil || k != KidOf(pub) {
		t.Errorf("ParseKid: %v %v", k, err)
	}
	for _, bad := range []string{"", "4b735ac174e4063", "4b735ac174e40636a0", "4b735ac174e4063z"} {
		if _, err := ParseKid(bad); !errors.Is(err, ErrIssuer) {
			t.Errorf("ParseKid(%q): %v", bad, err)
		}
	}
}

func TestTrustList(t *testing.T) {
	tl := testTrust(t)
	if tl.Len() != 3 || tl.Issuers()[1].Region != "js" || tl.Issuers()[2].Status != IssuerRevoked {
		t.Fatalf("%+v", tl.Issuers())
	}
	for _, k := range []ed25519.PrivateKey{shIssuer, jsIssuer, zjIssuer} {
		if e, ok := tl.Find(KidOf(pubOf(k))); !ok || !e.PublicKey.Equal(pubOf(k)) {
			t.Fatalf("Find %s", KidOf(pubOf(k)))
		}
	}
	if _, ok := tl.Find(KidOf(pubOf(otherIssuer))); ok {
		t.Fatal("found a key not in the list")
	}
	var empty *TrustList
	if _, ok := empty.Find(Kid{}); ok || empty.Len() != 0 || empty.Issuers() != nil {
		t.Fatal("the nil list is empty")
	}

	added, err := tl.Add(TrustedIssuer{Region: "ah", PublicKey: pubOf(otherIssuer), Status: IssuerActive, Added: trustAdded})
	if err != nil || added.Len() != 4 || tl.Len() != 3 {
		t.Fatalf("Add: %v (the original list must not change)", err)
	}
	if _, err := added.Add(TrustedIssuer{Region: "sh", PublicKey: pubOf(zjIssuer), Status: IssuerActive, Added: trustAdded}); !errors.Is(err, ErrIssuerExists) {
		t.Fatalf("adding a revoked key again: %v", err)
	}
	revoked, err := added.Revoke(KidOf(pubOf(shIssuer)))
	if err != nil || revoked.Issuers()[0].Status != IssuerRevoked || added.Issuers()[0].Status != IssuerActive {
		t.Fatalf("Revoke: %v", err)
	}
	if _, err := revoked.Revoke(KidOf(pubOf(shIssuer))); !errors.Is(err, ErrIssuerRevoked) {
		t.Fatalf("revoking twice: %v", err)
	}
	if _, err := tl.Revoke(KidOf(pubOf(otherIssuer))); !errors.Is(err, ErrUnknownIssuer) {
		t.Fatalf("revoking an unknown key: %v", err)
	}
	if tl.Equal(added) || !tl.Equal(testTrust(t)) || !empty.Equal(&TrustList{}) {
		t.Fatal("Equal")
	}
}

func TestNewTrustListErrors(t *testing.T) {
	ok := TrustedIssuer{Region: "sh", PublicKey: pubOf(shIssuer), Status: IssuerActive, Added: trustAdded}
	for name, c := range map[string]func(e *TrustedIssuer){
		"region":       func(e *TrustedIssuer) { e.Region = "SH" },
		"no region":    func(e *TrustedIssuer) { e.Region = "" },
		"key size":     func(e *TrustedIssuer) { e.PublicKey = e.PublicKey[:31] },
		"wrong kid":    func(e *TrustedIssuer) { e.Kid = Kid{1} },
		"no status":    func(e *TrustedIssuer) { e.Status = 0 },
		"status 3":     func(e *TrustedIssuer) { e.Status = 3 },
		"no time":      func(e *TrustedIssuer) { e.Added = time.Time{} },
		"before 1970 ": func(e *TrustedIssuer) { e.Added = time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC) },
	} {
		e := ok
		c(&e)
		if _, err := NewTrustList(e); !errors.Is(err, ErrIssuer) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := NewTrustList(ok, ok); !errors.Is(err, ErrIssuerExists) {
		t.Errorf("twice: %v", err)
	}
	many := make([]TrustedIssuer, MaxTrustedIssuers+1)
	if _, err := NewTrustList(many...); !errors.Is(err, ErrIssuer) {
		t.Errorf("too many: %v", err)
	}
	// The list copies the keys it is given.
	key := bytes.Clone(pubOf(shIssuer))
	e := ok
	e.PublicKey = key
	tl, _ := NewTrustList(e)
	key[0] ^= 1
	if !tl.Issuers()[0].PublicKey.Equal(pubOf(shIssuer)) {
		t.Fatal("the list shares its caller's key bytes")
	}
}

// TestTrustListGolden pins the binary form (FORMAT.md "Trust list"); it is
// inside both formats' golden files too.
func TestTrustListGolden(t *testing.T) {
	b, err := testTrust(t).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := checkGolden(t, "trust.bin", b)
	if len(want) != 8+3*72 {
		t.Fatalf("%d bytes", len(want))
	}
	back, err := ParseTrustList(want)
	if err != nil || !back.Equal(testTrust(t)) {
		t.Fatalf("round trip: %v", err)
	}
	empty, _ := (*TrustList)(nil).MarshalBinary()
	if !bytes.Equal(empty, make([]byte, 8)) {
		t.Fatalf("empty list %x", empty)
	}
	if e, err := ParseTrustList(empty); err != nil || e.Len() != 0 {
		t.Fatalf("empty: %v", err)
	}
}

// TestTrustListBadData: each corrupt input gives a *FormatError wrapping
// ErrTrustList at the right offset.
func TestTrustListBadData(t *testing.T) {
	good, _ := testTrust(t).MarshalBinary()
	le := binary.LittleEndian
	mod := func(f func(b []byte)) []byte { b := bytes.Clone(good); f(b); return b }
	e1 := 8 + 72 // the second entry
	for _, c := range []struct {
		name string
		in   []byte
		off  int64
	}{
		{"empty", nil, 0},
		{"short header", good[:7], 0},
		{"count over the limit", mod(func(b []byte) { le.PutUint32(b, MaxTrustedIssuers+1) }), 0},
		{"count huge", mod(func(b []byte) { le.PutUint32(b, 1<<31) }), 0},
		{"count lies", mod(func(b []byte) { le.PutUint32(b, 2) }), 0},
		{"truncated", good[:len(good)-1], 0},
		{"extended", append(bytes.Clone(good), 0), 0},
		{"reserved header", mod(func(b []byte) { b[5] = 1 }), 4},
		{"region name", mod(func(b []byte) { b[e1] = 'J' }), int64(e1)},
		{"no region name", mod(func(b []byte) { clear(b[e1 : e1+16]) }), int64(e1)},
		{"NUL inside name", mod(func(b []byte) { b[e1+1], b[e1+2] = 0, 'x' }), int64(e1)},
		{"kid", mod(func(b []byte) { b[e1+16] ^= 1 }), int64(e1 + 16)},
		{"public key", mod(func(b []byte) { b[e1+30] ^= 1 }), int64(e1 + 16)},
		{"no time added", mod(func(b []byte) { le.PutUint64(b[e1+56:], 0) }), int64(e1 + 56)},
		{"negative time", mod(func(b []byte) { le.PutUint64(b[e1+56:], 1<<63) }), int64(e1 + 56)},
		{"status 0", mod(func(b []byte) { b[e1+64] = 0 }), int64(e1 + 64)},
		{"status 3", mod(func(b []byte) { b[e1+64] = 3 }), int64(e1 + 64)},
		{"reserved entry", mod(func(b []byte) { b[e1+71] = 1 }), int64(e1 + 65)},
		{"kid twice", mod(func(b []byte) { copy(b[e1:e1+72], b[8:80]) }), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			tl := testTrust(t)
			err := tl.UnmarshalBinary(c.in)
			var fe *FormatError
			if !errors.Is(err, ErrTrustList) || !errors.As(err, &fe) || fe.Offset != c.off {
				t.Fatalf("got %v, want ErrTrustList at %d", err, c.off)
			}
			if !tl.Equal(testTrust(t)) {
				t.Fatal("a failed UnmarshalBinary changed the list")
			}
		})
	}
}

func TestTrustListJSON(t *testing.T) {
	got := string(testTrust(t).AppendJSON(nil))
	pub := hex.EncodeToString(pubOf(shIssuer))
	want := `{"issuers":[{"region":"sh","kid":"` + KidOf(pubOf(shIssuer)).String() + `","publicKey":"` + pub + `","status":"active","added":"2026-11-01T01:00:00Z"},`
	if !strings.HasPrefix(got, want) || !strings.Contains(got, `"region":"zj"`) || !strings.Contains(got, `"status":"revoked"`) || !strings.HasSuffix(got, `"}]}`) {
		t.Fatalf("%s", got)
	}
	if got := string((*TrustList)(nil).AppendJSON(nil)); got != `{"issuers":[]}` {
		t.Fatalf("empty: %s", got)
	}
}

// FuzzTrustList: hostile bytes return errors, never panic; what decodes is
// the canonical form (encoding it again gives the input) and finds each of
// its keys.
func FuzzTrustList(f *testing.F) {
	f.Add(readFixture(f, "trust.bin"))
	f.Add(make([]byte, 8))
	f.Add([]byte{1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		tl, err := ParseTrustList(b)
		if err != nil {
			var fe *FormatError
			if tl != nil || !errors.As(err, &fe) || !errors.Is(err, ErrTrustList) {
				t.Fatalf("%v (%v)", err, tl)
			}
			return
		}
		again, _ := tl.MarshalBinary()
		if !bytes.Equal(again, b) {
			t.Fatal("not canonical")
		}
		for _, e := range tl.Issuers() {
			if got, ok := tl.Find(e.Kid); !ok || got.Kid != KidOf(got.PublicKey) {
				t.Fatal("Find")
			}
		}
	})
}
