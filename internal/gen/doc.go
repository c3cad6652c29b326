// Package gen generates realistic synthetic daily files (DESIGN section 3):
// one gzip-compressed CSV `{region}-{YYYY-MM-DD}.csv.gz` per region, for
// `hcx gen`, the demo, tests and benchmarks.
//
// What makes a day realistic, and why each file ingests cleanly:
//   - Every ID is a valid GB 11643 number: a real county address code from
//     the embedded list (address_codes_cn.csv; README.md gives its
//     provenance: the delta's codes for a day of the delta's regions, the
//     whole country's for a national day), a birth date drawn from an age pyramid shaped like the
//     2020 census (ages 0 to 100, nobody born after the list date), a
//     sequence number of either sex and the check character.
//   - A region lists mostly residents of its province (sh 31, js 32, zj 33,
//     ah 34, and the other provinces of NationalRegions) and 13% to 15%
//     travellers from elsewhere; regions share the
//     records by population. About 5% of the people are listed by a second
//     region as well (a traveller by their home region), with the same
//     colour 70% of the time. So distinct people are about 95% of the
//     records.
//   - About 25% of the listings are red, the rest yellow; a since date is
//     empty for 5%, 0 to 13 days before the list date for 85% and 14 to
//     MaxSinceAge days before it for 10%.
//   - No ID appears twice in a file: each (address code, birth date) cell
//     hands out its sequence numbers by a permutation of a counter, so IDs are
//     unique by construction, and a person listed twice is one generated
//     person written to two files.
//   - The same Options give byte-identical files, on any platform and Go
//     release (a private SplitMix64 stream; gzip headers carry no name or
//     time).
//
// IDs are valid as of the list date: files for a date after today carry
// a few people born after today, whom ID validation then refuses as born in
// the future.
//
// # Usage
//
//	paths, err := gen.Write("out", gen.Options{Date: day, Records: 1_000_000, Seed: 1}, nil)
//	err = gen.WriteRegion(w, 0, gen.Options{Date: day}) // sh's file, uncompressed
//
// # Concurrency
//
// Write and WriteRegion are safe to call concurrently (they share only the
// read-only embedded code list). Write compresses the regions' files on one
// goroutine each and calls progress on the caller's goroutine.
//
// # Performance
//
// Write streams: memory is bounded (a table of used IDs, a byte per address
// code and birth date: 11 MB for the delta, 105 MB for the whole country;
// three 64 KiB buffers per region) whatever Records is: 10 million records
// of the delta run in under 20 MB of RSS. On the 2-core development machine one goroutine generates
// about 4 million rows a second (BenchmarkGenerate) and gzip BestSpeed
// compresses about 2.7 million a second per core (BenchmarkGzipLevel), one
// goroutine per region, so Write makes about 2.5 million records a second:
// 0.4 s for 1e6, about 7 CPU-seconds for 1e7 (BenchmarkWrite, n=1e7 with
// HCX_BENCH_LARGE=1). Files take about 11.6 bytes a record.
package gen
