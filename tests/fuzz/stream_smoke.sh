#!/usr/bin/env bash
# stream_smoke.sh — builds the libFuzzer harnesses of the two stream parsers
# with clang and runs each for half of SECS (default 30): the delta stream
# parser (fuzz_stream.c) from seeds thinfs send writes of the demo pool, and
# the replication stream parser (fuzz_repl.c) from replication streams
# thinfs send -R / --all writes of a small lineage pool (gen-lineage.sh).
# Prints PASS/FAIL per parser and "N passed, N failed"; a crash fails.
# Usage: tests/fuzz/stream_smoke.sh [SECS]   (KEEP=1 keeps the work dir)
set -u
cd "$(dirname "$0")/../.."
secs=${1:-30}
T=$(mktemp -d /tmp/thinfs-fuzz-stream.XXXXXX)
[ -n "${KEEP:-}" ] && echo "workdir $T" || trap 'rm -rf "$T"' EXIT
pass=0
fail=0
if ! command -v clang >/dev/null; then
	echo "FAIL: clang is needed for the fuzz smoke run"
	echo "0 passed, 1 failed"
	exit 1
fi
COMMON="core/stream/stream_parse.c core/stream/stream.c core/io/sha256.c core/io/crc32c.c
	core/base/err.c core/base/vec.c core/io/bio.c core/stream/wire_text.c"
build() { # NAME SOURCES...
	local name=$1
	shift
	# shellcheck disable=SC2086
	clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. -Ibuild \
		"tests/fuzz/$name.c" "$@" $COMMON -o "$T/$name" -lpthread >"$T/$name.build.log" 2>&1
}
build fuzz_stream &
s_pid=$!
build fuzz_repl core/stream/repl.c core/stream/volume_name.c &
r_pid=$!
wait $s_pid
s_rc=$?
wait $r_pid
r_rc=$?
for f in fuzz_stream:$s_rc fuzz_repl:$r_rc; do
	if [ "${f#*:}" != 0 ]; then
		cat "$T/${f%:*}.build.log"
		echo "FAIL: the fuzzer ${f%:*} builds"
		echo "0 passed, 1 failed"
		exit 1
	fi
done
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
	if "$T/$1" -max_total_time="$3" -max_len="$4" -rss_limit_mb=2048 -timeout=20 \
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
