#!/usr/bin/env bash
# The index against thin-provisioning-tools, side by side on one machine
# (ratios of two things measured together; absolute times on a shared
# machine mislead).  Not a test: it reports, it does not pass or fail.
#
# kernel-many-snapshots (one 100,000-chunk volume, 30 snapshots):
#   R_build    full index build ÷ thin_dump --dev-id 1            (target <= 3)
#   R_bytes    index bytes ÷ metadata bytes in use                 (target <= 1)
#              (metadata space map: allocated blocks x 4 KiB)
#   RSS        peak RSS of a full build                            (target <= 128 MiB)
#   R_refresh  refresh to metadata-plus1 ÷ thin_delta 31 32        (target <= 1)
#   R_diff0    thinfs diff s31 s32 with no index ÷ the same        (target <= 1)
# kernel-1m-mappings, kernel-1m-scrambled:
#   R_build    full index build ÷ thin_dump                        (target <= 0.5)
#   R_diff0    diff with no index ÷ thin_delta 2 3                 (target <= 0.05)
#
# Times are the best of N wall-clock runs (noise only adds time).
# Usage: tests/bench/index_bench.sh [BUILD_DIR]   (default: build)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_setup "$@"
T=$(mktemp -d /tmp/thinfs-ixbench.XXXXXX)
trap 'rm -rf "$T"' EXIT
F=tests/fixtures

# cpu_of N CMD...: the least user+system CPU seconds of N runs (a shared
# machine's load inflates wall time, and fsync waits are the disk's).
cpu_of() {
	local n=$1 best=
	shift
	for _ in $(seq "$n"); do
		local c
		/usr/bin/time -o "$T/cpu" -f "%U %S" "$@" >/dev/null 2>&1 || true
		c=$(awk '{ print $1 + $2 }' "$T/cpu")
		best=$(least "$c" "$best")
	done
	echo "$best"
}
# fresh_index DB BASE: a copy of the base index (for refresh runs).
refresh_from() { rm -f "$1"*; cp "$2" "$1"; "$THINFS" index "$3" --index "$1"; }

# --- kernel-many-snapshots ---
M="$T/many"
P1="$T/many-plus1"
mkdir -p "$M" "$P1"
zstd -q -d "$F/kernel-many-snapshots/metadata.zst" -o "$M/metadata"
zstd -q -d "$F/kernel-many-snapshots/metadata-plus1.zst" -o "$P1/metadata"
cp "$F/kernel-many-snapshots/lvm.cfg" "$M/lvm.cfg"
cp "$F/kernel-many-snapshots/lvm-plus1.cfg" "$P1/lvm.cfg"
truncate -s 13107200000 "$M/data" "$P1/data"

t_dump1=$(best_of 5 thin_dump --dev-id 1 "$M/metadata")
t_build=$(best_of 5 "$THINFS" index "$M" --rebuild --index "$T/many.db")
rss=$(/usr/bin/time -f %M "$THINFS" index "$M" --rebuild --index "$T/rss.db" 2>&1 >/dev/null | tail -1)
ix_bytes=$(stat -c %s "$T/many.db")
meta_alloc=$(sqlite3 "$T/many.db" "SELECT metadata_nr_allocated FROM pool")
meta_bytes=$((meta_alloc * 4096))
t_delta=$(best_of 5 thin_delta --snap1 31 --snap2 32 "$P1/metadata")
t_refresh=$(best_of 5 refresh_from "$T/r.db" "$T/many.db" "$P1")
t_copy=$(best_of 5 cp "$T/many.db" "$T/copy.db")
t_refresh=$(awk -v a="$t_refresh" -v b="$t_copy" 'BEGIN { print a - b }')
read_nodes=$(refresh_from "$T/r.db" "$T/many.db" "$P1" >/dev/null; rm -f "$T/r.db"*; cp "$T/many.db" "$T/r.db";
	"$THINFS" index "$P1" --index "$T/r.db" --json | sed -n 's/.*"nodes_read": \([0-9]*\).*/\1/p')
t_diff0=$(best_of 5 env THINFS_INDEX_DIR="$T/none" "$THINFS" diff "$P1" s31 s32)
c_dump1=$(cpu_of 5 thin_dump --dev-id 1 "$M/metadata")
c_build=$(cpu_of 5 "$THINFS" index "$M" --rebuild --index "$T/many.db")
c_delta=$(cpu_of 5 thin_delta --snap1 31 --snap2 32 "$P1/metadata")
c_refresh=
for _ in 1 2 3 4 5; do
	rm -f "$T/r.db"*
	cp "$T/many.db" "$T/r.db"
	c=$(cpu_of 1 "$THINFS" index "$P1" --index "$T/r.db")
	c_refresh=$(least "$c" "$c_refresh")
done
echo "kernel-many-snapshots (31 devices x ~100,000 mappings; $meta_alloc metadata blocks in use):"
echo "  thin_dump --dev-id 1 $t_dump1 s, thinfs index --rebuild $t_build s -> R_build = $(ratio "$t_build" "$t_dump1") (target <= 3)"
echo "  index $ix_bytes bytes / metadata in use $meta_bytes bytes -> R_bytes = $(ratio "$ix_bytes" "$meta_bytes") (target <= 1)"
echo "  in CPU seconds: thin_dump --dev-id 1 $c_dump1, build $c_build -> R_build(cpu) = $(ratio "$c_build" "$c_dump1")"
echo "  peak RSS of a full build: $((rss / 1024)) MiB (target <= 128 MiB)"
echo "  thin_delta --snap1 31 --snap2 32 $t_delta s, refresh to metadata-plus1 $t_refresh s (${read_nodes:-?} nodes read) -> R_refresh = $(ratio "$t_refresh" "$t_delta") (target <= 1)"
echo "  in CPU seconds: thin_delta $c_delta, refresh $c_refresh -> R_refresh(cpu) = $(ratio "$c_refresh" "$c_delta")"
echo "  thinfs diff s31 s32 with no index $t_diff0 s -> R_diff0 = $(ratio "$t_diff0" "$t_delta") (target <= 1)"
ls "$T/none" >/dev/null 2>&1 && echo "  (diff built an index: it should not)"

# --- the 1M-mapping fixtures ---
for f in kernel-1m-mappings kernel-1m-scrambled; do
	P="$T/$f"
	mkdir -p "$P"
	zstd -q -d --sparse "$F/$f/metadata.zst" -o "$P/metadata"
	: >"$P/data"
	t_dump=$(best_of 2 thin_dump "$P/metadata")
	t_build=$(best_of 3 "$THINFS" index "$P" --rebuild --index "$T/$f.db")
	t_delta=$(best_of 5 thin_delta --snap1 2 --snap2 3 "$P/metadata")
	t_diff0=$(best_of 5 env THINFS_INDEX_DIR="$T/none" "$THINFS" diff "$P" thin2 thin3)
	rss=$(/usr/bin/time -f %M "$THINFS" index "$P" --rebuild --index "$T/rss.db" 2>&1 >/dev/null | tail -1)
	echo "$f: thin_dump $t_dump s, thinfs index --rebuild $t_build s (peak RSS $((rss / 1024)) MiB) -> R_build = $(ratio "$t_build" "$t_dump") (target <= 0.5)"
	echo "$f: thin_delta $t_delta s, thinfs diff with no index $t_diff0 s -> R_diff0 = $(ratio "$t_diff0" "$t_delta") (target <= 0.05)"
	rm -f "$P/metadata"
done
