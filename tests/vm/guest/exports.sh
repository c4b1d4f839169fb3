# Guest scenario: several exports of one target in one boot (becomes /test.sh).
#   RW_DEV=e1.1     read-write export: a 4 MiB O_DIRECT pattern must round-trip (host checks the file)
#   RO_DEV=e1.2     read-only export (empty = skip): reads work, an O_DIRECT write must fail and the
#                   data must stay as it was
#   HIDDEN_DEV=e1.3 export whose ACL denies this VM's MAC (empty = skip): must never appear
#   HIDDEN_WAIT=6   seconds (with rediscovery) that HIDDEN_DEV gets to show up after the others did
: "${RW_DEV:=e1.1}" "${RO_DEV:=}" "${HIDDEN_DEV:=}" "${HIDDEN_WAIT:=6}"

gg_aoe_load ${AOE_ARGS:-}
t=$(gg_ms)
for d in $RW_DEV $RO_DEV; do
    gg_aoe_wait "$d" 30 || gg_fail "$d not discovered within 30 s"
    gg_result "size_$d" "$(gg_aoe_attr "$d" size)"
    gg_result "mac_$d" "$(gg_aoe_attr "$d" mac)"
done
gg_result discover_ms $(( $(gg_ms) - t ))

for d in $RW_DEV; do
    head -c 4194304 /dev/urandom > /tmp/p
    want=$(sha256sum < /tmp/p | cut -d' ' -f1)
    dd if=/tmp/p of=/dev/etherd/$d bs=1M oflag=direct conv=notrunc status=none || gg_fail "write to $d failed"
    got=$(dd if=/dev/etherd/$d bs=1M count=4 iflag=direct status=none | sha256sum | cut -d' ' -f1)
    gg_result "sha_$d" "$want"
    [ "$got" = "$want" ] || gg_fail "$d: pattern read back differs"
done

if [ -n "$RO_DEV" ]; then
    before=$(dd if=/dev/etherd/$RO_DEV bs=1M count=4 iflag=direct status=none | sha256sum | cut -d' ' -f1)
    gg_result "sha_$RO_DEV" "$before"
    # 64 KiB: several frames, and few enough "ata error" lines on the console.
    head -c 65536 /dev/urandom > /tmp/p
    if dd if=/tmp/p of=/dev/etherd/$RO_DEV bs=64k count=1 oflag=direct conv=notrunc status=none 2>/tmp/dd.err; then
        gg_fail "write to read-only $RO_DEV succeeded"
    fi
    gg_result ro_write_error "$(head -1 /tmp/dd.err)"
    after=$(dd if=/dev/etherd/$RO_DEV bs=1M count=4 iflag=direct status=none | sha256sum | cut -d' ' -f1)
    [ "$after" = "$before" ] || gg_fail "read-only $RO_DEV changed after a refused write"
fi

if [ -n "$HIDDEN_DEV" ]; then
    i=0
    while [ $i -lt "$HIDDEN_WAIT" ]; do
        gg_aoe_discover; sleep 1; i=$((i + 1))
        [ -e "/sys/block/etherd!$HIDDEN_DEV" ] && gg_fail "$HIDDEN_DEV is visible although its ACL denies this MAC"
    done
    gg_result hidden_visible 0
fi
dmesg | grep 'aoe:'
