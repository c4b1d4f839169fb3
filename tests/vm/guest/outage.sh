# Guest scenario: an outage in the middle of a write workload (becomes /test.sh). The host watches
# the console for "@@MARK writing" and then breaks the path for a while: it restarts the target, takes
# the link down and up, reloads the daemon... The initiator must retransmit and finish; the verify pass
# that fio runs after its write phase must find every block right.
#   DEV=e1.1  FIO_SIZE=64m  FIO_BS=4k-1m  FIO_DEPTH=8  AOE_ARGS (e.g. aoe_deadsecs=60)
: "${DEV:=e1.1}" "${FIO_SIZE:=64m}" "${FIO_BS:=4k-1m}" "${FIO_DEPTH:=8}"
gg_aoe_load ${AOE_ARGS:-}
gg_aoe_wait "$DEV" 30 || gg_fail "$DEV not discovered within 30 s"
t=$(gg_ms)
fio --name=outage --filename=/dev/etherd/$DEV --direct=1 --ioengine=libaio --rw=randwrite \
    --bsrange="$FIO_BS" --iodepth="$FIO_DEPTH" --size="$FIO_SIZE" --verify=crc32c --verify_fatal=1 \
    --randrepeat=0 --output-format=terse --terse-version=3 > /tmp/fio.out 2>&1 &
fpid=$!
sleep 1
echo "@@MARK writing"
wait $fpid
rc=$?
gg_result fio_ms $(( $(gg_ms) - t ))
gg_result state "$(gg_aoe_attr "$DEV" state)"
dmesg | grep 'aoe:'
[ $rc -eq 0 ] || { cat /tmp/fio.out; gg_fail "fio write+verify across the outage failed (status $rc)"; }
