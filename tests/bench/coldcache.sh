#!/usr/bin/env bash
# The cold-cache case: a file on the real disk (2 GiB in /var/tmp by default), exported with
# direct-io = false (buffered), its pages dropped before every run, q16 random reads of one frame
# (17 sectors = 8704 bytes at MTU 9000):
#   fio     local baseline on the same file: --ioengine=io_uring --direct=0 --iodepth=16
#   ggaoed  the published daemon through AoE over a veth pair (ggaoectl bench), once per io-engine
# The target and fio run on CPU 0, the generator on CPU 1 (TARGET_CPU, GEN_CPU, FIO_CPU). Each run
# starts cold (only this file's pages are dropped, with POSIX_FADV_DONTNEED; the rest of the machine's
# cache is left alone) and warms the cache as it goes, for fio and ggaoed alike. Rounds rotate the
# order of the tools so they share the machine's noise; the table shows medians and the median of
# each round's ratio to fio.
#
# usage: sudo tests/bench/coldcache.sh            (from the repository root)
# env:   GGAOED=path (default build/publish/ggaoed)  DIR=/var/tmp  SIZE_MIB=2048  MTU=9000  DURATION=5
#        REPEAT=3  ENGINES="io_uring aio" (the io-engine values to run ggaoed with)  DEPTH=16
#        OUT=build/bench-cold  NICE=n  TARGET_CPU=0 GEN_CPU=1 FIO_CPU=TARGET_CPU
#        GGAOED_DEFAULTS="..." more [defaults] lines for the daemon (\n separates lines)
#        BENCH_ARGS="..." extra arguments for every ggaoectl bench run
#        KEEP_IMG=1 keeps the file for the next run (writing 2 GiB takes a while)
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD
GGAOED=${GGAOED:-build/publish/ggaoed}
[[ $GGAOED = /* ]] || GGAOED="$ROOT/$GGAOED"
GGAOECTL="$GGAOED ctl"
DIR=${DIR:-/var/tmp}
SIZE_MIB=${SIZE_MIB:-2048}
MTU=${MTU:-9000}
DURATION=${DURATION:-5}
REPEAT=${REPEAT:-3}
ENGINES=${ENGINES:-"io_uring aio"}
DEPTH=${DEPTH:-16}
NICE=${NICE:-0}
TARGET_CPU=${TARGET_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
FIO_CPU=${FIO_CPU:-$TARGET_CPU}
SECTORS=$(( (MTU - 36) / 512 ))
BS=$(( SECTORS * 512 ))
OUT=${OUT:-build/bench-cold}
NS_T=gg-cold-t
NS_I=gg-cold-i
IF_T=gg-cold-t0
IF_I=gg-cold-i0
IMG=$DIR/gg-cold.img
TPID=

# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"
bench_prepare coldcache ip taskset jq fio dd
trap bench_cleanup EXIT INT TERM

bench_setup_link "$MTU"
echo "cold-cache case: ${SIZE_MIB} MiB file on $(df --output=fstype "$DIR" | tail -1) ($DIR), buffered, cache dropped before each run, q$DEPTH random ${BS}-byte reads, MTU $MTU, ${DURATION}s per run, $REPEAT rounds, engines: $ENGINES${GGAOED_DEFAULTS:+, ggaoed $GGAOED_DEFAULTS}"
bench_make_disk_file "$IMG" "$SIZE_MIB"

run_fio() {
    bench_drop_file_cache "$IMG"
    nice -n "$NICE" taskset -c "$FIO_CPU" fio --name=local --filename="$IMG" --direct=0 --ioengine=io_uring --iodepth="$DEPTH" \
        --rw=randread --bs="$BS" --size="${SIZE_MIB}M" --time_based --runtime="$DURATION" --output-format=json 2>/dev/null \
      | jq -c '.jobs[0].read | {iops: (.iops | round), lat_us: {avg: (.lat_ns.mean / 1000), p50: (.clat_ns.percentile["50.000000"] / 1000), p99: (.clat_ns.percentile["99.000000"] / 1000)}}'
}

run_ggaoed() {
    local engine=$1
    mkdir -p "$OUT/ggaoed-state"
    printf '[defaults]\ninterfaces = %s\npid-file = %s\ncontrol-socket = %s\nstate-directory = %s\n%b\n\n[cold]\npath = %s\nshelf = 1\nslot = 1\ndirect-io = false\nio-engine = %s\n' \
        "$IF_T" "$OUT/ggaoed.pid" "$OUT/ggaoed.sock" "$OUT/ggaoed-state" "${GGAOED_DEFAULTS:-}" "$IMG" "$engine" > "$OUT/ggaoed-cold.conf"
    bench_start_ggaoed "$OUT/ggaoed-cold.conf" || return 0
    bench_wait_discovered 1 1 || return 0
    bench_drop_file_cache "$IMG"
    # shellcheck disable=SC2086 # GGAOECTL is a command prefix, BENCH_ARGS a list of words
    ip netns exec $NS_I nice -n "$NICE" taskset -c "$GEN_CPU" $GGAOECTL bench $IF_I --target 1.1 --depth "$DEPTH" --sectors "$SECTORS" \
        --rw randread --duration "$DURATION" ${BENCH_ARGS:-} --json || true
    # shellcheck disable=SC2086
    $GGAOECTL -s "$OUT/ggaoed.sock" --json stats > "$OUT/ggaoed-stats-$engine-$rep.json" 2>/dev/null || true
    bench_stop_target
}

TOOLS=(fio)
for e in $ENGINES; do TOOLS+=("ggaoed-$e"); done
for rep in $(seq "$REPEAT"); do
    for k in $(seq 0 $(( ${#TOOLS[@]} - 1 ))); do
        who=${TOOLS[$(( (k + rep - 1) % ${#TOOLS[@]} ))]}
        echo "round $rep: $who" >&2
        if [ "$who" = fio ]; then json=$(run_fio) || json=; else json=$(run_ggaoed "${who#ggaoed-}"); fi
        [ -n "$json" ] && echo "$json" | jq -c --arg t "$who" --arg w "q$DEPTH-randread-cold" --argjson r "$rep" '. + {name: $t, workload: $w, round: $r}' >> "$RESULTS"
    done
done

echo
echo "raw results: $RESULTS"
echo
TOOL_LIST=$(printf '%s\n' "${TOOLS[@]}" | jq -R . | jq -sc .)
jq -L "$ROOT/tests/bench" -rs --argjson tools "$TOOL_LIST" 'include "tables";
  def cell(n): one(n) | if length == 0 then "-" else
      "\(map(.iops) | med) \(map(.lat_us.avg) | med | round)/\(map(.lat_us.p99) | med | round)" end;
  ["tool", "rounds", "IOPS avg/p99us", "ratio to fio"],
  ($tools[] as $t | [$t, (one($t) | length | tostring), cell($t), (if $t == "fio" then "1" else r2(ratio($t; "fio")) end)])
  | @tsv' "$RESULTS" | column -t -s $'\t'
echo "(medians over rounds; ratios: the median of each round's ratio; target ratio: ggaoed >= 0.85 x fio io_uring buffered)"
