#!/usr/bin/env bash
# Benchmarks: ratios measured in one run on one machine (absolute times on a
# shared machine mislead; ratios of two things measured side by side do not).
# Not a test: it reports, it does not pass or fail.
#
#   R_diff   thinfs diff ÷ thin_delta on kernel metadata with 1M mappings and
#            100 changed chunks in 10 clusters (target ≤ 0.05)
#   R_index  full thinfs index ÷ thin_dump on the same (target ≤ 1.0)
#   R_read   cp --sparse=always through the mount ÷ reading the same
#            allocated bytes straight from the data image (throughput, ≥ 0.7)
#   R_skip   bytes read from the data device ÷ allocated bytes (1.00)
#
# Usage: tests/bench/run.sh [BUILD_DIR]   (default: build)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_setup "$@"
T=$(mktemp -d /tmp/thinfs-bench.XXXXXX)
M="$T/mnt"
trap 'mountpoint -q "$M" 2>/dev/null && fusermount3 -u "$M"; rm -rf "$T"' EXIT
export THINFS_INDEX_DIR="$T/index"


for f in kernel-1m-mappings kernel-1m-scrambled; do
	P="$T/$f"
	mkdir -p "$P"
	zstd -q -d --sparse "tests/fixtures/$f/metadata.zst" -o "$P/metadata"
	: >"$P/data"
	t_delta=$(best_of 3 thin_delta --snap1 2 --snap2 3 "$P/metadata")
	t_dump=$(best_of 2 thin_dump "$P/metadata")
	t_index=$(best_of 2 "$THINFS" index "$P" --rebuild --index "$T/$f.db")
	t_diff=$(best_of 3 "$THINFS" diff "$P" thin2 thin3 --index "$T/$f.db")
	nodes=$("$THINFS" diff "$P" thin2 thin3 --index "$T/$f.db" --stats 2>&1 >/dev/null | sed -n 's/.* \([0-9]*\) metadata nodes read.*/\1/p')
	echo "$f: thin_delta $t_delta s, thinfs diff $t_diff s ($nodes nodes read) -> R_diff = $(ratio "$t_diff" "$t_delta") (target <= 0.05)"
	echo "$f: thin_dump $t_dump s, thinfs index --rebuild $t_index s -> R_index = $(ratio "$t_index" "$t_dump") (target <= 1.0)"
	rm -f "$P/metadata"
done

# A 4 GiB volume with about 10% allocated in scattered runs of 1-8 chunks.
P="$T/sparse"
mkdir -p "$P" "$M"
{
	pool_xml_begin 128 8192
	pool_xml_scattered 1 0 6500
	pool_xml_end
} >"$T/sparse.xml"
pool_restore "$T/sparse.xml" "$P"
head -c $((8192 * 65536)) /dev/urandom >"$P/data"
cat >"$P/lvm.cfg" <<CFG
bench {
	id = "bench0-0000-0000-0000-0000-0000-000000"
	extent_size = 8192
	logical_volumes {
		pool {
			id = "benchp-0000-0000-0000-0000-0000-000000"
			segment_count = 1
			segment1 { start_extent = 0
				extent_count = 128
				type = "thin-pool"
				metadata = "pool_tmeta"
				pool = "pool_tdata"
				transaction_id = 1
				chunk_size = 128 }
		}
		vol {
			id = "benchv-0000-0000-0000-0000-0000-000000"
			segment_count = 1
			segment1 { start_extent = 0
				extent_count = 1024
				type = "thin"
				thin_pool = "pool"
				transaction_id = 0
				device_id = 1 }
		}
	}
}
CFG
alloc=$(mapped_bytes "$T/sparse.xml" 1 65536)
"$THINFS" mount "$P" "$M"
cat "$P/data" >/dev/null # warm the page cache for the direct read
t_direct=$(best_of 3 dd if="$P/data" of=/dev/null bs=1M count=$((alloc / 1048576)))
before=$(sed -n 's/.*"data_bytes_read": \([0-9]*\).*/\1/p' "$M/.thinfs/status")
# Once each: a second pass would be served by the page cache.
t_read=$(best_of 1 "$READDATA" "$M/volumes/vol")
after=$(sed -n 's/.*"data_bytes_read": \([0-9]*\).*/\1/p' "$M/.thinfs/status")
fusermount3 -u "$M"
"$THINFS" mount "$P" "$M"
t_cp=$(best_of 1 cp --sparse=always "$M/volumes/vol" /dev/shm/thinfs-bench-copy)
fusermount3 -u "$M"
t_cp_local=$(best_of 2 cp --sparse=always /dev/shm/thinfs-bench-copy /dev/shm/thinfs-bench-copy2)
rm -f /dev/shm/thinfs-bench-copy /dev/shm/thinfs-bench-copy2
echo "sparse 4 GiB volume, $alloc bytes allocated in scattered runs:"
echo "  reading the allocated bytes: straight from the data image $t_direct s, through thinfs $t_read s -> R_read = $(ratio "$t_direct" "$t_read") (target >= 0.7)"
echo "  cp --sparse=always to tmpfs: of the same sparse file on tmpfs $t_cp_local s, through thinfs $t_cp s -> R_cp = $(ratio "$t_cp_local" "$t_cp")"
echo "  bytes read from the data device $((after - before)) / allocated $alloc -> R_skip = $(ratio $((after - before)) "$alloc") (target 1.00)"

# R_send / R_recv: thinfs send and thinfs receive of a full stream of the
# sparse volume ÷ cat of the same number of bytes (page cache warm);
# R_amp: stream bytes ÷ changed-chunk bytes.
"$THINFS" send "$P" vol >"$T/full.s"
sbytes=$(stat -c %s "$T/full.s")
t_cat=$(best_of 3 bash -c "cat '$T/full.s' >/dev/null")
t_send=$(best_of 3 bash -c "'$THINFS' send '$P' vol >/dev/null")
mkdir -p /dev/shm/thinfs-bench-recv
t_cat_w=$(best_of 2 bash -c "cat '$T/full.s' >/dev/shm/thinfs-bench-recv/plain")
t_recv=$(best_of 2 bash -c "rm -f /dev/shm/thinfs-bench-recv/vol; '$THINFS' receive /dev/shm/thinfs-bench-recv vol <'$T/full.s'")
rm -rf /dev/shm/thinfs-bench-recv
changed=$("$THINFS" send "$P" vol -n | sed 's/.*records, \([0-9]*\) bytes.*/\1/')
echo "full stream of the sparse volume, $sbytes bytes:"
echo "  send: cat $t_cat s, thinfs send $t_send s -> R_send = $(ratio "$t_cat" "$t_send") (throughput vs cat)"
echo "  receive into a file: cat > file $t_cat_w s, thinfs receive $t_recv s -> R_recv = $(ratio "$t_cat_w" "$t_recv")"
echo "  stream bytes / changed-chunk bytes = $sbytes / $changed -> R_amp = $(RATIO_DIGITS=4 ratio "$sbytes" "$changed") (target <= 1.01)"

# R_tar: tar of a filesystem through files/ ÷ the same through fuse2fs on
# the same ext4 image (target >= 1.0: thinfs faster).  A tree of 4,000
# files of 1-64 KiB in 40 directories.
mkdir -p "$T/tree"
for d in $(seq 1 40); do
	mkdir -p "$T/tree/d$d"
	for f in $(seq 1 100); do head -c $(( (d * 131 + f * 977) % 65536 + 1024 )) /dev/urandom >"$T/tree/d$d/f$f"; done
done
mkfs.ext4 -q -F -d "$T/tree" "$T/fs.img" 512M
SEEKMAP="$PWD/$B/tests/seekmap"
. tests/pool-from-image.sh
pool_from_image "$T/fs.img" "$T/fspool"
mkdir -p "$T/f2" "$M"
"$THINFS" mount "$T/fspool" "$M"
fuse2fs -o ro,fakeroot "$T/fs.img" "$T/f2" >/dev/null 2>&1
# Through a pipe: GNU tar skips reading files when it writes to /dev/null.
t_thinfs=$(best_of 3 bash -c "tar -cf - -C '$M/files/thin1' . | wc -c")
t_fuse2fs=$(best_of 3 bash -c "tar -cf - -C '$T/f2' . | wc -c")
fusermount3 -u "$T/f2"
fusermount3 -u "$M"
echo "tar of 4,000 files: fuse2fs $t_fuse2fs s, thinfs files/ $t_thinfs s -> R_tar = $(ratio "$t_fuse2fs" "$t_thinfs") (target >= 1.0)"
