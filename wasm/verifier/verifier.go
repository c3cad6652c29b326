// Package verifier is what the WebAssembly edge verifiers share: reading
// the pinned public key, refusing a rolled-back or expired filter (Seen),
// and writing an answer as one JSON line. Answers are appended as bytes to
// a reused buffer rather than built with fmt or encoding/json: not for the
// module's size (both are linked anyway, through bits-and-blooms and the
// engine; BENCHMARKS.md measured that dropping them from this path saves
// nothing) but so that an answer costs no reflection and no allocation.
//
// # Usage
//
//	pub, err := verifier.ParsePublicKey(hex)
//	f, err := engine.OpenEdge(file, engine.EdgeOpenOptions{PublicKey: pub})
//	err = seen.Admit(f.Info(), time.Now())              // no rollback, not expired
//	line := verifier.AppendAnswer(buf[:0], f, id, f.CheckBytes(id))
//
// # Concurrency
//
// The functions are pure; safe for concurrent use.
package verifier

import (
	"bufio"
	"crypto/ed25519"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/yrd-hcx/hcx/engine"
)

// ErrPublicKey: the pinned key is not 32 bytes of hex.
var ErrPublicKey = errors.New("the publisher's public key must be 64 hex digits (hcx init prints it)")

// ParsePublicKey reads the publisher's Ed25519 public key as `hcx init`
// prints it (64 hex digits; surrounding space ignored).
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	if len(s) != 2*ed25519.PublicKeySize {
		return nil, ErrPublicKey
	}
	// Not encoding/hex: its error type's Error method calls fmt.Sprintf,
	// which would keep fmt (and the reflection it uses) in the modules.
	b := make([]byte, ed25519.PublicKeySize)
	for i := range b {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return nil, ErrPublicKey
		}
		b[i] = hi<<4 | lo
	}
	return ed25519.PublicKey(b), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// AppendAnswer appends the answer object for query (only its masked form is
// written) without a newline:
//
//	{"id":"3101**********123X","status":"red","probable":true,"sources":[{"region":"sh","status":"red"}],"stale":[]}
//	{"id":"1101**********0021","status":"invalid","probable":false,"error":"check digit"}
//
// status is green, yellow, red, invalid or stale; sources are the regions
// whose filters hit; stale names the regions the answer cannot vouch for (not
// covered by the filter, or with a list older than its maximum age).
func AppendAnswer[T string | []byte](dst []byte, f *engine.EdgeFilter, query T, r engine.EdgeResult) []byte {
	dst = append(dst, `{"id":"`...)
	dst = engine.AppendMask(dst, query)
	dst = append(dst, `","status":"`...)
	dst = append(dst, r.Answer()...)
	dst = append(dst, `","probable":`...)
	dst = appendBool(dst, r.Probable())
	if r.Status == engine.Invalid && !r.Stale {
		dst = append(dst, `,"error":"`...)
		dst = append(dst, r.Err.Reason()...)
		return append(dst, `"}`...)
	}
	dst = appendSources(dst, f, r)
	dst = appendStale(dst, f, r)
	return append(dst, '}')
}

// appendSources appends `,"sources":[...]`: the regions whose filters hit,
// with their colour.
func appendSources(dst []byte, f *engine.EdgeFilter, r engine.EdgeResult) []byte {
	dst = append(dst, `,"sources":[`...)
	first := true
	for i, reg := range f.Regions() {
		c := "red"
		switch bit := uint64(1) << uint(i); {
		case r.Red&bit != 0:
		case r.Yellow&bit != 0:
			c = "yellow"
		default:
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, `{"region":"`...)
		dst = append(dst, reg.Name...) // a-z0-9 only
		dst = append(dst, `","status":"`...)
		dst = append(dst, c...)
		dst = append(dst, `"}`...)
	}
	return append(dst, ']')
}

// appendStale appends `,"stale":[...]`: the regions the answer cannot
// vouch for.
func appendStale(dst []byte, f *engine.EdgeFilter, r engine.EdgeResult) []byte {
	dst = append(dst, `,"stale":[`...)
	first := true
	for i, reg := range f.Regions() {
		if r.NotCurrent&(1<<uint(i)) == 0 {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, '"')
		dst = append(dst, reg.Name...)
		dst = append(dst, '"')
	}
	return append(dst, ']')
}

// Stream reads IDs and health codes (lines starting HCX1:) one a line from
// stdin until EOF (blank lines skipped) and writes one answer a line
// (AppendAnswer, AppendCodeAnswer) to stdout, in order. Output is
// flushed whenever stdin has nothing more buffered, so it works
// interactively; the clock is read then too (a clock read is a host call in
// WebAssembly), not once per ID.
func Stream(f *engine.EdgeFilter, stdin io.Reader, stdout io.Writer) error {
	// A line longer than the buffer is answered as an invalid ID (length)
	// without being held.
	in := bufio.NewReaderSize(stdin, 64<<10)
	out := bufio.NewWriterSize(stdout, 64<<10)
	buf := make([]byte, 0, 512)
	var now time.Time
	for {
		if in.Buffered() == 0 {
			// About to wait for input: show what is answered; read the
			// clock afresh for what comes next.
			if err := out.Flush(); err != nil {
				return err
			}
			now = time.Time{}
		}
		line, err := in.ReadSlice('\n')
		long := errors.Is(err, bufio.ErrBufferFull)
		if long {
			// Keep the start for the masked echo; skip the rest.
			line = append(buf[:0:0], line[:min(len(line), 32)]...)
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = in.ReadSlice('\n')
			}
		}
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
		line = trimLine(line)
		if len(line) > 0 || long {
			if now.IsZero() {
				now = f.Calendar().Now()
			}
			switch {
			case long:
				buf = AppendAnswer(buf[:0], f, line, engine.EdgeResult{Err: engine.ErrIDLength})
			case IsCode(line):
				buf = AppendCodeAnswer(buf[:0], f, line, now)
			default:
				buf = AppendAnswer(buf[:0], f, line, f.CheckBytesAt(line, now))
			}
			buf = append(buf, '\n')
			if _, werr := out.Write(buf); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) {
			return out.Flush()
		}
	}
}

// trimLine drops the line end and surrounding blanks.
func trimLine(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}
