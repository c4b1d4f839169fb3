# shellcheck shell=bash
# Shared by compare.sh and production.sh (sourced, not run). Expects NS_T, NS_I, IF_T, IF_I (the two
# namespaces and veth ends), IMG (the exported file), OUT (results folder), NICE, GGAOED, GGAOECTL, and
# uses TPID for the running target's pid.

# Stops the running target, if any.
bench_stop_target() {
    if [ -n "$TPID" ]; then
        kill "$TPID" 2>/dev/null || true
        wait "$TPID" 2>/dev/null || true
        TPID=
    fi
}

# Stops the target, removes both namespaces (and the veth with them) and the image (unless KEEP_IMG=1).
bench_cleanup() {
    bench_stop_target
    ip netns del "$NS_T" 2>/dev/null || true
    ip netns del "$NS_I" 2>/dev/null || true
    rm -f "$OUT/ggaoed-bench.conf"
    [ "${KEEP_IMG:-0}" = 1 ] || rm -f "$IMG"
}

# For script $1 (its name): checks for root, the tools $2... and the published $GGAOED, makes $OUT
# absolute and starts an empty results file $RESULTS there ($1-TIMESTAMP.jsonl).
bench_prepare() {
    local name=$1 tool
    shift
    [ "$(id -u)" = 0 ] || { echo "$name.sh: needs root" >&2; exit 1; }
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { echo "$name.sh: missing $tool (apt-get install $tool)" >&2; exit 1; }
    done
    [ -x "$GGAOED" ] || { echo "$name.sh: $GGAOED missing: dotnet publish Ggaoed/Ggaoed.csproj -c Release -o build/publish" >&2; exit 1; }
    mkdir -p "$OUT"
    OUT=$(cd "$OUT" && pwd)
    RESULTS="$OUT/$name-$(date -u +%Y%m%dT%H%M%S).jsonl"
    : > "$RESULTS"
}

# (Re)creates the namespaces joined by a veth pair with MTU $1.
bench_setup_link() {
    ip netns del "$NS_T" 2>/dev/null || true
    ip netns del "$NS_I" 2>/dev/null || true
    ip netns add "$NS_T"
    ip netns add "$NS_I"
    ip link add "$IF_T" netns "$NS_T" mtu "$1" type veth peer name "$IF_I" netns "$NS_I" mtu "$1"
    ip -n "$NS_T" link set lo up
    ip -n "$NS_I" link set lo up
    ip -n "$NS_T" link set "$IF_T" up
    ip -n "$NS_I" link set "$IF_I" up
}

# Starts ggaoed on CPU $TARGET_CPU in the target namespace with the configuration file $1 (written by
# the caller; keep pid file, control socket and state under $OUT, never clash with a system ggaoed).
# $2: another build of the daemon to run instead of $GGAOED (compare.sh's BASELINE).
bench_start_ggaoed() {
    local bin=${2:-$GGAOED}
    [ -x "$bin" ] || { echo "  (ggaoed skipped: $bin not found; dotnet publish Ggaoed/Ggaoed.csproj -c Release -o build/publish)" >&2; return 1; }
    ip netns exec "$NS_T" nice -n "$NICE" taskset -c "$TARGET_CPU" "$bin" -f -c "$1" >"$OUT/ggaoed.log" 2>&1 &
    TPID=$!
}

# Waits until the running target answers discovery as $1.$2 on initiator interface $3 (default $IF_I),
# up to ~5 s. Returns non-zero (and stops the target) if it exited or never answered.
bench_wait_discovered() {
    local shelf=$1 slot=$2 ifc=${3:-$IF_I}
    for _ in $(seq 10); do
        if ! kill -0 "$TPID" 2>/dev/null; then
            echo "  (target exited; see $OUT/*.log)" >&2
            TPID=
            return 1
        fi
        # shellcheck disable=SC2086
        if ip netns exec "$NS_I" $GGAOECTL discover "$ifc" --timeout 0.5 --json 2>/dev/null | jq -e --argjson sh "$shelf" --argjson sl "$slot" 'map(select(.shelf == $sh and .slot == $sl and .identified)) | length > 0' >/dev/null; then
            return 0
        fi
    done
    echo "  (no answer to discovery as e$shelf.$slot on $ifc)" >&2
    bench_stop_target
    return 1
}

# Starts target $1 (vblade, ggaoed, ggaoed-ENGINE, baseline, baseline-ENGINE or null) on CPU 0 in the target namespace, exporting $IMG as e1.1,
# and waits until it answers discovery (up to ~5 s). $2: extra vblade options (e.g. -d), $3: extra
# lines for ggaoed's device group (e.g. "direct-io = true"). Returns non-zero if it can't be started.
bench_start_target() {
    local vblade_opts=${2:-} ggaoed_extra=${3:-}
    case $1 in
        vblade)
            # shellcheck disable=SC2086 # options are words
            ip netns exec "$NS_T" nice -n "$NICE" taskset -c "$TARGET_CPU" vblade $vblade_opts 1 1 "$IF_T" "$IMG" >"$OUT/vblade.log" 2>&1 &
            TPID=$!
            ;;
        ggaoed|ggaoed-*|baseline|baseline-*)
            # ggaoed-ENGINE (ggaoed-io_uring, ggaoed-aio): the daemon with that io-engine, so one run
            # can compare the storage engines side by side. baseline[-ENGINE]: the same with the build
            # in $BASELINE (an older commit's publish output), to compare two builds in one run.
            [[ $1 != *-* ]] || ggaoed_extra="${ggaoed_extra:+$ggaoed_extra\n}io-engine = ${1#*-}"
            mkdir -p "$OUT/ggaoed-state"
            # GGAOED_DEFAULTS: more [defaults] lines from the caller's environment (e.g. "busy-poll = 200").
            printf '[defaults]\ninterfaces = %s\npid-file = %s\ncontrol-socket = %s\nstate-directory = %s\n%b\n\n[bench]\npath = %s\nshelf = 1\nslot = 1\n%b\n' \
                "$IF_T" "$OUT/ggaoed.pid" "$OUT/ggaoed.sock" "$OUT/ggaoed-state" "${GGAOED_DEFAULTS:-}" "$IMG" "$ggaoed_extra" > "$OUT/ggaoed-bench.conf"
            if [[ $1 == baseline* ]]; then
                bench_start_ggaoed "$OUT/ggaoed-bench.conf" "${BASELINE:?baseline needs BASELINE=path to another ggaoed build}" || return 1
            else
                bench_start_ggaoed "$OUT/ggaoed-bench.conf" || return 1
            fi
            ;;
        null)
            # shellcheck disable=SC2086 # GGAOECTL is a command prefix
            ip netns exec "$NS_T" nice -n "$NICE" taskset -c "$TARGET_CPU" $GGAOECTL null-target "$IF_T" --shelf 1 --slot 1 --size-mib 1024 >"$OUT/null.log" 2>&1 &
            TPID=$!
            ;;
    esac
    bench_wait_discovered 1 1
}

# Drops the page cache of file $1 only (POSIX_FADV_DONTNEED through dd), not the whole machine's.
bench_drop_file_cache() {
    sync "$1"
    dd if="$1" iflag=nocache count=0 status=none
}

# Writes $2 MiB of random data to $1 (reads of holes or unwritten extents never reach the disk), once:
# an existing file of that size is reused.
bench_make_disk_file() {
    local path=$1 mib=$2
    if [ -f "$path" ] && [ "$(stat -c %s "$path")" = $(( mib << 20 )) ]; then
        return 0
    fi
    dd if=/dev/urandom of="$path" bs=1M count="$mib" oflag=direct status=none
    sync "$path"
}

# Busy and total jiffies of CPU $1 so far ("busy total"), from /proc/stat: busy = all but idle and iowait.
bench_cpu_jiffies() {
    awk -v c="cpu$1" '$1 == c { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat
}

# The busy share of a CPU between two bench_cpu_jiffies readings of it, $1 and $2 (0..1, two decimals).
bench_cpu_busy() {
    local b0 t0 b1 t1
    read -r b0 t0 <<< "$1"
    read -r b1 t1 <<< "$2"
    awk -v b=$(( b1 - b0 )) -v t=$(( t1 - t0 )) 'BEGIN { printf "%.2f", (t > 0 ? b / t : 0) }'
}
