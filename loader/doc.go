// Package loader turns the regions' daily files into the published state:
// it parses and checks them (docs/daily-files.md is the contract),
// pseudonymises their IDs, keeps the data directory (keys, tokens, the
// signed snapshot, the edge filter's parts) and writes it crash-safely.
//
// Files, by job: parse.go reads a file into records (scan.go splits its
// lines, faults.go names what is wrong, limits.go bounds it, people.go and
// distinct.go merge its rows by person), report.go is what an ingest
// returns, ingest.go takes files into the data directory (store.go), and
// edge.go builds and assembles the edge filter's parts.
//
// # Usage
//
// A publisher creates a data directory once, then ingests each day's files;
// the snapshot Ingest returns is the one now live:
//
//	st, err := loader.Init("hcx-data", nil) // whole or not at all
//	st, err = loader.Open("hcx-data", nil)
//	reports, snap, err := st.Ingest([]loader.Upload{{Name: "sh-2026-11-27.csv.gz", Body: f}}, loader.IngestOptions{})
//	var rej *loader.RejectError
//	if errors.As(err, &rej) { /* rej.Report says which lines, and why */ }
//
// Parse checks one file alone (hcx validate):
//
//	records, report, err := loader.Parse(r, loader.ParseOptions{Key: key, Gzip: true})
//
// Raw IDs never reach the disk, logs or reports: records hold pseudonyms,
// and reasons never quote a long run of digits.
//
// # Concurrency
//
// A Store is safe for concurrent use. Ingest reads and parses files holding
// only their regions' locks, so a region uploading slowly holds up no other
// region, and uploads of one region are serialised; the data directory's
// lock (a flock, so also across processes) is held only to judge the parsed
// files against the state then live (replay, shrink) and to commit, which is
// one rename of the snapshot file: a crash at any instant leaves the old
// state or the new one. Parse is safe for concurrent use on different
// readers. A Report is a plain value.
//
// # Performance
//
// Parse reads a row without allocating: one pass over each line finds its
// commas, quotes, NULs and non-ASCII bytes, and the ID's pseudonym is a
// SipHash-2-4 over its 17 digits. Rows are merged by person with a radix
// sort once the file is read, or earlier when they repeat, so memory
// follows the distinct people, never the rows (docs/daily-files.md,
// "Memory"). Ingest parses a batch's files in parallel, one a core.
// BenchmarkParse and BenchmarkIngest measure them; BENCHMARKS.md has the
// figures.
package loader
