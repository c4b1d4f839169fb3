#!/usr/bin/env bash
# The head-of-line case: one daemon, two devices on two interfaces.
#   A  a file on the real disk (2 GiB in /var/tmp by default), buffered (direct-io = false), its pages
#      dropped before each loaded run, under q16 random reads of one frame
#   B  a file on tmpfs, under q1 random reads of one frame on the other interface
# Measures B's latency with A idle and with A busy, once per io-engine. With Linux AIO a buffered read
# runs inside io_submit on the daemon's only thread, so every page-cache miss of A also delays B; with
# io_uring A's misses wait in the kernel and B should barely notice A.
# The daemon runs on CPU 0, both generators on CPU 1 (TARGET_CPU, GEN_CPU).
#
# A disk that the host itself caches (a VM's virtual disk) answers a "cold" read in tens of
# microseconds; A then runs as fast as the CPU allows and B measures CPU sharing, not head-of-line
# blocking. DISK_IOPS=N serves A from a loop device over the file (direct I/O to the file, so the
# loop adds no cache of its own) whose reads the block layer throttles to N per second (cgroup v1
# blkio, root group, this device only): a disk that is slow for sure, like the one in issue 12
# (4,200 IOPS at q16, 3.8 ms per read).
#
# usage: sudo tests/bench/headofline.sh            (from the repository root)
# env:   GGAOED=path (default build/publish/ggaoed)  DIR=/var/tmp  SIZE_MIB=2048  MTU=9000  DURATION=5
#        REPEAT=3  ENGINES="io_uring aio"  OUT=build/bench-hol  NICE=n  TARGET_CPU=0 GEN_CPU=1
#        GGAOED_DEFAULTS="..." more [defaults] lines for the daemon (\n separates lines)
#        KEEP_IMG=1 keeps the disk file for the next run   DISK_IOPS=N (see above; needs losetup)
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
NICE=${NICE:-0}
TARGET_CPU=${TARGET_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
SECTORS=$(( (MTU - 36) / 512 ))
OUT=${OUT:-build/bench-hol}
NS_T=gg-hol-t
NS_I=gg-hol-i
IF_T=gg-hol-t0
IF_I=gg-hol-i0
IF_T2=gg-hol-t1
IF_I2=gg-hol-i1
IMG=$DIR/gg-hol.img
FAST=/dev/shm/gg-hol-$$.img
TPID=
DISK_IOPS=${DISK_IOPS:-}
THROTTLE=/sys/fs/cgroup/blkio/blkio.throttle.read_iops_device
LOOP=
LOOP_MM=

# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"
bench_prepare headofline ip taskset jq dd fallocate
cleanup() {
    bench_cleanup
    rm -f "$FAST"
    if [ -n "$LOOP" ]; then
        [ -z "$LOOP_MM" ] || echo "$LOOP_MM 0" > "$THROTTLE" 2>/dev/null || true # 0 removes the rule
        losetup -d "$LOOP" 2>/dev/null || true
    fi
}
trap cleanup EXIT INT TERM

bench_setup_link "$MTU"
# The second pair, for B, in the same two namespaces.
ip link add "$IF_T2" netns "$NS_T" mtu "$MTU" type veth peer name "$IF_I2" netns "$NS_I" mtu "$MTU"
ip -n "$NS_T" link set "$IF_T2" up
ip -n "$NS_I" link set "$IF_I2" up

if [ -n "$DISK_IOPS" ]; then
    [ -w "$THROTTLE" ] || { echo "headofline.sh: DISK_IOPS needs cgroup v1 blkio throttling ($THROTTLE)" >&2; exit 1; }
    command -v losetup >/dev/null || { echo "headofline.sh: DISK_IOPS needs losetup (apt-get install mount)" >&2; exit 1; }
fi
A_DESC="${SIZE_MIB} MiB buffered file on $(df --output=fstype "$DIR" | tail -1) ($DIR)"
[ -z "$DISK_IOPS" ] || A_DESC="$A_DESC behind a loop device throttled to $DISK_IOPS reads/s"
echo "head-of-line case: A = $A_DESC, cold, q16 random reads on $IF_T; B = tmpfs file, q1 random reads on $IF_T2; MTU $MTU, ${DURATION}s per run, $REPEAT rounds, engines: $ENGINES"
bench_make_disk_file "$IMG" "$SIZE_MIB"
fallocate -l 1G "$FAST"
A_PATH=$IMG
if [ -n "$DISK_IOPS" ]; then
    LOOP=$(losetup -f --show --direct-io=on "$IMG")
    LOOP_MM=$(lsblk -dno MAJ:MIN "$LOOP" | tr -d ' ')
    echo "$LOOP_MM $DISK_IOPS" > "$THROTTLE"
    A_PATH=$LOOP
fi

# One generator run: $1 initiator interface, $2 target S.L, $3 depth, $4 duration.
gen() {
    # shellcheck disable=SC2086 # GGAOECTL is a command prefix
    ip netns exec $NS_I nice -n "$NICE" taskset -c "$GEN_CPU" $GGAOECTL bench "$1" --target "$2" --depth "$3" --sectors "$SECTORS" \
        --rw randread --duration "$4" --json
}

run_engine() {
    local engine=$1 idle busy load
    mkdir -p "$OUT/ggaoed-state"
    printf '[defaults]\ninterfaces = %s, %s\npid-file = %s\ncontrol-socket = %s\nstate-directory = %s\nio-engine = %s\n%b\n\n[a]\npath = %s\nshelf = 1\nslot = 1\ndirect-io = false\ninterfaces = %s\n\n[b]\npath = %s\nshelf = 1\nslot = 2\ninterfaces = %s\n' \
        "$IF_T" "$IF_T2" "$OUT/ggaoed.pid" "$OUT/ggaoed.sock" "$OUT/ggaoed-state" "$engine" "${GGAOED_DEFAULTS:-}" "$A_PATH" "$IF_T" "$FAST" "$IF_T2" > "$OUT/ggaoed-hol.conf"
    bench_start_ggaoed "$OUT/ggaoed-hol.conf" || return 0
    bench_wait_discovered 1 1 "$IF_I" || return 0
    bench_wait_discovered 1 2 "$IF_I2" || return 0

    idle=$(gen "$IF_I2" 1.2 1 "$DURATION") || idle=
    bench_drop_file_cache "$A_PATH"
    gen "$IF_I" 1.1 16 $(( DURATION + 2 )) > "$OUT/load-$engine-$rep.json" &
    local loader=$!
    sleep 1
    busy=$(gen "$IF_I2" 1.2 1 "$DURATION") || busy=
    wait "$loader" || true
    load=$(cat "$OUT/load-$engine-$rep.json")
    # shellcheck disable=SC2086
    $GGAOECTL -s "$OUT/ggaoed.sock" --json stats > "$OUT/ggaoed-stats-$engine-$rep.json" 2>/dev/null || true
    bench_stop_target
    if [ -n "$idle" ] && [ -n "$busy" ] && [ -n "$load" ]; then
        jq -nc --arg e "$engine" --argjson r "$rep" --argjson idle "$idle" --argjson busy "$busy" --argjson load "$load" \
            '{name: $e, round: $r, b_idle: $idle.lat_us, b_busy: $busy.lat_us, b_busy_iops: $busy.iops, a_iops: $load.iops}' >> "$RESULTS"
    fi
}

read -r -a ENGINE_LIST <<< "$ENGINES"
for rep in $(seq "$REPEAT"); do
    for k in $(seq 0 $(( ${#ENGINE_LIST[@]} - 1 ))); do
        engine=${ENGINE_LIST[$(( (k + rep - 1) % ${#ENGINE_LIST[@]} ))]}
        echo "round $rep: $engine" >&2
        run_engine "$engine"
    done
done

echo
echo "raw results: $RESULTS"
echo
jq -L "$ROOT/tests/bench" -rs 'include "tables";
  def r0(x): if x == null then "-" else (x | round | tostring) end;
  (group_by(.name) | sort_by(.[0].name)) as $rows
  | ["io-engine", "rounds", "B avg/p99 us, A idle", "B avg/p99 us, A busy", "B busy/idle (avg)", "A IOPS (q16, cold)"],
    ($rows[] | [.[0].name, (length | tostring),
       "\(r0(map(.b_idle.avg) | med))/\(r0(map(.b_idle.p99) | med))",
       "\(r0(map(.b_busy.avg) | med))/\(r0(map(.b_busy.p99) | med))",
       r2(map(.b_busy.avg / .b_idle.avg) | med),
       r0(map(.a_iops) | med)])
  | @tsv' "$RESULTS" | column -t -s $'\t'
echo "(medians over rounds)"
