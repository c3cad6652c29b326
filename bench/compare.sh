#!/usr/bin/env bash
# make compare: hcx serve against a bare fasthttp server, a net/http server
# and Redis on the same IDs, in one run, and BENCHMARKS.md's compare section
# written from it. --short is the 2-second smoke run inside make test (it
# writes a temporary file, never BENCHMARKS.md). Needs wrk, redis-server and
# redis-tools (Debian: apt-get install -y wrk redis-server redis-tools).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOEXPERIMENT="${GOEXPERIMENT-simd}" # the vector build, as make builds it (Makefile)
exec go run ./bench/compare "$@"
