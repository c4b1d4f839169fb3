#!/bin/bash
# Creates or removes the private network namespace of a VM test, with the VM's tap device in it.
# usage: netns.sh up NS TAP [MTU]     (MTU default 1500)
#        netns.sh down NS
# The target (vblade/ggaoed) then runs with `ip netns exec NS ...` on TAP, and run-vm.sh attaches the
# VM to the same TAP, so AoE frames never leave the namespace.
set -euo pipefail
case "${1:-}" in
    up)
        ns=$2 tap=$3 mtu=${4:-1500}
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        ip -n "$ns" tuntap add dev "$tap" mode tap
        ip -n "$ns" link set "$tap" mtu "$mtu" up
        ;;
    down)
        ns=$2
        # Kill whatever still runs in the namespace (a target the test could not stop), then remove it.
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
        ;;
    *) echo "usage: netns.sh up NS TAP [MTU] | down NS" >&2; exit 2 ;;
esac
