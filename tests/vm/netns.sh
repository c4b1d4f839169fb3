#!/bin/bash
# Creates or removes the private network namespaces of a VM test, with the VM's tap devices in them.
# usage: netns.sh up NS TAP[=MAC][,TAP2[=MAC]...] [MTU]   (MTU default 1500)
#        netns.sh bridge NS BR [MTU]                   a bridge BR in NS with every tap of NS in it
#        netns.sh port NS BR PORTNS IF MAC [MTU]       namespace PORTNS with interface IF (address MAC),
#                                                      a veth whose other end is a port of BR in NS
#        netns.sh down NS [PORTNS...]
# The target (vblade/ggaoed) then runs with `ip netns exec NS ...` on TAP, and run-vm.sh attaches the
# VM to the same TAP, so AoE frames never leave the namespace. With a bridge, each gateway (or a test's
# raw socket) gets a namespace of its own behind a port: the VM sees every port's MAC on one segment.
set -euo pipefail

# A new link keeps a no-op qdisc until the kernel's link watcher sees the carrier, and frames sent
# before that vanish while send() reports success: wait for operstate UP (up to 20 s on a busy host).
wait_up() {
    local ns=$1 dev=$2 i
    for i in $(seq 200); do
        ip -n "$ns" link show "$dev" | grep -q 'state UP' && return 0
        sleep 0.1
    done
    echo "netns.sh: $dev in $ns did not come up" >&2
    return 1
}

case "${1:-}" in
    up)
        ns=$2 taps=$3 mtu=${4:-1500}
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        for spec in ${taps//,/ }; do
            tap=${spec%%=*}
            ip -n "$ns" tuntap add dev "$tap" mode tap
            # TAP=MAC: the address the target on this tap answers from (the initiator's "target MAC").
            [ "$spec" = "$tap" ] || ip -n "$ns" link set "$tap" address "${spec#*=}"
            ip -n "$ns" link set "$tap" mtu "$mtu" up
        done
        ;;
    bridge)
        ns=$2 br=$3 mtu=${4:-1500}
        # No STP: a port forwards as soon as it is up (no listening/learning delay).
        ip -n "$ns" link add "$br" mtu "$mtu" type bridge stp_state 0 forward_delay 0
        for tap in $(ip -n "$ns" -o link show type tun | awk -F': ' '{ print $2 }'); do
            ip -n "$ns" link set "$tap" master "$br"
        done
        ip -n "$ns" link set "$br" up
        ;;
    port)
        ns=$2 br=$3 pns=$4 dev=$5 mac=$6 mtu=${7:-1500}
        # The bridge end is named after the port's namespace, so two ports never clash; at most 15 bytes.
        peer=p${pns: -14}
        ip netns add "$pns"
        ip -n "$pns" link set lo up
        ip -n "$ns" link add "$peer" mtu "$mtu" type veth peer name "$dev" netns "$pns" mtu "$mtu"
        ip -n "$pns" link set "$dev" address "$mac"
        ip -n "$ns" link set "$peer" master "$br" up
        ip -n "$pns" link set "$dev" up
        wait_up "$ns" "$peer"
        wait_up "$pns" "$dev"
        ;;
    down)
        shift
        # Kill whatever still runs in the namespaces (a target the test could not stop), then remove them.
        for ns in "$@"; do
            for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
            ip netns del "$ns" 2>/dev/null || true
        done
        ;;
    *) echo "usage: netns.sh up NS TAP[=MAC][,TAP...] [MTU] | bridge NS BR [MTU] | port NS BR PORTNS IF MAC [MTU] | down NS [PORTNS...]" >&2; exit 2 ;;
esac
