package engine

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// referenceMarshal is the snapshot encoder as first written: each section
// encoded into a slice of its own, then copied into the file. MarshalBinary
// writes the sections in place instead; TestMarshalReference holds it to
// the same bytes at a size where every section is large (the golden file is
// three people).
func referenceMarshal(t testing.TB, s *Snapshot) []byte {
	t.Helper()
	u64s := func(v []uint64) []byte {
		out := make([]byte, 8*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint64(out[8*i:], x)
		}
		return out
	}
	u16s := func(v []uint16) []byte {
		out := make([]byte, 2*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint16(out[2*i:], x)
		}
		return out
	}
	type sec struct {
		tag  uint32
		data []byte
	}
	trust, err := s.trust.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	secs := []sec{
		{secMeta, s.encodeMeta()},
		{secKeys, u64s(s.keys)},
		{secSince, u16s(s.since)},
		{secOver, append(u64s(s.overKey), u16s(s.overSince)...)},
	}
	var bm bytes.Buffer
	for _, b := range s.allBitmaps() {
		var l [4]byte
		binary.LittleEndian.PutUint32(l[:], uint32(b.GetSerializedSizeInBytes()))
		bm.Write(l[:])
		if _, err := b.WriteTo(&bm); err != nil {
			t.Fatal(err)
		}
		for bm.Len()%8 != 0 {
			bm.WriteByte(0)
		}
	}
	secs = append(secs, sec{secBitmap, bm.Bytes()}, sec{secTrust, trust})
	if s.bloom != nil {
		d := make([]byte, bloomHead, bloomHead+8*len(s.bloomBits))
		binary.LittleEndian.PutUint64(d[0:], s.bloomM)
		binary.LittleEndian.PutUint32(d[8:], uint32(s.bloomK))
		if s.useBloom {
			d[12] = 1
		}
		secs = append(secs, sec{secBloom, append(d, u64s(s.bloomBits)...)})
	}
	offs := make([]int, len(secs))
	off := headerSize + sectionEntry*len(secs)
	for i, sec := range secs {
		if sec.tag == secBloom {
			off = bloomSectionAt(off)
		}
		offs[i] = off
		off += pad8(len(sec.data))
	}
	size := off + trailerSize
	out := make([]byte, size)
	copy(out, snapMagic)
	le := binary.LittleEndian
	le.PutUint16(out[8:], FormatVersion)
	le.PutUint32(out[12:], uint32(len(secs)))
	le.PutUint64(out[16:], uint64(size))
	copy(out[24:40], s.info.Key[:])
	le.PutUint64(out[40:], s.info.Version)
	le.PutUint64(out[48:], uint64(s.info.Built.UnixNano()))
	le.PutUint64(out[56:], uint64(len(s.keys)))
	for i, sec := range secs {
		e := out[headerSize+i*sectionEntry:]
		le.PutUint32(e[0:], sec.tag)
		le.PutUint32(e[4:], crc32c(sec.data))
		le.PutUint64(e[8:], uint64(offs[i]))
		le.PutUint64(e[16:], uint64(len(sec.data)))
		copy(out[offs[i]:], sec.data)
	}
	sum := sha256Sum(out[:off])
	copy(out[off:], sum[:])
	return out
}

// TestMarshalReference: MarshalBinary writes the bytes referenceMarshal
// does, for snapshots with and without a bloom filter, empty and large
// (array, bitmap and run containers, the overflow, a trust list).
func TestMarshalReference(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		opts Options
	}{
		{"empty", 0, Options{Key: testKey}},
		{"small", 100, Options{Key: testKey, Trust: testTrust(t)}},
		{"large", 300_000, Options{Key: testKey, Version: 7}},
		{"no-bloom", 50_000, Options{Key: testKey, BloomFPR: -1}},
		{"exact-only", 50_000, Options{Key: testKey, ExactOnly: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := NewBuilder(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if tc.n > 0 {
				b.recs = benchRecords(tc.n)
			}
			// A dense run of ordinals, so the bitmaps hold run containers.
			for i := range 5000 {
				_ = b.Add(1, Pseudonym(uint64(i)<<40|1), Red, NoDay)
			}
			s := b.Build()
			got, err := s.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if want := referenceMarshal(t, s); !bytes.Equal(got, want) {
				t.Fatalf("MarshalBinary differs from the reference encoding (%d bytes, want %d)", len(got), len(want))
			}
		})
	}
}
