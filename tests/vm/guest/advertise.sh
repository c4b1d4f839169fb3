# Guest scenario: a device added by the target, and a grown one, without this side asking (becomes
# /test.sh). The host answers the mark:
#   @@MARK change   grows DEV's backing file and adds NEW_DEV, then `ggaoectl reload`
# NEW_DEV must then appear with no discover sent from here: the initiator broadcasts one at module
# load and then only every 60 s (its discover timer), so a device that shows up sooner, and before 55 s
# since the load, was brought by the target's advertisement. DEV must then have GROWN_SECTORS after a
# revalidate (the advertisement alone usually brings it already: a closed device is re-identified).
#   DEV=e1.1  NEW_DEV=e1.2  GROWN_SECTORS  WAIT_NEW_S=20  AOE_ARGS
: "${DEV:=e1.1}" "${NEW_DEV:=e1.2}" "${WAIT_NEW_S:=20}"
[ -n "${GROWN_SECTORS:-}" ] || gg_fail "GROWN_SECTORS not set"

size() { cat "/sys/block/etherd!$1/size" 2>/dev/null || echo 0; }
present() { [ -b "/dev/etherd/$1" ] && [ "$(size "$1")" != 0 ]; }

gg_aoe_load ${AOE_ARGS:-}
loaded=$(gg_ms)
gg_aoe_wait "$DEV" 30 || gg_fail "$DEV not discovered within 30 s"
gg_result size_before "$(size "$DEV")"
present "$NEW_DEV" && gg_fail "$NEW_DEV exists before the host added it"

# From here on nothing here sends a discover (gg_aoe_wait would, every 2 s).
echo "@@MARK change"
t=$(gg_ms)
gg_until "$WAIT_NEW_S" present "$NEW_DEV" || gg_fail "$NEW_DEV did not appear within $WAIT_NEW_S s without a discover"
now=$(gg_ms)
gg_result new_ms $((now - t))
gg_result new_since_load_ms $((now - loaded))
[ $((now - loaded)) -lt 55000 ] || gg_fail "$NEW_DEV appeared $((now - loaded)) ms after the module load: the discover timer may have found it"
gg_result new_size "$(size "$NEW_DEV")"

# The advertisement of the grown device alone (no request from here): usually re-identified already.
gg_until 5 eval '[ "$(size "$DEV")" = "$GROWN_SECTORS" ]'
gg_result size_advertised "$(size "$DEV")"
echo "$DEV" > /dev/etherd/revalidate
gg_until 20 eval '[ "$(size "$DEV")" = "$GROWN_SECTORS" ]' || gg_fail "$DEV still has $(size "$DEV") sectors after revalidate, expected $GROWN_SECTORS"
gg_result size_revalidated "$(size "$DEV")"
dmesg | grep 'aoe:'
