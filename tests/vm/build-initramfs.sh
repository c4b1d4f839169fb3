#!/bin/bash
# Builds (or reuses) the artefacts of the ggaoed test VM:
#   OUTDIR/vmlinuz        Debian's kernel (the one that ships drivers/block/aoe/aoe.ko)
#   OUTDIR/initramfs.cpio busybox-static, the virtio NIC modules, aoe.ko, fio with its libraries,
#                         /init (guest-init.sh) and /lib/gg.sh (guest-lib.sh)
#   OUTDIR/kernel.env     KVER=..., for logs
# The per-test script is NOT in here: run-vm.sh appends it as a second, tiny cpio archive (the kernel
# unpacks concatenated archives in order), so one cached base image serves every test.
# Rebuilds only when an input changes (a stamp of the inputs' names, sizes and times plus this
# folder's scripts). Usage: build-initramfs.sh [--install] OUTDIR    (default OUTDIR: <repo>/build/vm)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
install=0
if [ "${1:-}" = "--install" ]; then install=1; shift; fi
out=${1:-$here/../../build/vm}
mkdir -p "$out"
out=$(cd "$out" && pwd)

die() { echo "build-initramfs: $*" >&2; exit 1; }

# Tests may boot VMs in parallel: one builder at a time, the others wait and then find it up to date.
exec 9> "$out/.lock"
flock 9

if [ $install = 1 ]; then "$here/ensure-packages.sh"; fi

# Newest kernel in /boot that has a matching aoe module.
kver=
for k in $(ls /boot/vmlinuz-* 2>/dev/null | sed 's|/boot/vmlinuz-||' | sort -V -r); do
    if ls /lib/modules/"$k"/kernel/drivers/block/aoe/aoe.ko* >/dev/null 2>&1; then kver=$k; break; fi
done
[ -n "$kver" ] || die "no /boot/vmlinuz-* with a matching aoe.ko (apt-get install linux-image-amd64)"
command -v busybox >/dev/null || die "busybox missing (apt-get install busybox-static)"
busybox=$(readlink -f "$(command -v busybox)")
file "$busybox" 2>/dev/null | grep -q 'statically linked' || [ ! -x /usr/bin/file ] || die "$busybox is not static (apt-get install busybox-static)"
fio=$(command -v fio) || die "fio missing (apt-get install fio)"

moddir=/lib/modules/$kver/kernel
mods=(drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_modern_dev
      drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci net/core/failover
      drivers/net/net_failover drivers/net/virtio_net drivers/block/aoe/aoe)
modfiles=()
for m in "${mods[@]}"; do
    f=$(ls "$moddir/$m".ko* 2>/dev/null | head -1 || true)
    [ -n "$f" ] && modfiles+=("$f")   # absent = built in (or not needed by this kernel)
done

mapfile -t libs < <(ldd "$fio" | awk '/=>/ && $3 ~ /^\// { print $3 } /^[ \t]*\/[^ ]*ld-linux/ { print $1 }')
[ ${#libs[@]} -gt 0 ] || die "ldd $fio found no libraries"

inputs=("/boot/vmlinuz-$kver" "$busybox" "$fio" "${modfiles[@]}" "${libs[@]}")
stamp=$( { for f in "${inputs[@]}"; do stat -L -c '%n %s %Y' "$f"; done
           sha256sum "$here/build-initramfs.sh" "$here/guest-init.sh" "$here/guest-lib.sh"; } | sha256sum | cut -d' ' -f1)
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ] && [ -f "$out/initramfs.cpio" ] && [ -f "$out/vmlinuz" ]; then
    echo "build-initramfs: up to date ($out, kernel $kver)"
    exit 0
fi

echo "build-initramfs: building in $out for kernel $kver"
root=$(mktemp -d "$out/root.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib/modules,proc,sys,dev,tmp,run,etc,root}
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
for f in "${modfiles[@]}"; do
    name=$(basename "$f"); base=${name%%.ko*}
    case "$name" in
        *.ko.xz)  xz -dc "$f" > "$root/lib/modules/$base.ko" ;;
        *.ko.zst) zstd -qdc "$f" > "$root/lib/modules/$base.ko" ;;
        *.ko.gz)  gzip -dc "$f" > "$root/lib/modules/$base.ko" ;;
        *)        cp "$f" "$root/lib/modules/$base.ko" ;;
    esac
done
cp "$fio" "$root/usr/bin/fio"
for l in "${libs[@]}"; do
    # Keep the path ldd printed (the loader finds them there); copy the file, not the symlink.
    mkdir -p "$root$(dirname "$l")"
    cp -L "$l" "$root$l"
done
[ -e "$root/lib64/ld-linux-x86-64.so.2" ] || die "dynamic loader not copied"
cp "$here/guest-init.sh" "$root/init"
cp "$here/guest-lib.sh" "$root/lib/gg.sh"
chmod 755 "$root/init"
echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"

# Uncompressed: the image is ~85 MB (mostly fio's libraries), and under software emulation the
# guest kernel spends longer inflating gzip than qemu spends reading the file.
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) > "$out/initramfs.cpio.tmp"
mv "$out/initramfs.cpio.tmp" "$out/initramfs.cpio"
cp "/boot/vmlinuz-$kver" "$out/vmlinuz"
echo "KVER=$kver" > "$out/kernel.env"
echo "$stamp" > "$out/stamp"
echo "build-initramfs: done ($(du -h "$out/initramfs.cpio" | cut -f1))"
