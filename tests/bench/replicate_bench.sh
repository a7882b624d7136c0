#!/usr/bin/env bash
# replicate_bench.sh — one `thinfs replicate` cycle after 1% of a 1 GiB
# thin volume changed (160 scattered 64 KiB chunks), in the VM (real
# dm-thin, two pools on two disks).  Reports, does not assert:
#
#   R_time   replicate wall time ÷ (reading the changed chunks from the new
#            snapshot + writing them into a target LV, done directly)
#   R_bytes  stream bytes sent ÷ changed bytes
#
# Usage: tests/bench/replicate_bench.sh   (boots the VM; THINFS= as for tests/vm/run.sh)
set -uo pipefail
if [ ! -d /vmresults ]; then # on the host: run this very script inside the VM
	here=$(cd "$(dirname "$0")" && pwd)
	exec "$here/../vm/run.sh" "$here/$(basename "$0")"
fi
. "$THINFS_SRCDIR/tests/vm/scenarios/lib.sh"
. "$THINFS_SRCDIR/tests/bench/lib.sh"
pvcreate -qy /dev/vda /dev/vdb >/dev/null
vgcreate -q vgs /dev/vda >/dev/null && vgcreate -q vgt /dev/vdb >/dev/null
lvcreate -qy -L 3G --chunksize 64k -T vgs/pool >/dev/null
lvcreate -qy -L 3G --chunksize 64k -T vgt/pool >/dev/null
lvcreate -qy -V 1G -T vgs/pool -n vm1 >/dev/null
export THINFS_STATE_DIR=/tmp/bench-state.$$

echo "filling 1 GiB"
head -c 64M /dev/urandom >/tmp/rnd.$$
for i in $(seq 0 15); do dd if=/tmp/rnd.$$ of=/dev/vgs/vm1 bs=4M seek=$((i * 16)) oflag=direct status=none; done
a=$(now)
"$THINFS" replicate vgs/vm1 vgt/pool --prefix _b_ --json >/tmp/full.json || { echo "FAIL: full cycle"; echo "0 passed, 1 failed"; exit 1; }
t_full=$(since "$a")
echo "full cycle: $(RATIO_DIGITS=2 ratio "$t_full" 1) s, $(jq .jobs[0].bytes_sent /tmp/full.json) bytes sent"

# 1%: 160 distinct random 64 KiB chunks of the 16384.
seq 0 16383 | shuf -n 160 --random-source=<(yes) | sort -n >/tmp/chunks.$$
while read -r c; do
	dd if=/dev/urandom of=/dev/vgs/vm1 bs=64k count=1 seek="$c" oflag=direct status=none
done </tmp/chunks.$$
changed=$((160 * 65536))
sync
a=$(now)
"$THINFS" replicate vgs/vm1 vgt/pool --prefix _b_ --json >/tmp/inc.json
t_rep=$(since "$a")
sent=$(jq .jobs[0].bytes_sent /tmp/inc.json)
S=$(lvs --noheadings -o lv_name vgs | awk '/_b_/ { print $1 }' | sort | tail -1)

# The floor: read exactly those chunks from the snapshot and write them
# into a target LV, directly (no stream, no metadata walk, no LVM commands).
lvchange -qy -ay -K "vgs/$S" >/dev/null
lvcreate -qy -V 1G -T vgt/pool -n floor >/dev/null
echo 3 >/proc/sys/vm/drop_caches
a=$(now)
python3 - "/dev/vgs/$S" /dev/vgt/floor /tmp/chunks.$$ <<'PY'
import os, sys
src = os.open(sys.argv[1], os.O_RDONLY)
dst = os.open(sys.argv[2], os.O_WRONLY)
for line in open(sys.argv[3]):
    off = int(line) * 65536
    os.pwrite(dst, os.pread(src, 65536, off), off)
os.fsync(dst)
PY
t_floor=$(since "$a")
echo "incremental cycle: $t_rep s wall, $sent bytes sent for $changed changed bytes"
echo "floor (read changed chunks + write them on the target): $t_floor s"
echo "R_time  = $(RATIO_DIGITS=2 ratio "$t_rep" "$t_floor")"
echo "R_bytes = $(RATIO_DIGITS=4 ratio "$sent" "$changed")"
echo "1 passed, 0 failed"
