# hcx build and test entry points. `make test` is what CI runs.
GO       ?= go
BENCHTIME ?= 1s
COUNT    ?= 10

.PHONY: build test vet fmt bench fuzz wasm-vet demo

build:
	$(GO) build -o bin/hcx ./cmd/hcx

# vet (including the js/wasm and wasip1 builds of the engine), then every test
# with the race detector.
test: vet
	$(GO) test -race -count=1 ./...
	bash bench/compare.sh --short

vet: wasm-vet
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }

# The engine must compile unchanged for browsers and WASI.
wasm-vet:
	GOOS=js GOARCH=wasm $(GO) vet ./engine
	GOOS=wasip1 GOARCH=wasm $(GO) vet ./engine

demo:
	$(GO) run ./cmd/hcx demo

fmt:
	gofmt -w $$(git ls-files '*.go')

# Hot-path benchmarks; HCX_BENCH_LARGE=1 adds n=1e7. Compare with benchstat.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(COUNT) ./engine/...

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
# short mode, which writes only a temporary file.
.PHONY: compare
compare:
	bash bench/compare.sh
