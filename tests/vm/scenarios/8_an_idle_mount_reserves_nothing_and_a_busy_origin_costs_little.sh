#!/usr/bin/env bash
# A mounted live pool whose transaction id does not move costs nothing:
# its ticks never reserve the metadata snapshot (another holder's
# reservation causes no refresh error, through a names refresh too), and an
# origin rewritten without pause for 30 s costs the daemon a small fraction
# of one core; volumes/ still equals the kernel afterwards.
. "$(dirname "$0")/lib.sh"

make_pool vg8 64k || { fail "pool created"; finish; exit 1; }
lvcreate -qy -V 256M -T vg8/pool -n origin >/dev/null
dd if=/dev/urandom of=/dev/vg8/origin bs=1M count=128 oflag=direct status=none
lvcreate -qy -s -n snap vg8/origin >/dev/null
mkdir -p /mnt/t
"$THINFS" mount vg8/pool /mnt/t -o refresh=1 || { fail "mounts"; finish; exit 1; }
status_field() { sed -n "s/.*\"$1\": \([0-9]*\).*/\1/p" /mnt/t/.thinfs/status; }

# Idle: someone else holds the metadata snapshot for a dozen ticks.
dmsetup message vg8-pool-tpool 0 reserve_metadata_snap
r0=$(status_field refreshes)
for _ in $(seq 60); do
	[ "$(status_field refreshes)" -gt "$r0" ] && break # a tenth tick: a names refresh ran
	sleep 0.5
done
check "a names refresh ran while another program held the metadata snapshot" \
	[ "$(status_field refreshes)" -gt "$r0" ]
check "no idle tick tried to reserve it (no refresh error)" [ "$(status_field refresh_errors)" = 0 ]
dmsetup message vg8-pool-tpool 0 release_metadata_snap

# Busy: the origin rewritten for 30 s where it is mapped (a write into a
# hole is the read path's to see: tf_index_volume_now when opened or sought).
pid=$(pgrep -o -f "thinfs mount vg8/pool")
cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
c0=$(cpu)
end=$(($(date +%s) + 30))
while [ "$(date +%s)" -lt "$end" ]; do
	dd if=/dev/urandom of=/dev/vg8/origin bs=1M count=8 seek=$((RANDOM % 120)) oflag=direct status=none
done
c1=$(cpu)
echo "daemon CPU over 30 s of writes: $(((c1 - c0) * 1000 / hz)) ms"
check "the daemon used under 5% of a core over 30 s of writes" [ $(((c1 - c0) * 1000 / hz)) -lt 1500 ]
check "no refresh failed meanwhile" [ "$(status_field refresh_errors)" = 0 ]
check "volumes/origin still equals the kernel's" \
	[ "$(sha256sum </mnt/t/volumes/origin | cut -c1-64)" = "$(sha256sum </dev/vg8/origin | cut -c1-64)" ]
lvchange -qy -ay -K vg8/snap >/dev/null
want=$(sha256sum </dev/vg8/snap | cut -c1-64)
lvchange -qy -an vg8/snap >/dev/null
check "volumes/snap still equals the kernel's" [ "$(sha256sum </mnt/t/volumes/snap | cut -c1-64)" = "$want" ]
"$THINFS" umount /mnt/t
finish
