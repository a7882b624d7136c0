#!/usr/bin/env bash
# Blocks of the pool's metadata are freed and reused: the pool is written
# until a block an index holds a node for holds a different node in the
# kernel's metadata.  The refresh of that index (not a rebuild) then serves
# the kernel's new mappings, never the old ones, for every device.
. "$(dirname "$0")/lib.sh"

pvcreate -qy /dev/vda >/dev/null && vgcreate -q vg9 /dev/vda >/dev/null &&
	lvcreate -qy -L 1G --chunksize 64k --poolmetadatasize 2M -T vg9/pool >/dev/null ||
	{ fail "pool created"; finish; exit 1; }
lvcreate -qy -V 128M -T vg9/pool -n origin >/dev/null
dd if=/dev/zero of=/dev/vg9/origin bs=1M count=128 oflag=direct status=none
lvcreate -qy -s -n snap vg9/origin >/dev/null
nodes() { sqlite3 "$1" "SELECT block, csum FROM nodes ORDER BY block" | tr '|' ' '; }
# How the kernel picks a metadata block decides when a freed one comes back.
# 6.1's allocator is a cursor that moves on from the last block it gave out
# and only wraps at the end of the device, so churn alone brings a block
# back after a lap, at a point that depends on timing (CI once churned 20
# rounds without one).  The cursor starts at block 0 when the pool is
# activated, though.  So each round reactivates the pool and writes one
# chunk: that commit copies the path to the chunk's leaf into the lowest
# free blocks.  Round 2's path lands above round 1's (which is still live
# until round 2 commits); round 3's lands in round 1's blocks, in the same
# order, with different contents.  Every index made along the way is kept,
# as a user could have left any of them behind, and each round is compared
# with all of them.
"$THINFS" index vg9/pool --index /run/ix9.0.db >/dev/null || { fail "first index"; finish; exit 1; }
nodes /run/ix9.0.db >/tmp/held.0
IX=
for i in $(seq 1 8); do
	vgchange -qan vg9 >/dev/null && vgchange -qay vg9 >/dev/null || { fail "pool reactivated in round $i"; break; }
	# Chunk i is older than the snapshot, so writing it maps a new data
	# chunk: one commit, one path copied.
	python3 - "$i" <<'PY'
import mmap, os, sys
fd = os.open("/dev/vg9/origin", os.O_WRONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 65536)
buf.write(os.urandom(65536))
os.pwrite(fd, buf, int(sys.argv[1]) * 65536)
os.fsync(fd)
os.close(fd)
PY
	"$THINFS" index vg9/pool --index /run/ix9.$i.db --rebuild >/dev/null || { fail "index of round $i"; break; }
	nodes /run/ix9.$i.db >/tmp/now
	for j in $(seq 0 $((i - 1))); do
		hits=$(awk 'NR == FNR { p[$1] = $2; next } ($1 in p) && p[$1] != $2 { c++ } END { print c + 0 }' /tmp/held.$j /tmp/now)
		if [ "$hits" -gt 0 ]; then
			echo "round $i: $hits blocks the index of round $j holds a node for hold another node now"
			IX=/run/ix9.$j.db
			break
		fi
	done
	[ -n "$IX" ] && break
	echo "round $i: no block an earlier index holds a node for holds another node yet"
	cp /tmp/now /tmp/held.$i
done
check "a metadata block an earlier index holds a node for now holds a different node" [ -n "$IX" ]
[ -n "$IX" ] || { finish; exit 1; }
"$THINFS" index vg9/pool --index "$IX" --json >/tmp/stats
check "the index was refreshed, not rebuilt" grep -q '"rebuilt": false' /tmp/stats
check "the refresh kept what it could prove and read the rest" \
	grep -qE '"nodes_read": [1-9][0-9]*, "nodes_new": [1-9]' /tmp/stats
cat /tmp/stats

# The kernel's mappings, per device, from a held metadata snapshot.
dmsetup message vg9-pool-tpool 0 reserve_metadata_snap
thin_dump -m "/dev/mapper/vg9-pool_tmeta" >/tmp/dump.xml
dmsetup message vg9-pool-tpool 0 release_metadata_snap
for id in $(sqlite3 "$IX" "SELECT thin_id FROM devices ORDER BY thin_id"); do
	awk -v dev="$id" '
		function a(k) { match($0, k "=\"[0-9]+\""); return substr($0, RSTART + length(k) + 2, RLENGTH - length(k) - 3) + 0 }
		/<device / { d = a("dev_id") }
		d == dev && /<single_mapping/ { print a("origin_block"), a("data_block") }
		d == dev && /<range_mapping/ { for (i = 0; i < a("length"); i++) print a("origin_begin") + i, a("data_begin") + i }' \
		/tmp/dump.xml >/tmp/kernel.$id
	sqlite3 "$IX" "SELECT vbegin, dbegin, len FROM extents WHERE dev = $id ORDER BY vbegin" |
		awk -F'|' '{ for (i = 0; i < $3; i++) print $1 + i, $2 + i }' >/tmp/index.$id
	check "thin device $id: the index maps every chunk where the kernel does ($(wc -l </tmp/kernel.$id) chunks)" \
		cmp -s /tmp/kernel.$id /tmp/index.$id
done
finish
