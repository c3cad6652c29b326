package engine

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"time"
	"unsafe"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/bits-and-blooms/bloom/v3"
)

// Snapshot file layout (FORMAT.md has the byte tables):
//
//	header (64 bytes) | section table (24 bytes each) | sections (8-aligned) | trailer
//	trailer = SHA-256 over everything before it (32) | Ed25519 signature (64)
const (
	snapMagic = "HCXSNAP\x00"
	// FormatVersion is the version MarshalBinary writes; readers accept it
	// and MinFormatVersion (FORMAT.md "Versions"). Version 2 added the
	// regions' ingest times and the trust list; version 3 puts the bloom
	// filter's bits on a 64-byte boundary.
	FormatVersion    = 3
	MinFormatVersion = 1
	headerSize       = 64
	sectionEntry     = 24
	trailerSize      = 32 + ed25519.SignatureSize
	maxSections      = 16
	signatureLabel   = "hcx snapshot signature v1\x00"
)

// Section tags.
const (
	secMeta   = 'M' | 'E'<<8 | 'T'<<16 | 'A'<<24
	secKeys   = 'K' | 'E'<<8 | 'Y'<<16 | 'S'<<24
	secSince  = 'S' | 'I'<<8 | 'N'<<16 | 'C'<<24
	secOver   = 'O' | 'V'<<8 | 'E'<<16 | 'R'<<24
	secBitmap = 'B' | 'M'<<8 | 'A'<<16 | 'P'<<24
	secBloom  = 'B' | 'L'<<8 | 'O'<<16 | 'M'<<24
	secTrust  = 'T' | 'R'<<8 | 'S'<<16 | 'T'<<24
)

// Errors from opening a snapshot file. They are wrapped in a *FormatError
// where an offset helps; test with errors.Is.
var (
	ErrBadMagic    = errors.New("not an hcx snapshot (bad magic)")
	ErrVersion     = errors.New("unsupported snapshot format version")
	ErrTruncated   = errors.New("snapshot truncated")
	ErrChecksum    = errors.New("snapshot checksum mismatch")
	ErrCorrupt     = errors.New("snapshot corrupt")
	ErrKeyMismatch = errors.New("snapshot was built with another pseudonym key")
	ErrSignature   = errors.New("snapshot signature invalid")
	ErrUnsigned    = errors.New("snapshot is not signed")
)

// FormatError says where in the input a problem was found.
type FormatError struct {
	Offset int64
	Reason string
	Err    error // one of the sentinels above
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%v at byte %d: %s", e.Err, e.Offset, e.Reason)
}

func (e *FormatError) Unwrap() error { return e.Err }

func formatErr(err error, off int, format string, args ...any) error {
	return &FormatError{Offset: int64(off), Reason: fmt.Sprintf(format, args...), Err: err}
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// MarshalBinary encodes the snapshot, unsigned (Sign adds the signature).
//
// The sections are sized first and then written where they lie in the one
// buffer the file needs: no section is encoded into a slice of its own and
// copied (at 10M records the keys alone are 80 MB), and the padding is the
// zeroes the buffer starts with (BenchmarkMarshal). The bytes are those of
// FORMAT.md, pinned by TestGolden and, at size, TestMarshalReference.
func (s *Snapshot) MarshalBinary() ([]byte, error) {
	trust, err := s.trust.MarshalBinary()
	if err != nil {
		return nil, err
	}
	meta := s.encodeMeta()
	bms := s.allBitmaps()
	bmSizes := make([]int, len(bms))
	bmLen := 0
	for i, b := range bms {
		bmSizes[i] = int(b.GetSerializedSizeInBytes())
		bmLen += pad8(4 + bmSizes[i])
	}
	n, nover := len(s.keys), len(s.overKey)
	secs := []section{
		{tag: secMeta, len: len(meta)},
		{tag: secKeys, len: 8 * n},
		{tag: secSince, len: 2 * n},
		{tag: secOver, len: 10 * nover},
		{tag: secBitmap, len: bmLen},
		{tag: secTrust, len: len(trust)},
	}
	if s.bloom != nil {
		secs = append(secs, section{tag: secBloom, len: bloomHead + 8*len(s.bloomBits)})
	}
	off := headerSize + sectionEntry*len(secs)
	for i := range secs {
		if secs[i].tag == secBloom {
			off = bloomSectionAt(off)
		}
		secs[i].off = off
		off += pad8(secs[i].len)
	}
	size := off + trailerSize
	out := make([]byte, size)
	data := func(i int) []byte { return out[secs[i].off : secs[i].off+secs[i].len] }

	le := binary.LittleEndian
	copy(data(0), meta)
	putU64s(data(1), s.keys)
	putU16s(data(2), s.since)
	putU64s(data(3), s.overKey)
	putU16s(data(3)[8*nover:], s.overSince)
	d := data(4)
	for i, b := range bms {
		le.PutUint32(d, uint32(bmSizes[i]))
		w := sliceWriter{d[4 : 4+bmSizes[i]]}
		if wrote, err := b.WriteTo(&w); err != nil {
			return nil, err
		} else if int(wrote) != bmSizes[i] {
			return nil, fmt.Errorf("engine: bitmap %d wrote %d bytes, said %d", i, wrote, bmSizes[i])
		}
		d = d[pad8(4+bmSizes[i]):]
	}
	copy(data(5), trust)
	if s.bloom != nil {
		d := data(6)
		le.PutUint64(d[0:], s.bloomM)
		le.PutUint32(d[8:], uint32(s.bloomK))
		if s.useBloom {
			d[12] = 1
		}
		putU64s(d[bloomHead:], s.bloomBits)
	}

	copy(out, snapMagic)
	le.PutUint16(out[8:], FormatVersion)
	le.PutUint16(out[10:], 0)
	le.PutUint32(out[12:], uint32(len(secs)))
	le.PutUint64(out[16:], uint64(size))
	copy(out[24:40], s.info.Key[:])
	le.PutUint64(out[40:], s.info.Version)
	le.PutUint64(out[48:], uint64(s.info.Built.UnixNano()))
	le.PutUint64(out[56:], uint64(len(s.keys)))
	for i, sec := range secs {
		e := out[headerSize+i*sectionEntry:]
		le.PutUint32(e[0:], sec.tag)
		le.PutUint32(e[4:], crc32c(data(i)))
		le.PutUint64(e[8:], uint64(sec.off))
		le.PutUint64(e[16:], uint64(sec.len))
	}
	sum := sha256Sum(out[:off])
	copy(out[off:], sum[:])
	return out, nil
}

// section is one section's place in the file MarshalBinary writes.
type section struct {
	tag      uint32
	off, len int
}

// sliceWriter writes into a slice of fixed size, for encoders that take an
// io.Writer (a bitmap's WriteTo), so they write in place.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	if len(p) > len(w.b) {
		return 0, io.ErrShortWrite
	}
	w.b = w.b[copy(w.b, p):]
	return len(p), nil
}

// The bloom filter's bits start on a 64-byte boundary of the file (format
// version 3): a probe reads one 512-bit block, which is then one cache line
// wherever the file's memory is page-aligned (os.ReadFile and io.ReadAll of
// a large file give that), so a snapshot read in place probes as one that
// was built does; 8-aligned, most blocks straddle two lines.
const (
	bloomHead  = 16 // m, k, flags before the bits
	bloomAlign = 64
)

// bloomSectionAt is where the bloom section goes at or after off: the
// padding before it keeps its bits on a 64-byte boundary.
func bloomSectionAt(off int) int {
	return (off+bloomHead+bloomAlign-1)&^(bloomAlign-1) - bloomHead
}

// WriteTo writes the unsigned encoding to w.
func (s *Snapshot) WriteTo(w io.Writer) (int64, error) {
	b, err := s.MarshalBinary()
	if err != nil {
		return 0, err
	}
	n, err := w.Write(b)
	return int64(n), err
}

// Sign signs an encoded snapshot in place with the publisher's key. The
// signature covers the SHA-256 in the trailer, which covers everything else.
func Sign(file []byte, priv ed25519.PrivateKey) error {
	if len(file) < headerSize+trailerSize {
		return ErrTruncated
	}
	t := len(file) - trailerSize
	sig := ed25519.Sign(priv, signedMessage(file[t:t+32]))
	copy(file[t+32:], sig)
	return nil
}

func signedMessage(digest []byte) []byte {
	return append([]byte(signatureLabel), digest...)
}

// OpenOptions are what opening a snapshot file needs. The zero value opens
// with the zero key (tests only), DefaultCalendar, and no signature check.
type OpenOptions struct {
	Key      Key
	Calendar *Calendar
	// PublicKey, when set, requires a valid Ed25519 signature by it.
	PublicKey ed25519.PublicKey
}

// OpenBytes verifies a snapshot file and opens it in place: the snapshot
// reads its lists from b itself (view.go), so b must not be modified while
// the snapshot is in use, and it stays in memory as long as the snapshot
// does. Beyond b, opening allocates the radix table (about 1 byte a record)
// and the bitmaps' small container headers; on a big-endian machine, or
// when b is not 8-byte aligned, the lists are copied instead. Corrupt,
// truncated or hostile input returns an error (never a panic).
func OpenBytes(b []byte, opts OpenOptions) (*Snapshot, error) {
	if len(b) < len(snapMagic) || string(b[:len(snapMagic)]) != snapMagic {
		return nil, formatErr(ErrBadMagic, 0, "want %q", snapMagic)
	}
	if len(b) < headerSize+trailerSize {
		return nil, formatErr(ErrTruncated, len(b), "%d bytes, shorter than header and trailer", len(b))
	}
	le := binary.LittleEndian
	version := le.Uint16(b[8:])
	if version < MinFormatVersion || version > FormatVersion {
		return nil, formatErr(ErrVersion, 8, "version %d, this build reads %d to %d", version, MinFormatVersion, FormatVersion)
	}
	if size := le.Uint64(b[16:]); size != uint64(len(b)) {
		err := ErrTruncated
		if size < uint64(len(b)) {
			err = ErrCorrupt
		}
		return nil, formatErr(err, 16, "header says %d bytes, have %d", size, len(b))
	}
	t := len(b) - trailerSize
	if sum := sha256Sum(b[:t]); !bytes.Equal(sum[:], b[t:t+32]) {
		return nil, formatErr(ErrChecksum, t, "SHA-256 over the file does not match")
	}
	if opts.PublicKey != nil {
		sig := b[t+32:]
		if allZero(sig) {
			return nil, formatErr(ErrUnsigned, t+32, "no signature")
		}
		if len(opts.PublicKey) != ed25519.PublicKeySize || !ed25519.Verify(opts.PublicKey, signedMessage(b[t:t+32]), sig) {
			return nil, formatErr(ErrSignature, t+32, "Ed25519 signature does not verify")
		}
	}
	var fp Fingerprint
	copy(fp[:], b[24:40])
	if fp != opts.Key.Fingerprint() {
		return nil, formatErr(ErrKeyMismatch, 24, "snapshot key %s, ours %s", fp, opts.Key.Fingerprint())
	}
	if opts.Calendar == nil {
		opts.Calendar = DefaultCalendar
	}
	s := &Snapshot{key: opts.Key, cal: opts.Calendar}
	s.info.Key = fp
	s.info.Version = le.Uint64(b[40:])
	s.info.Built = time.Unix(0, int64(le.Uint64(b[48:])))
	n := le.Uint64(b[56:])

	nsec := le.Uint32(b[12:])
	if nsec > maxSections || headerSize+int(nsec)*sectionEntry > t {
		return nil, formatErr(ErrCorrupt, 12, "%d sections", nsec)
	}
	secs := map[uint32][]byte{}
	bloomAt := 0
	for i := range int(nsec) {
		e := b[headerSize+i*sectionEntry:]
		tag, crc, off, l := le.Uint32(e), le.Uint32(e[4:]), le.Uint64(e[8:]), le.Uint64(e[16:])
		at := headerSize + i*sectionEntry
		if off > uint64(t) || l > uint64(t)-off {
			return nil, formatErr(ErrCorrupt, at, "section %d [%d+%d] outside the file", i, off, l)
		}
		data := b[off : off+l]
		if crc32c(data) != crc {
			return nil, formatErr(ErrChecksum, int(off), "section %q CRC-32C mismatch", tagName(tag))
		}
		if _, dup := secs[tag]; dup {
			return nil, formatErr(ErrCorrupt, at, "section %q twice", tagName(tag))
		}
		secs[tag] = data
		if tag == secBloom {
			bloomAt = int(off)
		}
	}
	if _, ok := secs[secBloom]; ok && version >= 3 && bloomSectionAt(bloomAt) != bloomAt {
		return nil, formatErr(ErrCorrupt, bloomAt, "bloom bits not on a 64-byte boundary")
	}
	required := []uint32{secMeta, secKeys, secSince, secOver, secBitmap, secTrust}
	if version == 1 {
		required = required[:5] // no trust list yet
	}
	for _, tag := range required {
		if _, ok := secs[tag]; !ok {
			return nil, formatErr(ErrCorrupt, headerSize, "section %q missing", tagName(tag))
		}
	}
	if err := s.decodeMeta(secs[secMeta], version); err != nil {
		return nil, err
	}
	s.trust = &TrustList{}
	if d, ok := secs[secTrust]; ok && version >= 2 {
		if err := s.trust.UnmarshalBinary(d); err != nil {
			return nil, err
		}
	}
	if uint64(len(secs[secKeys])) != 8*n || uint64(len(secs[secSince])) != 2*n {
		return nil, formatErr(ErrCorrupt, 56, "%d records but sections of %d and %d bytes", n, len(secs[secKeys]), len(secs[secSince]))
	}
	s.keys = viewU64s(secs[secKeys])
	for i := 1; i < len(s.keys); i++ {
		if s.keys[i] <= s.keys[i-1] {
			return nil, formatErr(ErrCorrupt, 0, "keys not sorted at record %d", i)
		}
	}
	s.since = viewU16s(secs[secSince])
	if err := s.decodeOverflow(secs[secOver]); err != nil {
		return nil, err
	}
	if err := s.decodeBitmaps(secs[secBitmap]); err != nil {
		return nil, err
	}
	if d, ok := secs[secBloom]; ok {
		if err := s.decodeBloom(d); err != nil {
			return nil, err
		}
	}
	s.index()
	return s, nil
}

func (s *Snapshot) encodeMeta() []byte {
	d := []byte{byte(len(s.info.Regions))}
	for _, r := range s.info.Regions {
		d = append(d, byte(len(r.Name)))
		d = append(d, r.Name...)
		d = binary.LittleEndian.AppendUint32(d, uint32(r.ListDate))
		d = binary.LittleEndian.AppendUint64(d, uint64(unixNanoOrZero(r.Ingested)))
	}
	return d
}

// decodeMeta reads the region table; version 1 has no ingest times.
func (s *Snapshot) decodeMeta(d []byte, version uint16) error {
	ingestSize := 8
	if version == 1 {
		ingestSize = 0
	}
	if len(d) < 1 || d[0] == 0 || int(d[0]) > MaxRegions {
		return formatErr(ErrCorrupt, 0, "meta: bad region count")
	}
	n := int(d[0])
	d = d[1:]
	s.info.Regions = make([]RegionInfo, n)
	for i := range n {
		if len(d) < 1 || len(d) < 1+int(d[0])+4+ingestSize {
			return formatErr(ErrCorrupt, 0, "meta: region %d truncated", i)
		}
		name := string(d[1 : 1+d[0]])
		if !ValidRegionName(name) {
			return formatErr(ErrCorrupt, 0, "meta: bad region name %q", name)
		}
		d = d[1+len(name):]
		s.info.Regions[i] = RegionInfo{Name: name, ListDate: Day(int32(binary.LittleEndian.Uint32(d)))}
		if ingestSize > 0 {
			s.info.Regions[i].Ingested = timeOrZero(int64(binary.LittleEndian.Uint64(d[4:])))
		}
		d = d[4+ingestSize:]
	}
	if len(d) != 0 {
		return formatErr(ErrCorrupt, 0, "meta: %d trailing bytes", len(d))
	}
	return nil
}

func (s *Snapshot) decodeOverflow(d []byte) error {
	if len(d)%10 != 0 {
		return formatErr(ErrCorrupt, 0, "overflow section of %d bytes", len(d))
	}
	m := len(d) / 10
	s.overKey = viewU64s(d[:8*m])
	s.overSince = viewU16s(d[8*m:])
	for i, k := range s.overKey {
		if k>>6 >= uint64(len(s.keys)) || int(k&63) >= len(s.info.Regions) || i > 0 && k <= s.overKey[i-1] {
			return formatErr(ErrCorrupt, 0, "overflow entry %d out of order or range", i)
		}
	}
	return nil
}

func (s *Snapshot) decodeBitmaps(d []byte) error {
	nreg := len(s.info.Regions)
	bms := make([]*roaring.Bitmap, 2+2*nreg)
	for i := range bms {
		if len(d) < 4 {
			return formatErr(ErrCorrupt, 0, "bitmap %d truncated", i)
		}
		l := int(binary.LittleEndian.Uint32(d))
		if l > len(d)-4 {
			return formatErr(ErrCorrupt, 0, "bitmap %d: %d bytes, %d left", i, l, len(d)-4)
		}
		// FromBuffer reads the containers in place (copy-on-write views:
		// the snapshot never writes them, and Contains, Iterator,
		// GetCardinality and Intersects only read: TestOpenBytesConcurrent).
		// It checks only lengths, so Validate checks the rest.
		bm := roaring.New()
		used, err := bm.FromBuffer(d[4 : 4+l])
		if err == nil && used != int64(l) {
			err = fmt.Errorf("%d of its %d bytes read", used, l)
		}
		if err != nil {
			return formatErr(ErrCorrupt, 0, "bitmap %d: %v", i, err)
		}
		if err := bm.Validate(); err != nil {
			return formatErr(ErrCorrupt, 0, "bitmap %d: %v", i, err)
		}
		if !bm.IsEmpty() && uint64(bm.Maximum()) >= uint64(len(s.keys)) {
			return formatErr(ErrCorrupt, 0, "bitmap %d: ordinal %d beyond %d records", i, bm.Maximum(), len(s.keys))
		}
		bms[i] = bm
		d = d[min(len(d), pad8(4+l)):]
	}
	s.red, s.yellow = bms[0], bms[1]
	s.regRed, s.regYellow = make([]*roaring.Bitmap, nreg), make([]*roaring.Bitmap, nreg)
	for i := range nreg {
		s.regRed[i], s.regYellow[i] = bms[2+2*i], bms[3+2*i]
		// A region holds a person at one colour (the builder's red beats
		// yellow), and red wins: its red people are red merged.
		if s.regRed[i].Intersects(s.regYellow[i]) {
			return formatErr(ErrCorrupt, 0, "region %d: a person both red and yellow", i)
		}
		if n := s.regRed[i].GetCardinality(); s.regRed[i].AndCardinality(s.red) != n {
			return formatErr(ErrCorrupt, 0, "region %d: red not within merged red", i)
		}
	}
	// And a person red merged is red in some region (Snapshot.at answers
	// a person one region lists with that region's colour).
	if nreg > 0 && roaring.FastOr(s.regRed...).GetCardinality() != s.red.GetCardinality() {
		return formatErr(ErrCorrupt, 0, "merged red not the regions' red")
	}
	// Every listed person is red or yellow in the merged view, exactly once.
	if s.red.Intersects(s.yellow) || s.red.GetCardinality()+s.yellow.GetCardinality() != uint64(len(s.keys)) {
		return formatErr(ErrCorrupt, 0, "merged red and yellow do not partition the records")
	}
	return nil
}

func (s *Snapshot) decodeBloom(d []byte) error {
	if len(d) < bloomHead {
		return formatErr(ErrCorrupt, 0, "bloom header truncated")
	}
	m, k := binary.LittleEndian.Uint64(d), uint64(binary.LittleEndian.Uint32(d[8:]))
	words := (m + 63) / 64
	if m == 0 || m%512 != 0 || k == 0 || k > maxProbes || uint64(len(d)-bloomHead) != 8*words {
		return formatErr(ErrCorrupt, 0, "bloom: m=%d k=%d with %d bytes", m, k, len(d)-bloomHead)
	}
	s.setBloom(bloom.FromWithM(viewU64s(d[bloomHead:]), uint(m), uint(k)), d[12] == 1)
	return nil
}

func tagName(tag uint32) string {
	return string([]byte{byte(tag), byte(tag >> 8), byte(tag >> 16), byte(tag >> 24)})
}

func pad8(n int) int { return (n + 7) &^ 7 }

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// putU64s writes v, little-endian, at the start of d (at least 8*len(v)
// bytes): on a little-endian machine one copy of its memory.
func putU64s(d []byte, v []uint64) {
	if littleEndian {
		copy(d, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 8*len(v)))
		return
	}
	for i, x := range v {
		binary.LittleEndian.PutUint64(d[8*i:], x)
	}
}

func decodeU64s(b []byte) []uint64 {
	out := make([]uint64, len(b)/8)
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	return out
}

// putU16s writes v, little-endian, at the start of d (at least 2*len(v)
// bytes).
func putU16s(d []byte, v []uint16) {
	if littleEndian {
		copy(d, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 2*len(v)))
		return
	}
	for i, x := range v {
		binary.LittleEndian.PutUint16(d[2*i:], x)
	}
}

func decodeU16s(b []byte) []uint16 {
	out := make([]uint16, len(b)/2)
	for i := range out {
		out[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return out
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
