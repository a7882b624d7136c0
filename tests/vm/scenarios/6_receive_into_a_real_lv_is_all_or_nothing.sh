#!/usr/bin/env bash
# Delta streams received into LVs of a second pool: a full and an
# incremental stream reproduce the source snapshot; a corrupted stream
# leaves the real LV unchanged; receive/ of a live mount applies too.
. "$(dirname "$0")/lib.sh"

make_pool vg6 64k || { fail "pool created"; finish; exit 1; }
lvcreate -qy -L 1G --chunksize 64k -T vg6/pool2 >/dev/null
lvcreate -qy -V 64M -T vg6/pool -n src >/dev/null
dd if=/dev/urandom of=/dev/vg6/src bs=64k count=50 seek=10 oflag=direct status=none
lvcreate -qy -s -n s1 vg6/src >/dev/null
dd if=/dev/urandom of=/dev/vg6/src bs=64k count=5 seek=100 oflag=direct status=none
blkdiscard -o $((12 * 65536)) -l $((4 * 65536)) /dev/vg6/src
lvcreate -qy -s -n s2 vg6/src >/dev/null
sum() { lvchange -qy -ay -K "vg6/$1" >/dev/null; sha256sum </dev/vg6/$1 | cut -c1-64; }
want1=$(sum s1)
want2=$(sum s2)
lvchange -qy -an vg6/s1 vg6/s2 >/dev/null

"$THINFS" send vg6/pool s1 | "$THINFS" receive vg6/pool2 dst
check "a full stream creates the target LV" lvs vg6/dst
check "which equals s1" [ "$(sum dst)" = "$want1" ]
"$THINFS" send vg6/pool s2 --from s1 >/tmp/inc.s
cp /tmp/inc.s /tmp/bad.s
printf '\xff' | dd of=/tmp/bad.s bs=1 seek=1000 conv=notrunc status=none
check "a corrupted stream is refused" bash -c "! '$THINFS' receive vg6/pool2 dst </tmp/bad.s"
check "and the real LV is unchanged" [ "$(sum dst)" = "$want1" ]
check "no staging LV is left" bash -c "! lvs vg6/dst_thinfs_recv >/dev/null 2>&1"
check "the incremental applies" bash -c "'$THINFS' receive vg6/pool2 dst </tmp/inc.s"
check "and the target equals s2" [ "$(sum dst)" = "$want2" ]
check "replaying it is refused" bash -c "! '$THINFS' receive vg6/pool2 dst </tmp/inc.s"
mkdir -p /mnt/t
"$THINFS" mount vg6/pool2 /mnt/t 2>/tmp/mount.err || { fail "mounts the target pool" "$(cat /tmp/mount.err)"; finish; exit 1; }
"$THINFS" send vg6/pool s1 >/tmp/full.s
check "cp of a full stream into receive/ succeeds" cp /tmp/full.s /mnt/t/receive/dst2
# One receive per LV: while receive/dst3 is being written, a CLI receive
# into vg6/pool2 dst3 gets EBUSY, and no staging LV of its own appears.
exec 4>/mnt/t/receive/dst3
head -c 100000 /tmp/full.s >&4 2>/dev/null
check "a second receive into an LV being received is refused as busy" \
	bash -c "! '$THINFS' receive vg6/pool2 dst3 </tmp/full.s 2>/tmp/busy.err && grep -q 'another receive into it is running' /tmp/busy.err"
tail -c +100001 /tmp/full.s >&4
exec 4>&-
check "the first receive then completes (dst3 equals s1)" [ "$(sum dst3)" = "$want1" ]
"$THINFS" umount /mnt/t
check "and the new LV equals s1" [ "$(sum dst2)" = "$want1" ]
finish
