#!/usr/bin/env bash
# /etc/fstab and mount(8) with a live pool: mount(8) runs /sbin/mount.thinfs
# for type thinfs, which mounts the pool with its fstab options; the mount
# serves the volumes as the kernel does, df shows the pool's data size and
# allocated chunks, and umount(8) unmounts it.
. "$(dirname "$0")/lib.sh"

HELPER="$THINFS_SRCDIR/build/tools/mount.thinfs"
[ -x "$HELPER" ] || HELPER="$(dirname "$THINFS")/mount.thinfs"
# Installed as meson install would (the VM's root is a writable overlay).
# mount(8) runs the helper with a bare environment: LVM's settings for this
# VM (no udev) must come from /etc/lvm, as on a real host.
mkdir -p /etc/lvm && cp "$LVM_SYSTEM_DIR/lvm.conf" /etc/lvm/lvm.conf
install -m 0755 "$HELPER" /sbin/mount.thinfs
ln -sf "$THINFS" /usr/local/bin/thinfs

make_pool vgm 64k || { fail "pool created"; finish; exit 1; }
lvcreate -qy -V 64M -T vgm/pool -n a >/dev/null
dd if=/dev/urandom of=/dev/vgm/a bs=64k count=37 seek=5 oflag=direct status=none
mkdir -p /srv/pool /mnt/m
echo "vgm/pool /srv/pool thinfs ro,allow_other,nofail,noatime,mode=0444 0 0" >>/etc/fstab

mount -v /srv/pool >/tmp/mount.out 2>&1
rc=$?
check "mount /srv/pool (the fstab line) succeeds" [ "$rc" = 0 ]
[ "$rc" = 0 ] || cat /tmp/mount.out
check "it is a thinfs FUSE mount" bash -c "findmnt -n -o FSTYPE /srv/pool | grep -qx fuse.thinfs"
check "the volume reads as the kernel serves it" cmp /srv/pool/volumes/a /dev/vgm/a
check "fstab's mode= reached thinfs" [ "$(stat -c %a /srv/pool/volumes/a)" = 444 ]
read -r used total <<<"$(dmsetup status vgm-pool-tpool | awk '{ split($6, d, "/"); print d[1], d[2] }')"
read -r dsize dused <<<"$(df -B1 --output=size,used /srv/pool | tail -1)"
check "df shows the pool's data size ($((total * 65536)) bytes)" [ "$dsize" = $((total * 65536)) ]
check "df shows the pool's allocated chunks as used ($((used * 65536)) bytes)" [ "$dused" = $((used * 65536)) ]
check "umount /srv/pool unmounts it" umount /srv/pool
check "and nothing is mounted there any more" bash -c "! mountpoint -q /srv/pool"
check "mount -t thinfs SOURCE DIR works too" mount -t thinfs -o allow_other vgm/pool /mnt/m
check "and serves the pool" bash -c "ls /mnt/m/volumes | grep -qx a"
umount /mnt/m
mount -t thinfs -o bogus_option vgm/pool /mnt/m 2>/tmp/bad.err
rc=$?
check "an unknown option fails and is named" bash -c "[ $rc != 0 ] && grep -q bogus_option /tmp/bad.err && ! mountpoint -q /mnt/m"
finish
