// Package bench is the hcx load generator (DESIGN section 7): it drives an
// hcx server, or anything answering the same JSON, as a black box over HTTP,
// checks every answer against a generated day, and measures throughput and
// latency (HdrHistogram). It does not import package server.
//
// # Usage
//
//	day, err := bench.LoadDay("gen")                  // {region}-{date}.csv.gz files
//	qs := bench.Mix(day, 100_000, 0.01, 1)              // 1% listed IDs, the rest unlisted (green)
//	res, err := bench.Run(ctx, bench.Config{URL: "http://127.0.0.1:8080", Token: tok, Queries: qs})
//	res.WriteText(os.Stdout)                            // or WriteJSON, WriteHTML
//	if res.Failed() { ... }                             // failed requests or wrong colours
//
// # Concurrency
//
// Run may be called from several goroutines, each with its own Config;
// a Result belongs to its caller. Config.Progress is called from one
// goroutine at a time.
//
// # Performance
//
// The load generator must not be what limits the figures: on the 2-core
// development machine it shares the cores with the server it measures. So
// each connection is one goroutine that writes requests prepared once as
// bytes and reads the answers with fasthttp's response parser into a reused
// fasthttp.Response: nothing is allocated per request (TestLoopAllocs).
// Pipelining writes Pipeline requests back to back and then reads their
// answers, as wrk and redis-benchmark -P do, so one goroutine wake-up
// serves a whole pipeline.
//
// The open model (Config.Rate) holds a fixed rate whatever the server
// does: one pacer goroutine releases send slots on time (nanosleep on its
// own thread: Go's timers wake about a millisecond late on Linux, which
// would add to every latency), a free connection takes the next slot, and
// each latency runs from the slot's due time. Slots due in the window that
// are not answered by the end of the run, sent or not, are counted
// (Result.Late) and kept in the percentiles at their lower bound, so a
// server that falls behind or stalls cannot hide its worst latencies
// (coordinated omission). bench/rush.sh runs it at rush-hour rates.
package bench
