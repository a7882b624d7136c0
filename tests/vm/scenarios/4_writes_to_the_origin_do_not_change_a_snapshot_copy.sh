#!/usr/bin/env bash
# Copying a snapshot while its origin is written gives exactly the
# snapshot's bytes.
. "$(dirname "$0")/lib.sh"

make_pool vg4 64k || { fail "pool created"; finish; exit 1; }
lvcreate -qy -V 128M -T vg4/pool -n origin >/dev/null
dd if=/dev/urandom of=/dev/vg4/origin bs=1M count=64 oflag=direct status=none
lvcreate -qy -s -n snap vg4/origin >/dev/null
lvchange -qy -ay -K vg4/snap >/dev/null
want=$(sha256sum </dev/vg4/snap | cut -c1-64)
lvchange -qy -an vg4/snap >/dev/null
mkdir -p /mnt/t
"$THINFS" mount vg4/pool /mnt/t || { fail "mounts"; finish; exit 1; }
( for i in $(seq 0 63); do dd if=/dev/urandom of=/dev/vg4/origin bs=1M count=1 seek=$i oflag=direct status=none; done ) &
writer=$!
cp --sparse=always /mnt/t/volumes/snap /tmp/copy
wait "$writer"
check "the copy equals the snapshot, whatever was written meanwhile" [ "$(sha256sum </tmp/copy | cut -c1-64)" = "$want" ]
check "and the origin did change" bash -c "[ \"\$(sha256sum </dev/vg4/origin | cut -c1-64)\" != '$want' ]"
"$THINFS" umount /mnt/t
finish
