package engine

import (
	"encoding/binary"
	"unsafe"
)

// Opening a file in place: the snapshot's columns (the sorted pseudonyms,
// the since codes, the overflow, the bloom bits) and the edge filter's bits
// are little-endian arrays at 8-byte-aligned offsets of a file that is
// verified once and never changes, so on a little-endian machine they are
// read where they lie instead of being copied into new slices. The server
// keeps the signed file anyway (replicas fetch it), so the file and the
// snapshot are one copy in memory, not two (TestServedRSS in cmd/hcx).
//
// A view is made only where it reads exactly what the portable decode
// would: on a little-endian machine (amd64, arm64, wasm...) and at an
// address aligned for the element type (b comes from os.ReadFile or a
// response body, whose backing arrays are; a sub-slice at an odd offset may
// not be). Anywhere else the column is decoded into a copy.

// littleEndian: the machine stores integers as the files do.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// viewU64s returns b's little-endian uint64s, viewed in place where it can.
// len(b) must be a multiple of 8.
func viewU64s(b []byte) []uint64 {
	if len(b) == 0 {
		return nil
	}
	p := unsafe.SliceData(b)
	if !littleEndian || uintptr(unsafe.Pointer(p))%unsafe.Alignof(uint64(0)) != 0 {
		return decodeU64s(b)
	}
	return unsafe.Slice((*uint64)(unsafe.Pointer(p)), len(b)/8)
}

// viewU16s returns b's little-endian uint16s, viewed in place where it can.
// len(b) must be even.
func viewU16s(b []byte) []uint16 {
	if len(b) == 0 {
		return nil
	}
	p := unsafe.SliceData(b)
	if !littleEndian || uintptr(unsafe.Pointer(p))%unsafe.Alignof(uint16(0)) != 0 {
		return decodeU16s(b)
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(p)), len(b)/2)
}
