#!/usr/bin/env bash
# The kernel keeps a snapshot's pages across opens (it never changes: a
# second read reads no data), the origin's pages go at every open (it is a
# live view: a second read after a write sees the write), and a name that
# comes back as another thin device (lvrename swaps) serves that device's
# bytes, never the old pages.
. "$(dirname "$0")/lib.sh"

make_pool vg8 64k || { fail "pool created"; finish; exit 1; }
lvcreate -qy -V 16M -T vg8/pool -n origin >/dev/null
dd if=/dev/urandom of=/dev/vg8/origin bs=1M count=16 oflag=direct status=none
lvcreate -qy -s -n snapa vg8/origin >/dev/null
dd if=/dev/urandom of=/dev/vg8/origin bs=1M count=16 oflag=direct status=none
lvcreate -qy -s -n snapb vg8/origin >/dev/null
sum_of() {
	lvchange -qy -ay -K "vg8/$1" >/dev/null
	sha256sum <"/dev/vg8/$1" | cut -c1-64
	lvchange -qy -an "vg8/$1" >/dev/null
}
a=$(sum_of snapa)
b=$(sum_of snapb)
check "the two snapshots differ" [ "$a" != "$b" ]
mkdir -p /mnt/t
"$THINFS" mount vg8/pool /mnt/t -o refresh=1 || { fail "mounts"; finish; exit 1; }
reads() { sed -n 's/.*"data_reads": \([0-9]*\).*/\1/p' /mnt/t/.thinfs/status; }

check "snapa reads like the kernel's" [ "$(sha256sum </mnt/t/volumes/snapa | cut -c1-64)" = "$a" ]
r0=$(reads)
check "a second read of snapa is right" [ "$(sha256sum </mnt/t/volumes/snapa | cut -c1-64)" = "$a" ]
check "and comes from the page cache (no data read)" [ "$(reads)" = "$r0" ]

# The origin: a write between two reads is seen by the second.
sha256sum </mnt/t/volumes/origin >/dev/null
dd if=/dev/urandom of=/dev/vg8/origin bs=1M count=1 seek=3 oflag=direct status=none
o=$(sha256sum </dev/vg8/origin | cut -c1-64)
check "the origin is read afresh at every open" [ "$(sha256sum </mnt/t/volumes/origin | cut -c1-64)" = "$o" ]

# Swap the names: volumes/snapa is now the other thin device.
lvrename -q vg8 snapa tmp >/dev/null && lvrename -q vg8 snapb snapa >/dev/null &&
	lvrename -q vg8 tmp snapb >/dev/null
swapped=0
for _ in $(seq 60); do # a full refresh runs every tenth tick (lvrename keeps the transaction id)
	[ "$(sha256sum </mnt/t/volumes/snapa | cut -c1-64)" = "$b" ] && { swapped=1; break; }
	sleep 0.5
done
check "after a rename swap, snapa serves the other device's bytes" [ "$swapped" = 1 ]
check "and snapb the first one's" [ "$(sha256sum </mnt/t/volumes/snapb | cut -c1-64)" = "$a" ]
"$THINFS" umount /mnt/t
finish
