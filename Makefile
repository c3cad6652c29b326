# hcx build and test entry points. `make test` is what CI runs.
GO       ?= go
BENCHTIME ?= 1s
COUNT    ?= 10

.PHONY: build test vet fmt bench fuzz wasm-vet demo

build: wasm
	$(GO) build -o bin/hcx ./cmd/hcx

# vet (including the js/wasm and wasip1 builds of the engine), then every test
# with the race detector.
test: vet
	$(GO) test -race -count=1 ./...
	bash bench/compare.sh --short
	GOOS=js GOARCH=wasm $(GO) vet ./wasm/...
	PATH="$$($(GO) env GOROOT)/lib/wasm:$$PATH" GOOS=js GOARCH=wasm $(GO) test -count=1 ./wasm/...

vet: wasm-vet
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }

# The engine must compile unchanged for browsers and WASI.
wasm-vet:
	GOOS=js GOARCH=wasm $(GO) vet ./engine
	GOOS=wasip1 GOARCH=wasm $(GO) vet ./engine

# The edge verifier in WebAssembly (DESIGN section 6): dist/hcx.wasm for
# browsers, dist/hcx-wasi.wasm for WASI runtimes, the static page in
# dist/web/, and a copy of the page in server/webdist for `make build` to
# embed. None of it is committed.
.PHONY: wasm
WASM_FLAGS = -ldflags='-s -w' -trimpath
WEB_FILES  = index.html app.js hcx.d.ts wasm_exec.js hcx.wasm
wasm:
	GOOS=js GOARCH=wasm $(GO) build $(WASM_FLAGS) -o dist/hcx.wasm ./wasm/js
	GOOS=wasip1 GOARCH=wasm $(GO) build $(WASM_FLAGS) -o dist/hcx-wasi.wasm ./wasm/wasi
	mkdir -p dist/web
	cp wasm/web/index.html wasm/web/app.js wasm/web/hcx.d.ts wasm/web/config.json dist/hcx.wasm dist/web/
	cp "$$($(GO) env GOROOT)/lib/wasm/wasm_exec.js" dist/web/
	cd dist/web && cp $(WEB_FILES) ../../server/webdist/
	@echo "dist/hcx.wasm: $$(gzip -9 < dist/hcx.wasm | wc -c) bytes gzipped (budget 950 KB)"

demo:
	$(GO) run ./cmd/hcx demo

fmt:
	gofmt -w $$(git ls-files '*.go')

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
.PHONY: compare
compare:
	bash bench/compare.sh $(COMPARE_FLAGS)
