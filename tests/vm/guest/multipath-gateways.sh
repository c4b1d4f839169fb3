# Guest scenario: one volume behind two gateways (two target MACs for one shelf.slot), each killed in
# turn while fio writes and verifies (becomes /test.sh). The host answers the marks:
#   @@MARK writing-1    fio round 1 runs: the host kills gateway A (SIGKILL)
#   @@MARK a-failed     (the initiator tainted A and moved its frames to B): the host restarts A
#   @@MARK a-back       (no action) the initiator uses A again (taint 0)
#   @@MARK writing-2    fio round 2 runs: the host kills gateway B; round 2 must finish through A
#   @@MARK fio-N-done   (no action) fio round N ended (its status follows as @@RESULT fioN_rc)
# Each round is a fio random write of FIO_SIZE with a crc32c header in every block, then a read of
# every block checked against it; round 2 works right after round 1's area.
#   DEV=e1.1  PATH_A, PATH_B (the gateways' MACs)  FIO_SIZE=64m  FIO_BS=4k-256k  FIO_DEPTH=8
#   WAIT_S=240 (limit for each phase)  AOE_ARGS
: "${DEV:=e1.1}" "${FIO_SIZE:=64m}" "${FIO_BS:=4k-256k}" "${FIO_DEPTH:=8}" "${WAIT_S:=240}"
disk=/dev/etherd/$DEV

gg_aoe_multipath "$DEV" "$PATH_A" "$PATH_B"

# fio_round N OFFSET: runs fio in the background; its exit status lands in /tmp/fioN.rc.
fio_round() {
    (
        fio --name=round$1 --filename="$disk" --direct=1 --ioengine=libaio --rw=randwrite \
            --bsrange="$FIO_BS" --iodepth="$FIO_DEPTH" --offset="$2" --size="$FIO_SIZE" --verify=crc32c \
            --verify_fatal=1 --randrepeat=0 --output-format=terse --terse-version=3 > /tmp/fio$1.out 2>&1
        echo $? > /tmp/fio$1.rc
    ) &
}
running() { [ ! -e /tmp/fio$1.rc ]; }
tainted() { [ "$(gg_aoe_path "$DEV" "$1" taint)" != 0 ]; }
clean() { [ "$(gg_aoe_path "$DEV" "$1" taint)" = 0 ]; }
# finish N: waits for round N and reports it; fails the run if fio failed.
finish() {
    gg_until "$WAIT_S" eval '! running '"$1" || gg_fail "fio round $1 did not end within $WAIT_S s"
    rc=$(cat /tmp/fio$1.rc)
    echo "@@MARK fio-$1-done"
    gg_result fio$1_rc "$rc"
    gg_result fio$1_ms $(( $(gg_ms) - $2 ))
    [ "$rc" = 0 ] || { cat /tmp/fio$1.out; gg_aoe_paths "$DEV"; gg_fail "fio round $1 failed (status $rc)"; }
}

# Round 1: gateway A dies mid-run and comes back.
t=$(gg_ms)
fio_round 1 0
sleep 1
echo "@@MARK writing-1"
gg_until "$WAIT_S" tainted "$PATH_A" || { gg_aoe_paths "$DEV"; gg_fail "gateway A was never avoided (taint stayed 0)"; }
gg_result failover_a_ms $(( $(gg_ms) - t ))
gg_aoe_paths "$DEV"
echo "@@MARK a-failed"
finish 1 "$t"
t2=$(gg_ms)
gg_until "$WAIT_S" clean "$PATH_A" || { gg_aoe_paths "$DEV"; gg_fail "gateway A was not used again within $WAIT_S s of its restart"; }
gg_result a_back_ms $(( $(gg_ms) - t2 ))
gg_aoe_paths "$DEV"
echo "@@MARK a-back"

# Round 2: gateway B dies mid-run; the restarted A carries the rest, verify pass included.
t=$(gg_ms)
fio_round 2 "$FIO_SIZE"
sleep 1
echo "@@MARK writing-2"
gg_until "$WAIT_S" tainted "$PATH_B" || { gg_aoe_paths "$DEV"; gg_fail "gateway B was never avoided (taint stayed 0)"; }
gg_result failover_b_ms $(( $(gg_ms) - t ))
gg_aoe_paths "$DEV"
finish 2 "$t"
gg_aoe_paths "$DEV"
gg_result state "$(gg_aoe_attr "$DEV" state)"
if dmesg | grep -q -i -E 'I/O error|aoe: ata error|runt data'; then
    dmesg | grep -i -E 'I/O error|aoe:' | tail -20
    gg_fail "the kernel logged I/O errors"
fi
dmesg | grep 'aoe:'
