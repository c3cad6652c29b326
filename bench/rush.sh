#!/usr/bin/env bash
# Rush hour: hcx serve answering single GETs at fixed rates, with hcx
# bench's open model (each request is due at its slot and its latency counts
# from then, so a server falling behind shows in the percentiles, and a slot
# not answered by the end counts as late). A bare fasthttp server over a Go
# map (bench/baseline) runs the same rates in the same rounds as a control:
# on a machine shared with other work, what the control suffers is the
# machine, not hcx. Rounds are interleaved (every rate and server once per
# round) so that load from other work hits all alike; the summary gives the
# median round and the load average seen. Then the first rate at which
# hcx's median p99 passes 10 ms.
#
#   bash bench/rush.sh
#   RATES="10000 40000" ROUNDS=1 DURATION=5s bash bench/rush.sh
#
# Environment: RECORDS (1000000), RATES ("10000 20000 30000 40000 50000"),
# ROUNDS (3), DURATION (10s), WARMUP (2s), CONNS (256), PIN (1: servers on
# CPU 0, client on CPU 1, with taskset), NICE (-15: server and client take
# the CPU before other work of the same session; with the kernel's
# autogroups (/proc/sys/kernel/sched_autogroup_enabled) nice does little
# against other sessions' work, which shares the CPU by session), OUT (a
# directory to keep the JSON reports in).
# The body is one compound command, read whole before it runs: editing the
# file during a long run cannot change what runs.
{
set -euo pipefail
cd "$(dirname "$0")/.."
export GOEXPERIMENT="${GOEXPERIMENT-simd}" # the vector build, as make builds it (Makefile)
RECORDS=${RECORDS:-1000000} RATES=${RATES:-"10000 20000 30000 40000 50000"} ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s} WARMUP=${WARMUP:-2s} CONNS=${CONNS:-256} PIN=${PIN:-1} NICE=${NICE:--15}
T=$(mktemp -d /tmp/hcx-rush.XXXXXX)
OUT=${OUT:-$T/reports}
mkdir -p "$OUT"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$T/data" "$T/gen"
}
trap cleanup EXIT
srv=(nice -n "$NICE") cli=(nice -n "$NICE")
if [ "$PIN" = 1 ]; then srv+=(taskset -c 0) cli+=(taskset -c 1); fi
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ready() { for _ in $(seq 300); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "rush: $1 never ready" >&2; exit 1; }

go build -o "$T/hcx" ./cmd/hcx
go build -o "$T/fasthttpmap" ./bench/baseline/fasthttpmap
H=$T/hcx
"$H" init --data "$T/data" >/dev/null 2>&1
TOKEN=$("$H" token add --data "$T/data" --role lookup 2>/dev/null)
DATE=$(TZ=Asia/Shanghai date +%F)
"$H" gen --out "$T/gen" --date "$DATE" --records "$RECORDS" --seed 31 >/dev/null
"$H" ingest --data "$T/data" "$T"/gen/*.csv.gz >/dev/null 2>&1
HP=$(freeport) BP=$(freeport)
"${srv[@]}" "$H" serve --data "$T/data" --listen "127.0.0.1:$HP" >"$T/serve.log" 2>&1 &
PIDS+=($!)
"${srv[@]}" "$T/fasthttpmap" --data "$T/gen" --listen "127.0.0.1:$BP" >"$T/baseline.log" 2>&1 &
PIDS+=($!)
ready "http://127.0.0.1:$HP/readyz"
ready "http://127.0.0.1:$BP/readyz"

{
  echo "machine=$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr), $(go version | cut -d' ' -f3)"
  echo "commit=$(git rev-parse --short HEAD)"
  echo "setup=$RECORDS records (hcx gen --seed 31 --date $DATE), 1% listed IDs; $CONNS connections; $ROUNDS rounds of $WARMUP warmup + $DURATION per rate and server; pinned $PIN; nice $NICE"
} >"$OUT/setup.txt"
: >"$OUT/runs.txt"
for round in $(seq "$ROUNDS"); do
  for r in $RATES; do
    for s in hcx baseline; do
      url=http://127.0.0.1:$HP tok=(--token "$TOKEN")
      [ "$s" = baseline ] && url=http://127.0.0.1:$BP tok=()
      before=$(cut -d' ' -f1 /proc/loadavg)
      "${cli[@]}" "$H" bench --url "$url" "${tok[@]}" --data "$T/gen" --rate "$r" --duration "$DURATION" \
        --warmup "$WARMUP" --connections "$CONNS" --json >"$OUT/$s-$r-$round.json" 2>"$OUT/$s-$r-$round.err" || true
      echo "$s $r $round $before $(cut -d' ' -f1 /proc/loadavg)" >>"$OUT/runs.txt"
      echo "round $round: $s at $r/s done" >&2
    done
  done
done

python3 - "$OUT" <<'PY'
import json, sys, statistics
out = sys.argv[1]
setup = dict(l.rstrip("\n").split("=", 1) for l in open(out + "/setup.txt"))
runs = {}
for line in open(out + "/runs.txt"):
    s, r, rnd, la0, la1 = line.split()
    try:
        j = json.load(open(f"{out}/{s}-{r}-{rnd}.json"))
    except ValueError:
        print(f"{s} at {r}/s round {rnd}: no report (see {out}/{s}-{r}-{rnd}.err)", file=sys.stderr)
        continue
    runs.setdefault((s, int(r)), []).append((j, float(la0), float(la1)))
print(f"Machine: {setup['machine']}; commit {setup['commit']}.")
print(f"Setup: {setup['setup']}.\n")
print("| rate asked | server | answered/s | late | p50 ms | p99 ms | p99.9 ms | max ms | client send lag p99 ms | errors | load avg (1 min) |")
print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
med = lambda xs: statistics.median(xs)
cross = None
for (s, r) in sorted(runs, key=lambda k: (k[1], k[0] != "hcx")):
    rs = runs[(s, r)]
    lat = lambda k: med([j["latency_ms"][k] for j, _, _ in rs])
    las = [x for _, a, b in rs for x in (a, b)]
    name = "hcx serve" if s == "hcx" else "fasthttp + map"
    p99 = lat("p99")
    print(f"| {r:,} | {name} | {med([j['requests_per_sec'] for j, _, _ in rs]):,.0f} | {med([j['late'] for j, _, _ in rs]):.0f} | "
          f"{lat('p50'):.3f} | {p99:.3f} | {lat('p999'):.3f} | {lat('max'):.1f} | {med([(j.get('send_lag_ms') or {}).get('p99', 0) for j, _, _ in rs]):.3f} | "
          f"{sum(j['errors'] for j, _, _ in rs)} | {min(las):.1f}-{max(las):.1f} |")
    if s == "hcx" and p99 > 10 and cross is None:
        cross = r
print()
print(f"Medians of {len(next(iter(runs.values())))} rounds. hcx's median p99 first passes 10 ms at: " + (f"{cross:,} requests/s" if cross else "none of these rates"))
PY
exit
}
