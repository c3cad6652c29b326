// Package web holds the web verifier page (index.html, app.js, hcx.d.ts,
// config.json; `make wasm` copies them to dist/web with hcx.wasm and Go's
// wasm_exec.js) and its tests in headless Chromium. It has no Go code of
// its own; docs/edge-verifier.md is the page's contract.
//
// # Usage
//
// Served by `hcx serve` at `/`, or as static files (`hcx edge export
// --web DIR`) reading config.json. The URL fragment carries the
// parameters: #id=ID, #code=TEXT, #token=T, #scan, joined with &.
//
// # Concurrency
//
// The page runs on the browser's event loop; the tests drive one browser
// per test, tabs in turn.
//
// # Performance
//
// The first answer comes about a second after navigation with a
// 1,000,000-listing filter (BENCHMARKS.md); the QR decoder is loaded only
// when the camera starts on a browser without BarcodeDetector.
package web
