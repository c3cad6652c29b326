package server

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"slices"
	"unicode/utf8"

	"github.com/yrd-hcx/hcx/engine"
)

// The two bodies of POST /v1/status (docs/http-api.md): IDs one a line
// (text), or {"ids":["...", ...]} (JSON). Both are split into IDs that
// point into the body, without allocating per ID.

var newline = []byte{'\n'}

// textIDs appends the non-blank lines of body to dst (a line's "\r\n"
// counts as its end), stopping once more than max are found (the batch is
// refused then anyway). A line that starts with a printable ASCII byte, as
// an ID does, is not blank: only other lines are trimmed to find out
// (bytes.TrimSpace, Unicode's white space): trimming every line, with
// bytes.Cut, took 48-93 µs for a 1,000-ID screening's body against 39-47
// µs (BenchmarkTextIDs, side by side, under load). A line of IDLen bytes
// that starts printable and does not end in "\r" is then taken as it is,
// found without bytes.IndexByte (hasNewline): 13.1-14.9 µs against 6.4-7.1
// µs, side by side on a quieter machine; testing its two ends from the
// words took BenchmarkScreeningHandler/text from 706 to 689 instructions
// an ID (bench/instructions.sh).
func textIDs(body []byte, dst [][]byte, max int) [][]byte {
	ids, ok := strideIDs(body, dst, max)
	if ok {
		return ids
	}
	dst = ids // dst, with the room strideIDs may have made
	for len(body) > 0 && len(dst) <= max {
		if len(body) > engine.IDLen && body[engine.IDLen] == '\n' {
			// The line as three overlapping words: its first and last
			// bytes are taken from them, not loaded again (a separate
			// byte load split the first word's load into eight).
			x := binary.LittleEndian.Uint64(body[0:8])
			y := binary.LittleEndian.Uint64(body[8:16])
			z := binary.LittleEndian.Uint64(body[10:18])
			if printableASCII(byte(x)) && byte(z>>56) != '\r' && !hasNewline(x, y, z) {
				dst = append(dst, body[:engine.IDLen])
				body = body[engine.IDLen+1:]
				continue
			}
		}
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) > 0 && (printableASCII(line[0]) || len(bytes.TrimSpace(line)) > 0) {
			dst = append(dst, line)
		}
	}
	return dst
}

// strideIDs is textIDs for the body a program sends: IDs of IDLen bytes,
// each followed by '\n' (the last one's optional). When the body's
// newlines are all at the stride, and only there (one bytes.Count, which
// is vectorised, and one load a line), every line is IDLen bytes with no
// newline inside; a line that starts printable and does not end in '\r'
// is then taken as it is, from the two bytes at its ends. For any other
// body it reports false and returns dst as it was but for its capacity;
// textIDs then splits the body line by line. BenchmarkTextIDs: 32
// instructions an ID against 71 line by line (bench/instructions.sh).
func strideIDs(body []byte, dst [][]byte, max int) ([][]byte, bool) {
	const stride = engine.IDLen + 1
	lines := (len(body) + 1) / stride
	if r := len(body) % stride; r != 0 && r != engine.IDLen || len(dst)+lines > max+1 ||
		bytes.Count(body, newline) != len(body)/stride { // a newline ends each full stride
		return dst, false
	}
	n := len(dst)
	dst = slices.Grow(dst, lines)[:n+lines]
	rest := body
	for j := n; j < len(dst); j++ {
		line := rest[:engine.IDLen:engine.IDLen]
		if !printableASCII(line[0]) || line[engine.IDLen-1] == '\r' {
			return dst[:n], false
		}
		dst[j] = line
		if len(rest) > engine.IDLen {
			if rest[engine.IDLen] != '\n' {
				return dst[:n], false
			}
			rest = rest[stride:]
		}
	}
	return dst, true
}

// printableASCII reports whether c is a printable ASCII byte, which no
// trimming removes.
func printableASCII(c byte) bool { return c > ' ' && c < utf8.RuneSelf }

// hasNewline reports whether any of the words holds a '\n' byte: x has a
// zero byte iff (x-0x01..)&^x has a high bit set. A line of IDLen bytes
// is recognised by the newline just after it this way, without a call to
// bytes.IndexByte, whose set-up is most of its cost on 19 bytes
// (BenchmarkTextIDs).
func hasNewline(x, y, z uint64) bool {
	const ones, highs, nl = 0x0101010101010101, 0x8080808080808080, 0x0a0a0a0a0a0a0a0a
	x, y, z = x^nl, y^nl, z^nl
	return ((x-ones)&^x|(y-ones)&^y|(z-ones)&^z)&highs != 0
}

// jsonIDs appends the IDs of a JSON body to dst. The form clients send,
// {"ids":[...]} of plain strings, is scanned in place; anything else (escapes,
// other keys, non-ASCII bytes, null) goes through encoding/json, which then
// allocates, with the same result (FuzzJSONIDs holds the scan to it).
func jsonIDs(body []byte, dst [][]byte) ([][]byte, error) {
	if ids, ok := scanJSONIDs(body, dst); ok {
		return ids, nil
	}
	var req struct {
		IDs []string `json:"ids"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return dst, err
	}
	for _, id := range req.IDs {
		dst = append(dst, []byte(id))
	}
	return dst, nil
}

// scanJSONIDs accepts exactly: {"ids":[ "..." , ... ]} with JSON whitespace
// anywhere between tokens, each string of printable ASCII without quote or
// backslash. It reports false for anything else, leaving that to
// encoding/json.
func scanJSONIDs(b []byte, dst [][]byte) ([][]byte, bool) {
	n := len(dst)
	i := skipSpace(b, 0)
	for _, want := range jsonIDsOpening {
		if !bytes.HasPrefix(b[i:], want) {
			return dst[:n], false
		}
		i = skipSpace(b, i+len(want))
	}
	if i < len(b) && b[i] == ']' {
		i++
	} else {
		for {
			if i >= len(b) || b[i] != '"' {
				return dst[:n], false
			}
			j := i + 1
			for j < len(b) && b[j] != '"' {
				if c := b[j]; c < 0x20 || c >= 0x7f || c == '\\' {
					return dst[:n], false
				}
				j++
			}
			if j >= len(b) {
				return dst[:n], false
			}
			dst = append(dst, b[i+1:j])
			i = skipSpace(b, j+1)
			if i < len(b) && b[i] == ',' {
				i = skipSpace(b, i+1)
				continue
			}
			if i < len(b) && b[i] == ']' {
				i++
				break
			}
			return dst[:n], false
		}
	}
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != '}' || skipSpace(b, i+1) != len(b) {
		return dst[:n], false
	}
	return dst, true
}

var jsonIDsOpening = [][]byte{[]byte(`{`), []byte(`"ids"`), []byte(`:`), []byte(`[`)}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}
