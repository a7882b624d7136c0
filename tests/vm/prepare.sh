#!/usr/bin/env bash
# prepare.sh CACHE — puts a bootable Debian kernel and a busybox initramfs
# with the modules thinfs's VM tests need into CACHE (once; reused after).
# The kernel package is downloaded and unpacked, never installed.
set -euo pipefail
C=$1
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$C"
# Modules in dependency order (dependencies first); a cache prepared for
# another list, or with another init, is prepared again.
want="crc32c_generic virtio_pci virtio_blk 9pnet_virtio 9p overlay dm-thin-pool dm-snapshot dm-zero fuse loop ext4 xfs"
init=$(sha256sum "$HERE/init" | cut -c1-16)
if [ -f "$C/ready" ] && grep -qxF "modules: $want" "$C/ready" && grep -qxF "init: $init" "$C/ready"; then exit 0; fi
cd "$C"
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
if [ -z "$pkg" ]; then
	apt-get update -q >/dev/null 2>&1 || true
	pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
fi
[ -n "$pkg" ] || { echo "vm: cannot find the Debian kernel package (apt-cache depends linux-image-amd64)" >&2; exit 1; }
rm -rf kroot ./*.deb
apt-get download "$pkg" >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1; apt-get download "$pkg" >/dev/null; }
dpkg-deb -x ./"$pkg"_*.deb kroot
kver=$(ls kroot/lib/modules)
cp "kroot/boot/vmlinuz-$kver" vmlinuz
M="kroot/lib/modules/$kver"

declare -A seen=()
order=()
add() {
	local m=$1 f dep
	[ -n "${seen[$m]:-}" ] && return
	seen[$m]=1
	f=$(find "$M/kernel" \( -name "$m.ko" -o -name "${m//-/_}.ko" -o -name "${m//_/-}.ko" \) | head -1)
	[ -n "$f" ] || { echo "vm: module $m not found in $pkg" >&2; exit 1; }
	for dep in $(modinfo -F depends "$f" | tr ',' ' '); do add "$dep"; done
	order+=("$f")
}
for m in $want; do add "$m"; done

I=initramfs
rm -rf "$I"
mkdir -p "$I"/{bin,dev,proc,sys,lib/modules,lower,upper,newroot,results}
cp /bin/busybox "$I/bin/busybox"
for f in "${order[@]}"; do cp "$f" "$I/lib/modules/"; basename "$f"; done >"$I/modules.order"
cp "$HERE/init" "$I/init"
chmod +x "$I/init"
(cd "$I" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >initrd.gz
printf '%s\nmodules: %s\ninit: %s\n' "$pkg" "$want" "$init" >ready
