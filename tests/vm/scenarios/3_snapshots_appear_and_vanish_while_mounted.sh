#!/usr/bin/env bash
# A mounted live pool follows LVM: snapshots created appear, removed ones
# vanish; a snapshot being read cannot be removed under its reader, and a
# reader never gets other data.
. "$(dirname "$0")/lib.sh"

make_pool vg3 64k || { fail "pool created"; finish; exit 1; }
lvcreate -qy -V 64M -T vg3/pool -n origin >/dev/null
dd if=/dev/urandom of=/dev/vg3/origin bs=1M count=16 oflag=direct status=none
mkdir -p /mnt/t
"$THINFS" mount vg3/pool /mnt/t -o refresh=1 || { fail "mounts"; finish; exit 1; }
lvcreate -qy -s -n snap vg3/origin >/dev/null
appeared=0
for _ in $(seq 20); do [ -e /mnt/t/volumes/snap ] && { appeared=1; break; }; sleep 0.5; done
check "a snapshot created while mounted appears within seconds" [ "$appeared" = 1 ]
lvchange -qy -ay -K vg3/snap >/dev/null
want=$(sha256sum </dev/vg3/snap | cut -c1-64)
lvchange -qy -an vg3/snap >/dev/null
check "it reads like the kernel's" [ "$(sha256sum </mnt/t/volumes/snap | cut -c1-64)" = "$want" ]

# A reader holds the snapshot open: removal is refused or the reader errs.
exec 7</mnt/t/volumes/snap
head -c 1048576 <&7 >/dev/null
lvremove -qy vg3/snap >/tmp/rm.log 2>&1
removed=$?
dd if=/mnt/t/volumes/snap bs=1M count=1 skip=2 of=/tmp/after status=none 2>/dev/null
read_rc=$?
if [ "$removed" -ne 0 ]; then
	pass "removing a snapshot being read is refused"
	check "the refusal says it is in use" grep -qi "in use\|open\|busy" /tmp/rm.log
else
	check "after removal, reads of the old snapshot fail or still give its bytes" \
		bash -c "[ $read_rc -ne 0 ] || cmp -s /tmp/after <(lvchange -qy -ay -K vg3/snap 2>/dev/null; dd if=/dev/vg3/snap bs=1M count=1 skip=2 status=none)"
fi
exec 7<&-
# Once closed and the private target released by a refresh, removal works.
"$THINFS" umount /mnt/t
for _ in $(seq 40); do dmsetup ls | grep -q '^thinfs-' || break; sleep 0.25; done
check "unmount releases the private target" bash -c "! dmsetup ls | grep -q '^thinfs-'"
lvremove -qy vg3/snap >/tmp/rm2.log 2>&1
lvs vg3/snap >/dev/null 2>&1 && cat /tmp/rm2.log
check "after unmount the snapshot can be removed" bash -c "! lvs vg3/snap >/dev/null 2>&1"
"$THINFS" mount vg3/pool /mnt/t -o refresh=1
lvcreate -qy -s -n snap2 vg3/origin >/dev/null
for _ in $(seq 20); do [ -e /mnt/t/volumes/snap2 ] && break; sleep 0.5; done
lvremove -qy vg3/snap2 >/dev/null
vanished=0
for _ in $(seq 20); do [ ! -e /mnt/t/volumes/snap2 ] && { vanished=1; break; }; sleep 0.5; done
check "a snapshot removed while mounted vanishes within seconds" [ "$vanished" = 1 ]
"$THINFS" umount /mnt/t
finish
