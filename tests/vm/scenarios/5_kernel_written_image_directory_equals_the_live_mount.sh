#!/usr/bin/env bash
# A pool exported as an image directory (metadata, data, lvm.cfg — as
# tests/fixtures/kernel-pool-demo was made) mounts to the same bytes as the
# live pool.
. "$(dirname "$0")/lib.sh"

make_pool vg5 128k || { fail "pool created"; finish; exit 1; }
lvcreate -qy -V 64M -T vg5/pool -n a >/dev/null
dd if=/dev/urandom of=/dev/vg5/a bs=128k count=20 seek=5 oflag=direct status=none
lvcreate -qy -s -n a_snap vg5/a >/dev/null
dd if=/dev/urandom of=/dev/vg5/a bs=128k count=3 seek=7 oflag=direct status=none
mkdir -p /mnt/t /tmp/img
# thin_check opens with O_DIRECT, which tmpfs refuses: keep the image on an
# ext4 LV of its own (outside the pool).
lvcreate -qy -L 1200M -n export vg5 >/dev/null && mkfs.ext4 -q /dev/vg5/export
"$THINFS" mount vg5/pool /mnt/t || { fail "mounts"; finish; exit 1; }
declare -A live
for lv in a a_snap; do live[$lv]=$(sha256sum </mnt/t/volumes/$lv | cut -c1-64); done
"$THINFS" umount /mnt/t
vgchange -qy -an vg5 >/dev/null
lvchange -qy -ay vg5/export >/dev/null && mount /dev/vg5/export /tmp/img
vgcfgbackup -q -f /tmp/img/lvm.cfg vg5
lvchange -qy -ay vg5/pool_tmeta >/dev/null && lvchange -qy -ay vg5/pool_tdata >/dev/null
dd if=/dev/vg5/pool_tmeta of=/tmp/img/metadata bs=1M status=none
dd if=/dev/vg5/pool_tdata of=/tmp/img/data bs=1M conv=sparse status=none
check "thin_check accepts the exported metadata" thin_check -q /tmp/img/metadata
"$THINFS" mount /tmp/img /mnt/t || { fail "the image directory mounts"; finish; exit 1; }
for lv in a a_snap; do
	check "$lv: the image directory serves the live pool's bytes" \
		[ "$(sha256sum </mnt/t/volumes/$lv | cut -c1-64)" = "${live[$lv]}" ]
done
"$THINFS" umount /mnt/t
finish
