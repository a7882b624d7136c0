#!/usr/bin/env bash
# Builds the delta-stream parser's libFuzzer harness with clang and runs it
# for a short while from seeds made by thinfs send on the demo pool.
# Prints PASS/FAIL and "N passed, N failed"; a crash fails.
set -u
cd "$(dirname "$0")/../.."
secs=${1:-30}
T=$(mktemp -d /tmp/thinfs-fuzz-stream.XXXXXX)
trap 'rm -rf "$T"' EXIT
if ! command -v clang >/dev/null; then
	echo "FAIL: clang is needed for the fuzz smoke run"
	echo "0 passed, 1 failed"
	exit 1
fi
if ! clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -I. -Ibuild \
	tests/fuzz/fuzz_stream.c core/stream/stream_parse.c core/stream/stream.c core/io/sha256.c \
	core/io/crc32c.c core/base/err.c core/base/vec.c core/io/bio.c core/stream/wire_text.c -o "$T/fuzz_stream" -lpthread 2>"$T/build.log"; then
	cat "$T/build.log"
	echo "FAIL: the stream fuzzer builds"
	echo "0 passed, 1 failed"
	exit 1
fi
mkdir -p "$T/corpus"
P="$T/pool"
mkdir -p "$P"
zstd -q -d tests/fixtures/kernel-pool-demo/metadata.zst -o "$P/metadata"
zstd -q -d --sparse tests/fixtures/kernel-pool-demo/data.zst -o "$P/data"
cp tests/fixtures/kernel-pool-demo/lvm.cfg "$P/"
export THINFS_INDEX_DIR="$T/index"
build/tools/thinfs send "$P" web_tuesday --from web_monday 2>/dev/null | head -c 200000 >"$T/corpus/inc"
build/tools/thinfs send "$P" web --from web_tuesday >"$T/corpus/zero"
build/tools/thinfs send "$P" scratch 2>/dev/null | head -c 300000 >"$T/corpus/full"
if "$T/fuzz_stream" -max_total_time="$secs" -max_len=300000 -rss_limit_mb=2048 \
	-artifact_prefix="$T/" "$T/corpus" >"$T/run.log" 2>&1; then
	echo "PASS: the stream parser survives ${secs}s of fuzzing ($(grep -c . "$T/run.log") log lines)"
	echo "1 passed, 0 failed"
else
	tail -40 "$T/run.log"
	echo "FAIL: the stream parser survives ${secs}s of fuzzing"
	echo "0 passed, 1 failed"
	exit 1
fi
