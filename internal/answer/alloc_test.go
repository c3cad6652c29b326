//go:build !race

package answer

import (
	"testing"

	"github.com/yrd-hcx/hcx/engine"
)

// TestVerifyCodeAllocs: verifying a code, looking its holder up and
// writing the answer allocate nothing, for a valid code and one refused
// before its signature; a signature that does not verify costs the one
// error value crypto/ed25519 makes (errors.New in its verify).
func TestVerifyCodeAllocs(t *testing.T) {
	s := codeSnapshot(t)
	v := NewView(s, issuedAt, DefaultMaxAge, engine.CST)
	is, err := Issue(s, issuer, "sh", "11010519491231002X", DefaultTTL, issuedAt)
	if err != nil {
		t.Fatal(err)
	}
	forged := append([]byte(nil), is.Code...)
	forged[len(forged)-1] ^= 1 // still Base45, another signature
	buf := make([]byte, 0, 1024)
	for name, c := range map[string]struct {
		code []byte
		max  float64
	}{"valid": {is.Code, 0}, "bad Base45": {[]byte("HCX1:%%%"), 0}, "forged": {forged, 1}} {
		if n := testing.AllocsPerRun(100, func() {
			buf = AppendCode(buf[:0], v, VerifyCode(v, c.code, issuedAt))
		}); n > c.max {
			t.Errorf("%s: %v allocs per code (%s)", name, n, buf)
		}
	}
}
