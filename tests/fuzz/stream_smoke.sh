#!/usr/bin/env bash
# stream_smoke.sh — runs the libFuzzer harnesses of the two stream parsers
# for half of SECS each (default 30): the delta stream parser (fuzz_stream)
# from seeds thinfs send writes of the demo pool, and the replication
# stream parser (fuzz_repl) from replication streams thinfs send -R / --all
# writes of a small lineage pool (gen-lineage.sh).
# Prints PASS/FAIL per parser and "N passed, N failed"; a crash fails.
# Usage: tests/fuzz/stream_smoke.sh [SECS] [DIR]   (DIR holds the fuzzers,
# default build-fuzz/tests/fuzz; KEEP=1 keeps the work dir)
# Build: CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined
set -u
cd "$(dirname "$0")/../.."
secs=${1:-30}
F=${2:-build-fuzz/tests/fuzz}
for f in fuzz_stream fuzz_repl; do
	if [ ! -x "$F/$f" ]; then
		echo "FAIL: fuzzer binary $F/$f not found (build with -Dfuzz=true)"
		echo "0 passed, 1 failed"
		exit 1
	fi
done
T=$(mktemp -d /tmp/thinfs-fuzz-stream.XXXXXX)
[ -n "${KEEP:-}" ] && echo "workdir $T" || trap 'rm -rf "$T"' EXIT
pass=0
fail=0
export THINFS_INDEX_DIR="$T/index"
THINFS=build/tools/thinfs

# Delta stream seeds: an increment, an empty one and a full stream (cut).
mkdir -p "$T/stream" "$T/pool"
P="$T/pool"
zstd -q -d tests/fixtures/kernel-pool-demo/metadata.zst -o "$P/metadata"
zstd -q -d --sparse tests/fixtures/kernel-pool-demo/data.zst -o "$P/data"
cp tests/fixtures/kernel-pool-demo/lvm.cfg "$P/"
$THINFS send "$P" web_tuesday --from web_monday 2>/dev/null | head -c 200000 >"$T/stream/inc"
$THINFS send "$P" web --from web_tuesday >"$T/stream/zero"
$THINFS send "$P" scratch 2>/dev/null | head -c 300000 >"$T/stream/full"

# Replication stream seeds, whole: two lineages in full, a lineage's increment
# over a held snapshot, a whole pool, and the pool's increment over a
# target's state.  The lineage pool keeps a few chunks of each history step
# (so the streams stay under 800 kB) and still has chains, a discard, tags.
. tests/gen-lineage.sh
small_pool() { # DIR VERSION
	gen_lineage_pool "$1" "$2"
	awk '
	/<device / {
		hdr = $0
		nb = 0
		match($0, /dev_id="[0-9]+"/)
		dev = substr($0, RSTART + 8, RLENGTH - 9) + 0
		next
	}
	/single_mapping/ {
		match($0, /origin_block="[0-9]+"/)
		v = substr($0, RSTART + 14, RLENGTH - 15) + 0
		if (v == 10 || v == 50 || v == 130 || v == 200 || (v == 0 && dev >= 6))
			buf[++nb] = $0
		next
	}
	/<\/device>/ {
		sub(/mapped_blocks="[0-9]+"/, "mapped_blocks=\"" nb "\"", hdr)
		print hdr
		for (i = 1; i <= nb; i++) print buf[i]
		print
		next
	}
	{ print }' "$1/pool.xml" >"$1/small.xml"
	rm -f "$1/metadata"
	truncate -s 8M "$1/metadata"
	thin_restore -q -i "$1/small.xml" -o "$1/metadata"
}
mkdir -p "$T/repl" "$T/replica"
L="$T/lineage"
small_pool "$L" 1
$THINFS send "$L" vm -R >"$T/repl/lineage-full"
$THINFS send "$L" vm -R --from vm_s3 >"$T/repl/lineage-inc"
$THINFS send "$L" raw -R >"$T/repl/lineage-small"
$THINFS send "$L" --all >"$T/repl/all"
$THINFS receive "$T/replica" <"$T/repl/all" >/dev/null
$THINFS receive "$T/replica" --state >"$T/state"
small_pool "$L" 2
$THINFS send "$L" --all --from-state "$T/state" >"$T/repl/all-inc"
for f in "$T"/stream/* "$T"/repl/*; do
	if [ ! -s "$f" ]; then
		echo "FAIL: seed $(basename "$f") was written by thinfs send"
		echo "0 passed, 1 failed"
		exit 1
	fi
done

# run NAME WHAT SECS MAX_LEN CORPUS
run() {
	if "$F/$1" -max_total_time="$3" -max_len="$4" -rss_limit_mb=2048 -timeout=20 \
		-artifact_prefix="$T/$1-" "$5" >"$T/$1.log" 2>&1; then
		echo "PASS: the $2 parser survives ${3}s of fuzzing ($(grep -Eo 'cov: [0-9]+' "$T/$1.log" | tail -1), $(grep -Eo '#[0-9]+' "$T/$1.log" | tail -1 | tr -d '#') runs)"
		pass=$((pass + 1))
	else
		tail -40 "$T/$1.log"
		echo "FAIL: the $2 parser survives ${3}s of fuzzing"
		fail=$((fail + 1))
	fi
}
half=$((secs / 2))
run fuzz_stream "delta stream" "$half" 300000 "$T/stream"
run fuzz_repl "replication stream" $((secs - half)) 800000 "$T/repl"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
