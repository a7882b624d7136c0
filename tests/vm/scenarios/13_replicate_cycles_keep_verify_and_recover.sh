#!/usr/bin/env bash
# thinfs replicate between two pools on two disks, and into a directory:
# four cycles with writes between leave the newest snapshot equal at both
# ends (by the kernel's bytes and by thinfs verify), --keep 3 at each end,
# and a Prometheus textfile; a cycle killed midway is followed by a normal,
# consistent one; a byte changed on the target makes verify exit 1 naming
# the range and the next cycle refuse (until --force); a deleted base
# falls back to an older common snapshot; config jobs skip a locked job.
. "$(dirname "$0")/lib.sh"

make_pool vgs 64k /dev/vda || { fail "source pool created"; finish; exit 1; }
make_pool vgt 64k /dev/vdb || { fail "target pool created"; finish; exit 1; }
lvcreate -qy -V 512M -T vgs/pool -n vm1 >/dev/null
export THINFS_STATE_DIR=/tmp/rstate.$$
# The directory target on ext4 on a plain LV (tmpfs would hold every copy in RAM).
lvcreate -qy -L 1500M -n dirfs vgs >/dev/null && mkfs.ext4 -q /dev/vgs/dirfs && mkdir -p /mnt/rdir &&
	mount /dev/vgs/dirfs /mnt/rdir || { fail "the directory target's filesystem"; finish; exit 1; }
D=/mnt/rdir/replicas
mkdir -p "$D" "$THINFS_STATE_DIR"
M=/tmp/metrics.$$.prom

sum_lv() { lvchange -qy -ay -K "$1" >/dev/null && sha256sum <"/dev/$1" | cut -c1-64; lvchange -qy -an "$1" >/dev/null; }
# snaps VG PREFIX: finished snapshots PREFIX<UTC time>, oldest first.
snaps() { lvs --noheadings -o lv_name "$1" 2>/dev/null | awk '{ print $1 }' | grep -E "^$2[0-9]{8}T[0-9]{6}Z\$" | sort; }
newest() { snaps "$1" "$2" | tail -1; }

# Four cycles, each after new writes and a discard (the fourth prunes).
for i in 1 2 3 4; do
	dd if=/dev/urandom of=/dev/vgs/vm1 bs=64k count=40 seek=$((i * 300)) oflag=direct status=none
	blkdiscard -o $(((i * 300 + 5) * 65536)) -l $((2 * 65536)) /dev/vgs/vm1
	"$THINFS" replicate vgs/vm1 vgt/pool --keep 3 --prefix _lv_ --metrics "$M" >/tmp/out.lv.$i 2>/tmp/err.lv.$i
	echo "lv cycle $i: rc $? $(cat /tmp/out.lv.$i) $(cat /tmp/err.lv.$i)"
	"$THINFS" replicate vgs/vm1 "$D" --keep 3 --prefix _dir_ >/tmp/out.dir.$i 2>/tmp/err.dir.$i
	echo "dir cycle $i: rc $? $(cat /tmp/out.dir.$i) $(cat /tmp/err.dir.$i)"
done
check "the first cycle says it sends in full" grep -q "in full" /tmp/err.lv.1
check "every later cycle is incremental" bash -c "for i in 2 3 4; do grep -q 'ok: vm1_lv_.*(incremental from vm1_lv_' /tmp/out.lv.\$i || exit 1; done"
check "and the directory's too" bash -c "for i in 2 3 4; do grep -q '(incremental from vm1_dir_' /tmp/out.dir.\$i || exit 1; done"
check "--keep 3 leaves 3 snapshots at the source" [ "$(snaps vgs vm1_lv_ | wc -l)" = 3 ]
check "and 3 at the target pool" [ "$(snaps vgt vm1_lv_ | wc -l)" = 3 ]
check "and 3 files in the directory" [ "$(ls "$D" | grep -cE '^vm1_dir_[0-9]{8}T[0-9]{6}Z$')" = 3 ]
check "the same names at both ends" [ "$(snaps vgs vm1_lv_)" = "$(snaps vgt vm1_lv_)" ]
S=$(newest vgs vm1_lv_)
want=$(sum_lv "vgs/$S")
check "the target's newest snapshot equals the source's by the kernel's bytes" [ "$(sum_lv "vgt/$S")" = "$want" ]
check "and by thinfs verify" "$THINFS" verify "vgs/$S" vgt/pool
SD=$(newest vgs vm1_dir_)
check "the newest directory snapshot equals the source's" [ "$(sha256sum <"$D/$SD" | cut -c1-64)" = "$(sum_lv "vgs/$SD")" ]
check "and verifies" "$THINFS" verify "vgs/$SD" "$D"
check "target snapshots are read-only" bash -c "lvs --noheadings -o lv_attr vgt/$S | grep -q '^ *Vr'"
if command -v python3 >/dev/null; then
	check "the metrics file parses as Prometheus text" python3 - "$M" <<'PY'
import re, sys
typed, seen = {}, set()
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (-?[0-9.]+([eE][-+]?[0-9]+)?|NaN|[+-]Inf)$')
for line in open(sys.argv[1]):
    line = line.rstrip('\n')
    if line.startswith('# TYPE '):
        _, _, name, kind = line.split(' ', 3)
        assert name not in typed, 'TYPE twice: ' + name
        typed[name] = kind
        continue
    if line.startswith('#') or not line:
        continue
    m = sample.match(line)
    assert m, 'bad sample line: ' + line
    assert m.group(1) in typed, 'sample before its TYPE: ' + line
    seen.add(m.group(1))
need = {'thinfs_replicate_last_success_timestamp_seconds', 'thinfs_replicate_lag_seconds',
        'thinfs_replicate_bytes_sent', 'thinfs_replicate_duration_seconds',
        'thinfs_pool_data_usage_percent', 'thinfs_pool_metadata_usage_percent'}
assert need <= seen, 'missing: %s' % (need - seen)
PY
fi
check "the metrics carry the last success time" grep -Eq '^thinfs_replicate_last_success_timestamp_seconds\{job="cli",source="vgs/vm1",target="vgt/pool"\} [1-9][0-9]{9}' "$M"

# A cycle killed midway (while the stream is being applied), then a normal one.
dd if=/dev/zero of=/dev/vgs/vm1 bs=1M count=32 seek=100 oflag=direct status=none
"$THINFS" replicate vgs/vm1 vgt/pool --keep 3 --prefix _lv_ >/tmp/out.kill 2>&1 &
pid=$!
caught=no
for _ in $(seq 600); do
	if dmsetup ls 2>/dev/null | grep -q 'incoming_thinfs_recv'; then
		kill -9 $pid && caught=yes
		break
	fi
	kill -0 $pid 2>/dev/null || break
	sleep 0.1
done
wait $pid 2>/dev/null
check "the cycle was killed while its stream was being applied" [ "$caught" = yes ]
check "the killed cycle's snapshot did not appear at the target" [ "$(snaps vgt vm1_lv_ | tail -1)" = "$S" ]
check "the next cycle succeeds incrementally" bash -c "'$THINFS' replicate vgs/vm1 vgt/pool --keep 3 --prefix _lv_ --verify | grep -q 'incremental from $S.*verified'"
check "and leaves nothing of the killed one behind" bash -c "! lvs --noheadings -o lv_name vgt | grep -q incoming"
S=$(newest vgs vm1_lv_)
check "the target equals the source after it" [ "$(sum_lv "vgt/$S")" = "$(sum_lv "vgs/$S")" ]

# The same in the directory: kill while the partial file grows.
dd if=/dev/urandom of=/dev/vgs/vm1 bs=1M count=8 seek=20 oflag=direct status=none
"$THINFS" replicate vgs/vm1 "$D" --keep 3 --prefix _dir_ >/tmp/out.kill2 2>&1 &
pid=$!
caught=no
for _ in $(seq 600); do
	if ls -a "$D" | grep -q 'incoming.thinfs-partial'; then
		kill -9 $pid && caught=yes
		break
	fi
	kill -0 $pid 2>/dev/null || break
	sleep 0.05
done
wait $pid 2>/dev/null
check "the directory cycle was killed midway" [ "$caught" = yes ]
check "the next directory cycle succeeds and verifies" bash -c "'$THINFS' replicate vgs/vm1 '$D' --keep 3 --prefix _dir_ --verify | grep -q verified"
check "and no staging file is left" bash -c "! ls -a '$D' | grep -q incoming"

# One byte changed on the target.
SD=$(newest vgs vm1_dir_)
chmod u+w "$D/$SD"
printf 'x' | dd of="$D/$SD" bs=1 seek=$((5 * 1048576 + 3)) conv=notrunc status=none
expect_verify() {
	local rc=0
	"$THINFS" verify "vgs/$1" "$2" >/tmp/vout 2>&1 || rc=$?
	[ $rc = 1 ] && grep -q "bytes 4194304-8388607" /tmp/vout
}
check "verify of a changed file exits 1 and names the range" expect_verify "$SD" "$D"
rc=0
"$THINFS" replicate vgs/vm1 "$D" --keep 3 --prefix _dir_ >/tmp/out.ch 2>&1 || rc=$?
check "(exit 1, naming it)" bash -c "[ $rc = 1 ] && grep -q 'changed behind replicate' /tmp/out.ch"
"$THINFS" replicate vgs/vm1 "$D" --keep 3 --prefix _dir_ --force --verify >/tmp/out.force 2>/tmp/err.force
check "--force replicates without the changed base (older common one or full)" bash -c "grep -q verified /tmp/out.force && grep -q \"$SD at .* was changed; not using it\" /tmp/err.force"

lvchange -qy -prw "vgt/$S" >/dev/null && lvchange -qy -ay -K "vgt/$S" >/dev/null
printf 'y' | dd of="/dev/vgt/$S" bs=1 seek=$((9 * 1048576)) conv=notrunc oflag=direct status=none 2>/dev/null ||
	printf 'y' | dd of="/dev/vgt/$S" bs=1 seek=$((9 * 1048576)) conv=notrunc status=none
sync
lvchange -qy -an "vgt/$S" >/dev/null
rc=0
"$THINFS" verify "vgs/$S" vgt/pool >/tmp/vout 2>&1 || rc=$?
check "verify of a changed LV exits 1 and names the range" bash -c "[ $rc = 1 ] && grep -q 'bytes 8388608-12582911' /tmp/vout"
check "and replicate refuses that target" bash -c "! '$THINFS' replicate vgs/vm1 vgt/pool --keep 3 --prefix _lv_ >/dev/null 2>&1"

# The changed replica is the user's to drop; then cycles go on.
lvremove -qy "vgt/$S" >/dev/null
"$THINFS" replicate vgs/vm1 vgt/pool --keep 3 --prefix _lv_ --force >/dev/null 2>&1
"$THINFS" replicate vgs/vm1 vgt/pool --keep 3 --prefix _lv_ >/dev/null 2>&1

# A deleted base: the next cycle uses an older common snapshot.
old=$(comm -12 <(snaps vgs vm1_lv_) <(snaps vgt vm1_lv_) | tail -2 | head -1)
lvremove -qy "vgs/$(newest vgs vm1_lv_)" >/dev/null
check "a deleted base snapshot falls back to an older common one" bash -c "'$THINFS' replicate vgs/vm1 vgt/pool --keep 3 --prefix _lv_ | grep -q 'incremental from $old'"

# --pre/--post around the snapshot; a failing --pre takes no snapshot, but
# --post still runs; usage alerts go to stderr.
n0=$(snaps vgs vm1_dir_ | wc -l)
rc=0
"$THINFS" replicate vgs/vm1 "$D" --prefix _dir_ --pre 'exit 3' --post "touch /tmp/post.$$" --warn 1 --crit 2 >/tmp/out.pre 2>/tmp/err.pre || rc=$?
check "a failing --pre fails the cycle, naming it" bash -c "[ $rc = 1 ] && grep -q -- '--pre: exit 3' /tmp/out.pre"
check "and takes no snapshot" [ "$(snaps vgs vm1_dir_ | wc -l)" = "$n0" ]
check "but runs --post" [ -e /tmp/post.$$ ]
check "pool usage above --crit is reported on stderr" grep -q "CRITICAL: pool vgs/pool data usage" /tmp/err.pre

# Config jobs: due jobs run; a job whose lock is held is skipped, not doubled.
cat >/tmp/rep.conf <<CONF
[lv]
source = vgs/vm1
target = vgt/pool
prefix = _lv_
keep = 3

[dir]
source = vgs/vm1
target = $D
prefix = _dir_
keep = 3
every = 1d
CONF
out=$("$THINFS" replicate --config /tmp/rep.conf --json)
check "--config runs every due job" bash -c "echo '$out' | jq -e '.ok and (.jobs[0].status == \"ok\") and (.jobs[1].status == \"not_due\")' >/dev/null"
lock=$(ls "$THINFS_STATE_DIR"/replicate/vm1-*.lock | head -1)
for l in "$THINFS_STATE_DIR"/replicate/vm1-*.lock; do flock -n "$l" sleep 600 & done
for _ in $(seq 100); do flock -n "$lock" true 2>/dev/null || break; sleep 0.1; done
check "a job whose previous cycle still runs is skipped" bash -c "'$THINFS' replicate --config /tmp/rep.conf | grep -q 'skipped: the previous cycle is still running'"
kill %% 2>/dev/null; jobs -p | xargs -r kill 2>/dev/null

# ssh: sshd on 127.0.0.1 only, with a throwaway key.
if [ -x /usr/sbin/sshd ]; then
	ip link set lo up 2>/dev/null
	K=/tmp/sshk.$$
	mkdir -p "$K" /root/.ssh /run/sshd
	ssh-keygen -q -t ed25519 -N '' -f "$K/host" && ssh-keygen -q -t ed25519 -N '' -f "$K/user"
	cp "$K/user.pub" /root/.ssh/authorized_keys
	chmod 700 /root/.ssh; chmod 600 /root/.ssh/authorized_keys
	/usr/sbin/sshd -f /dev/null -h "$K/host" -o ListenAddress=127.0.0.1 -o Port=2222 \
		-o PermitRootLogin=prohibit-password -o UsePAM=no -o PidFile="$K/pid"
	export THINFS_SSH="ssh -p 2222 -i $K/user -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
	# sshd starts the far end with a clean environment; the VM's LVM runs
	# without udev only with lib.sh's settings, so the far end gets them too
	# (on a real host, udev makes the device nodes and none of this is needed).
	cat >"$K/thinfs" <<EOF2
#!/bin/sh
export PATH='$PATH' LVM_SYSTEM_DIR='$LVM_SYSTEM_DIR' DM_DISABLE_UDEV=1 LVM_SUPPRESS_FD_WARNINGS=1
export THINFS_INDEX_DIR='$THINFS_INDEX_DIR' THINFS_STATE_DIR='$THINFS_STATE_DIR'
exec '$THINFS' "\$@"
EOF2
	chmod +x "$K/thinfs"
	export THINFS_REMOTE="$K/thinfs"
	for _ in $(seq 50); do $THINFS_SSH root@127.0.0.1 true 2>/dev/null && break; sleep 0.2; done
	mkdir -p /tmp/sdir.$$
	check "replicate over ssh to a directory" bash -c "'$THINFS' replicate vgs/vm1 ssh:root@127.0.0.1:/tmp/sdir.$$ --prefix _ssh_ --keep 2 | grep -q ok"
	SS=$(newest vgs vm1_ssh_)
	check "verify over ssh (only hashes cross)" "$THINFS" verify "vgs/$SS" "ssh:root@127.0.0.1:/tmp/sdir.$$"
	check "the ssh copy equals the source" [ "$(sha256sum <"/tmp/sdir.$$/$SS" | cut -c1-64)" = "$(sum_lv "vgs/$SS")" ]
	# And to a remote VG/POOL: the far end's thinfs receives into its pool.
	check "replicate over ssh to a VG/POOL" bash -c "'$THINFS' replicate vgs/vm1 ssh:root@127.0.0.1:vgt/pool --prefix _sshlv_ --keep 2 | grep -q ok"
	dd if=/dev/urandom of=/dev/vgs/vm1 bs=64k count=10 seek=70 oflag=direct status=none
	check "and incrementally the next time" bash -c "'$THINFS' replicate vgs/vm1 ssh:root@127.0.0.1:vgt/pool --prefix _sshlv_ --keep 2 | grep -q 'incremental'"
	SL=$(newest vgs vm1_sshlv_)
	check "verify over ssh of the remote LV" "$THINFS" verify "vgs/$SL" "ssh:root@127.0.0.1:vgt/pool"
	check "the remote LV equals the source" [ "$(sum_lv "vgt/$SL")" = "$(sum_lv "vgs/$SL")" ]
	kill "$(cat "$K/pid")" 2>/dev/null
else
	fail "sshd is installed (scripts/deps.sh)"
fi
finish
