// Package server is the hcx HTTP API on fasthttp (docs/http-api.md): lookups
// for gates, uploads for regions, the snapshot for replicas, the edge filter
// for verifier devices, metrics.
//
// # Usage
//
//	srv, err := server.New(server.Config{Store: store, Logger: log})
//	go srv.Serve(ln) // or ListenAndServe
//	...
//	srv.Shutdown(ctx) // stop accepting, finish requests in flight, stop the rest
//
// The endpoints are one table (routes.go): routing, 405s, which requests may
// send a body, and the metric labels all come from it.
//
// # Concurrency
//
// A Server is safe for concurrent use. The current snapshot sits behind an
// atomic pointer. A request loads it once and answers from it to the end, so
// a swap (an upload, a change on disk, a replica's sync) never fails or
// mixes a request; the old snapshot is freed by the garbage collector once
// the last request using it is done. Installs are serialised and never go
// back to an older version (install.go). The server owns all its state; the
// goroutines it starts (the data directory watcher, a replica's follower)
// are stopped by Shutdown in the reverse of their start order.
//
// # Performance
//
// The lookup path does not allocate (alloc_test.go): routing scans the route
// table comparing bytes, a token is found by its SipHash-128 in a cache of
// tokens already seen (SHA-256 only on a token's first use), metrics are
// pre-resolved counters, and the JSON is appended into a stack buffer. A
// request whose token does not allow it is refused from its headers: its
// body is not read.
package server
