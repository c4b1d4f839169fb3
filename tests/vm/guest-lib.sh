# Helpers for guest test scripts (sourced by /init and available to /test.sh as /lib/gg.sh).
# Output protocol on the serial console, one line each, parsed by run-vm.sh and the C# tests:
#   @@RESULT name=value     a measurement or checksum for the host to compare
#   @@PASS / @@FAIL reason  the verdict (the first @@FAIL wins)

gg_result() { echo "@@RESULT $1=$2"; }

gg_poweroff() {
    sync
    # -f: no init to signal; the kernel powers off through ACPI and qemu exits (-no-reboot).
    poweroff -f
    sleep 5
    echo o > /proc/sysrq-trigger
}

gg_fail() {
    echo "@@FAIL $*"
    dmesg | grep -i aoe | tail -20
    gg_poweroff
}

# Milliseconds since boot, for scenario timings.
gg_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }

# gg_aoe_load [module params...]: load the initiator bound to eth0 only.
gg_aoe_load() {
    insmod /lib/modules/aoe.ko aoe_iflist=eth0 "$@" || gg_fail "insmod aoe failed"
    i=0
    while [ ! -e /dev/etherd/discover ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    [ -e /dev/etherd/discover ] || gg_fail "/dev/etherd/discover did not appear"
}

# gg_aoe_discover: ask the initiator to broadcast a config query now.
gg_aoe_discover() { echo > /dev/etherd/discover; }

# gg_aoe_wait DEV SECONDS: wait until /dev/etherd/DEV exists and has a non-zero size, re-sending the
# discover broadcast every 2 s. Returns 1 on timeout (the caller decides whether that is a failure).
gg_aoe_wait() {
    dev=$1; limit=$(($2 * 10)); i=0
    while [ $i -lt $limit ]; do
        if [ -b /dev/etherd/$dev ] && [ "$(cat "/sys/block/etherd!$dev/size" 2>/dev/null || echo 0)" != 0 ]; then
            return 0
        fi
        [ $((i % 20)) -eq 0 ] && gg_aoe_discover
        sleep 0.1; i=$((i + 1))
    done
    return 1
}

# gg_aoe_attr DEV NAME: an attribute the initiator puts on its disk in sysfs: state ("up",
# "down,closewait", ...), mac (target MAC, hex), netif, firmware-version, payload (bytes of data per
# frame), size (512-byte sectors; it sits there with the others).
gg_aoe_attr() { cat "/sys/block/etherd!$1/$2"; }
