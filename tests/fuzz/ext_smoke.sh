#!/bin/sh
# ext_smoke.sh — runs the ext view fuzzer for a short while (default 30 s)
# from a seed corpus of small images built here: plain ext2, ext4 with a
# journal that needs recovery, inline data, and a GPT-partitioned volume.
# Usage: tests/fuzz/ext_smoke.sh [path/to/fuzz_ext_view] [seconds]
# Build: CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined
set -u
FUZZ=${1:-build-fuzz/tests/fuzz/fuzz_ext_view}
SECS=${2:-30}
if [ ! -x "$FUZZ" ]; then
	echo "FAIL: fuzzer binary $FUZZ not found (build with -Dfuzz=true)"
	exit 1
fi
T=$(mktemp -d)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$T"' EXIT; [ -z "${KEEP:-}" ] || echo "workdir $T"
mkdir -p "$T/src/d" "$T/corpus"
echo hello > "$T/src/a.txt"
head -c 5000 /dev/urandom > "$T/src/d/b.bin"
ln -s a.txt "$T/src/link"
ln -s "$(printf 'x%.0s' $(seq 1 100))" "$T/src/slowlink"
q() { "$@" >/dev/null 2>&1 || { echo "FAIL: seed step: $*"; exit 1; }; }

q mkfs.ext4 -q -F -b 1024 -O ^has_journal,^resize_inode -N 32 -d "$T/src" "$T/corpus/ext2.img" 256K
q debugfs -w -R "ea_set /a.txt user.k value" "$T/corpus/ext2.img"
q mkfs.ext4 -q -F -b 1024 -O inline_data,^resize_inode -N 32 -d "$T/src" "$T/corpus/inline.img" 3M
A=$(debugfs -R "bmap /d/b.bin 0" "$T/corpus/inline.img" 2>/dev/null)
head -c 1024 /dev/zero | tr '\0' Z > "$T/z.blk"
printf 'jo -c\njw -b %s %s\njw -r %s /dev/null\njc\n' "$A" "$T/z.blk" "$A" |
	debugfs -w -f - "$T/corpus/inline.img" >/dev/null 2>&1
cp "$T/corpus/inline.img" "$T/corpus/journal.img"
printf 'jo\njw -b %s %s\njc\n' "$A" "$T/z.blk" | debugfs -w -f - "$T/corpus/journal.img" >/dev/null 2>&1
q truncate -s 1M "$T/corpus/gpt.img"
q sgdisk -n 1:64:+512K -t 1:8300 -n 2:0:0 "$T/corpus/gpt.img"
q dd if="$T/corpus/ext2.img" of="$T/corpus/gpt.img" bs=512 seek=64 conv=notrunc status=none

"$FUZZ" -max_total_time="$SECS" -max_len=3200000 -rss_limit_mb=2048 -timeout=10 \
	-artifact_prefix="$T/" "$T/corpus" >"$T/log" 2>&1
rc=$?
if [ $rc -eq 0 ]; then
	echo "PASS: fuzz_ext_view ran ${SECS}s without a crash ($(grep -c 'NEW' "$T/log") new paths)"
else
	tail -40 "$T/log"
	for a in "$T"/crash-* "$T"/leak-* "$T"/timeout-* "$T"/oom-*; do
		[ -e "$a" ] && cp "$a" . && echo "artifact kept: ./$(basename "$a")"
	done
	echo "FAIL: fuzz_ext_view exited $rc"
	exit 1
fi
