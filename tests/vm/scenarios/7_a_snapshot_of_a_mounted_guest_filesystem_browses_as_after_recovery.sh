#!/usr/bin/env bash
# An ext4 held through a loop device on a thin LV, as a VM guest holds its
# disk, snapshotted while mounted: the snapshot needs recovery, and
# files/<snap>/ equals what the kernel shows after replaying its journal.
. "$(dirname "$0")/lib.sh"

make_pool vg7 64k || { fail "pool created"; finish; exit 1; }
lvcreate -qy -V 256M -T vg7/pool -n guest >/dev/null
L=$(losetup -f --show /dev/vg7/guest)
mkfs.ext4 -q "$L"
mkdir -p /g && mount "$L" /g
mkdir -p /g/etc /g/var/log
for i in $(seq 1 200); do echo "line $i of the guest's log" >>/g/var/log/app.log; done
seq 1 30000 >/g/etc/numbers
echo "before snapshot" >/g/etc/state
sync
echo "written after sync" >/g/etc/late  # may or may not be in the snapshot
lvcreate -qy -s -n snap vg7/guest >/dev/null
check "the snapshot was taken while the guest filesystem was mounted" mountpoint -q /g
lvchange -qy -ay -K vg7/snap >/dev/null
check "the snapshot's ext4 needs recovery" bash -c "dumpe2fs -h /dev/vg7/snap 2>/dev/null | grep -q needs_recovery"
# The kernel's view after recovery: mount a writable snapshot of the snapshot.
lvcreate -qy -s -n snapcopy vg7/snap >/dev/null
lvchange -qy -ay -K vg7/snapcopy >/dev/null
mkdir -p /k && mount /dev/vg7/snapcopy /k
(cd /k && find . -path ./lost+found -prune -o -type f -print0 | sort -z | xargs -0 sha256sum) >/tmp/kernel.sums
(cd /k && find . -path ./lost+found -prune -o -print | sort) >/tmp/kernel.list
umount /k
lvchange -qy -an vg7/snap vg7/snapcopy >/dev/null
mkdir -p /mnt/t
"$THINFS" mount vg7/pool /mnt/t || { fail "mounts"; finish; exit 1; }
(cd /mnt/t/files/snap && find . -path ./lost+found -prune -o -type f -print0 | sort -z | xargs -0 sha256sum) >/tmp/thinfs.sums
(cd /mnt/t/files/snap && find . -path ./lost+found -prune -o -print | sort) >/tmp/thinfs.list
check "files/snap lists what the kernel shows after recovery" cmp -s /tmp/kernel.list /tmp/thinfs.list
check "every file's bytes equal the kernel's after recovery" cmp -s /tmp/kernel.sums /tmp/thinfs.sums
check "the synced files are there" grep -q "etc/state" /tmp/thinfs.sums
check "status says the journal was replayed in memory" bash -c "grep '\"snap\"' /mnt/t/.thinfs/status | grep -qi 'journal'"
"$THINFS" umount /mnt/t
lvchange -qy -ay -K vg7/snap >/dev/null
check "the snapshot itself was not written (still needs recovery)" bash -c "dumpe2fs -h /dev/vg7/snap 2>/dev/null | grep -q needs_recovery"
umount /g
losetup -d "$L"
finish
