package engine

import (
	"crypto/ed25519"
	"testing"
	"time"
)

// reportCodes reports codes a second of wall time and, where measured, a
// second of CPU time: run with -cpu 1, the latter is codes a second on one
// core whatever else the machine is doing.
func reportCodes(b *testing.B, cpu0 int64) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "codes/s")
	if cpu := processCPU() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(b.N)/(float64(cpu)/1e9), "codes/cpu-s")
	}
}

// BenchmarkVerifyCode is a gate's check of one code (Base45, payload, trust
// list, Ed25519, times); BenchmarkVerifyCodeBaselineEd25519 is the bare
// ed25519.Verify of the same message and signature, the floor it cannot go
// under. The target is at most 1.3x the baseline (BENCHMARKS.md).
func BenchmarkVerifyCode(b *testing.B) {
	trust := testTrust(b)
	code := []byte(goldenCode)
	now := codeIssued.Add(time.Hour)
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		if !VerifyCode(code, trust, now).Valid {
			b.Fatal("refused")
		}
	}
	reportCodes(b, cpu0)
}

func BenchmarkVerifyCodeBaselineEd25519(b *testing.B) {
	raw, err := Base45Decode(nil, []byte(goldenCode[len(CodePrefix):]))
	if err != nil {
		b.Fatal(err)
	}
	msg := append([]byte(CodeSignatureLabel), raw[:CodePayloadSize]...)
	sig, pub := raw[CodePayloadSize:], pubOf(shIssuer)
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("refused")
		}
	}
	reportCodes(b, cpu0)
}

// BenchmarkIssueCode is an issuer signing codes on one core (the target is
// at least 20,000 a second: BENCHMARKS.md).
func BenchmarkIssueCode(b *testing.B) {
	c := codeClaims
	buf := make([]byte, 0, CodeTextLen)
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		var err error
		if buf, err = IssueCode(buf[:0], shIssuer, c); err != nil {
			b.Fatal(err)
		}
		c.ID++ // a different holder each time
	}
	reportCodes(b, cpu0)
}

// BenchmarkIssueCodeBaselineEd25519Sign is the bare ed25519.Sign of the
// same message: what issuing cannot go under.
func BenchmarkIssueCodeBaselineEd25519Sign(b *testing.B) {
	msg := make([]byte, len(CodeSignatureLabel)+CodePayloadSize)
	copy(msg, CodeSignatureLabel)
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		ed25519.Sign(shIssuer, msg)
		msg[len(msg)-1]++
	}
	reportCodes(b, cpu0)
}
