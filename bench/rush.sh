#!/usr/bin/env bash
# Rush hour: hcx serve answering single GETs at fixed rates (hcx bench's
# open model: each request is due at its slot, and its latency counts from
# then, so a server falling behind shows in the percentiles), on a real data
# dir with one generated day. Prints one markdown row per rate with the
# load average before and after, then the first rate at which p99 passes
# 10 ms (a sweep in STEP requests/s from the last fixed rate, then halving
# the step between the last rate under and the first over).
#
#   bash bench/rush.sh                       # 10k, 20k, 40k and the sweep
#   RATES="10000" SWEEP=0 bash bench/rush.sh
#
# Environment: RECORDS (1000000), RATES ("10000 20000 40000"), DURATION
# (20s), WARMUP (3s), CONNS (256), PIN (1: server on CPU 0, client on CPU 1,
# with taskset), NICE (-15: on a machine shared with other work, server and
# client take the CPU first; 0 to run as any process), SWEEP (1), STEP
# (5000), MAXRATE (100000), OUT (a directory to keep the JSON reports in).
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS=${RECORDS:-1000000} RATES=${RATES:-"10000 20000 40000"} DURATION=${DURATION:-20s} WARMUP=${WARMUP:-3s}
CONNS=${CONNS:-256} PIN=${PIN:-1} NICE=${NICE:--15} SWEEP=${SWEEP:-1} STEP=${STEP:-5000} MAXRATE=${MAXRATE:-100000}
T=$(mktemp -d /tmp/hcx-rush.XXXXXX)
OUT=${OUT:-$T/reports}
mkdir -p "$OUT"
SERVER_PID=
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T/data" "$T/gen"; }
trap cleanup EXIT
srv=(nice -n "$NICE") cli=(nice -n "$NICE")
if [ "$PIN" = 1 ]; then srv+=(taskset -c 0) cli+=(taskset -c 1); fi

go build -o "$T/hcx" ./cmd/hcx
H=$T/hcx
"$H" init --data "$T/data" >/dev/null 2>&1
TOKEN=$("$H" token add --data "$T/data" --role lookup 2>/dev/null)
DATE=$(TZ=Asia/Shanghai date +%F)
"$H" gen --out "$T/gen" --date "$DATE" --records "$RECORDS" --seed 31 >/dev/null
"$H" ingest --data "$T/data" "$T"/gen/*.csv.gz >/dev/null 2>&1
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"${srv[@]}" "$H" serve --data "$T/data" --listen "127.0.0.1:$PORT" >"$T/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 150); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr), $(go version | cut -d' ' -f3), commit $(git rev-parse --short HEAD)"
echo "data: $RECORDS records (hcx gen --seed 31 --date $DATE), 1% listed IDs; $CONNS connections, ${WARMUP} warmup + $DURATION per rate; pinned: $PIN; nice $NICE"
echo
echo "| rate asked | answered/s | late | p50 ms | p99 ms | p99.9 ms | max ms | send lag p99 ms | errors | load avg before | after |"
echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"
# one RATE: runs hcx bench, prints the row, leaves p99 in $P99
one() {
  local r=$1 before after
  before=$(cut -d' ' -f1-3 /proc/loadavg)
  "${cli[@]}" "$H" bench --url "http://127.0.0.1:$PORT" --token "$TOKEN" --data "$T/gen" --rate "$r" \
    --duration "$DURATION" --warmup "$WARMUP" --connections "$CONNS" --json >"$OUT/rate-$r.json" 2>"$OUT/rate-$r.err" || true
  after=$(cut -d' ' -f1-3 /proc/loadavg)
  P99=$(python3 - "$OUT/rate-$r.json" "$r" "$before" "$after" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); r = float(sys.argv[2]); l = j["latency_ms"]; g = j.get("send_lag_ms") or {}
print(f"| {r:,.0f} | {j['requests_per_sec']:,.0f} | {j['late']} | {l['p50']:.3f} | {l['p99']:.3f} | {l['p999']:.3f} | {l['max']:.1f} | {g.get('p99', 0):.3f} | {j['errors']} | {sys.argv[3]} | {sys.argv[4]} |", file=sys.stderr)
print(l["p99"])
PY
  )
}
last_under=0 first_over=0
for r in $RATES; do
  one "$r"
  if python3 -c "import sys; sys.exit(0 if $P99 > 10 else 1)"; then
    [ "$first_over" = 0 ] && first_over=$r
  else
    last_under=$r
  fi
done 2>&1
if [ "$SWEEP" = 1 ]; then
  r=$last_under
  while [ "$first_over" = 0 ] && [ "$r" -lt "$MAXRATE" ]; do
    r=$((r + STEP)); one "$r" 2>&1
    if python3 -c "import sys; sys.exit(0 if $P99 > 10 else 1)"; then first_over=$r; else last_under=$r; fi
  done
  step=$(( (first_over - last_under) / 2 ))
  while [ "$first_over" != 0 ] && [ "$step" -ge 1000 ]; do
    r=$((last_under + step)); one "$r" 2>&1
    if python3 -c "import sys; sys.exit(0 if $P99 > 10 else 1)"; then first_over=$r; else last_under=$r; fi
    step=$(( (first_over - last_under) / 2 ))
  done
  echo
  echo "p99 passes 10 ms between $last_under and $first_over requests/s"
fi
