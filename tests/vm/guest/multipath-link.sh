# Guest scenario: one target reached over two paths, one of which fails and comes back while the
# guest writes (becomes /test.sh). The host answers the marks:
#   @@MARK writing          the write loop runs: the host takes path A's link down
#   @@MARK failed-over      (no action) the initiator has tainted A and moved its frames to B
#   @@MARK served-by-b      A failed over and a whole pass went through B: the host brings A back
#   @@MARK path-back        the initiator uses A again (taint 0): the host reads its frame counters
#   @@MARK done-after-back  another whole pass went through both paths: the host reads them again
# Settings:
#   DEV=e1.1  PATH_A, PATH_B  the target MACs of the two paths (A is the one that fails)
#   AOE_IFLIST=eth0,eth1  PATTERN_MB=16  WAIT_S=240 (limit for each phase)  AOE_ARGS
: "${DEV:=e1.1}" "${PATTERN_MB:=16}" "${WAIT_S:=240}"
disk=/dev/etherd/$DEV

gg_aoe_multipath "$DEV" "$PATH_A" "$PATH_B"
gg_result netif "$(gg_aoe_attr "$DEV" netif)"

# One pass: a fresh random pattern over the first PATTERN_MB MiB with O_DIRECT, read back with
# O_DIRECT and compared. Each pass differs, so a write lost during the outage cannot hide behind an
# identical earlier one. The md5 of the last good pass is what the host compares with the file.
pass() {
    head -c $((PATTERN_MB * 1048576)) /dev/urandom > /tmp/p || return 3
    want=$(md5sum < /tmp/p | cut -d' ' -f1)
    dd if=/tmp/p of="$disk" bs=1M oflag=direct conv=notrunc status=none || return 1
    got=$(dd if="$disk" bs=1M count="$PATTERN_MB" iflag=direct status=none | md5sum | cut -d' ' -f1)
    [ "$got" = "$want" ] || return 2
    echo "$want" > /tmp/md5
}
echo 0 > /tmp/passes
(
    n=0
    while [ ! -e /tmp/stop ]; do
        n=$((n + 1))
        pass || { echo "pass $n failed (1 = write error, 2 = read back differs, 3 = no room): $?" > /tmp/failed; exit 1; }
        echo $n > /tmp/passes
    done
) &
loop=$!
passes() { cat /tmp/passes; }
alive() { [ ! -e /tmp/failed ] || { cat /tmp/failed; gg_aoe_paths "$DEV"; gg_fail "the write loop failed"; }; }
taint_a() { gg_aoe_path "$DEV" "$PATH_A" taint; }
a_tainted() { alive; [ "$(taint_a)" != 0 ]; }
a_clean() { alive; [ "$(taint_a)" = 0 ]; }
passes_over() { alive; [ "$(passes)" -gt "$1" ]; }

echo "@@MARK writing"
t=$(gg_ms)
# 1. Path A's frames time out; after 10 s on it (HARD_SCORN_SECS) the initiator taints A and moves
#    them, and all new ones, to B.
gg_until "$WAIT_S" a_tainted || { gg_aoe_paths "$DEV"; gg_fail "path A was never avoided (taint stayed 0)"; }
gg_result failover_seen_ms $(( $(gg_ms) - t ))
echo "@@MARK failed-over"
gg_aoe_paths "$DEV"
# 2. A whole pass written and read back while A is still down: B carries everything.
p=$(passes)
gg_until "$WAIT_S" passes_over $((p + 1)) || gg_fail "no whole pass through path B within $WAIT_S s"
[ "$(taint_a)" != 0 ] || gg_fail "path A was clean again before the host restored it"
echo "@@MARK served-by-b"
# 3. The host restores A; the initiator's probes on A succeed and its taint falls back to 0.
t=$(gg_ms)
gg_until "$WAIT_S" a_clean || { gg_aoe_paths "$DEV"; gg_fail "path A did not come back within $WAIT_S s"; }
gg_result path_back_ms $(( $(gg_ms) - t ))
w_a=$(gg_aoe_path "$DEV" "$PATH_A" w)
echo "@@MARK path-back"
# 4. A pass that starts after A is back spreads its frames over both paths again.
p=$(passes)
gg_until "$WAIT_S" passes_over $((p + 1)) || gg_fail "no whole pass after path A came back within $WAIT_S s"
gg_aoe_paths "$DEV"
gg_result a_writes_after_back $(( $(gg_aoe_path "$DEV" "$PATH_A" w) - w_a ))
echo "@@MARK done-after-back"
touch /tmp/stop
wait $loop || { cat /tmp/failed; gg_fail "the write loop failed"; }
gg_result passes "$(passes)"
gg_result pattern_mb "$PATTERN_MB"
gg_result pattern_md5 "$(cat /tmp/md5)"
# No I/O error anywhere: every dd above succeeded, and the kernel logged none.
if dmesg | grep -q -i -E 'I/O error|aoe: ata error|runt data'; then
    dmesg | grep -i -E 'I/O error|aoe:' | tail -20
    gg_fail "the kernel logged I/O errors"
fi
dmesg | grep 'aoe:'
