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
# Usage: tests/bench/read.sh [BUILD_DIR]   (default: build; run as root for
# the 1 MiB splice pipes and read-ahead the mount asks for)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_setup "$@"
RATIO_DIGITS=2
# In tmpfs: the image stays in memory and no writeback or disk read lands
# in a timing (about 5 GiB of RAM).
T=$(mktemp -d /dev/shm/thinfs-readbench.XXXXXX)
M="$T/mnt"
L=/dev/shm/thinfs-readbench.$$
trap 'mountpoint -q "$M" 2>/dev/null && fusermount3 -u "$M"; rm -rf "$T" "$L"' EXIT
export THINFS_INDEX_DIR="$T/index"

mb_s() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f MB/s", n / t / 1e6 }'; }
# timed_fresh CMD...: CMD through a freshly mounted pool (no cached pages).
timed_fresh() {
	"$THINFS" mount "$P" "$M"
	local t
	t=$(best_of 1 "$@")
	fusermount3 -u "$M"
	echo "$t"
}

# The pool: thin ids 1-4 are fully allocated 1 GiB volumes (data chunks
# 0-65535, 64 KiB each), 5 is the scattered 4 GiB volume after them.
P="$T/pool"
mkdir -p "$P" "$M"
{
	pool_xml_begin 128 $((4 * 16384 + 8192))
	for i in 1 2 3 4; do pool_xml_full "$i" $(((i - 1) * 16384)) 16384; done
	pool_xml_scattered 5 $((4 * 16384)) 6500
	pool_xml_end
} >"$T/pool.xml"
pool_restore "$T/pool.xml" "$P"
head -c $(((4 * 16384 + 8192) * 65536)) /dev/urandom >"$P/data"
alloc=$(mapped_bytes "$T/pool.xml" 5 65536)
sync # no writeback of the new image while timing
cat "$P/data" >/dev/null # page cache warm for both sides
"$THINFS" index "$P" >/dev/null

# R_dd
t_img=$(best_of 3 dd if="$P/data" of=/dev/null bs=1M count=1024)
t_vol=$(timed_fresh dd if="$M/volumes/thin1" of=/dev/null bs=1M)
echo "1 GiB fully allocated volume, dd bs=1M:"
echo "  data image $t_img s ($(mb_s 1073741824 "$t_img")), through thinfs $t_vol s ($(mb_s 1073741824 "$t_vol")) -> R_dd = $(ratio "$t_img" "$t_vol") (target >= 0.7)"

# R_sparse: the same allocated bytes from the image, in one sequential dd.
t_img=$(best_of 3 dd if="$P/data" of=/dev/null bs=1M skip=4096 count=$((alloc / 1048576)))
t_vol=$(timed_fresh "$READDATA" "$M/volumes/thin5")
echo "scattered 4 GiB volume, $alloc bytes allocated:"
echo "  data image $t_img s, through thinfs (SEEK_DATA, 1 MiB reads) $t_vol s -> R_sparse = $(ratio "$t_img" "$t_vol") (target >= 0.5)"

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
t_rs=$(timed_fresh rsync -S "$M/volumes/thin5" "$L/rs-mnt")
echo "scattered 4 GiB volume copied sparse to tmpfs:"
echo "  cp --sparse=always: local sparse copy $t_cp_local s, through thinfs $t_cp s -> R_cp = $(ratio "$t_cp_local" "$t_cp")"
echo "  rsync -S:           local sparse copy $t_rs_local s, through thinfs $t_rs s -> R_rsync = $(ratio "$t_rs_local" "$t_rs")"
