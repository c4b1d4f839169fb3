#!/bin/bash
# Installs the Debian packages the VM tests need, if any is missing (CI machines start bare).
set -euo pipefail
pkgs=(linux-image-amd64 busybox-static qemu-system-x86 vblade fio cpio)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "ensure-packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
