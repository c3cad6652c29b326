package engine

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
)

var update = flag.Bool("update", false, "rewrite golden files")

// goldenSnapshot is small and fully deterministic: three people, four
// regions (one list ingested before the start of its date, one with no
// ingest time), and a trust list of three issuers, one revoked.
func goldenSnapshot(t testing.TB) *Snapshot {
	t.Helper()
	b, err := NewBuilder(Options{Key: refKey, Calendar: testCal, Version: 42, Built: time.Date(2026, 11, 27, 8, 0, 0, 0, CST),
		Trust: testTrust(t)})
	if err != nil {
		t.Fatal(err)
	}
	day := DateOf(2026, 11, 26)
	for i, s := range []string{"11010519491231002X", "440524188001010014", "310101198001010018"} {
		p := refKey.Of(mustParse(t, s))
		_ = b.Add(i%4, p, Red-Status(i%2), day-Day(i))
		_ = b.Add(3, p, Yellow, NoDay)
	}
	for i := range 4 {
		_ = b.SetListDate(i, day)
	}
	for i, at := range goldenIngested {
		_ = b.SetIngested(i, at)
	}
	return b.Build()
}

// goldenIngested are the golden snapshot's ingest times by region: the
// last region's is unknown.
var goldenIngested = []time.Time{
	time.Date(2026, 11, 26, 6, 30, 0, 0, CST),
	time.Date(2026, 11, 25, 22, 0, 0, 0, CST), // before its list date began
	time.Date(2026, 11, 26, 9, 0, 0, 0, CST),
}

// TestGolden pins the byte format of the current version: a change here
// is a format change and needs a new FormatVersion, with the file of the
// version it replaces kept for TestGoldenPrevious (go test ./engine -run
// Golden -update rewrites only the current one).
func TestGolden(t *testing.T) {
	got, err := goldenSnapshot(t).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := checkGolden(t, "snapshot-v3.bin", got)
	if v := le16(want[8:]); v != FormatVersion {
		t.Fatalf("golden file is version %d, current %d", v, FormatVersion)
	}
	if at := sectionAt(t, want, secBloom); (at+bloomHead)%bloomAlign != 0 {
		t.Fatalf("bloom bits at byte %d, not on a 64-byte boundary", at+bloomHead)
	}
	s := checkGoldenAnswers(t, want)
	if !s.TrustList().Equal(testTrust(t)) {
		t.Fatalf("trust list %+v", s.TrustList().Issuers())
	}
	for i, r := range s.Regions() {
		var want time.Time
		if i < len(goldenIngested) {
			want = goldenIngested[i]
		}
		if !r.Ingested.Equal(want) {
			t.Errorf("%s ingested %v, want %v", r.Name, r.Ingested, want)
		}
	}
	// Re-encoding what was opened gives the same bytes.
	if again, _ := s.MarshalBinary(); !bytes.Equal(again, want) {
		t.Fatal("decode/encode does not round-trip")
	}
}

// TestGoldenPrevious: a file of the previous format version, written by
// the hcx release before, still opens and answers the same (readers move
// before writers: FORMAT.md "Versions"), its trust list and ingest times
// included: version 3 changed only where the bloom bits lie. The file is
// never rewritten.
func TestGoldenPrevious(t *testing.T) {
	b := readFixture(t, "snapshot-v2.bin")
	if v := le16(b[8:]); v != FormatVersion-1 {
		t.Fatalf("fixture is version %d", v)
	}
	if at := sectionAt(t, b, secBloom); (at+bloomHead)%bloomAlign == 0 {
		t.Fatal("the version 2 fixture's bloom bits happen to be 64-aligned: it tests nothing a version 3 file does not")
	}
	s := checkGoldenAnswers(t, b)
	if !s.TrustList().Equal(testTrust(t)) {
		t.Fatalf("trust list %+v", s.TrustList().Issuers())
	}
	for i, r := range s.Regions() {
		var want time.Time
		if i < len(goldenIngested) {
			want = goldenIngested[i]
		}
		if !r.Ingested.Equal(want) {
			t.Errorf("%s ingested %v, want %v", r.Name, r.Ingested, want)
		}
	}
	// Written again, it is the current version's golden file.
	if again, _ := s.MarshalBinary(); !bytes.Equal(again, readFixture(t, "snapshot-v3.bin")) {
		t.Fatal("a version 2 file re-encoded is not the version 3 golden file")
	}
}

// TestGoldenV1: a file of version 1, what the release in the field before
// this one wrote, still opens and answers the same, with an empty trust
// list and no ingest times (version 2 was never released on its own, so
// version 1 is the previous version readers must take: FORMAT.md
// "Versions"); its lists carried into a new build keep what they had.
func TestGoldenV1(t *testing.T) {
	b := readFixture(t, "snapshot-v1.bin")
	if v := le16(b[8:]); v != MinFormatVersion {
		t.Fatalf("fixture is version %d", v)
	}
	s := checkGoldenAnswers(t, b)
	if s.TrustList().Len() != 0 {
		t.Fatal("a version 1 snapshot has no trust list")
	}
	for _, r := range s.Regions() {
		if !r.Ingested.IsZero() {
			t.Errorf("%s: ingest time %v from a version 1 file", r.Name, r.Ingested)
		}
	}
	nb, _ := NewBuilder(Options{Key: refKey, Calendar: testCal})
	for i := range s.Regions() {
		if err := nb.AddRegion(i, s, i); err != nil {
			t.Fatal(err)
		}
	}
	again := nb.Build()
	if r := again.Lookup("11010519491231002X"); r.Status != Red || again.Regions()[2].ListDate != s.Regions()[2].ListDate || !again.Regions()[0].Ingested.IsZero() {
		t.Fatalf("carried over: %+v %+v", r, again.Regions())
	}
}

// sectionAt is the file offset of the section tagged tag.
func sectionAt(t *testing.T, b []byte, tag uint32) int {
	t.Helper()
	for i := range int(le32(b[12:])) {
		if e := b[headerSize+i*sectionEntry:]; le32(e) == tag {
			return int(le64(e[8:]))
		}
	}
	t.Fatalf("no section %q", tagName(tag))
	return 0
}

// checkGoldenAnswers opens a golden snapshot file and checks its answers,
// which every format version gives alike.
func checkGoldenAnswers(t *testing.T, want []byte) *Snapshot {
	t.Helper()
	s, err := OpenBytes(want, OpenOptions{Key: refKey, Calendar: testCal})
	if err != nil {
		t.Fatal(err)
	}
	r := s.Lookup("11010519491231002X")
	if r.Status != Red || r.Since.String() != "2026-11-26" || r.Red != 1 || r.Yellow != 1<<3 {
		t.Fatalf("golden answer %+v", r)
	}
	if r := s.LookupRegion(3, "11010519491231002X"); r.Status != Yellow || r.Since != NoDay {
		t.Fatalf("golden region answer %+v", r)
	}
	if info := s.Info(); info.Version != 42 || info.Regions[2].ListDate.String() != "2026-11-26" {
		t.Fatalf("golden info %+v", info)
	}
	return s
}

func TestSignature(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	otherPub, _, _ := ed25519.GenerateKey(nil)
	b, _ := goldenSnapshot(t).MarshalBinary()
	opts := OpenOptions{Key: refKey, PublicKey: pub}
	if _, err := OpenBytes(b, opts); !errors.Is(err, ErrUnsigned) {
		t.Fatalf("unsigned: %v", err)
	}
	if err := Sign(b, priv); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenBytes(b, opts); err != nil {
		t.Fatalf("signed: %v", err)
	}
	if _, err := OpenBytes(b, OpenOptions{Key: refKey, PublicKey: otherPub}); !errors.Is(err, ErrSignature) {
		t.Fatalf("other publisher: %v", err)
	}
	b[len(b)-1] ^= 1
	if _, err := OpenBytes(b, opts); !errors.Is(err, ErrSignature) {
		t.Fatalf("flipped signature: %v", err)
	}
}

// TestBadData: each corrupt input with the error it must give.
func TestBadData(t *testing.T) {
	good, _ := goldenSnapshot(t).MarshalBinary()
	le := binary.LittleEndian
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	// reseal recomputes the trailer checksum, so the inner checks are reached.
	reseal := func(b []byte) []byte {
		t := len(b) - trailerSize
		sum := sha256Sum(b[:t])
		copy(b[t:], sum[:])
		return b
	}
	sec := func(b []byte, i int) []byte { return b[headerSize+i*sectionEntry:] }
	for _, c := range []struct {
		name string
		data []byte
		key  Key
		want error
	}{
		{"empty", nil, refKey, ErrBadMagic},
		{"magic only", []byte(snapMagic), refKey, ErrTruncated},
		{"not a snapshot", []byte("id,color\n11010519491231002X,red\n"), refKey, ErrBadMagic},
		{"truncated by one", good[:len(good)-1], refKey, ErrTruncated},
		{"truncated in half", good[:len(good)/2], refKey, ErrTruncated},
		{"extra byte", append(bytes.Clone(good), 0), refKey, ErrCorrupt},
		{"version 0", mod(func(b []byte) []byte { le.PutUint16(b[8:], 0); return b }), refKey, ErrVersion},
		{"version 4", mod(func(b []byte) []byte { le.PutUint16(b[8:], 4); return b }), refKey, ErrVersion},
		{"version 3 read as 1", mod(func(b []byte) []byte { le.PutUint16(b[8:], 1); return reseal(b) }), refKey, ErrCorrupt},
		{"bloom bits off their boundary", moveBloom(t, good, 8), refKey, ErrCorrupt},
		{"no trust list", mod(func(b []byte) []byte { le.PutUint32(sec(b, 5), 0x58585858); return reseal(b) }), refKey, ErrCorrupt},
		{"trust list corrupt", mod(func(b []byte) []byte {
			off := le.Uint64(sec(b, 5)[8:])
			b[off+8+16] ^= 1 // a kid
			le.PutUint32(sec(b, 5)[4:], crc32c(b[off:off+le.Uint64(sec(b, 5)[16:])]))
			return reseal(b)
		}), refKey, ErrTrustList},
		{"flipped byte in keys", mod(func(b []byte) []byte { b[len(b)/2] ^= 0x10; return b }), refKey, ErrChecksum},
		{"flipped byte in trailer", mod(func(b []byte) []byte { b[len(b)-trailerSize] ^= 1; return b }), refKey, ErrChecksum},
		{"wrong key", good, testKey, ErrKeyMismatch},
		{"section CRC", mod(func(b []byte) []byte { le.PutUint32(sec(b, 1)[4:], 0); return reseal(b) }), refKey, ErrChecksum},
		{"section outside file", mod(func(b []byte) []byte { le.PutUint64(sec(b, 1)[8:], 1<<40); return reseal(b) }), refKey, ErrCorrupt},
		{"section length huge", mod(func(b []byte) []byte { le.PutUint64(sec(b, 1)[16:], 1<<62); return reseal(b) }), refKey, ErrCorrupt},
		{"too many sections", mod(func(b []byte) []byte { le.PutUint32(b[12:], 1000); return reseal(b) }), refKey, ErrCorrupt},
		{"record count lies", mod(func(b []byte) []byte { le.PutUint64(b[56:], 1<<40); return reseal(b) }), refKey, ErrCorrupt},
		{"missing section", mod(func(b []byte) []byte { le.PutUint32(sec(b, 2), 0x58585858); return reseal(b) }), refKey, ErrCorrupt},
		{"duplicate section", mod(func(b []byte) []byte { copy(sec(b, 2)[:sectionEntry], sec(b, 1)[:sectionEntry]); return reseal(b) }), refKey, ErrCorrupt},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := OpenBytes(c.data, OpenOptions{Key: c.key})
			if !errors.Is(err, c.want) || s != nil {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	// Content that passes the checksums but breaks an invariant: unsorted
	// keys, with the CRC and trailer recomputed as a hostile writer would.
	b := bytes.Clone(good)
	off, l := le.Uint64(sec(b, 1)[8:]), le.Uint64(sec(b, 1)[16:])
	keys := b[off : off+l]
	first := bytes.Clone(keys[:8])
	copy(keys[:8], keys[8:16])
	copy(keys[8:16], first)
	le.PutUint32(sec(b, 1)[4:], crc32c(keys))
	if _, err := OpenBytes(reseal(b), OpenOptions{Key: refKey}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("unsorted keys: %v", err)
	}
	// Merged colours that contradict the regions' (red wins), written by
	// the encoder itself so that every checksum is right: a region's red
	// person yellow merged, and a person no region holds at red red merged.
	for name, recolour := range map[string]func(s *Snapshot){
		"region red, merged yellow": func(s *Snapshot) {
			ord := s.regRed[0].Minimum()
			s.red.Remove(ord)
			s.yellow.Add(ord)
		},
		"no region red, merged red": func(s *Snapshot) {
			ord := s.yellow.Minimum()
			s.yellow.Remove(ord)
			s.red.Add(ord)
		},
		// Both at once: the counts still agree.
		"the two swapped": func(s *Snapshot) {
			a := s.regRed[0].Minimum()
			never := roaring.AndNot(s.yellow, roaring.FastOr(s.regRed...))
			if never.IsEmpty() {
				t.Fatal("the golden snapshot has no person red nowhere")
			}
			y := never.Minimum()
			s.red.Remove(a)
			s.yellow.Add(a)
			s.yellow.Remove(y)
			s.red.Add(y)
		},
		"red and yellow in one region": func(s *Snapshot) {
			s.regYellow[0].Add(s.regRed[0].Minimum())
		},
	} {
		bad := goldenSnapshot(t)
		recolour(bad)
		if data, err := bad.MarshalBinary(); err != nil {
			t.Fatal(err)
		} else if _, err := OpenBytes(data, OpenOptions{Key: refKey}); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// The bloom bits' boundary is a version 3 rule: the same file marked
	// version 2 opens.
	moved := moveBloom(t, good, 8)
	le.PutUint16(moved[8:], 2)
	if _, err := OpenBytes(reseal(moved), OpenOptions{Key: refKey}); err != nil {
		t.Fatalf("version 2 with its bloom bits 8-aligned: %v", err)
	}
	var fe *FormatError
	if _, err := OpenBytes(good[:100], OpenOptions{Key: refKey}); !errors.As(err, &fe) || fe.Offset == 0 && fe.Reason == "" {
		t.Fatalf("no FormatError: %v", err)
	}
}

func le16(b []byte) uint16     { return binary.LittleEndian.Uint16(b) }
func le32(b []byte) uint32     { return binary.LittleEndian.Uint32(b) }
func le64(b []byte) uint64     { return binary.LittleEndian.Uint64(b) }
func put32(b []byte, v uint32) { binary.LittleEndian.PutUint32(b, v) }

// checkGolden compares an encoding with testdata/name (rewriting it first
// under -update, only for a deliberate format change) and returns the
// golden bytes.
func checkGolden(t *testing.T, name string, got []byte) []byte {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encoding changed: %d bytes, golden %d (rerun with -update only for a deliberate format change)", len(got), len(want))
	}
	return want
}

// readFixture reads testdata/name, a file -update never rewrites (one
// written by an earlier format version).
func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// moveBloom returns a copy of a snapshot file (whose last section is the
// bloom filter) with that section by more bytes further on, resealed.
func moveBloom(t *testing.T, b []byte, by int) []byte {
	t.Helper()
	n := int(le32(b[12:]))
	e := b[headerSize+(n-1)*sectionEntry:]
	if le32(e) != secBloom {
		t.Fatal("the bloom filter is not the last section")
	}
	at := int(le64(e[8:]))
	out := append(append(append([]byte{}, b[:at]...), make([]byte, by)...), b[at:]...)
	binary.LittleEndian.PutUint64(out[headerSize+(n-1)*sectionEntry+8:], uint64(at+by))
	binary.LittleEndian.PutUint64(out[16:], uint64(len(out)))
	tr := len(out) - trailerSize
	sum := sha256Sum(out[:tr])
	copy(out[tr:], sum[:])
	return out
}
