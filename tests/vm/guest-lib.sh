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

# gg_aoe_load [module params...]: load the initiator bound to $AOE_IFLIST (default eth0; several
# interfaces are separated by commas, e.g. eth0,eth1).
gg_aoe_load() {
    insmod /lib/modules/aoe.ko aoe_iflist="${AOE_IFLIST:-eth0}" "$@" || gg_fail "insmod aoe failed"
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

# gg_mac_hex MAC: a MAC as the initiator prints it (%pm: lower-case hex, no separators).
gg_mac_hex() { echo "$1" | tr -d ':' | tr 'A-F' 'a-f'; }

# gg_aoe_paths DEV: one line per path (target MAC) the initiator knows for DEV, from its debugfs file:
#   mac=525400123456 nout=N maxout=N taint=N r=N w=N ifs=eth0,eth1
# nout/maxout: frames outstanding and the window; taint: > 0 while the path is avoided (frames on it
# waited over 10 s), falls back to 0 as probes succeed; r/w: read/write frames first sent on this path;
# ifs: the local interfaces this path uses.
gg_aoe_paths() {
    awk '
        function flush() {
            if (mac != "")
                printf "mac=%s nout=%s maxout=%s taint=%s r=%s w=%s ifs=%s\n", mac, nout, maxout, taint, r, w, ifs
            mac = ""
        }
        /^[0-9a-f]+:[0-9]+:[0-9]+:[0-9]+$/ { flush(); split($0, a, ":"); mac = a[1]; nout = a[2]; maxout = a[3]; taint = r = w = "?"; ifs = ""; next }
        mac != "" && /^\ttaint:/ { sub(/.*:/, ""); taint = $0; next }
        mac != "" && /^\tr:/ { sub(/.*:/, ""); r = $0; next }
        mac != "" && /^\tw:/ { sub(/.*:/, ""); w = $0; next }
        mac != "" && /^\t/ && !/:/ { ifs = substr($0, 2); next }
        END { flush() }
    ' "/sys/kernel/debug/aoe/$1" 2>/dev/null
}

# gg_aoe_path DEV MAC FIELD: one field (taint, w, ifs, ...) of one path; empty when the path is unknown.
gg_aoe_path() {
    gg_aoe_paths "$1" | grep "^mac=$(gg_mac_hex "$2") " | tr ' ' '\n' | sed -n "s/^$3=//p"
}

# gg_aoe_wait_paths DEV SECONDS MAC...: wait until the initiator uses every MAC given as a path to DEV,
# re-sending the discover broadcast every 2 s. Returns 1 on timeout.
gg_aoe_wait_paths() {
    local dev=$1 limit=$(($2 * 10)) i=0 missing m; shift 2
    while [ $i -lt $limit ]; do
        missing=0
        for m in "$@"; do [ -n "$(gg_aoe_path "$dev" "$m" taint)" ] || missing=1; done
        [ $missing = 0 ] && return 0
        [ $((i % 20)) -eq 0 ] && gg_aoe_discover
        sleep 0.1; i=$((i + 1))
    done
    return 1
}

# gg_aoe_multipath DEV MAC_A MAC_B: loads the initiator ($AOE_ARGS), waits for DEV and for both MACs as
# paths to it, and reports paths (how many) and ifs_a, ifs_b (the local interfaces each path uses).
gg_aoe_multipath() {
    gg_aoe_load ${AOE_ARGS:-}
    gg_aoe_wait "$1" 30 || gg_fail "$1 not discovered within 30 s"
    gg_aoe_wait_paths "$1" 30 "$2" "$3" || { gg_aoe_paths "$1"; gg_fail "$1: not both paths $2 and $3 within 30 s"; }
    gg_aoe_paths "$1"
    gg_result paths "$(gg_aoe_paths "$1" | wc -l)"
    gg_result ifs_a "$(gg_aoe_path "$1" "$2" ifs)"
    gg_result ifs_b "$(gg_aoe_path "$1" "$3" ifs)"
}

# gg_until SECONDS COMMAND...: run COMMAND every 0.2 s until it succeeds; returns 1 on timeout.
gg_until() {
    local limit=$(($1 * 5)) i=0; shift
    while [ $i -lt $limit ]; do
        "$@" && return 0
        sleep 0.2; i=$((i + 1))
    done
    return 1
}
