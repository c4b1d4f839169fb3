#!/usr/bin/env bash
# Compares AoE targets on a veth pair between two private network namespaces:
#   vblade (Debian), ggaoed (the published binary) and the null target (no I/O: the ceiling).
# Each target runs pinned to CPU 0, the load generator (ggaoectl bench) to CPU 1. The exported file is
# 1 GiB, preallocated on tmpfs (/dev/shm), so the numbers measure the AoE path, not a disk.
#
# usage: sudo tests/bench/compare.sh            (from the repository root)
# env:   GGAOED=path      the published binary (default build/publish/ggaoed, built with dotnet publish
#                         when missing); its daemon row is skipped if it does not answer discovery
#        GGAOECTL="cmd"   command prefix for discover/bench/null-target (default: "$GGAOED ctl")
#        DURATION=5       seconds per measurement;  MTUS="9000 1500";  TARGETS="vblade ggaoed null"
#                         (ggaoed-io_uring, ggaoed-aio: the daemon with that io-engine; with both, a
#                         second table compares the storage engines)
#        BASELINE=path    another build of ggaoed (e.g. an older commit's publish output); targets
#                         baseline and baseline-ENGINE run it like ggaoed and ggaoed-ENGINE, and a
#                         table compares each ggaoed target with its baseline in the same run
#        OUT=dir          where raw JSON results go (default build/bench)
#        REPEAT=1         rounds per MTU; each round runs every target once, in a rotated order, so
#                         the targets share the machine's noise; the table shows medians over rounds
#                         (ratios: the median of each round's ratio)
#        GGAOED_DEFAULTS="..." more [defaults] lines for the daemon (e.g. "busy-poll = 200"; \n separates lines)
#        BENCH_ARGS="..." extra arguments for every ggaoectl bench run (e.g. --spin: the generator busy-polls)
#        NICE=n           run target and generator at this nice level (e.g. -10): on a shared machine
#                         the other load then steals fewer time slices from the measurement
#        TARGET_CPU=0 GEN_CPU=1  where the targets and the generator run
#        IMG_DIR=/dev/shm where the 1 GiB file lives (e.g. a tmpfs mounted with huge=always)
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD
GGAOED=${GGAOED:-build/publish/ggaoed}
DURATION=${DURATION:-5}
MTUS=${MTUS:-"9000 1500"}
TARGETS=${TARGETS:-"vblade ggaoed null"}
OUT=${OUT:-build/bench}
REPEAT=${REPEAT:-1}
NICE=${NICE:-0}
TARGET_CPU=${TARGET_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
NS_T=gg-bench-t
NS_I=gg-bench-i
IF_T=gg-bench-t0
IF_I=gg-bench-i0
IMG_DIR=${IMG_DIR:-/dev/shm}
IMG=$IMG_DIR/gg-bench-$$.img
TPID=

[ "$(id -u)" = 0 ] || { echo "compare.sh: needs root (network namespaces, raw sockets)" >&2; exit 1; }
for tool in ip taskset fallocate jq; do
    command -v $tool >/dev/null || { echo "compare.sh: missing $tool" >&2; exit 1; }
done
if ! command -v vblade >/dev/null && [[ " $TARGETS " == *" vblade "* ]]; then
    echo "installing vblade..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y vblade >/dev/null || TARGETS=${TARGETS/vblade/}
fi

# The binary carries both the daemon and ggaoectl (`ggaoed ctl ...`): build it when the default path is empty.
[[ $GGAOED = /* ]] || GGAOED="$ROOT/$GGAOED"
if [ ! -x "$GGAOED" ] && [ -z "${GGAOECTL:-}" ]; then
    echo "building $GGAOED (dotnet publish Ggaoed/Ggaoed.csproj -c Release -o $(dirname "$GGAOED"))..." >&2
    dotnet publish Ggaoed/Ggaoed.csproj -c Release -o "$(dirname "$GGAOED")" >/dev/null
fi
GGAOECTL=${GGAOECTL:-"$GGAOED ctl"}
$GGAOECTL bench --help 2>/dev/null | grep -q "ggaoectl bench" || { echo "compare.sh: '$GGAOECTL bench' does not work" >&2; exit 1; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
RESULTS="$OUT/results-$(date -u +%Y%m%dT%H%M%S).jsonl"
: > "$RESULTS"

# utime + stime of all threads of process $1, in clock ticks.
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"
trap bench_cleanup EXIT INT TERM


WORKLOADS=("q16-randread:--depth 16 --rw randread"
           "q16-randwrite:--depth 16 --rw randwrite"
           "q16-seqwrite:--depth 16 --rw write"
           "q1-randread:--depth 1 --rw randread")

echo "AoE target comparison: ${DURATION}s per run; target on CPU $TARGET_CPU, generator on CPU $GEN_CPU; 1 GiB file in $IMG_DIR ($(df --output=fstype "$IMG_DIR" | tail -1))"
fallocate -l 1G "$IMG"
read -r -a TARGET_LIST <<< "$TARGETS"
for mtu in $MTUS; do
    bench_setup_link "$mtu"
    for rep in $(seq "$REPEAT"); do
        for k in "${!TARGET_LIST[@]}"; do
            target=${TARGET_LIST[$(( (k + rep - 1) % ${#TARGET_LIST[@]} ))]}
            echo "mtu $mtu round $rep: $target" >&2
            bench_start_target "$target" || continue
            for w in "${WORKLOADS[@]}"; do
                name=${w%%:*}
                args=${w#*:}
                cpu0=$(cpu_ticks "$TPID")
                # shellcheck disable=SC2086
                if json=$(ip netns exec $NS_I nice -n "$NICE" taskset -c "$GEN_CPU" $GGAOECTL bench $IF_I --target 1.1 $args ${BENCH_ARGS:-} --duration "$DURATION" --json); then :; fi
                if [ -n "$json" ]; then
                    echo "$json" | jq -c --arg t "$target" --arg w "$name" --argjson m "$mtu" --argjson r "$rep" --argjson c "$(( $(cpu_ticks "$TPID") - cpu0 ))" --argjson hz "$(getconf CLK_TCK)" \
                        '. + {name: $t, workload: $w, mtu: $m, round: $r, target_cpu_s: ($c / $hz),
                              target_cpu_us_per_req: (if .requests > 0 then ($c / $hz * 1e6 / .requests * 100 | round) / 100 else null end)}' >> "$RESULTS"
                fi
            done
            if [[ $target == ggaoed* || $target == baseline* ]] && [ -S "$OUT/ggaoed.sock" ]; then
                $GGAOECTL -s "$OUT/ggaoed.sock" --json stats > "$OUT/$target-stats-$mtu-$rep.json" 2>/dev/null || true
            fi
            bench_stop_target
        done
    done
done

echo
echo "raw results: $RESULTS"
echo
jq -L "$ROOT/tests/bench" -rs 'include "tables";
  def f(x): if x == null then "-" else (x | tostring) end;
  def cell(n): one(n) | if length == 0 then "-" else
      "\(map(.iops) | med) \(map(.lat_us.avg) | med)/\(map(.lat_us.p50) | med)/\(map(.lat_us.p99) | med) \(map(.lat_us.max) | max | round) \(map(.retransmits) | add) \(map(.target_cpu_us_per_req) | med)" end;
  (group_by([.mtu, .workload]) | sort_by(-.[0].mtu, .[0].workload)) as $rows
  | ["mtu", "workload", "B/req", "rounds", "vblade IOPS avg/p50/p99us max rtx cpu", "ggaoed IOPS avg/p50/p99us max rtx cpu", "null IOPS avg/p50/p99us max rtx cpu", "ggaoed/vblade", "ggaoed/null", "vblade/null"],
    ($rows[] | [f(.[0].mtu), .[0].workload, f(.[0].bytes_per_request), f(map(.round) | max),
       cell("vblade"), cell("ggaoed"), cell("null"),
       r2(ratio("ggaoed"; "vblade")), r2(ratio("ggaoed"; "null")), r2(ratio("vblade"; "null"))])
  | @tsv' "$RESULTS" | column -t -s $'\t'
echo "(IOPS and latencies: medians over rounds; max: worst single request; rtx: retransmits summed over rounds;"
echo " cpu: the target's CPU time per request in us, median over rounds: the cost that noise does not blur)"
errs=$(jq -s 'map(.errors + .retransmits) | add // 0' "$RESULTS")
[ "$errs" = 0 ] || echo "note: $errs errors+retransmits in total; see $RESULTS"
# Two targets of this run side by side per MTU and workload: $1 and $2 (names), $3 and $4 (column
# headers), $5 the title. Cells: IOPS, avg latency and target CPU per request (medians over rounds);
# ratio: the median of each round's $1/$2 IOPS.
pair_table() {
    echo
    echo "$5, same run (IOPS avg-latency-us cpu-us-per-request, medians over rounds; ratio: median of each round's IOPS ratio):"
    jq -L "$ROOT/tests/bench" -rs --arg a "$1" --arg b "$2" --arg ha "$3" --arg hb "$4" 'include "tables";
      def cell(n): one(n) | if length == 0 then "-" else "\(map(.iops) | med) \(map(.lat_us.avg) | med) \(map(.target_cpu_us_per_req) | med)" end;
      (group_by([.mtu, .workload]) | sort_by(-.[0].mtu, .[0].workload)) as $rows
      | ["mtu", "workload", $ha, $hb, "\($ha)/\($hb)"],
        ($rows[] | [(.[0].mtu | tostring), .[0].workload, cell($a), cell($b), r2(ratio($a; $b))])
      | @tsv' "$RESULTS" | column -t -s $'\t'
}
if [[ " $TARGETS " == *" ggaoed-io_uring "* && " $TARGETS " == *" ggaoed-aio "* ]]; then
    pair_table ggaoed-io_uring ggaoed-aio io_uring aio "storage engines"
fi
for base in $TARGETS; do
    [[ $base == baseline* ]] || continue
    this=ggaoed${base#baseline}
    [[ " $TARGETS " == *" $this "* ]] || continue
    pair_table "$this" "$base" "$this" "$base" "$this against $base ($BASELINE)"
done
