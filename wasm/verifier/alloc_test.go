//go:build !race

package verifier

import (
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/engine"
)

// TestAnswerAllocs: an answer, for an ID or a health code, is appended to
// a buffer with room without allocating (the WASI module streams them).
func TestAnswerAllocs(t *testing.T) {
	now := time.Now()
	fx := newCodeFixture(t, now.Add(-time.Hour))
	code := []byte(issue(t, fx.sh, 0, engine.Green, now.Add(-time.Minute), now.Add(time.Hour)))
	id := []byte(ids[0])
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { buf = AppendCodeAnswer(buf[:0], fx.f, code, now) }); n != 0 {
		t.Errorf("AppendCodeAnswer: %.1f allocations", n)
	}
	if n := testing.AllocsPerRun(100, func() { buf = AppendAnswer(buf[:0], fx.f, id, fx.f.CheckBytesAt(id, now)) }); n != 0 {
		t.Errorf("AppendAnswer: %.1f allocations", n)
	}
}
