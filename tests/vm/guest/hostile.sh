# Guest scenario: hostile broadcast frames from another host on the segment while the guest uses the
# disk (becomes /test.sh). The host answers the mark:
#   @@MARK hostile   the host sends its frames, checks the daemon's state, then writes "gg-go" at
#                    SIGNAL_MB MiB of the backing file: the guest reads that through the target
# Then the initiator forgets the disk (flush), discovers it again, and the pattern written before the
# frames must read back unchanged, and a new one must round-trip.
#   DEV=e1.1  PATTERN_MB=4  SIGNAL_MB=60  WAIT_S=240  AOE_ARGS
: "${DEV:=e1.1}" "${PATTERN_MB:=4}" "${SIGNAL_MB:=60}" "${WAIT_S:=240}"
disk=/dev/etherd/$DEV

# pattern NAME OFFSET_MB: writes a fresh random pattern with O_DIRECT, reads it back, reports its md5.
pattern() {
    head -c $((PATTERN_MB * 1048576)) /dev/urandom > /tmp/p
    want=$(md5sum < /tmp/p | cut -d' ' -f1)
    dd if=/tmp/p of="$disk" bs=1M seek="$2" oflag=direct conv=notrunc status=none || gg_fail "$1: O_DIRECT write failed"
    got=$(readback "$2")
    gg_result "$1_md5" "$want"
    echo "$want" > "/tmp/$1.md5"
    [ "$got" = "$want" ] || gg_fail "$1: pattern read back differs"
}
readback() { dd if="$disk" bs=1M skip="$1" count="$PATTERN_MB" iflag=direct status=none | md5sum | cut -d' ' -f1; }
signalled() { [ "$(dd if="$disk" bs=512 skip=$((SIGNAL_MB * 2048)) count=1 iflag=direct status=none | head -c 5)" = gg-go ]; }

gg_aoe_load ${AOE_ARGS:-}
gg_aoe_wait "$DEV" 30 || gg_fail "$DEV not discovered within 30 s"
gg_result mac_before "$(gg_aoe_attr "$DEV" mac)"
pattern before 0

echo "@@MARK hostile"
gg_until "$WAIT_S" signalled || gg_fail "no go from the host within $WAIT_S s (or the disk stopped answering)"

# Forget the disk and find it again from scratch: the broadcast discover must still be answered, and
# IDENTIFY, reads and writes must still work from this MAC.
echo all > /dev/etherd/flush
gg_until 30 eval '[ ! -e "/sys/block/etherd!$DEV" ]' || gg_fail "aoe flush did not remove $DEV"
gg_result flushed 1
t=$(gg_ms)
gg_aoe_wait "$DEV" 60 || gg_fail "$DEV not discovered again within 60 s"
gg_result rediscover_ms $(( $(gg_ms) - t ))
gg_result mac_after "$(gg_aoe_attr "$DEV" mac)"
gg_result state "$(gg_aoe_attr "$DEV" state)"
[ "$(readback 0)" = "$(cat /tmp/before.md5)" ] || gg_fail "the pattern written before the hostile frames reads back differently"
pattern after "$PATTERN_MB"
dmesg | grep 'aoe:'
