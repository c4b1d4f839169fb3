#!/usr/bin/env bash
# The production case: a 1 GiB preallocated file on a real file system (ext4 under /var/tmp by
# default), opened with O_DIRECT. Measures, at one request size, q16 random read, random write and
# sequential write:
#   fio     local baseline on the file itself: --direct=1 --ioengine=libaio --iodepth=16
#   ggaoed  the published daemon with direct-io = true, through AoE over a veth pair (ggaoectl bench)
#   vblade  Debian's vblade -d (O_DIRECT), same path
# The AoE targets run on CPU 0 and the generator on CPU 1 (as in compare.sh; TARGET_CPU, GEN_CPU); fio runs
# where the targets do (FIO_CPU).
# Rounds rotate the order of the three so they share the machine's noise; the table shows medians and
# the median of each round's ratio to fio.
#
# usage: sudo tests/bench/production.sh            (from the repository root)
# env:   GGAOED=path (default build/publish/ggaoed)  DIR=/var/tmp  MTU=9000  DURATION=5  REPEAT=3
#        SECTORS=n (default: the most one frame holds, 17 at MTU 9000)  OUT=build/bench-prod
#        NICE=n (e.g. -10: targets, generator and fio at that nice level; see compare.sh)
#        GGAOED_DEFAULTS="..." more [defaults] lines for the daemon (e.g. "busy-poll = 200"; \n separates lines)
#        BENCH_ARGS="..." extra arguments for every ggaoectl bench run (e.g. --spin: the generator busy-polls)
#        DEPTH=16 (the AoE generator's queue depth; fio stays at 16)
#        TARGET_CPU=0 GEN_CPU=1 (where the AoE targets and the generator run; FIO_CPU defaults to TARGET_CPU)
#        DISK_TRACE=1 samples the disk's block-layer events (tracefs) for 0.5 s in the middle of every run
#                     and shows how long the disk held no request, and all DEPTH of them
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD
GGAOED=${GGAOED:-build/publish/ggaoed}
[[ $GGAOED = /* ]] || GGAOED="$ROOT/$GGAOED"
GGAOECTL="$GGAOED ctl"
DIR=${DIR:-/var/tmp}
MTU=${MTU:-9000}
DURATION=${DURATION:-5}
REPEAT=${REPEAT:-3}
NICE=${NICE:-0}
DEPTH=${DEPTH:-16}
TARGET_CPU=${TARGET_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
# fio runs on the target's CPU by default: where the I/O is submitted matters on its own here (the
# disk's interrupts all land on CPU 1, and fio gets 10-15 % more from CPU 1 than from CPU 0), so the
# ceiling comes from the same CPU the AoE targets submit from.
FIO_CPU=${FIO_CPU:-$TARGET_CPU}
SECTORS=${SECTORS:-$(( (MTU - 36) / 512 ))}
BS=$(( SECTORS * 512 ))
OUT=${OUT:-build/bench-prod}
NS_T=gg-prod-t
NS_I=gg-prod-i
IF_T=gg-prod-t0
IF_I=gg-prod-i0
IMG=$DIR/gg-prod-$$.img
TPID=

[ "$(id -u)" = 0 ] || { echo "production.sh: needs root" >&2; exit 1; }
for tool in ip taskset fallocate jq fio vblade; do
    command -v $tool >/dev/null || { echo "production.sh: missing $tool (apt-get install $tool)" >&2; exit 1; }
done
[ -x "$GGAOED" ] || { echo "production.sh: $GGAOED missing: dotnet publish Ggaoed/Ggaoed.csproj -c Release -o build/publish" >&2; exit 1; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
RESULTS="$OUT/production-$(date -u +%Y%m%dT%H%M%S).jsonl"
: > "$RESULTS"

# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"
trap bench_cleanup EXIT INT TERM

bench_setup_link "$MTU"


WORKLOADS=("q16-randread:randread" "q16-randwrite:randwrite" "q16-seqwrite:write")

echo "production case: 1 GiB file on $(df --output=fstype "$DIR" | tail -1) ($DIR), O_DIRECT, ${BS}-byte requests, targets on CPU $TARGET_CPU, generator on CPU $GEN_CPU, fio q16 on CPU $FIO_CPU, AoE q$DEPTH, ${DURATION}s per run, $REPEAT rounds${BENCH_ARGS:+, generator $BENCH_ARGS}${GGAOED_DEFAULTS:+, ggaoed $GGAOED_DEFAULTS}"
fallocate -l 1G "$IMG"
# Written once so reads hit allocated, written extents (fallocate leaves unwritten extents, which
# read as zeros without touching the disk).
dd if=/dev/urandom of="$IMG" bs=1M count=1024 oflag=direct conv=notrunc status=none
sync

# The disk under $DIR, for /sys/block/DEV/stat: what the disk itself saw during a run (average number
# of requests in flight, busy fraction, service time), to tell "the disk got fewer requests at once"
# from "the requests took longer" when AoE falls short of local fio.
DISK_SRC=$(df --output=source "$DIR" | tail -1)
DISK=$(basename "$(readlink -f "$DISK_SRC")")
[ -e "/sys/class/block/$DISK/stat" ] || DISK=
if [ -n "$DISK" ] && [ -e "/sys/class/block/$DISK/partition" ]; then
    DISK=$(basename "$(readlink -f "/sys/class/block/$DISK/..")")
fi
disk_stat() { if [ -n "$DISK" ]; then echo "$(date +%s%N) $(cat "/sys/block/$DISK/stat")"; else echo ""; fi; }

# DISK_TRACE=1: the block layer's issue/complete events for the disk, 0.5 s from the middle of a run.
# Averages hide how requests reach the disk; this shows it: the share of time the disk held no request
# at all and the share it held all $DEPTH (requests issued before the window are counted from their
# completions). Written to file $1; read with disk_trace_result.
TRACEFS=
if [ "${DISK_TRACE:-0}" = 1 ] && [ -n "$DISK" ]; then
    for d in /sys/kernel/tracing /sys/kernel/debug/tracing; do
        [ -e "$d/events/block/block_rq_issue/enable" ] && { TRACEFS=$d; break; }
    done
    [ -n "$TRACEFS" ] || echo "production.sh: DISK_TRACE=1 but no tracefs with block events; not tracing" >&2
fi
DISK_DEV=
if [ -n "$DISK" ]; then DISK_DEV=$(tr ':' ',' < "/sys/block/$DISK/dev"); fi  # "254,0", as the events print it
disk_trace_start() { # $1: output file; runs in the background, starts DURATION/2 seconds from now
    [ -n "$TRACEFS" ] || return 0
    (
        sleep "$(awk -v d="$DURATION" 'BEGIN { print d / 2 }')"
        local was_on size
        was_on=$(cat "$TRACEFS/tracing_on"); size=$(cat "$TRACEFS/buffer_size_kb")
        echo 0 > "$TRACEFS/tracing_on"; echo > "$TRACEFS/trace"; echo 32768 > "$TRACEFS/buffer_size_kb"
        for e in block_rq_issue block_rq_complete; do echo 1 > "$TRACEFS/events/block/$e/enable"; done
        echo 1 > "$TRACEFS/tracing_on"; sleep 0.5; echo 0 > "$TRACEFS/tracing_on"
        for e in block_rq_issue block_rq_complete; do echo 0 > "$TRACEFS/events/block/$e/enable"; done
        grep -F " $DISK_DEV " "$TRACEFS/trace" > "$1" || true
        # Leave tracefs as we found it (the 32 MiB per CPU buffer is returned too).
        echo > "$TRACEFS/trace"; echo "${size%% *}" > "$TRACEFS/buffer_size_kb"; echo "$was_on" > "$TRACEFS/tracing_on"
    ) &
    TRACE_PID=$!
}
disk_trace_wait() { # in the main shell, not in $(...): a subshell cannot wait for the sampler
    if [ -n "${TRACE_PID:-}" ]; then wait "$TRACE_PID" 2>/dev/null || true; TRACE_PID=; fi
}
disk_trace_result() { # $1: file from disk_trace_start (after disk_trace_wait) -> JSON {idle, full, mean} (fractions of the window) or null
    if [ -z "$TRACEFS" ] || [ ! -s "$1" ]; then echo null; return; fi
    awk -v full="$DEPTH" '
        # "... 1234.567890: block_rq_issue: 254,0 RS 8704 () 64417937 + 17 ..." (complete has no byte count)
        /block_rq_(issue|complete):/ {
            for (i = 1; i <= NF; i++) if ($i ~ /^block_rq_/) { ts = $(i - 1); ev = $i }
            for (i = 1; i <= NF; i++) if ($i == "+") sec = $(i - 1)
            sub(/:$/, "", ts); n++; t[n] = ts + 0; issue[n] = (ev ~ /issue/)
            # The generator may have the same sector in flight twice (random with replacement): count.
            if (issue[n]) open[sec]++; else if (open[sec] > 0) open[sec]--; else start++
        }
        END {
            if (n < 2) { print "null"; exit }
            k = start
            for (i = 1; i < n; i++) {
                k += issue[i] ? 1 : -1
                dt = t[i + 1] - t[i]; sum += dt; area += k * dt
                if (k <= 0) idle += dt; if (k >= full) busy += dt
            }
            printf "{\"idle\": %.3f, \"full\": %.3f, \"mean\": %.2f}", idle / sum, busy / sum, area / sum
        }' "$1"
}
# Fields of /sys/block/DEV/stat (Documentation/block/stat.rst): 1 reads, 4 read ticks (ms), 5 writes,
# 8 write ticks, 10 io_ticks (ms busy), 11 time_in_queue (ms, weighted by requests in flight).
disk_delta() { # before after -> JSON {depth, busy, await_us}
    if [ -z "$1" ] || [ -z "$2" ]; then echo null; return; fi
    awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ");
        ms = (y[1] - x[1]) / 1e6; ios = (y[2] - x[2]) + (y[6] - x[6]); ticks = (y[5] - x[5]) + (y[9] - x[9]);
        printf "{\"depth\": %.2f, \"busy\": %.2f, \"await_us\": %.0f}", (y[12] - x[12]) / ms, (y[11] - x[11]) / ms,
               (ios > 0 ? ticks * 1000 / ios : 0) }'
}

# fio locally on the file, q16; $1: its --rw. Prints nothing when fio fails (its run is then not counted).
run_fio() {
    local rw=$1 out
    out=$(nice -n "$NICE" taskset -c "$FIO_CPU" fio --name=local --filename="$IMG" --direct=1 --ioengine=libaio --iodepth=16 \
        --rw="$rw" --bs="$BS" --size=1G --time_based --runtime="$DURATION" --output-format=json 2>/dev/null) || return 1
    echo "$out" | jq -c --arg rw "$rw" '.jobs[0] | (if $rw == "randread" then .read else .write end) |
            {iops: (.iops | round), lat_us: {avg: (.lat_ns.mean / 1000), p50: (.clat_ns.percentile["50.000000"] / 1000), p99: (.clat_ns.percentile["99.000000"] / 1000)}}'
}

# The AoE generator against the running target (e1.1 on the veth pair), q$DEPTH; $1: the bench --rw pattern.
run_bench() {
    # shellcheck disable=SC2086 # GGAOECTL is a command prefix, BENCH_ARGS a list of words
    ip netns exec $NS_I nice -n "$NICE" taskset -c "$GEN_CPU" $GGAOECTL bench $IF_I --target 1.1 --depth "$DEPTH" --sectors "$SECTORS" \
        --rw "$1" --duration "$DURATION" ${BENCH_ARGS:-} --json
}

# One measurement: runs "$@" (a command that prints one JSON result), sampling the disk around it, and
# appends the result to $RESULTS as tool $1, workload $2 (NAME:PATTERN), round $rep. A run counts when
# it printed its result, whatever its exit status (the generator exits non-zero after errors it reports).
measure() {
    local who=$1 name=${2%%:*} before json disk trace
    shift 2
    before=$(disk_stat)
    disk_trace_start "$OUT/trace-$who-$name-$rep.txt"
    json=$("$@") || true
    disk=$(disk_delta "$before" "$(disk_stat)")
    disk_trace_wait  # also after a failed run, so the sampler never outlives it
    trace=$(disk_trace_result "$OUT/trace-$who-$name-$rep.txt")
    [ -n "$json" ] || return 0
    echo "$json" | jq -c --arg t "$who" --arg w "$name" --argjson r "$rep" --argjson d "$disk" --argjson tr "$trace" \
        '. + {name: $t, workload: $w, round: $r, disk: $d, trace: $tr}' >> "$RESULTS"
}

ORDER=(fio ggaoed vblade)
for rep in $(seq "$REPEAT"); do
    for k in 0 1 2; do
        who=${ORDER[$(( (k + rep - 1) % 3 ))]}
        echo "round $rep: $who" >&2
        if [ "$who" = fio ]; then
            for w in "${WORKLOADS[@]}"; do measure fio "$w" run_fio "${w#*:}"; done
            continue
        fi
        bench_start_target "$who" "-d" "direct-io = true" || continue
        for w in "${WORKLOADS[@]}"; do measure "$who" "$w" run_bench "${w#*:}"; done
        # shellcheck disable=SC2086 # GGAOECTL is a command prefix
        [ "$who" = ggaoed ] && { $GGAOECTL -s "$OUT/ggaoed.sock" --json stats > "$OUT/ggaoed-stats-$rep.json" 2>/dev/null || true; }
        bench_stop_target
    done
done

echo
echo "raw results: $RESULTS"
echo
jq -L "$ROOT/tests/bench" -rs 'include "tables";
  def cell(n): one(n) | if length == 0 then "-" else
      "\(map(.iops) | med) \(map(.lat_us.avg) | med | round)/\(map(.lat_us.p99) | med | round)" end;
  (group_by(.workload) | sort_by(.[0].workload)) as $rows
  | ["workload", "rounds", "fio IOPS avg/p99us", "ggaoed IOPS avg/p99us", "vblade -d IOPS avg/p99us", "ggaoed/fio", "vblade/fio", "ggaoed/vblade"],
    ($rows[] | [.[0].workload, (map(.round) | max | tostring), cell("fio"), cell("ggaoed"), cell("vblade"),
       r2(ratio("ggaoed"; "fio")), r2(ratio("vblade"; "fio")), r2(ratio("ggaoed"; "vblade"))])
  | @tsv' "$RESULTS" | column -t -s $'\t'
echo "(medians over rounds; ratios: the median of each round's ratio)"
if [ -n "$DISK" ]; then
    echo
    # The stat window also holds the tool's start-up (the generator's discovery), so depth and busy
    # are diluted by it; the service time (ticks per request) is not. In flight = IOPS x service time.
    echo "what the disk ($DISK) saw: service time per request in us / requests in flight at the disk (IOPS x service time)"
    jq -L "$ROOT/tests/bench" -rs 'include "tables";
      per_tool_table(.disk != null; "\(map(.disk.await_us) | med) / \(map(.iops * .disk.await_us / 1e5 | round / 10) | med)")' \
      "$RESULTS" | column -t -s $'\t'
fi
if [ -n "$TRACEFS" ]; then
    echo
    echo "block-layer trace (0.5 s per run): share of time the disk held no request / all $DEPTH / mean requests at the disk"
    jq -L "$ROOT/tests/bench" -rs 'include "tables";
      def pct(x): (x * 100 | round | tostring) + "%";
      per_tool_table(.trace != null;
          "\(map(.trace.idle) | med | pct(.)) / \(map(.trace.full) | med | pct(.)) / \(map(.trace.mean) | med)")' \
      "$RESULTS" | column -t -s $'\t'
fi
