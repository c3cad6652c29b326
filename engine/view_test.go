package engine

import (
	"bytes"
	"runtime"
	"sync"
	"testing"
	"unsafe"
)

// inPlace reports whether column v lies inside b.
func inPlace[T uint16 | uint64](v []T, b []byte) bool {
	if len(v) == 0 || len(b) == 0 {
		return false
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(v)))
	return p >= start && p < start+uintptr(len(b))
}

// allocated is how many heap bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// shifted returns a copy of b starting one byte into a new array: no
// column can be viewed there, so every one is copied.
func shifted(b []byte) []byte {
	return append(make([]byte, 1, len(b)+1), b...)[1:]
}

// reopen is s after a trip through its file.
func reopen(t *testing.T, s *Snapshot) *Snapshot {
	t.Helper()
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return openTest(t, b)
}

func openTest(t *testing.T, b []byte) *Snapshot {
	t.Helper()
	s, err := OpenBytes(b, OpenOptions{Key: testKey, Calendar: testCal})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestOpenBytesInPlace: an aligned file is read where it lies, allocating
// little beyond it; an unaligned one, or a big-endian machine's, is copied;
// all three answer as the reference model says.
func TestOpenBytesInPlace(t *testing.T) {
	const n, nreg = 40000, 4
	built, ref, ids := randomSnapshot(t, 3, n, nreg, Options{})
	file, err := built.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !littleEndian {
		t.Log("big-endian machine: every open copies")
	}
	columns := func(s *Snapshot, b []byte) map[string]bool {
		return map[string]bool{"keys": inPlace(s.keys, b), "since": inPlace(s.since, b), "overKey": inPlace(s.overKey, b),
			"overSince": inPlace(s.overSince, b), "bloomBits": inPlace(s.bloomBits, b)}
	}
	if len(built.overKey) == 0 {
		t.Fatal("no overflow entries: the test data does not exercise that column")
	}

	var s *Snapshot
	got := allocated(func() { s = openTest(t, file) })
	checkAgainst(t, s, ref, ids, nreg)
	for col, ok := range columns(s, file) {
		if ok != littleEndian {
			t.Errorf("aligned file: %s in place %v, want %v", col, ok, littleEndian)
		}
	}
	// A probe reads one cache line, as in a built snapshot (format version 3).
	if base := uintptr(unsafe.Pointer(&file[0])); littleEndian && base%bloomAlign == 0 {
		if at := uintptr(unsafe.Pointer(&s.bloomBits[0])); at%bloomAlign != 0 {
			t.Errorf("bloom bits at %d mod 64 in a 64-aligned file", at%bloomAlign)
		}
	}
	// What opening allocates beyond the file: the radix table (4 bytes a
	// bucket, 3 to 6 records a bucket) and the bitmaps' container headers.
	// Decoding into copies allocated more than the file itself.
	if limit := uint64(len(file)) / 8; littleEndian && got > limit {
		t.Errorf("OpenBytes allocated %d bytes for a %d-byte file; want at most %d", got, len(file), limit)
	}
	t.Logf("%d records: file %d bytes, OpenBytes allocated %d more (%.2f B/record)", s.Len(), len(file), got, float64(got)/float64(s.Len()))

	odd := shifted(file)
	u := openTest(t, odd)
	checkAgainst(t, u, ref, ids, nreg)
	for col, ok := range columns(u, odd) {
		if ok {
			t.Errorf("unaligned file: %s viewed in place", col)
		}
	}

	defer func(le bool) { littleEndian = le }(littleEndian)
	littleEndian = false
	be := openTest(t, file)
	checkAgainst(t, be, ref, ids, nreg)
	for col, ok := range columns(be, file) {
		if ok {
			t.Errorf("as if big-endian: %s viewed in place", col)
		}
	}
}

// TestOpenBytesConcurrent: a snapshot opened in place is read by many
// goroutines at once through every read path, the bitmaps' included
// (roaring's copy-on-write containers must never be written: run with
// -race), and the file is unchanged afterwards.
func TestOpenBytesConcurrent(t *testing.T) {
	const n, nreg = 6000, 4
	built, ref, ids := randomSnapshot(t, 5, n, nreg, Options{})
	file, err := built.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	orig := bytes.Clone(file)
	s := openTest(t, file)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			out := make([]Result, len(ids))
			for i, id := range ids {
				if got, want := s.Lookup(id), ref.want(id); got != want {
					t.Errorf("Lookup(%s) = %+v, want %+v", id, got, want)
					return
				}
				s.LookupRegion((i+g)%nreg, id)
			}
			s.LookupBatch(ids, out)
			s.Counts()
			for i := range nreg {
				s.RegionDigest(i)
			}
			bl, err := NewBuilder(Options{Key: testKey, Calendar: testCal, Regions: regionNames(nreg)})
			if err != nil {
				t.Error(err)
				return
			}
			for i := range nreg {
				if err := bl.AddRegion(i, s, i); err != nil {
					t.Error(err)
					return
				}
			}
			if bl.Build().Len() != s.Len() {
				t.Error("carrying every region over changed the records")
			}
			if b, err := s.MarshalBinary(); err != nil || !bytes.Equal(b, orig) {
				t.Errorf("re-encoding the opened snapshot: %v, same bytes %v", err, bytes.Equal(b, orig))
			}
		})
	}
	wg.Wait()
	if !bytes.Equal(file, orig) {
		t.Fatal("reading the snapshot wrote into its file")
	}
}

// TestOpenEdgeInPlace: the edge filter's bits are read from the file; an
// unaligned copy answers the same from copies.
func TestOpenEdgeInPlace(t *testing.T) {
	file := goldenEdge(t)
	f := openEdge(t, file)
	odd := shifted(file)
	g := openEdge(t, odd)
	covered := 0
	for i, h := range f.hot {
		if !h.covered {
			continue
		}
		covered++
		for _, w := range [][]uint64{h.red.words, h.yellow.words} {
			if inPlace(w, file) != littleEndian {
				t.Errorf("region %d: bits in place %v, want %v", i, inPlace(w, file), littleEndian)
			}
		}
		if inPlace(g.hot[i].red.words, odd) || inPlace(g.hot[i].yellow.words, odd) {
			t.Errorf("region %d: unaligned bits viewed in place", i)
		}
	}
	if covered == 0 {
		t.Fatal("no covered region in the golden filter")
	}
	for _, l := range goldenEdgeLists() {
		for _, id := range l.ids {
			a, b := f.CheckAt(id, edgeBuilt), g.CheckAt(id, edgeBuilt)
			if a != b || !a.Probable() {
				t.Errorf("%s: in place %+v, copied %+v", id, a, b)
			}
		}
	}
}
