package answer

import (
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/engine"
)

// BenchmarkAppendJSON: one green answer, a batch's usual item.
func BenchmarkAppendJSON(b *testing.B) {
	s := snapshot(b)
	v := NewView(s, time.Date(2026, 11, 27, 9, 0, 0, 0, engine.CST), DefaultMaxAge, engine.CST)
	id := []byte("440524188001010014")
	r := s.LookupBytes(id)
	buf := make([]byte, 0, 512)
	for b.Loop() {
		buf = AppendJSON(buf[:0], v, id, r)
	}
}
