#!/bin/bash
# Proves the VM harness end to end against Debian's vblade (the reference target), from the shell:
# a private netns gg-vm-<pid> with a tap, a sparse backing file, vblade 1.1 on the tap, and one boot
# of the real Linux initiator running guest/basic.sh (discovery and exact size, a 64 MiB O_DIRECT
# pattern, 1 MiB past 128 GiB, fio verify). The guest's checksums are then compared with the
# backing file here. usage: vblade-smoke.sh [--mtu 9000] [extra run-vm.sh args]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mtu=1500
if [ "${1:-}" = "--mtu" ]; then mtu=$2; shift 2; fi
ns=gg-vm-$$ tap=ggvm$$
work=$(mktemp -d /tmp/gg-vm-smoke.XXXXXX)
vpid=
cleanup() {
    [ -n "$vpid" ] && kill "$vpid" 2>/dev/null || true
    "$here/netns.sh" down "$ns"
    rm -rf "$work"
}
trap cleanup EXIT

"$here/ensure-packages.sh"
"$here/build-initramfs.sh" >/dev/null
"$here/netns.sh" up "$ns" "$tap" "$mtu"
# 300 GiB + 7 sectors: past the 28-bit LBA limit (128 GiB) and not a round number.
sectors=$((300 * 1024 * 1024 * 2 + 7))
truncate -s $((sectors * 512)) "$work/disk"
ip netns exec "$ns" vblade 1 1 "$tap" "$work/disk" > "$work/vblade.log" 2>&1 &
vpid=$!

start=$SECONDS
rc=0
"$here/run-vm.sh" --netns "$ns" --tap "$tap" --script "$here/guest/basic.sh" --log "$work/console" \
    --env MTU="$mtu" --env EXPECT_SECTORS=$sectors --env HIGH_MB=204800 "$@" || rc=$?
echo "vblade-smoke: VM finished with status $rc after $((SECONDS - start)) s"
[ $rc -eq 0 ] || exit $rc

result() { sed -n "s/^@@RESULT $1=//p" "$work/console" | tail -1; }
want=$(result pattern_sha256)
got=$(head -c $(($(result pattern_mb) * 1048576)) "$work/disk" | sha256sum | cut -d' ' -f1)
[ "$want" = "$got" ] || { echo "vblade-smoke: FAIL backing file differs from the guest's pattern"; exit 1; }
want=$(result high_sha256)
got=$(dd if="$work/disk" bs=1M skip=204800 count=1 status=none | sha256sum | cut -d' ' -f1)
[ "$want" = "$got" ] || { echo "vblade-smoke: FAIL backing file at 200 GiB differs"; exit 1; }
echo "vblade-smoke: PASS (backing file matches the guest's patterns)"
