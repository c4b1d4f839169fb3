# Guest scenario script (becomes /test.sh; /lib/gg.sh is already sourced). One boot, several checks
# in order, each printing @@RESULT lines and timings; the host compares checksums with the backing file.
# Settings (run-vm.sh --env NAME=VALUE):
#   DEV=e1.1            the AoE disk to use
#   EXPECT_SECTORS=N    fail unless the disk shows exactly N 512-byte sectors
#   MTU=1500            eth0 MTU, set before the initiator loads (it sizes frames from it)
#   EXPECT_PAYLOAD=N    fail unless the initiator settles on N data bytes per frame
#   AOE_ARGS=...        extra aoe module parameters (e.g. aoe_deadsecs=30)
#   PATTERN_MB=64       random pattern written with O_DIRECT at byte 0 and read back (0 = skip)
#   HIGH_MB=N           also write a 1 MiB pattern at N MiB (past 128 GiB tests LBA48 byte order)
#   FIO_SIZE=64m        fio verify run size (empty/0 = skip); FIO_BS=4k-1m FIO_DEPTH=8
#   FIO_OFFSET          where fio works (default: right after the pattern, which stays intact for
#                       the host to check)
: "${DEV:=e1.1}" "${MTU:=1500}" "${PATTERN_MB:=64}" "${FIO_SIZE:=64m}" "${FIO_BS:=4k-1m}" "${FIO_DEPTH:=8}" "${FIO_OFFSET:=${PATTERN_MB}m}"
disk=/dev/etherd/$DEV

ip link set eth0 mtu "$MTU" || gg_fail "cannot set eth0 mtu $MTU"
t=$(gg_ms)
gg_aoe_load ${AOE_ARGS:-}
gg_aoe_wait "$DEV" 30 || gg_fail "$DEV not discovered within 30 s"
gg_result discover_ms $(( $(gg_ms) - t ))
size=$(gg_aoe_attr "$DEV" size)
payload=$(gg_aoe_attr "$DEV" payload)
gg_result size_sectors "$size"
gg_result payload "$payload"
gg_result state "$(gg_aoe_attr "$DEV" state)"
gg_result target_mac "$(gg_aoe_attr "$DEV" mac)"
gg_result max_sectors_kb "$(cat "/sys/block/etherd!$DEV/queue/max_sectors_kb")"
if [ -n "${EXPECT_SECTORS:-}" ] && [ "$size" != "$EXPECT_SECTORS" ]; then
    gg_fail "size: expected $EXPECT_SECTORS sectors, got $size"
fi
if [ -n "${EXPECT_PAYLOAD:-}" ] && [ "$payload" != "$EXPECT_PAYLOAD" ]; then
    gg_fail "payload: expected $EXPECT_PAYLOAD bytes per frame, got $payload"
fi

# Random pattern through O_DIRECT (no page cache on either side of the check), read back through
# O_DIRECT and compared here; the host compares the same checksum with the backing file.
if [ "$PATTERN_MB" -gt 0 ]; then
    t=$(gg_ms)
    head -c $((PATTERN_MB * 1048576)) /dev/urandom > /tmp/pattern || gg_fail "no room for the pattern in /tmp"
    want=$(sha256sum < /tmp/pattern | cut -d' ' -f1)
    dd if=/tmp/pattern of="$disk" bs=1M oflag=direct conv=notrunc status=none || gg_fail "O_DIRECT write of the pattern failed"
    got=$(dd if="$disk" bs=1M count="$PATTERN_MB" iflag=direct status=none | sha256sum | cut -d' ' -f1)
    rm -f /tmp/pattern
    gg_result pattern_mb "$PATTERN_MB"
    gg_result pattern_sha256 "$want"
    gg_result pattern_ms $(( $(gg_ms) - t ))
    [ "$got" = "$want" ] || gg_fail "pattern read back differs: wrote $want, read $got"
fi

if [ -n "${HIGH_MB:-}" ]; then
    head -c 1048576 /dev/urandom > /tmp/high
    want=$(sha256sum < /tmp/high | cut -d' ' -f1)
    dd if=/tmp/high of="$disk" bs=1M seek="$HIGH_MB" oflag=direct conv=notrunc status=none || gg_fail "O_DIRECT write at $HIGH_MB MiB failed"
    got=$(dd if="$disk" bs=1M skip="$HIGH_MB" count=1 iflag=direct status=none | sha256sum | cut -d' ' -f1)
    rm -f /tmp/high
    gg_result high_sha256 "$want"
    [ "$got" = "$want" ] || gg_fail "pattern at $HIGH_MB MiB read back differs"
fi

# fio writes random-sized blocks at random offsets with a crc32c header in each, then reads every
# block back and checks it (verify runs after the write phase of the same job).
if [ -n "$FIO_SIZE" ] && [ "$FIO_SIZE" != 0 ]; then
    t=$(gg_ms)
    fio --name=verify --filename="$disk" --direct=1 --ioengine=libaio --rw=randwrite \
        --bsrange="$FIO_BS" --iodepth="$FIO_DEPTH" --offset="$FIO_OFFSET" --size="$FIO_SIZE" --verify=crc32c \
        --verify_fatal=1 --randrepeat=0 --output-format=terse --terse-version=3 > /tmp/fio.out 2>&1
    rc=$?
    gg_result fio_ms $(( $(gg_ms) - t ))
    if [ $rc -ne 0 ]; then cat /tmp/fio.out; gg_fail "fio verify failed (status $rc)"; fi
    # terse v3: field 49 = write bandwidth KiB/s, field 6/7 = read io KiB / bandwidth.
    gg_result fio_write_kib_s "$(cut -d';' -f48 /tmp/fio.out | head -1)"
    gg_result fio_read_kib_s "$(cut -d';' -f7 /tmp/fio.out | head -1)"
fi
dmesg | grep 'aoe:'
