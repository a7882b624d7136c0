#!/usr/bin/env bash
# thinfs send -R / --all into a pool of a second VG on a second disk, and
# into a directory on XFS with reflink: two thin volumes (ext4 with files
# changing between snapshots, and raw), each with snapshots, one of them a
# snapshot of a snapshot.  Every LV's bytes equal the kernel's; the target
# pool's data usage stays near the source's; an incremental run with
# --prune sends about the changed chunks; a receiver killed with -9 midway
# is completed by rerunning it.
. "$(dirname "$0")/lib.sh"

make_pool src 64k /dev/vda || { fail "source pool created"; finish; exit 1; }
make_pool dst 64k /dev/vdb || { fail "target pool created"; finish; exit 1; }
export THINFS_STATE_DIR=/run/thinfs-state
CHUNK=65536

lvcreate -qy -V 32M -T src/pool -n fs >/dev/null
mkfs.ext4 -q -b 4096 -E nodiscard /dev/src/fs
mkdir -p /mnt/fs
files() { # ROUND: writes and rewrites files in the ext4 volume
	mount /dev/src/fs /mnt/fs
	dd if=/dev/urandom of="/mnt/fs/new$1" bs=64k count=24 status=none
	dd if=/dev/urandom of=/mnt/fs/changing bs=64k count=8 status=none
	echo "round $1" >>/mnt/fs/log
	[ "$1" -gt 1 ] && rm -f "/mnt/fs/new$(($1 - 1))"
	umount /mnt/fs
}
lvcreate -qy -V 16M -T src/pool -n raw >/dev/null
files 1
lvcreate -qy -s -n fs_s1 src/fs >/dev/null
dd if=/dev/urandom of=/dev/src/raw bs=64k count=48 oflag=direct status=none
lvcreate -qy -s -n raw_r1 src/raw >/dev/null
files 2
lvcreate -qy -s -n fs_s2 src/fs >/dev/null
lvcreate -qy -s -n fs_s2a src/fs_s2 >/dev/null
lvchange -qy -ay -K src/fs_s2a >/dev/null
dd if=/dev/urandom of=/dev/src/fs_s2a bs=64k count=4 seek=400 oflag=direct status=none
dd if=/dev/urandom of=/dev/src/raw bs=64k count=8 seek=10 oflag=direct status=none
lvcreate -qy -s -n raw_r2 src/raw >/dev/null
files 3
lvcreate -qy -s -n fs_s3 src/fs >/dev/null
dd if=/dev/urandom of=/dev/src/raw bs=64k count=8 seek=60 oflag=direct status=none
lvcreate -qy -s -n raw_r3 src/raw >/dev/null
files 4
dd if=/dev/urandom of=/dev/src/raw bs=64k count=2 seek=200 oflag=direct status=none
lvchange -qy --addtag vm --addtag prod src/fs >/dev/null

sum() { # VG LV
	[ -e "/dev/$1/$2" ] || lvchange -qy -ay -K "$1/$2" >/dev/null 2>&1
	sha256sum <"/dev/$1/$2" | cut -c1-64
}
thin_lvs() { lvs --noheadings -o lv_name -S "pool_lv=$2" "$1" | tr -d ' ' | sort; }
# same_lvs VG POOL [PREFIX]: the thin LVs of VG/POOL are the source's (named
# PREFIX<name>), byte for byte.
same_lvs() {
	local lv ok=0 p=${3:-}
	[ "$(thin_lvs src pool | sed "s/^/$p/" | tr '\n' ' ')" = "$(thin_lvs "$1" "$2" | tr '\n' ' ')" ] ||
		{ echo "LVs differ: $(thin_lvs "$1" "$2" | tr '\n' ' ')"; return 1; }
	for lv in $(thin_lvs src pool); do
		[ "$(sum src "$lv")" = "$(sum "$1" "$p$lv")" ] || { echo "$lv differs"; ok=1; }
	done
	return $ok
}
used_blocks() { dmsetup status "$1-$2-tpool" | awk '{ split($6, a, "/"); print a[1] }'; }
origins() { lvs --noheadings -o lv_name,origin -S "pool_lv=$2" "$1" | awk '{ print $1, $2 }' | sort; }

# --- full replication of both lineages ---------------------------------------
"$THINFS" send src/pool fs -R -n >/tmp/fs.n
"$THINFS" send src/pool fs -R >/tmp/fs.s
check "-n prints the exact size of the stream" [ "$(awk 'NR == 1 { print $1 }' /tmp/fs.n)" = "$(stat -c %s /tmp/fs.s)" ]
"$THINFS" receive dst/pool </tmp/fs.s >/tmp/out
check "the fs lineage is received, one line per volume" [ "$(grep -c ': received' /tmp/out)" = 5 ]
check "replaying it is refused" bash -c "! '$THINFS' receive dst/pool </tmp/fs.s"
"$THINFS" send src/pool raw -R | "$THINFS" receive dst/pool >/dev/null
check "every LV's bytes equal the source's (lvs lists the same thin LVs)" same_lvs dst pool
check "LVM tags travel" bash -c "lvs --noheadings -o lv_tags dst/fs | grep -q prod"
echo "INFO: origins at the source:  $(origins src pool | tr '\n' ';')"
echo "INFO: origins at the target:  $(origins dst pool | tr '\n' ';')"
check "a first replication gives every LV its source origin (lvs -o name,origin)" \
	[ "$(origins src pool)" = "$(origins dst pool)" ]
check "no staging LV or marker is left" \
	bash -c "[ -z \"\$(lvs --noheadings -o lv_name dst | grep thinfs)\" ] && ! ls $THINFS_STATE_DIR/*.stage 2>/dev/null"
src_used=$(used_blocks src pool)
dst_used=$(used_blocks dst pool)
echo "INFO: data blocks used: source $src_used, target $dst_used"
check "the target pool's data usage is at most 1.05 x the source's" \
	awk -v s="$src_used" -v d="$dst_used" 'BEGIN { exit !(d <= 1.05 * s) }'

# --- incremental: writes, 2 new snapshots, 1 deleted, --prune ----------------
lvcreate -qy -s -n fs_s4 src/fs >/dev/null
files 5
lvcreate -qy -s -n fs_s5 src/fs >/dev/null
files 6
lvremove -qy src/fs_s1 >/dev/null
# The changed chunks, by thin_delta: fs_s3 -> fs_s4 -> fs_s5 -> fs.
id() { lvs --noheadings -o thin_id "src/$1" | tr -d ' '; }
dmsetup message src-pool-tpool 0 reserve_metadata_snap
changed=0
for pair in "fs_s3 fs_s4" "fs_s4 fs_s5" "fs_s5 fs"; do
	set -- $pair
	n=$(thin_delta -m --snap1 "$(id "$1")" --snap2 "$(id "$2")" /dev/mapper/src-pool_tmeta |
		awk '/<(different|left_only|right_only)/ { match($0, /length="[0-9]+"/); s += substr($0, RSTART + 8, RLENGTH - 9) } END { print s + 0 }')
	changed=$((changed + n * CHUNK))
done
dmsetup message src-pool-tpool 0 release_metadata_snap
"$THINFS" send src/pool fs -R --from fs_s3 -n >/tmp/inc.n
"$THINFS" send src/pool fs -R --from fs_s3 >/tmp/inc.s
sent=$(stat -c %s /tmp/inc.s)
echo "INFO: incremental: $sent bytes sent, changed chunks $changed bytes"
check "the incremental sends only the new snapshots and the volume" \
	bash -c "[ \"\$(awk 'NR > 1 && \$2 ~ /^[0-9]+\$/ { printf \"%s \", \$1 }' /tmp/inc.n)\" = 'fs_s4 fs_s5 fs ' ]"
check "bytes sent <= 1.05 x the changed chunks' bytes + stream overheads" \
	awk -v s="$sent" -v c="$changed" 'BEGIN { exit !(s <= 1.05 * c + 16384 + 32 * c / 65536 * 2) }'
"$THINFS" receive dst/pool --prune </tmp/inc.s >/tmp/out
check "the incremental with --prune applies" [ $? -eq 0 ]
check "the target equals the source again (fs_s1 pruned)" same_lvs dst pool

# --- a receiver killed with -9 midway, then rerun -----------------------------
lvcreate -qy -L 1G --chunksize 64k -T dst/pool2 >/dev/null
"$THINFS" send src/pool --all >/tmp/all.s
half=$(( $(stat -c %s /tmp/all.s) / 2 ))
mkfifo /tmp/feed
check "a second pool of the same VG is refused the same names, before applying anything" \
	bash -c "'$THINFS' receive dst/pool2 </tmp/all.s 2>&1 | grep -q 'exists outside the pool' &&
		[ -z \"\$(lvs --noheadings -S pool_lv=pool2 -o lv_name dst)\" ]"
"$THINFS" receive dst/pool2 --prefix k_ </tmp/feed >/tmp/out 2>&1 &
rpid=$!
{ head -c "$half" /tmp/all.s; exec sleep 600; } >/tmp/feed &
wpid=$!
for _ in $(seq 1 1200); do # until half the stream is given and a volume is in
	grep -q sleep "/proc/$wpid/comm" 2>/dev/null && grep -q received /tmp/out && break
	sleep 0.5
done
kill -9 "$rpid"
wait "$rpid" 2>/dev/null
kill "$wpid"
wait "$wpid" 2>/dev/null
got=$(grep -c ': received' /tmp/out)
total=$(thin_lvs src pool | wc -l)
check "the receiver was killed midway ($got of $total volumes in)" \
	awk -v g="$got" -v t="$total" 'BEGIN { exit !(g > 0 && g < t) }'
"$THINFS" receive dst/pool2 --prefix k_ </tmp/all.s >/tmp/out2
check "rerunning completes it" [ $? -eq 0 ]
check "the volumes that had landed were not applied again" grep -q "already here" /tmp/out2
check "no staging LV is left" bash -c "[ -z \"\$(lvs --noheadings -o lv_name dst | grep thinfs)\" ]"
check "and every LV equals the source" same_lvs dst pool2 k_
check "and has its source origin, though the receiver was killed inside a lineage" \
	[ "$(origins src pool | awk '{ print "k_" $1, ($2 == "" ? "" : "k_" $2) }' | sed 's/ $//')" = "$(origins dst pool2 | sed 's/ $//')" ]

# --- cut inside the origin's own delta, then the origin changes at the source --
# The snapshots have landed as snapshots of raw's stage; raw's delta was cut
# at its end.  Then raw changes: two chunks go back to unmapped, as they are in
# raw_r3, so the new delta does not touch them.  The stage, dirty toward the
# old raw, must not be finished with the new delta (it would keep the old
# bytes there): it is dropped and raw staged afresh from raw_r3.
lvcreate -qy -L 1G --chunksize 64k -T dst/pool3 >/dev/null
"$THINFS" send src/pool raw -R >/tmp/raw.s
# Cut inside raw's 64-byte trailer (the stream's own end is 64 bytes more):
# every record of raw's delta is in the stage, and raw has not landed.
head -c $(($(stat -c %s /tmp/raw.s) - 64 - 32)) /tmp/raw.s | "$THINFS" receive dst/pool3 --prefix c_ >/tmp/out3 2>&1
check "a stream cut inside the origin's delta fails, its snapshots in" \
	bash -c "[ \$(grep -c ': received' /tmp/out3) = 3 ] && ! lvs dst/c_raw >/dev/null 2>&1"
check "the snapshots that landed are snapshots of the origin's stage" \
	[ "$(lvs --noheadings -o origin dst/c_raw_r1 | tr -d ' ')" = c_raw_thinfs_recv ]
blkdiscard -o $((200 * CHUNK)) -l $((2 * CHUNK)) /dev/src/raw
dd if=/dev/urandom of=/dev/src/raw bs=64k count=1 seek=120 oflag=direct status=none
# While another receive holds raw's lock (a single-volume one, say), the
# replication's raw is refused, the stage left as it was.
mkdir -p /run/lock/thinfs
exec 9>/run/lock/thinfs/dst-c_raw.lock
flock -n 9
"$THINFS" send src/pool raw -R | "$THINFS" receive dst/pool3 --prefix c_ >/tmp/out3 2>&1
check "a receive into an LV another receive holds is refused (EBUSY), naming it" \
	bash -c "grep -q 'c_raw: another receive into it is running' /tmp/out3 && lvs dst/c_raw_thinfs_recv >/dev/null 2>&1"
exec 9>&-
"$THINFS" send src/pool raw -R | "$THINFS" receive dst/pool3 --prefix c_ >/tmp/out3 2>&1
check "the rerun after the origin changed completes" [ "${PIPESTATUS[1]}" -eq 0 ]
check "and raw equals the source (the stale stage was not finished)" [ "$(sum src raw)" = "$(sum dst c_raw)" ]
same_snaps() { for s in raw_r1 raw_r2 raw_r3; do [ "$(sum src $s)" = "$(sum dst c_$s)" ] || return 1; done; }
check "and so do its snapshots" same_snaps
check "and nothing of the stage is left" \
	bash -c "! lvs --noheadings -o lv_name dst | grep -q thinfs && ! ls $THINFS_STATE_DIR/*.stage 2>/dev/null"

# --- a directory on XFS with reflink ------------------------------------------
if command -v mkfs.xfs >/dev/null && lvcreate -qy -L 320M -n xfs dst >/dev/null &&
	mkfs.xfs -q -m reflink=1 /dev/dst/xfs && mkdir -p /mnt/x && mount /dev/dst/xfs /mnt/x; then
	before=$(df -B1 --output=used /mnt/x | tail -1)
	"$THINFS" send src/pool --all | "$THINFS" receive /mnt/x >/dev/null
	check "the directory target receives every volume" [ "${PIPESTATUS[1]}" -eq 0 ]
	ok=0
	for lv in $(thin_lvs src pool); do
		[ "$(sum src "$lv")" = "$(sha256sum </mnt/x/"$lv" | cut -c1-64)" ] || { echo "$lv differs"; ok=1; }
	done
	check "every file's bytes equal the source LV's" [ $ok = 0 ]
	sync
	after=$(df -B1 --output=used /mnt/x | tail -1)
	du_sum=$(du -s -B1 /mnt/x | cut -f1)
	src_bytes=$(( $(used_blocks src pool) * CHUNK ))
	echo "INFO: XFS: used grew by $((after - before)) bytes (du, counting shared extents per file: $du_sum); source data usage $src_bytes"
	check "reflinked files share: the filesystem's usage grows <= 1.05 x the source's data usage" \
		awk -v u=$((after - before)) -v s="$src_bytes" 'BEGIN { exit !(u <= 1.05 * s) }'
	umount /mnt/x
else
	fail "an XFS filesystem with reflink can be made (xfsprogs, xfs module)"
fi
finish
