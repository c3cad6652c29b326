// Package engine is the pure-Go core of hcx: the resident ID codec, the
// keyed pseudonyms, and the immutable Snapshot that answers "what colour is
// this person, across all regions?".
//
// It imports only the standard library, roaring, bloom and siphash: no
// file system, network or flags, so the same code builds for js/wasm and
// wasip1 (the edge verifier).
//
// # Usage
//
// A publisher builds a snapshot from pseudonymised region lists, encodes it
// and signs it; a server opens the bytes and looks IDs up:
//
//	b, _ := engine.NewBuilder(engine.Options{Key: key, Regions: engine.DefaultRegions})
//	b.Add(region, key.Of(id), engine.Red, since)
//	snap := b.Build()
//	file, _ := snap.MarshalBinary()
//	engine.Sign(file, privateKey)
//	snap, err := engine.OpenBytes(file, engine.OpenOptions{Key: key, PublicKey: pub})
//	res := snap.Lookup("11010519491231002X") // res.Status, res.Since, res.Red, res.Yellow
//
// # Concurrency
//
// A Snapshot never changes once built or opened: every method is safe for
// concurrent use, and a server swaps whole snapshots behind an atomic
// pointer. A Builder is not safe for concurrent use. Calendar is safe for
// concurrent use. Key is a value.
//
// # Performance
//
// Lookup, LookupBytes, LookupRegion, LookupBatch and Screen do not allocate. A lookup
// validates the ID (eight digits per step), computes a SipHash-2-4
// specialised to 17 bytes, tests a cache-line-blocked bloom filter (one
// cache miss; 99% of the IDs a gate sees are not listed), and only then
// reads the radix table and the sorted pseudonyms. LookupBatch and Screen
// (a screening batch that keeps only the answers that are not green) hash a
// group of IDs before probing, so that the group's cache misses overlap
// (batch.go). BENCHMARKS.md has the figures; lookup_timing_test.go and
// batch_timing_test.go the benchmarks.
//
// Memory is about 13.5 bytes per listed person: 8 for the pseudonym, 2 for
// the since date, about 0.5 for the overflow of per-region since dates, 1.2
// for the bloom filter and about 1.2 for the roaring bitmaps (who each
// region lists, in which colour), all read in place from the file OpenBytes
// was given (FORMAT.md's little-endian, aligned sections), plus about half
// a byte for the radix table it builds. A server keeping the signed file
// for replicas therefore holds it once, not beside a decoded copy
// (BenchmarkLookupOpened's B/record; TestServedRSS in cmd/hcx measures the
// whole process).
package engine
