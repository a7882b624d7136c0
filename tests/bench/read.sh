#!/usr/bin/env bash
# Read-path benchmark: volumes/ through a fresh mount against the same bytes
# read straight from the data image, page cache warm, all in one run (ratios
# of two things measured side by side; absolute times on a shared machine
# mislead).  Not a test: it reports, it does not pass or fail.
#
#   R_dd      dd bs=1M of a fully allocated 1 GiB volume through the mount ÷
#             dd of the same bytes of the data image (throughput, target ≥ 0.7)
#   R_sparse  the allocated bytes of a scattered 4 GiB volume (≈10% mapped in
#             runs of 1-8 chunks), through the mount ÷ from the image (≥ 0.5)
#   R_par     4 volumes read one after another ÷ the same 4 read at once
#             (speed-up of concurrent readers, target ≥ 1.5 on 2 cores)
#   R_cp, R_rsync  cp --sparse=always / rsync -S of the scattered volume
#             through the mount ÷ the same command on a local sparse copy
#
# Each FUSE read is also timed through fuse_floor (tests/bench/fuse_floor.c),
# the least a FUSE server can do: one file spliced straight from a local
# file, with thinfs's request size and read-ahead.  "floor ÷ image" is what
# FUSE itself allows on this machine; "thinfs ÷ floor" is what thinfs adds
# (1.00: nothing).
#
# Usage: tests/bench/read.sh [BUILD_DIR]   (default: build; run as root for
# the 1 MiB splice pipes and read-ahead the mount asks for)
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build}
THINFS="$PWD/$B/tools/thinfs"
READDATA="$PWD/$B/tests/readdata"
FLOOR="$PWD/$B/tests/fuse_floor"
# In tmpfs: the image stays in memory and no writeback or disk read lands
# in a timing (about 5 GiB of RAM).
T=$(mktemp -d /dev/shm/thinfs-readbench.XXXXXX)
M="$T/mnt"
L=/dev/shm/thinfs-readbench.$$
F="$T/floor"
trap 'for m in "$M" "$F"; do mountpoint -q "$m" 2>/dev/null && fusermount3 -u "$m"; done; rm -rf "$T" "$L"' EXIT
export THINFS_INDEX_DIR="$T/index"

now() { date +%s.%N; }
# best_of N CMD...: the fastest of N runs, in seconds (noise only adds time).
best_of() {
	local n=$1 best=
	shift
	for _ in $(seq "$n"); do
		local a b
		a=$(now)
		"$@" >/dev/null 2>&1
		b=$(now)
		best=$(awk -v a="$a" -v b="$b" -v m="$best" 'BEGIN { d = b - a; print (m == "" || d < m) ? d : m }')
	done
	echo "$best"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
mb_s() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f MB/s", n / t / 1e6 }'; }
# timed_fresh CMD...: CMD through a freshly mounted pool (no cached pages),
# the best of 3 mounts: the first touch of memory the machine has not used
# yet is slow on a virtual machine, and should not be charged to one side.
timed_fresh() {
	local t best=
	for _ in 1 2 3; do
		"$THINFS" mount "$P" "$M"
		t=$(best_of 1 "$@")
		fusermount3 -u "$M"
		best=$(awk -v t="$t" -v m="$best" 'BEGIN { print (m == "" || t < m) ? t : m }')
	done
	echo "$best"
}

# timed_floor FILE CMD...: CMD through a fresh fuse_floor mount of FILE
# (at $F/file), with the read-ahead thinfs's mount sets; the best of 3.
timed_floor() {
	local file=$1 t best= pid n
	shift
	for _ in 1 2 3; do
		"$FLOOR" "$file" "$F" &
		pid=$!
		n=0
		until mountpoint -q "$F"; do
			n=$((n + 1))
			[ $n -lt 200 ] || { echo "fuse_floor did not mount" >&2; exit 1; }
			sleep 0.05
		done
		echo 1024 >"/sys/class/bdi/$(mountpoint -d "$F")/read_ahead_kb" 2>/dev/null || true
		t=$(best_of 1 "$@")
		fusermount3 -u "$F"
		wait "$pid"
		best=$(awk -v t="$t" -v m="$best" 'BEGIN { print (m == "" || t < m) ? t : m }')
	done
	echo "$best"
}

# The pool: thin ids 1-4 are fully allocated 1 GiB volumes (data chunks
# 0-65535, 64 KiB each), 5 is the scattered 4 GiB volume after them.
P="$T/pool"
mkdir -p "$P" "$M" "$F"
awk 'BEGIN {
	srand(7); cs = 128; per = 16384; nv = 65536; d = 4 * per
	printf "<superblock uuid=\"\" time=\"0\" transaction=\"1\" flags=\"0\" version=\"2\" data_block_size=\"%d\" nr_data_blocks=\"%d\">\n", cs, 4 * per + 8192
	for (i = 1; i <= 4; i++) {
		printf "  <device dev_id=\"%d\" mapped_blocks=\"%d\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\">\n", i, per
		printf "    <range_mapping origin_begin=\"0\" data_begin=\"%d\" length=\"%d\" time=\"0\"/>\n", (i - 1) * per, per
		printf "  </device>\n"
	}
	printf "  <device dev_id=\"5\" mapped_blocks=\"0\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\">\n"
	v = 0
	while (d < 4 * per + 6500) {
		v += int(rand() * 150) + 1; l = int(rand() * 8) + 1
		if (v + l >= nv) break
		printf "    <range_mapping origin_begin=\"%d\" data_begin=\"%d\" length=\"%d\" time=\"0\"/>\n", v, d, l
		v += l; d += l
	}
	printf "  </device>\n</superblock>\n" }' >"$T/pool.xml"
truncate -s 64M "$P/metadata"
thin_restore -q -i "$T/pool.xml" -o "$P/metadata"
head -c $(((4 * 16384 + 8192) * 65536)) /dev/urandom >"$P/data"
alloc=$(awk -F'"' '/range_mapping/ && seen4 { s += $6 } /dev_id="5"/ { seen4 = 1 } END { print s * 65536 }' "$T/pool.xml")
sync # no writeback of the new image while timing
cat "$P/data" >/dev/null # page cache warm for both sides
"$THINFS" index "$P" >/dev/null

# R_dd
t_img=$(best_of 3 dd if="$P/data" of=/dev/null bs=1M count=1024)
t_vol=$(timed_fresh dd if="$M/volumes/thin1" of=/dev/null bs=1M)
t_floor=$(timed_floor "$P/data" dd if="$F/file" of=/dev/null bs=1M count=1024)
echo "1 GiB fully allocated volume, dd bs=1M:"
echo "  data image $t_img s ($(mb_s 1073741824 "$t_img")), through thinfs $t_vol s ($(mb_s 1073741824 "$t_vol")) -> R_dd = $(ratio "$t_img" "$t_vol") (target >= 0.7)"
echo "  through fuse_floor $t_floor s: floor ÷ image = $(ratio "$t_img" "$t_floor"), thinfs ÷ floor = $(ratio "$t_floor" "$t_vol")"

# R_sparse: the same allocated bytes from the image, in one sequential dd.
t_img=$(best_of 3 dd if="$P/data" of=/dev/null bs=1M skip=4096 count=$((alloc / 1048576)))
t_vol=$(timed_fresh "$READDATA" "$M/volumes/thin5")
# The floor serves a local sparse copy of the same volume: the same holes,
# so the same SEEK_DATA/SEEK_HOLE and reads.
"$THINFS" mount "$P" "$M"
cp --sparse=always "$M/volumes/thin5" "$T/thin5.sparse"
fusermount3 -u "$M"
t_floor=$(timed_floor "$T/thin5.sparse" "$READDATA" "$F/file")
rm -f "$T/thin5.sparse"
echo "scattered 4 GiB volume, $alloc bytes allocated:"
echo "  data image $t_img s, through thinfs (SEEK_DATA, 1 MiB reads) $t_vol s -> R_sparse = $(ratio "$t_img" "$t_vol") (target >= 0.5)"
echo "  through fuse_floor $t_floor s: floor ÷ image = $(ratio "$t_img" "$t_floor"), thinfs ÷ floor = $(ratio "$t_floor" "$t_vol")"

# R_par
read4() { for i in 1 2 3 4; do dd if="$M/volumes/thin$i" of=/dev/null bs=1M 2>/dev/null; done; }
read4par() {
	local pids=()
	for i in 1 2 3 4; do
		dd if="$M/volumes/thin$i" of=/dev/null bs=1M 2>/dev/null &
		pids+=($!)
	done
	wait "${pids[@]}"
}
t_seq=$(timed_fresh read4)
t_par=$(timed_fresh read4par)
echo "4 x 1 GiB volumes: one after another $t_seq s, at once $t_par s -> R_par = $(ratio "$t_seq" "$t_par") (target >= 1.5)"

# R_cp and R_rsync: the scattered volume copied sparse into tmpfs.
mkdir -p "$L"
"$THINFS" mount "$P" "$M"
cp --sparse=always "$M/volumes/thin5" "$L/local"
fusermount3 -u "$M"
t_cp_local=$(best_of 2 cp --sparse=always "$L/local" "$L/cp-local")
t_cp=$(timed_fresh cp --sparse=always "$M/volumes/thin5" "$L/cp-mnt")
cmp "$L/local" "$L/cp-mnt" || echo "  !! cp through thinfs differs from the local copy"
rm -f "$L/cp-local" "$L/cp-mnt"
t_rs_local=$(best_of 2 bash -c "rm -f '$L/rs-local'; rsync -S '$L/local' '$L/rs-local'")
t_rs=$(timed_fresh bash -c "rm -f '$L/rs-mnt'; rsync -S '$M/volumes/thin5' '$L/rs-mnt'")
echo "scattered 4 GiB volume copied sparse to tmpfs:"
echo "  cp --sparse=always: local sparse copy $t_cp_local s, through thinfs $t_cp s -> R_cp = $(ratio "$t_cp_local" "$t_cp")"
echo "  rsync -S:           local sparse copy $t_rs_local s, through thinfs $t_rs s -> R_rsync = $(ratio "$t_rs_local" "$t_rs")"
