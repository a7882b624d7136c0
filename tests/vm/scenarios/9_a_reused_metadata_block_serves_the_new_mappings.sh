#!/usr/bin/env bash
# Blocks of the pool's metadata are freed and reused: delete a snapshot,
# write the origin, snapshot again, until a block the index holds a node
# for holds a different node in the kernel's metadata.  The refresh (not a
# rebuild) then serves the kernel's new mappings, never the old ones, for
# every device.
. "$(dirname "$0")/lib.sh"

pvcreate -qy /dev/vda >/dev/null && vgcreate -q vg9 /dev/vda >/dev/null &&
	lvcreate -qy -L 1G --chunksize 64k --poolmetadatasize 2M -T vg9/pool >/dev/null ||
	{ fail "pool created"; finish; exit 1; }
lvcreate -qy -V 128M -T vg9/pool -n origin >/dev/null
dd if=/dev/zero of=/dev/vg9/origin bs=1M count=128 oflag=direct status=none
lvcreate -qy -s -n snap vg9/origin >/dev/null
IX=/run/ix9.db
"$THINFS" index vg9/pool --index "$IX" >/dev/null || { fail "first index"; finish; exit 1; }
nodes() { sqlite3 "$1" "SELECT block, csum FROM nodes ORDER BY block" | tr '|' ' '; }
nodes "$IX" >/tmp/held
# The index is left alone while the pool churns; a throwaway index of each
# round says which blocks hold which nodes now.
reused=
for i in $(seq 1 20); do
	lvremove -qy vg9/snap >/dev/null
	# 256 chunks across the origin, each written and flushed on its own: 256
	# commits, each copying a root-to-leaf path.  The kernel's metadata
	# allocator moves on from the last block it gave out, so the churn has
	# to run it round the whole 2 MiB metadata device (512 blocks) before a
	# freed block comes back; how many rounds that takes depends on the
	# kernel, hence the loop.
	python3 - "$i" <<'PY'
import mmap, os, sys
i = int(sys.argv[1])
fd = os.open("/dev/vg9/origin", os.O_WRONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 65536)
for k in range(256):
    buf.seek(0)
    buf.write(os.urandom(65536))
    os.pwrite(fd, buf, (k * 8 + i % 8) * 65536)
    os.fsync(fd)
os.close(fd)
PY
	lvcreate -qy -s -n snap vg9/origin >/dev/null
	"$THINFS" index vg9/pool --index /run/probe.db --rebuild >/dev/null || { fail "probe $i"; break; }
	nodes /run/probe.db >/tmp/now
	reused=$(awk 'NR == FNR { p[$1] = $2; next } ($1 in p) && p[$1] != $2 { print $1; exit }' /tmp/held /tmp/now)
	echo "round $i: blocks holding another node now: $(awk 'NR == FNR { p[$1] = $2; next } ($1 in p) && p[$1] != $2 { c++ } END { print c + 0 }' /tmp/held /tmp/now)"
	[ -n "$reused" ] && break
done
echo "rounds: $i; a block holding another node now: ${reused:-none}"
check "a metadata block the index holds a node for now holds a different node" [ -n "$reused" ]
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
