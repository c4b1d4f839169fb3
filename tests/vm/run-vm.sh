#!/bin/bash
# Boots the ggaoed test VM (Debian kernel + the cached initramfs) inside network namespace NS, with a
# virtio NIC on each tap device TAP (which must already exist in NS; see netns.sh), and runs GUEST.sh
# there as /test.sh. The serial console goes to stdout (and to --log FILE).
#
# usage: run-vm.sh --netns NS --tap TAP [--tap TAP2...] --script GUEST.sh [--mem MB] [--smp N]
#                  [--timeout SEC] [--mac MAC]... [--log FILE] [--accel auto|tcg|kvm] [--artefacts DIR]
#                  [--env NAME=VALUE]...
# Each --tap adds a NIC: the first is the guest's eth0, the second eth1, and so on. The n-th --mac is
# the n-th NIC's address; NICs without one get a random locally administered address.
# --accel auto (the default, or $GG_VM_ACCEL): KVM when /dev/kvm is usable AND a probe boot with it
#   reaches guest userspace within 20 s (nested KVM hangs on some CI hosts), else software emulation
#   (TCG, -cpu max; ~3 s to userspace). The probe's verdict is cached per host boot in ARTEFACTS.
# --env puts NAME=VALUE lines at the top of /test.sh (plain shell assignments, single-quoted).
# --file SRC:DST copies host file SRC into the guest as DST (absolute path), e.g. a static tool.
# exit status: 0 guest printed @@PASS; 1 guest printed @@FAIL; 2 the guest gave no verdict (crash,
#              panic, qemu error); 124 timeout (qemu killed).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
netns= script= mem=512 smp=1 timeout=180 log= accel=${GG_VM_ACCEL:-auto}
art=${GG_VM_DIR:-$here/../../build/vm}
envs=()
files=()
taps=()
macs=()
while [ $# -gt 0 ]; do
    case "$1" in
        --netns) netns=$2; shift 2 ;;
        --tap) taps+=("$2"); shift 2 ;;
        --script) script=$2; shift 2 ;;
        --mem) mem=$2; shift 2 ;;
        --smp) smp=$2; shift 2 ;;
        --timeout) timeout=$2; shift 2 ;;
        --mac) macs+=("$2"); shift 2 ;;
        --log) log=$2; shift 2 ;;
        --accel) accel=$2; shift 2 ;;
        --artefacts) art=$2; shift 2 ;;
        --env) envs+=("$2"); shift 2 ;;
        --file) files+=("$2"); shift 2 ;;
        *) echo "run-vm: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -n "$netns" ] && [ ${#taps[@]} -gt 0 ] && [ -n "$script" ] || { echo "run-vm: --netns, --tap and --script are required" >&2; exit 2; }
[ -f "$script" ] || { echo "run-vm: no script $script" >&2; exit 2; }
for tap in "${taps[@]}"; do
    ip netns exec "$netns" test -e "/sys/class/net/$tap" || { echo "run-vm: no tap $tap in netns $netns" >&2; exit 2; }
done

"$here/build-initramfs.sh" "$art" >&2 || exit 2
art=$(cd "$art" && pwd)

# One NIC per tap. A NIC without --mac gets a locally administered unicast MAC, different per run so
# that initiators in parallel VMs differ (the NIC's index in the last byte keeps one VM's NICs apart).
nic_args=()
for i in "${!taps[@]}"; do
    mac=${macs[$i]:-}
    if [ -z "$mac" ]; then
        mac=$(printf '52:54:%02x:%02x:%02x:%02x' $((RANDOM % 256)) $(($$ % 256)) $((($$ >> 8) % 256)) $(((RANDOM & 0xf0) | i)))
    fi
    nic_args+=(-netdev "tap,id=n$i,ifname=${taps[$i]},script=no,downscript=no"
               -device "virtio-net-pci,netdev=n$i,mac=$mac,romfile=")
done

work=$(mktemp -d /tmp/gg-vm-run.XXXXXX)
qpid=
cleanup() {
    if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
        kill -TERM "$qpid" 2>/dev/null; sleep 1; kill -KILL "$qpid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The per-test archive: /test.sh, prefixed with the --env assignments, and the --file files.
mkdir -p "$work/root"
{
    for e in "${envs[@]}"; do
        name=${e%%=*}; value=${e#*=}
        printf "%s='%s'\n" "$name" "$(printf '%s' "$value" | sed "s/'/'\\\\''/g")"
    done
    cat "$script"
} > "$work/root/test.sh"
for f in "${files[@]}"; do
    src=${f%%:*}; dst=${f#*:}
    [ -f "$src" ] && [ "${dst#/}" != "$dst" ] || { echo "run-vm: bad --file $f (SRC:/absolute/DST)" >&2; exit 2; }
    mkdir -p "$work/root$(dirname "$dst")"
    cp -p "$src" "$work/root$dst"
done
(cd "$work/root" && find . -mindepth 1 | cpio -o -H newc --quiet) > "$work/test.cpio"
cat "$art/initramfs.cpio" "$work/test.cpio" > "$work/initrd"

# Does KVM run our guest? Boots the base image with gg.probe=1 (its /init prints @@PROBE-OK and powers
# off at once) under KVM with a hard time limit. One probe per host boot (cached by boot id).
kvm_works() {
    [ -c /dev/kvm ] && [ -w /dev/kvm ] || return 1
    local cache="$art/kvm-probe.$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)"
    if [ ! -f "$cache" ]; then
        local verdict=no
        if timeout -k 2 20 qemu-system-x86_64 -enable-kvm -cpu host -m 512 -nographic -no-reboot \
               -nodefaults -serial stdio -monitor none -kernel "$art/vmlinuz" -initrd "$art/initramfs.cpio" \
               -append "console=ttyS0 quiet panic=-1 gg.probe=1" </dev/null 2>/dev/null | grep -q '@@PROBE-OK'; then
            verdict=yes
        fi
        echo "$verdict" > "$cache"
        echo "run-vm: KVM probe: $verdict" >&2
    fi
    [ "$(cat "$cache")" = yes ]
}

accel_args=(-cpu max)
if [ "$accel" = kvm ] || { [ "$accel" = auto ] && kvm_works; }; then
    accel_args=(-enable-kvm -cpu host)
fi
echo "run-vm: accelerator: ${accel_args[*]}" >&2

[ -n "$log" ] || log=$work/console.log
: > "$log"
# quiet + loglevel=4: kernel warnings still reach the console, info chatter doesn't (the guest
# script prints the aoe lines of dmesg itself when it wants them).
ip netns exec "$netns" qemu-system-x86_64 "${accel_args[@]}" -m "$mem" -smp "$smp" \
    -nographic -no-reboot -nodefaults -serial stdio -monitor none \
    -kernel "$art/vmlinuz" -initrd "$work/initrd" \
    -append "console=ttyS0 quiet loglevel=4 panic=-1 oops=panic gg.nics=${#taps[@]}" \
    "${nic_args[@]}" \
    </dev/null > >(stdbuf -oL tr -d '\r' | tee -a "$log") 2>&1 &
qpid=$!

# Watchdog: qemu is a direct child, so wait on it and kill it when the time is up.
deadline=$((SECONDS + timeout))
while kill -0 "$qpid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
        echo "@@TIMEOUT after ${timeout}s: killing qemu" | tee -a "$log"
        kill -TERM "$qpid" 2>/dev/null; sleep 2; kill -KILL "$qpid" 2>/dev/null
        wait "$qpid" 2>/dev/null
        qpid=
        exit 124
    fi
    sleep 0.5
done
wait "$qpid"; qrc=$?
qpid=
sleep 0.2   # let tee flush the last console lines

if grep -q '^@@FAIL' "$log"; then exit 1; fi
if grep -q '^@@PASS' "$log"; then exit 0; fi
echo "run-vm: no verdict from the guest (qemu exit status $qrc)" >&2
exit 2
