#!/bin/sh
# /init of the ggaoed test VM (busybox-static). Runs as PID 1 inside the initramfs built by
# build-initramfs.sh: mounts the pseudo file systems, loads the virtio NIC driver chain, brings up
# eth0 and then runs the per-test script /test.sh (appended by run-vm.sh as a second cpio archive).
# The verdict goes to the serial console as @@PASS / @@FAIL lines, then the VM powers off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# The initiator's per-path state (one entry per target MAC: window, taint, frames sent, interfaces)
# is only in debugfs: /sys/kernel/debug/aoe/eS.L (see gg_aoe_paths).
mount -t debugfs debugfs /sys/kernel/debug
mkdir -p /dev/pts /tmp /run
mount -t tmpfs -o size=75% tmpfs /tmp
exec </dev/console >/dev/console 2>&1

# run-vm.sh's accelerator probe: reaching this line proves the guest runs; stop at once.
if grep -q 'gg.probe=1' /proc/cmdline; then
    echo "@@PROBE-OK"
    poweroff -f
fi

. /lib/gg.sh

# The NIC driver chain, in dependency order. Some of them are built in on some kernels: the build
# only copies the ones that exist as modules, so a missing file is skipped, not an error.
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net; do
    [ -f /lib/modules/$m.ko ] && insmod /lib/modules/$m.ko
done
ip link set lo up
# run-vm.sh puts the number of NICs (one per --tap) on the command line as gg.nics=N.
nics=$(sed -n 's/.*gg\.nics=\([0-9]*\).*/\1/p' /proc/cmdline)
n=0
while [ $n -lt "${nics:-1}" ]; do
    i=0
    while [ ! -e /sys/class/net/eth$n ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    [ -e /sys/class/net/eth$n ] || gg_fail "no eth$n after loading virtio_net"
    # The initiator only sends on interfaces that are up. Tests that need another MTU set it before
    # gg_aoe_load: the driver sizes its frames from the MTU when the config response arrives.
    ip link set eth$n up
    n=$((n + 1))
done

if [ ! -f /test.sh ]; then
    gg_fail "no /test.sh in the initramfs (run-vm.sh appends it)"
fi
echo "@@BOOTED $(cut -d' ' -f1 /proc/uptime)s"
# The test runs in a subshell so that a failing command or an explicit exit still reaches the
# verdict and the poweroff below instead of panicking PID 1.
( . /test.sh )
rc=$?
if [ $rc -eq 0 ]; then
    echo "@@PASS"
else
    echo "@@FAIL test script exited with status $rc"
fi
gg_poweroff
