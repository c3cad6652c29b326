# hcx build and test entry points. `make test` is what CI runs (.ci/run).
GO        ?= go
# With Go's experimental simd package the engine's batch path checks,
# hashes and tests eight IDs at a time in AVX-512 vectors
# (engine/wide_simd.go); without it, or on a processor without AVX-512, it
# runs scalar code. Every target but test-scalar builds with it, unless
# GOEXPERIMENT is already set (then that build is made).
GOEXPERIMENT ?= simd
export GOEXPERIMENT
BENCHTIME ?= 1s
COUNT     ?= 10
# staticcheck, pinned, built for this machine into bin/ (go run would build
# it for GOOS=js when the js/wasm packages are checked).
STATICCHECK_VERSION = v0.8.2
STATICCHECK         = bin/staticcheck

.PHONY: build test deps fmt-check vet staticcheck test-race test-allocs test-scalar test-wasm test-compare \
	wasm bench fuzz demo fmt compare national

build: wasm
	$(GO) build -o bin/hcx ./cmd/hcx

# Every test: the tools it needs (installed on Debian when run as root, else
# named), formatting, vet for the native, js/wasm and wasip1 builds, the race
# tests (with the OpenAPI contract and the alert rules), a pass without
# -race of the allocation tests (they are `!race`: the race detector
# allocates), the engine's tests without the vector build, the js/wasm
# tests under Node, the compare script's 2-second smoke run, and
# staticcheck for the three builds.
test: deps fmt-check vet test-race test-allocs test-scalar test-wasm test-compare staticcheck
	@echo "make test: all passed"

deps:
	@bash .ci/deps

fmt-check:
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed (make fmt):"; gofmt -l .; exit 1; }

# A plain `go vet ./...` skips the js && wasm files: vet those builds too.
vet:
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet ./engine/... ./wasm/...
	GOOS=wasip1 GOARCH=wasm $(GO) vet ./engine/... ./wasm/...

$(STATICCHECK): Makefile
	GOBIN=$(CURDIR)/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...
	GOOS=js GOARCH=wasm $(STATICCHECK) ./engine/... ./wasm/...
	GOOS=wasip1 GOARCH=wasm $(STATICCHECK) ./engine/... ./wasm/...

# The race detector slows the engine's reference tests five to ten times; on a
# machine shared with other work they outgrow go test's default 10 minutes.
test-race:
	$(GO) test -race -count=1 -timeout 25m ./...

# The tests of every `!race` test file, package by package, without -race.
test-allocs:
	@set -e; for dir in $$(grep -rl --include='*_test.go' '^//go:build.*!race' . | xargs -n1 dirname | sort -u); do \
	  tests=$$(grep -h -o '^func Test[A-Za-z0-9_]*' $$(grep -l '^//go:build.*!race' $$dir/*_test.go) | cut -c6- | paste -sd'|' -); \
	  [ -z "$$tests" ] || { echo "$(GO) test -count=1 -run '^($$tests)$$' $$dir"; $(GO) test -count=1 -run "^($$tests)$$" $$dir; }; \
	done

# The engine's tests in a build without Go's simd package, as a plain `go
# build` makes it: the vector functions' scalar stand-ins (engine/wide.go).
test-scalar:
	GOEXPERIMENT= $(GO) test -count=1 ./engine

# Go's js/wasm support runs test binaries through go_js_wasm_exec (Node).
test-wasm:
	PATH="$$($(GO) env GOROOT)/lib/wasm:$$PATH" GOOS=js GOARCH=wasm $(GO) test -count=1 ./wasm/...

test-compare:
	bash bench/compare.sh --short

# The edge verifier in WebAssembly (docs/edge-verifier.md): dist/hcx.wasm
# for browsers, dist/hcx-wasi.wasm for WASI runtimes, the static page in
# dist/web/ (internal/webpage lists its files and builds them), and a copy
# of the page in server/webdist for `make build` to embed. None of it is
# committed.
wasm:
	$(GO) run ./internal/webpage/build -wasi dist/hcx-wasi.wasm dist/web server/webdist
	cp wasm/web/config.json dist/web/
	cp dist/web/hcx.wasm dist/hcx.wasm
	@echo "dist/hcx.wasm: $$(gzip -9 < dist/hcx.wasm | wc -c) bytes gzipped (budget 950 KB)"

demo:
	$(GO) run ./cmd/hcx demo

fmt:
	gofmt -w .

# Hot-path benchmarks (engine lookups and build/open, ingest, handlers);
# HCX_BENCH_LARGE=1 adds n=1e7 and 10M rows. Compare with benchstat;
# BENCHMARKS.md has the interleaved runs its figures come from.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(COUNT) ./engine/... ./loader/... ./server/...

# A short run of every fuzz target (the seed corpora run in `make test`).
FUZZTIME ?= 20s
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# hcx against bare fasthttp and net/http servers and Redis, same run, same
# machine: rewrites the compare section of BENCHMARKS.md (about 7 minutes;
# needs wrk, redis-server, redis-tools). `make test` runs its 2-second
# short mode, which writes only a temporary file. COMPARE_FLAGS=--head builds
# from the commit HEAD instead of the working tree.
compare:
	bash bench/compare.sh $(COMPARE_FLAGS)

# One national day (40 regions, RECORDS listed, default 100,000,000) from
# files to a served snapshot and a replica, measured (BENCHMARKS.md, National
# scale; about 15 minutes and 12 GB of memory at the default size).
national:
	bash bench/national.sh
