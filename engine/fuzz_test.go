package engine

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseID: never panics; whatever it accepts round-trips, and ParseID,
// ParseIDBytes and the pseudonym path agree on every input.
func FuzzParseID(f *testing.F) {
	for _, s := range []string{"11010519491231002X", "11010519491231002x", " 440524188001010014\t", "110105491231002",
		"110105194912310021", "１１０１０５１９４９１２３１００２Ｘ", "11010520000229001X", "", "\xff\xfe1\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := testCal.ParseID(s)
		id2, err2 := testCal.ParseIDBytes([]byte(s))
		p, err3 := testKey.Parse(testCal, s)
		if id != id2 || err != err2 || err != err3 {
			t.Fatalf("%q: string %v %v, bytes %v %v, pseudonym %v", s, id, err, id2, err2, err3)
		}
		if _, e := validate(testCal, s); e != refValidate(testCal, s) {
			t.Fatalf("%q: validate %v, reference %v", s, e, refValidate(testCal, s))
		}
		if err != nil {
			if _, ok := err.(IDError); !ok {
				t.Fatalf("%q: error %T", s, err)
			}
			return
		}
		if testKey.Of(id) != p {
			t.Fatalf("%q: Of and Parse disagree", s)
		}
		back, err := testCal.ParseID(id.String())
		if err != nil || back != id {
			t.Fatalf("%q: String %q does not round-trip: %v", s, id.String(), err)
		}
		if m := Mask(s); len(m) != IDLen {
			t.Fatalf("%q: mask %q", s, m)
		}
	})
}

// FuzzOpenBytes: hostile snapshot files return errors, never panic, and
// whatever opens answers lookups without panicking, the same whether it was
// read in place or, from an unaligned copy, decoded into copies.
func FuzzOpenBytes(f *testing.F) {
	for _, name := range []string{"snapshot-v3.bin", "snapshot-v2.bin"} {
		golden, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(golden)
		f.Add(golden[:len(golden)-trailerSize])
	}
	f.Add([]byte(snapMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Most mutations die at the checksum; reseal so the decoders behind
		// it are fuzzed too.
		for _, in := range [][]byte{b, resealed(b)} {
			s, err := OpenBytes(in, OpenOptions{Key: refKey, Calendar: testCal})
			if err != nil {
				if s != nil {
					t.Fatal("snapshot with an error")
				}
				continue
			}
			c, err := OpenBytes(shifted(in), OpenOptions{Key: refKey, Calendar: testCal})
			if err != nil {
				t.Fatalf("opens in place but not from a copy: %v", err)
			}
			for _, id := range []string{"11010519491231002X", "440524188001010014"} {
				if a, b := s.Lookup(id), c.Lookup(id); a != b {
					t.Fatalf("Lookup(%s): in place %+v, copied %+v", id, a, b)
				}
				if a, b := s.LookupRegion(len(s.Regions())-1, id), c.LookupRegion(len(s.Regions())-1, id); a != b {
					t.Fatalf("LookupRegion(%s): in place %+v, copied %+v", id, a, b)
				}
			}
			s.LookupRegion(0, "440524188001010014")
			s.LookupID(11010519491231002)
			s.Counts()
			VerifyCode([]byte(goldenCode), s.TrustList(), codeIssued)
		}
	})
}

// resealed returns a copy of b with the trailer's SHA-256 recomputed and
// every section CRC fixed where the table is readable.
func resealed(b []byte) []byte {
	if len(b) < headerSize+trailerSize {
		return b
	}
	b = append([]byte(nil), b...)
	t := len(b) - trailerSize
	n := int(le32(b[12:]))
	for i := 0; i < n && i < maxSections && headerSize+(i+1)*sectionEntry <= t; i++ {
		e := b[headerSize+i*sectionEntry:]
		off, l := le64(e[8:]), le64(e[16:])
		if off <= uint64(t) && l <= uint64(t)-off {
			put32(e[4:], crc32c(b[off:off+l]))
		}
	}
	sum := sha256Sum(b[:t])
	copy(b[t:], sum[:])
	return b
}
