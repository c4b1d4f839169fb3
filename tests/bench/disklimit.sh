#!/usr/bin/env bash
# ggaoed on the real disk against the limit Little's law sets for a network target at a fixed queue
# depth, and the price of honest durability. A file on the real disk (1 GiB in /var/tmp by default),
# O_DIRECT, q16 random I/O of one frame (17 sectors = 8704 bytes at MTU 9000):
#   randread     fio --direct=1                         vs  ggaoed (direct-io = true)
#   randwrite    fio --direct=1 --sync=dsync (O_DSYNC)  vs  ggaoed write-cache = false (the default:
#                                                            every answered write is durable, RWF_DSYNC)
#   randwrite    fio --direct=1 (no sync)               vs  ggaoed write-cache = true (answered when
#                                                            the disk has it, in its volatile cache)
# and the null target (no I/O) at q1, whose average latency is the network round trip RTT.
#
# Little's law: at queue depth N the initiator has N requests out; each spends L_disk = N / IOPS_fio at
# the disk (what the local fio run shows) plus the round trip on the wire, so at best
#   IOPS_aoe = N / (L_disk + RTT), i.e. IOPS_aoe / IOPS_fio <= L_disk / (L_disk + RTT).
# The table shows each ggaoed case's ratio to its fio baseline, the limit, and the ratio to the limit.
#
# CPU busy is CPU $TARGET_CPU's share in use over each case (target start and stop included): on a VM
# whose disk the host caches, a fast "disk" can make the CPU, not the disk, the limit, and the
# latency model above then does not hold.
#
# Rounds rotate the order of the tools so they share the machine's noise; medians are shown.
# usage: sudo tests/bench/disklimit.sh            (from the repository root)
# env:   GGAOED=path (default build/publish/ggaoed)  DIR=/var/tmp  SIZE_MIB=1024  MTU=9000  DURATION=5
#        REPEAT=3  DEPTH=16  ENGINES="io_uring" (io-engine values: each gets its own rows, e.g.
#        ENGINES="io_uring aio" compares the storage engines in the same run)  OUT=build/bench-disk  NICE=n
#        TARGET_CPU=0 GEN_CPU=1 FIO_CPU=TARGET_CPU  GGAOED_DEFAULTS="..."  BENCH_ARGS="..."  KEEP_IMG=1
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD
GGAOED=${GGAOED:-build/publish/ggaoed}
[[ $GGAOED = /* ]] || GGAOED="$ROOT/$GGAOED"
GGAOECTL="$GGAOED ctl"
DIR=${DIR:-/var/tmp}
SIZE_MIB=${SIZE_MIB:-1024}
MTU=${MTU:-9000}
DURATION=${DURATION:-5}
REPEAT=${REPEAT:-3}
DEPTH=${DEPTH:-16}
ENGINES=${ENGINES:-io_uring}
NICE=${NICE:-0}
TARGET_CPU=${TARGET_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
FIO_CPU=${FIO_CPU:-$TARGET_CPU}
SECTORS=$(( (MTU - 36) / 512 ))
BS=$(( SECTORS * 512 ))
OUT=${OUT:-build/bench-disk}
NS_T=gg-disk-t
NS_I=gg-disk-i
IF_T=gg-disk-t0
IF_I=gg-disk-i0
IMG=$DIR/gg-disk.img
TPID=

# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"
bench_prepare disklimit ip taskset jq fio dd
trap bench_cleanup EXIT INT TERM

bench_setup_link "$MTU"
# The write_cache setting (sysfs) of the disk holding $1: a whole disk has queue/ itself, a
# partition's is its parent's.
disk_write_cache() {
    local dev
    dev=/sys/dev/block/$(mountpoint -d "$(df --output=target "$1" | tail -1)")
    cat "$dev/queue/write_cache" 2>/dev/null || cat "$dev/../queue/write_cache" 2>/dev/null || echo unknown
}

echo "disk limit: ${SIZE_MIB} MiB file on $(df --output=fstype "$DIR" | tail -1) ($DIR), O_DIRECT, q$DEPTH random ${BS}-byte I/O, MTU $MTU, ${DURATION}s per run, $REPEAT rounds, io-engine $ENGINES; disk write cache: $(disk_write_cache "$DIR")"
bench_make_disk_file "$IMG" "$SIZE_MIB"

# fio JSON -> {iops, lat_us}; $1 = read or write.
fio_result() {
    jq -c --arg d "$1" '.jobs[0][$d] | {iops: (.iops | round), lat_us: {avg: (.lat_ns.mean / 1000), p50: (.clat_ns.percentile["50.000000"] / 1000), p99: (.clat_ns.percentile["99.000000"] / 1000)}}'
}

# $1 = randread|randwrite, $2 = extra fio options (e.g. --sync=dsync).
run_fio() {
    local rw=$1 extra=${2:-} dir=read
    [ "$rw" = randwrite ] && dir="write"
    # shellcheck disable=SC2086 # extra is a list of options
    nice -n "$NICE" taskset -c "$FIO_CPU" fio --name=local --filename="$IMG" --direct=1 --ioengine=io_uring --iodepth="$DEPTH" \
        --rw="$rw" --bs="$BS" --size="${SIZE_MIB}M" --time_based --runtime="$DURATION" $extra --output-format=json 2>/dev/null \
      | fio_result "$dir"
}

# $1 = randread|randwrite, $2 = write-cache value, $3 = depth, $4 = io-engine.
run_ggaoed() {
    local rw=$1 wc=$2 depth=$3 engine=$4
    bench_start_target "ggaoed-$engine" "" "direct-io = true\nwrite-cache = $wc" || return 0
    # shellcheck disable=SC2086 # GGAOECTL is a command prefix, BENCH_ARGS a list of words
    ip netns exec $NS_I nice -n "$NICE" taskset -c "$GEN_CPU" $GGAOECTL bench $IF_I --target 1.1 --depth "$depth" --sectors "$SECTORS" \
        --rw "$rw" --duration "$DURATION" ${BENCH_ARGS:-} --json || true
    bench_stop_target
}

run_null() {
    bench_start_target null || return 0
    # shellcheck disable=SC2086
    ip netns exec $NS_I nice -n "$NICE" taskset -c "$GEN_CPU" $GGAOECTL bench $IF_I --target 1.1 --depth 1 --sectors "$SECTORS" \
        --rw randread --duration "$DURATION" ${BENCH_ARGS:-} --json || true
    bench_stop_target
}

# name (ggaoed cases: CASE@ENGINE): how to run it
CASES=(fio-read fio-write-dsync fio-write null-q1)
for e in $ENGINES; do CASES+=("ggaoed-read@$e" "ggaoed-write-wc-off@$e" "ggaoed-write-wc-on@$e"); done
run_case() {
    case $1 in
        fio-read) run_fio randread ;;
        fio-write-dsync) run_fio randwrite --sync=dsync ;;
        fio-write) run_fio randwrite ;;
        ggaoed-read@*) run_ggaoed randread false "$DEPTH" "${1#*@}" ;;
        ggaoed-write-wc-off@*) run_ggaoed randwrite false "$DEPTH" "${1#*@}" ;;
        ggaoed-write-wc-on@*) run_ggaoed randwrite true "$DEPTH" "${1#*@}" ;;
        null-q1) run_null ;;
    esac
}

for rep in $(seq "$REPEAT"); do
    for k in $(seq 0 $(( ${#CASES[@]} - 1 ))); do
        who=${CASES[$(( (k + rep - 1) % ${#CASES[@]} ))]}
        echo "round $rep: $who" >&2
        before=$(bench_cpu_jiffies "$TARGET_CPU")
        json=$(run_case "$who") || json=
        busy=$(bench_cpu_busy "$before" "$(bench_cpu_jiffies "$TARGET_CPU")")
        [ -n "$json" ] && echo "$json" | jq -c --arg t "$who" --argjson r "$rep" --argjson busy "$busy" '. + {name: $t, round: $r, cpu_busy: $busy}' >> "$RESULTS"
    done
done

echo
echo "raw results: $RESULTS"
echo
# shellcheck disable=SC2086 # ENGINES is a list of words
ENGINE_LIST=$(printf '%s\n' $ENGINES | jq -R . | jq -sc .)
jq -L "$ROOT/tests/bench" -rs --argjson n "$DEPTH" --argjson engines "$ENGINE_LIST" 'include "tables";
  def iops(t): one(t) | map(.iops) | med;
  (one("null-q1") | map(.lat_us.avg) | med) as $rtt_us
  | def row(g; f; what):
      (iops(f)) as $fio | (iops(g)) as $agg
      | ($n / $fio * 1e6) as $l_us
      | ($l_us / ($l_us + $rtt_us)) as $limit
      | def busy(t): one(t) | map(.cpu_busy // empty) | if length > 0 then med else null end;
      [what, "\($agg)", "\($fio)", r2(ratio(g; f)), r2($limit), r2(ratio(g; f) / $limit),
         "\(busy(g) // "-") / \(busy(f) // "-")"];
  ["case", "ggaoed IOPS", "fio IOPS", "ratio", "limit", "of limit", "CPU busy ggaoed / fio"],
  ($engines[] as $e |
    row("ggaoed-read@\($e)"; "fio-read"; "randread O_DIRECT (\($e))"),
    row("ggaoed-write-wc-off@\($e)"; "fio-write-dsync"; "randwrite write-cache=false vs fio sync=dsync (\($e))"),
    row("ggaoed-write-wc-on@\($e)"; "fio-write"; "randwrite write-cache=true vs plain fio (\($e))")),
  ["RTT (null target, q1 avg)", "\($rtt_us | round) us", "", "", "", "", ""]
  | @tsv' "$RESULTS" | column -t -s $'\t'
echo "(medians over rounds; ratio: the median of each round's ratio; limit = L_disk / (L_disk + RTT), L_disk = $DEPTH / fio IOPS;"
echo " CPU busy: the share of CPU $TARGET_CPU (the target's, and fio's) in use during the run: near 1, the CPU, not the disk, sets the pace)"
