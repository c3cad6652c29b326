#!/usr/bin/env bash
# National scale: one day of the 40 regions of a national deployment
# (hcx gen --regions national), RECORDS records in all (100 million by
# default), from files to a served snapshot and a replica, measured:
#   generation and ingest time, peak memory of each (/usr/bin/time -v),
#   snapshot and edge-filter bytes, RSS of the server once loaded, lookup
#   ns per ID (bench/national lookup: the signed snapshot opened as hcx serve
#   opens it), a replica's full sync over loopback (start to ready), and the
#   server's single-GET and 1,000-ID batch throughput (hcx bench, closed
#   model) on 100,000 IDs, 1% listed.
# Prints a markdown summary with the targets (ingest under 60 s, served RSS
# under 3 GB, a replica in sync within 30 s). On a machine shared with other
# work, wall times measure the contention: the CPU times of generation and
# ingest are given beside them.
#
#   bash bench/national.sh                   # 100M records: about 25 GB of disk, 16 GB of RAM
#   RECORDS=10000000 bash bench/national.sh
#
# Environment: RECORDS (100000000), WORK (a directory for the data,
# removed at the end unless KEEP=1; default a new one under /tmp), OUT (where
# the raw measurements and the summary stay; default WORK's name with
# -report), DURATION of each throughput run (10s), NICE (-15: the measured
# processes take the CPU before other work of the same session; with the
# kernel's autogroups nice does little against other sessions' work).
# The body is one compound command, read whole before it runs: editing the
# file during a long run cannot change what runs.
{
set -euo pipefail
cd "$(dirname "$0")/.."
export GOEXPERIMENT="${GOEXPERIMENT-simd}" # the vector build, as make builds it (Makefile)
RECORDS=${RECORDS:-100000000} DURATION=${DURATION:-10s} NICE=${NICE:--15} KEEP=${KEEP:-0}
W=${WORK:-$(mktemp -d /tmp/hcx-national.XXXXXX)}
OUT=${OUT:-$W-report}
mkdir -p "$W" "$OUT"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  cp "$W"/*.time "$W"/*.json "$W"/*.log "$W"/*.out "$OUT/" 2>/dev/null || true
  [ "$KEEP" = 1 ] || rm -rf "$W"
}
trap cleanup EXIT
for t in /usr/bin/time curl python3; do command -v "$t" >/dev/null || { echo "national: $t is needed" >&2; exit 1; }; done
run=(nice -n "$NICE")
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ready() { for _ in $(seq 3000); do curl -fsS "$1/readyz" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "national: $1 never ready" >&2; exit 1; }
# timed NAME CMD...: runs CMD under /usr/bin/time -v; NAME.secs and NAME.kb hold wall seconds and peak RSS
timed() {
  local name=$1; shift
  "${run[@]}" /usr/bin/time -v -o "$W/$name.time" "$@" >"$W/$name.out" 2>"$W/$name.err" || { echo "national: $name failed: $(tail -3 "$W/$name.err")" >&2; exit 1; }
  awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$W/$name.time" >"$W/$name.secs"
  awk -F': ' '/Maximum resident set size/{print $2}' "$W/$name.time" >"$W/$name.kb"
  awk -F': ' '/User time|System time/{s+=$2} END{print s}' "$W/$name.time" >"$W/$name.cpu"
}
rss() { awk '/VmRSS/{printf "%.0f\n", $2*1024}' "/proc/$1/status"; }
log() { echo "national: $*" >&2; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

go build -o "$W/hcx" ./cmd/hcx
go build -o "$W/national" ./bench/national
H=$W/hcx
DATE=$(TZ=Asia/Shanghai date +%F)
LOAD0=$(load)
log "generating $RECORDS records for 40 regions ($DATE)"
timed gen "$H" gen --regions national --out "$W/gen" --date "$DATE" --records "$RECORDS" --seed 1
GEN_BYTES=$(cat "$W"/gen/*.csv.gz | wc -c)
"$H" init --data "$W/data" --regions national >/dev/null 2>&1
LOOKUP=$("$H" token add --data "$W/data" --role lookup 2>/dev/null)
REPLICA=$("$H" token add --data "$W/data" --role replica 2>/dev/null)
log "ingesting"
LOAD1=$(load)
timed ingest "$H" ingest --data "$W/data" "$W"/gen/*.csv.gz
SNAP_BYTES=$(stat -c %s "$W/data/snapshot.hcx")
"$H" edge export --data "$W/data" --out "$W/edge.bin" >/dev/null 2>&1
EDGE_BYTES=$(stat -c %s "$W/edge.bin")
DATA_BYTES=$(du -sb "$W/data" | cut -f1)
PEOPLE=$(grep -o '[0-9]* people' "$W/ingest.out" | tail -1 | cut -d' ' -f1)

log "sampling IDs, timing lookups"
"$W/national" sample --gen "$W/gen" --out "$W/ids.txt" --n 100000
rm -rf "$W/gen" # not needed any more: disk for the replica
LOOKUP_NS=$("${run[@]}" "$W/national" lookup --data "$W/data" --ids "$W/ids.txt")

log "serving"
PP=$(freeport)
"${run[@]}" "$H" serve --data "$W/data" --listen "127.0.0.1:$PP" >"$W/serve.log" 2>&1 &
SPID=$!; PIDS+=("$SPID")
ready "http://127.0.0.1:$PP"
sleep 3
RSS_SERVED=$(rss "$SPID")

log "replica: full sync"
mkdir -p "$W/replica"
cp "$W/data/pseudonym.key" "$W/data/signing.pub" "$W/data/regions" "$W/data/tokens" "$W/replica/"
echo "$REPLICA" >"$W/replica.token"
RP=$(freeport)
T0=$(date +%s.%N)
"${run[@]}" "$H" serve --data "$W/replica" --listen "127.0.0.1:$RP" --replica-of "http://127.0.0.1:$PP" --token-file "$W/replica.token" >"$W/replica.log" 2>&1 &
RPID=$!; PIDS+=("$RPID")
ready "http://127.0.0.1:$RP"
T1=$(date +%s.%N)
SYNC=$(python3 -c "print(f'{$T1 - $T0:.1f}')")
sleep 2
RSS_REPLICA=$(rss "$RPID")
kill "$RPID"; wait "$RPID" 2>/dev/null || true

log "throughput"
LOAD2=$(load)
"${run[@]}" "$H" bench --url "http://127.0.0.1:$PP" --token "$LOOKUP" --ids "$W/ids.txt" --duration "$DURATION" --connections 64 --json >"$W/get.json" 2>"$W/get.err" || true
"${run[@]}" "$H" bench --url "http://127.0.0.1:$PP" --token "$LOOKUP" --ids "$W/ids.txt" --duration "$DURATION" --connections 16 --batch 1000 --json >"$W/batch.json" 2>"$W/batch.err" || true
LOAD3=$(load)

{
echo "$RECORDS $PEOPLE $GEN_BYTES $SNAP_BYTES $EDGE_BYTES $DATA_BYTES $RSS_SERVED $RSS_REPLICA $SYNC | $LOOKUP_NS | $LOAD0 | $LOAD1 | $LOAD2 | $LOAD3" >"$OUT/raw.txt"
python3 - "$W" "$RECORDS" "$PEOPLE" "$GEN_BYTES" "$SNAP_BYTES" "$EDGE_BYTES" "$DATA_BYTES" "$RSS_SERVED" "$RSS_REPLICA" "$SYNC" "$LOOKUP_NS" \
  "$LOAD0" "$LOAD1" "$LOAD2" "$LOAD3" "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" \
  "$(awk '/MemTotal/{printf "%.0f", $2/1048576}' /proc/meminfo)" "$(git rev-parse --short HEAD)" "$(go version | cut -d' ' -f3)" <<'PY'
import json, sys
(w, records, people, gen_b, snap_b, edge_b, data_b, rss_s, rss_r, sync, lookup_ns,
 l0, l1, l2, l3, ncpu, cpu, mem, commit, gov) = sys.argv[1:]
records, people = int(records), int(people or 0)
num = lambda name: float(open(f"{w}/{name}").read().strip() or 0)
gen_s, ing_s = num("gen.secs"), num("ingest.secs")
gen_kb, ing_kb = num("gen.kb"), num("ingest.kb")
gen_cpu, ing_cpu = num("gen.cpu"), num("ingest.cpu")
def bench(name):
    try:
        return json.load(open(f"{w}/{name}.json"))
    except ValueError:
        return None
g, b = bench("get"), bench("batch")
GB = 1e9
def size(b):
    b = float(b)
    return f"{b/GB:.2f} GB" if b >= GB else f"{b/1e6:.1f} MB"
def verdict(v, lim, unit):
    return f"{v:.1f} {unit} (target < {lim} {unit}: **{'met' if v < lim else 'missed'}**)"
print(f"Machine: {ncpu} cores, {cpu}, {mem} GiB RAM, {gov}, commit {commit}. Load average (1, 5, 15 min): "
      f"{l0} before generating, {l1} before ingesting, {l2} and {l3} around the throughput runs.\n")
print(f"| measure | value |")
print(f"| --- | --- |")
print(f"| day | {records:,} records in 40 files (`hcx gen --regions national --seed 1`), {size(gen_b)} gzipped; {people:,} distinct people |")
print(f"| generation | {gen_s:.1f} s wall ({records/gen_s/1e6:.2f} M records/s), {gen_cpu:.1f} s of CPU, peak RSS {size(gen_kb*1024)} |")
print(f"| ingest (`hcx ingest`, 40 files to a signed snapshot and edge parts) | {verdict(ing_s, 60, 's')} wall, {records/ing_s/1e6:.2f} M rows/s; {ing_cpu:.1f} s of CPU (user + system); peak RSS {size(ing_kb*1024)} ({ing_kb*1024/records:.0f} B/row) |")
print(f"| snapshot file | {size(snap_b)} ({int(snap_b)/max(people,1):.1f} B/person) |")
print(f"| edge filter (`hcx edge export`) | {size(edge_b)} ({int(edge_b)*8/records:.1f} bits/listing) |")
print(f"| data directory | {size(data_b)} |")
served = verdict(int(rss_s)/GB, 3, "GB") if int(rss_s) >= GB/10 else size(rss_s) + " (target < 3 GB: **met**)"
print(f"| RSS served (`hcx serve`, loaded, idle) | {served}, {int(rss_s)/max(people,1):.1f} B/person |")
print(f"| replica full sync over loopback (start to ready) | {verdict(float(sync), 30, 's')}; replica RSS {size(rss_r)} |")
print(f"| lookups (in process) | {lookup_ns.splitlines()[-1].split(': ', 1)[-1]} ns/ID; {lookup_ns.splitlines()[0].split(', ', 1)[-1]} |")
for name, j, what in (("single GET, 64 connections", g, "requests/s"), ("batches of 1,000 IDs, 16 connections", b, "lookups/s")):
    if j is None:
        print(f"| {name} | no report |")
        continue
    rate = j["requests_per_sec"] if what == "requests/s" else j["lookups_per_sec"]
    print(f"| {name} (hcx bench, closed model) | {rate:,.0f} {what}, p50 {j['latency_ms']['p50']} ms, p99 {j['latency_ms']['p99']} ms, errors {j['errors']} |")
PY
} | tee "$OUT/summary.md"
exit
}
