package engine

import (
	"crypto/ed25519"
	"testing"
	"time"
)

// BenchmarkVerifyCode is a gate's check of one code (Base45, payload, trust
// list, Ed25519, times); BenchmarkVerifyCodeBaselineEd25519 is the bare
// ed25519.Verify of the same message and signature, the floor it cannot go
// under. The target is at most 1.3x the baseline (BENCHMARKS.md).
func BenchmarkVerifyCode(b *testing.B) {
	trust := testTrust(b)
	code := []byte(goldenCode)
	now := codeIssued.Add(time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if !VerifyCode(code, trust, now).Valid {
			b.Fatal("refused")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "codes/s")
}

func BenchmarkVerifyCodeBaselineEd25519(b *testing.B) {
	raw, err := Base45Decode(nil, []byte(goldenCode[len(CodePrefix):]))
	if err != nil {
		b.Fatal(err)
	}
	msg := append([]byte(CodeSignatureLabel), raw[:CodePayloadSize]...)
	sig, pub := raw[CodePayloadSize:], pubOf(shIssuer)
	b.ReportAllocs()
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("refused")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "codes/s")
}

// BenchmarkIssueCode is an issuer signing codes on one core (the target is
// at least 20,000 a second: BENCHMARKS.md).
func BenchmarkIssueCode(b *testing.B) {
	c := codeClaims
	buf := make([]byte, 0, CodeTextLen)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = IssueCode(buf[:0], shIssuer, c); err != nil {
			b.Fatal(err)
		}
		c.ID++ // a different holder each time
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "codes/s")
}

// BenchmarkIssueCodeBaselineEd25519Sign is the bare ed25519.Sign of the
// same message: what issuing cannot go under.
func BenchmarkIssueCodeBaselineEd25519Sign(b *testing.B) {
	msg := make([]byte, len(CodeSignatureLabel)+CodePayloadSize)
	copy(msg, CodeSignatureLabel)
	b.ReportAllocs()
	for b.Loop() {
		ed25519.Sign(shIssuer, msg)
		msg[len(msg)-1]++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "codes/s")
}
