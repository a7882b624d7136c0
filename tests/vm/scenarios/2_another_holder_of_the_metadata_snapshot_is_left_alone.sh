#!/usr/bin/env bash
# When another program holds the pool's metadata snapshot, thinfs fails
# with a message naming it, and never releases what it did not reserve.
. "$(dirname "$0")/lib.sh"

make_pool vg2 64k || { fail "pool created"; finish; exit 1; }
lvcreate -qy -V 64M -T vg2/pool -n a >/dev/null
dd if=/dev/urandom of=/dev/vg2/a bs=64k count=4 oflag=direct status=none
dmsetup message vg2-pool-tpool 0 reserve_metadata_snap
held=$(held_field vg2)
check "another program holds a metadata snapshot" bash -c "[[ '$held' =~ ^[0-9]+$ ]]"
"$THINFS" ls vg2/pool >/tmp/out 2>/tmp/err
rc=$?
check "thinfs exits 1" [ "$rc" = 1 ]
check "the message names the held snapshot and its block" grep -q "already held (block $held)" /tmp/err
check "the other holder's snapshot is still held" [ "$(held_field vg2)" = "$held" ]
mkdir -p /mnt/t
"$THINFS" mount vg2/pool /mnt/t 2>/tmp/err
check "mount fails the same way" grep -q "already held" /tmp/err
check "and leaves the snapshot held" [ "$(held_field vg2)" = "$held" ]
dmsetup message vg2-pool-tpool 0 release_metadata_snap
check "once released, thinfs works" bash -c "'$THINFS' ls vg2/pool | grep -q '^a '"
check "and holds nothing afterwards" [ "$(held_field vg2)" = - ]
finish
