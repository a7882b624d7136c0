#!/usr/bin/env bash
# The main job on the demo pool: installs, builds, unpacks a real
# kernel-written thin pool, lists it, diffs two snapshots, mounts it and
# copies a volume sparsely, reporting what was read.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
THINFS=$(scripts/build.sh)
T=$(mktemp -d /tmp/thinfs-demo.XXXXXX)
M="$T/mnt"
cleanup() { mountpoint -q "$M" 2>/dev/null && "$THINFS" umount "$M"; rm -rf "$T"; }
trap cleanup EXIT
export THINFS_INDEX_DIR="$T/index"

P="$T/pool"
mkdir -p "$P" "$M"
zstd -q -d tests/fixtures/kernel-pool-demo/metadata.zst -o "$P/metadata"
zstd -q -d --sparse tests/fixtures/kernel-pool-demo/data.zst -o "$P/data"
cp tests/fixtures/kernel-pool-demo/lvm.cfg "$P/lvm.cfg"
echo "Demo pool (written by the Linux kernel's dm-thin): $P"
echo
echo "\$ thinfs ls $P"
"$THINFS" ls "$P"
echo
echo "\$ thinfs diff $P web_monday web_tuesday   # byte ranges that changed"
"$THINFS" diff "$P" web_monday web_tuesday --stats
echo
echo "\$ thinfs diff $P web_monday web_tuesday --files   # files that changed"
"$THINFS" diff "$P" web_monday web_tuesday --files
echo
mkdir -p "$T/replica"
echo "\$ thinfs mount $P $M -o receive_dir=$T/replica"
"$THINFS" mount "$P" "$M" -o receive_dir="$T/replica"
ls -l "$M/volumes"
before=$(sed -n 's/.*"data_bytes_read": \([0-9]*\).*/\1/p' "$M/.thinfs/status")
start=$(date +%s.%N)
cp --sparse=always "$M/volumes/web_tuesday" "$T/web_tuesday.img"
end=$(date +%s.%N)
after=$(sed -n 's/.*"data_bytes_read": \([0-9]*\).*/\1/p' "$M/.thinfs/status")
size=$(stat -c %s "$M/volumes/web_tuesday")
echo
echo "cp --sparse=always volumes/web_tuesday:"
echo "  volume size:                  $size bytes"
echo "  read from the data device:    $((after - before)) bytes"
echo "  allocated in the copy:        $(( $(stat -c %b "$T/web_tuesday.img") * 512 )) bytes"
echo "  time:                         $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f s", b - a }')"
echo "  sha256 equals the kernel's:   $( [ "$(sha256sum < "$T/web_tuesday.img" | cut -c1-64)" = "$(awk '$2 == "web_tuesday" { print $1 }' tests/fixtures/kernel-pool-demo/sha256.txt)" ] && echo yes || echo NO)"
echo
echo "Restore a file from Monday's snapshot without activating anything:"
echo "\$ cat $M/files/web_monday/etc/version"
cat "$M/files/web_monday/etc/version"
echo
echo "Replicate: a full stream of web_monday, then only what changed until Tuesday:"
echo "\$ cp $M/deltas/web_monday/@full $M/receive/web"
cp "$M/deltas/web_monday/@full" "$M/receive/web"
echo "\$ cp $M/deltas/web_tuesday/web_monday $M/receive/web    # $(stat -c %s "$M/deltas/web_tuesday/web_monday") bytes"
cp "$M/deltas/web_tuesday/web_monday" "$M/receive/web"
echo "  replica equals web_tuesday: $( [ "$(sha256sum < "$T/replica/web" | cut -c1-64)" = "$(awk '$2 == "web_tuesday" { print $1 }' tests/fixtures/kernel-pool-demo/sha256.txt)" ] && echo yes || echo NO)"
"$THINFS" umount "$M"
