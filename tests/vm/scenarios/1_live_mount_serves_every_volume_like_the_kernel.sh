#!/usr/bin/env bash
# A live `thinfs mount VG/POOL`: every volume and snapshot equals what the
# kernel serves, holes equal the kernel's mappings, no metadata snapshot is
# left held, and unmount removes every device thinfs activated.
. "$(dirname "$0")/lib.sh"
# within SECONDS CMD...: polls CMD every 0.1 s until it succeeds or SECONDS
# pass.  The refresher may be mid-walk (holding the snapshot) at any one
# moment on a loaded machine; what must hold is that it lets go.
within() {
	local n=$(($1 * 10))
	shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
	return 1
}
not_held() { [ "$(held_field vg1)" = - ]; }
no_thinfs_devices() { ! dmsetup ls | grep -q '^thinfs-'; }

make_pool vg1 64k || { fail "pool created"; finish; exit 1; }
lvcreate -qy -V 256M -T vg1/pool -n web >/dev/null
mkfs.ext4 -q /dev/vg1/web
mkdir -p /m && mount /dev/vg1/web /m && seq 1 20000 >/m/numbers && mkdir /m/d && echo hi >/m/d/f && umount /m
lvcreate -qy -s -n web_snap1 vg1/web >/dev/null
mount /dev/vg1/web /m && echo changed >/m/d/f && seq 1 100 >/m/more && sync && umount /m
lvcreate -qy -s -n web_snap2 vg1/web >/dev/null
lvcreate -qy -V 64M -T vg1/pool -n raw >/dev/null
for s in 0 3 100 511; do dd if=/dev/urandom of=/dev/vg1/raw bs=64k count=2 seek=$s oflag=direct status=none; done

# The kernel's view of every LV (snapshots activated for it, then not).
declare -A want
for lv in web web_snap1 web_snap2 raw; do
	lvchange -qy -ay -K "vg1/$lv" >/dev/null
	want[$lv]=$(sha256sum </dev/vg1/$lv | cut -c1-64)
done
for lv in web_snap1 web_snap2; do lvchange -qy -an "vg1/$lv" >/dev/null; done

check "thinfs ls lists the live pool" bash -c "'$THINFS' ls vg1/pool | grep -q web_snap2"
check "after indexing no metadata snapshot is held" [ "$(held_field vg1)" = - ]
mkdir -p /mnt/t
if ! "$THINFS" mount vg1/pool /mnt/t; then
	fail "thinfs mounts the live pool"
	finish
	exit 1
fi
pass "thinfs mounts the live pool"
for lv in web web_snap1 web_snap2 raw; do
	got=$(sha256sum </mnt/t/volumes/$lv | cut -c1-64)
	check "$lv: volumes/ equals the kernel's bytes" [ "$got" = "${want[$lv]}" ]
done
check "inactive snapshots were read through private targets" bash -c "dmsetup ls | grep -q '^thinfs-'"
for pair in "web 1" "web_snap1 2" "web_snap2 3" "raw 4"; do
	set -- $pair
	thin_mappings vg1 "$2" 65536 >/tmp/want.map
	"$SEEKMAP" "/mnt/t/volumes/$1" >/tmp/got.map
	check "$1: SEEK_DATA/SEEK_HOLE equal thin_dump's mappings" cmp -s /tmp/want.map /tmp/got.map
done
check "files/ shows the ext4 of a snapshot" bash -c "[ \"\$(cat /mnt/t/files/web_snap1/d/f)\" = hi ] && [ \"\$(cat /mnt/t/files/web_snap2/d/f)\" = changed ]"
check ".thinfs/status says the pool is live" grep -q '"kind": "live"' /mnt/t/.thinfs/status
check "no metadata snapshot is held while mounted (released within 30 s)" within 30 not_held
"$THINFS" umount /mnt/t
check "unmount removes every device thinfs activated (within 30 s)" within 30 no_thinfs_devices
check "the pool is left without a held snapshot" within 30 not_held
finish
