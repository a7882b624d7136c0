#!/usr/bin/env bash
# thinfs verify between a kernel-written pool image and a directory target
# (equal, one changed byte named by its range, only allocated bytes read,
# over an ssh stand-in), the target side of replicate on a directory (all
# or nothing, an incremental leaves its base untouched, leftovers cleaned),
# and the replicate command line contract.  Snapshot-taking cycles need a
# live pool: tests/vm/scenarios/13_*.
. "$(dirname "$0")/../lib.sh"

P="$TF_TMP/pool"
D="$TF_TMP/dst"
unpack_demo "$P"
mkdir -p "$D"
# differs NAME CMD...: passes iff CMD exits 1 (its report goes to $TF_TMP/out).
differs() {
	local name=$1 rc=0
	shift
	"$@" >"$TF_TMP/out" 2>&1 || rc=$?
	if [ "$rc" = 1 ]; then pass "$name"; else fail "$name" "exit $rc: $(cat "$TF_TMP/out")"; fi
}
mapped() { "$THINFS" ls "$P" --json | jq -r --arg n "$1" '.[] | select(.name == $n) | .mapped_bytes'; }

# The target side of a replicate cycle, as ssh would run it.
"$THINFS" send "$P" web_monday >"$TF_TMP/full.s"
"$THINFS" send "$P" web_tuesday --from web_monday >"$TF_TMP/inc.s"
check "a full stream is received as a new snapshot file" \
	"$THINFS" replicate --target-side receive "$D" web_monday <"$TF_TMP/full.s"
check "it is read-only" [ "$(stat -c %a "$D/web_monday")" = 400 ]
head -c 100000 "$TF_TMP/inc.s" >"$TF_TMP/cut.s"
expect_fail "a cut incremental stream fails" 1 "web_tuesday" \
	"$THINFS" replicate --target-side receive "$D" web_tuesday web_monday <"$TF_TMP/cut.s"
check "and leaves no snapshot and no staging behind" bash -c "[ ! -e '$D/web_tuesday' ] && ! ls -a '$D' | grep -q incoming"
check "an incremental from the base is received" \
	"$THINFS" replicate --target-side receive "$D" web_tuesday web_monday <"$TF_TMP/inc.s"

# verify
check "verify finds the incremental's result equal to the source" "$THINFS" verify "$P/web_tuesday" "$D"
check "and its base untouched (the hard link was replaced, not written)" "$THINFS" verify "$P/web_monday" "$D"
"$THINFS" verify --json "$P/web_monday" "$D" >"$TF_TMP/v.json"
check "verify reads only the allocated bytes of the source" \
	[ "$(jq .read_source "$TF_TMP/v.json")" = "$(mapped web_monday)" ]
check "and no more than that of the target file" \
	[ "$(jq .read_target "$TF_TMP/v.json")" -le "$(mapped web_monday)" ]
"$THINFS" verify --hashes "$P/web_monday" >"$TF_TMP/h"
check "--hashes prints one SHA-256 per 4 MiB after its header" \
	bash -c "head -1 '$TF_TMP/h' | grep -q '^thinfs-hashes 1 134217728 4194304 32 ' && [ \$(tail -n +2 '$TF_TMP/h' | grep -cE '^[0-9a-f]{64}\$') = 32 ]"
check "an unmapped range hashes as zeros without I/O" \
	[ "$(sed -n 33p "$TF_TMP/h")" = "$(head -c 4194304 /dev/zero | sha256sum | cut -c1-64)" ]
chmod u+w "$D/web_tuesday"
printf '\x01' | dd of="$D/web_tuesday" bs=1 seek=$((9 * 1048576 + 7)) conv=notrunc status=none
differs "one changed byte on the target: verify exits 1" \
	"$THINFS" verify "$P/web_tuesday" "$D"
check "and names the range" grep -q "first in bytes 8388608-12582911 (range 2 of 32" "$TF_TMP/out"
truncate -s 1M "$D/web_monday"
differs "a target of another size differs" "$THINFS" verify "$P/web_monday" "$D"
check "and says both sizes" grep -q "134217728 bytes here, 1048576 there" "$TF_TMP/out"
expect_fail "a missing snapshot is an error naming it" 1 "no thin volume 'nosuch'" \
	"$THINFS" verify "$P/nosuch" "$D"
cp --sparse=always "$D/web_tuesday" "$TF_TMP/keep"
rm "$D/web_tuesday"
expect_fail "so is a missing target file" 1 "$D/web_tuesday" "$THINFS" verify "$P/web_tuesday" "$D"
mv "$TF_TMP/keep" "$D/web_tuesday"
expect_fail "verify needs two arguments" 2 "needs SOURCE/SNAPSHOT and TARGET" "$THINFS" verify "$P/web"

# The ssh path with a stand-in for ssh that runs the remote command here.
cat >"$TF_TMP/fake-ssh" <<'SH'
#!/bin/sh
# ssh stand-in: skips options up to "--", drops the host, runs the command with sh.
while [ "$1" != "--" ]; do shift; done
shift 2
echo "$@" >>"$FAKE_SSH_LOG"
exec sh -c "$1"
SH
chmod +x "$TF_TMP/fake-ssh"
export FAKE_SSH_LOG="$TF_TMP/ssh.log"
export THINFS_SSH="$TF_TMP/fake-ssh" THINFS_REMOTE="$THINFS"
rm -f "$D/web_monday"
"$THINFS" replicate --target-side receive "$D" web_monday <"$TF_TMP/full.s"
check "verify over ssh: equal" "$THINFS" verify "$P/web_monday" "ssh:backup@host:$D"
check "only the hash command ran there" grep -q "'--target-side' 'hashes' '$D' 'web_monday'" "$FAKE_SSH_LOG"
differs "verify over ssh: a changed range" "$THINFS" verify "$P/web_tuesday" "ssh:host:$D"
check "is named too" grep -q "bytes 8388608-12582911" "$TF_TMP/out"
expect_fail "an ssh host that is an option is refused" 1 "start with '-'" \
	"$THINFS" verify "$P/web_monday" "ssh:-oProxyCommand=true:$D"
unset THINFS_SSH THINFS_REMOTE

# Listing cleans up what killed cycles left, and lists only finished snapshots.
touch "$D/vm1_rep_20260101T000000Z" "$D/vm1_rep_20260102T000000Z.incoming" \
	"$D/.vm1_rep_20260102T000000Z.incoming.thinfs-partial" "$D/vm1_rep_bad" "$D/vm1_other_20260101T000000Z"
"$THINFS" replicate --target-side list "$D" vm1 _rep_ >"$TF_TMP/list"
check "the target lists finished snapshots of the LV and prefix only" \
	bash -c "[ \$(wc -l <'$TF_TMP/list') = 1 ] && grep -Eq '^vm1_rep_20260101T000000Z [0-9]+:0:[0-9]+\.[0-9]{9}\$' '$TF_TMP/list'"
check "and removes a killed cycle's staging" bash -c "[ ! -e '$D/vm1_rep_20260102T000000Z.incoming' ] && [ ! -e '$D/.vm1_rep_20260102T000000Z.incoming.thinfs-partial' ]"
check "but nothing else" bash -c "[ -e '$D/vm1_rep_bad' ] && [ -e '$D/vm1_other_20260101T000000Z' ]"
check "prune removes a snapshot" bash -c "'$THINFS' replicate --target-side prune '$D' vm1_rep_20260101T000000Z && [ ! -e '$D/vm1_rep_20260101T000000Z' ]"
check "usage of a directory is unknown" bash -c "[ \"\$('$THINFS' replicate --target-side usage '$D')\" = '- -' ]"
expect_fail "an unknown target-side operation is a usage error" 2 "bad operation" \
	"$THINFS" replicate --target-side explode "$D"

# The command line contract.
expect_fail "replicate needs VG/LV and TARGET" 2 "needs VG/LV TARGET" "$THINFS" replicate vg/lv
expect_fail "--keep 0 is a usage error" 2 "--keep" "$THINFS" replicate vg/lv "$D" --keep 0
expect_fail "a prefix with a slash is a usage error" 2 "--prefix" "$THINFS" replicate vg/lv "$D" --prefix a/b
expect_fail "--warn above --crit is a usage error" 2 "above --crit" "$THINFS" replicate vg/lv "$D" --warn 99 --crit 90
expect_fail "--config with VG/LV TARGET is a usage error" 2 "no VG/LV TARGET" \
	"$THINFS" replicate --config /dev/null vg/lv "$D"
printf '[a]\nsource = v/l\ntarget = /t\nkeep = lots\n' >"$TF_TMP/bad.conf"
expect_fail "a bad config file names its line" 1 "bad.conf:4: keep" "$THINFS" replicate --config "$TF_TMP/bad.conf"
check "replicate --help says what a cycle does" bash -c "'$THINFS' replicate --help | grep -q 'newest snapshot both ends hold'"
export THINFS_STATE_DIR="$TF_TMP/state"
rc=0
"$THINFS" replicate nosuchvg_thinfs/lv "$D" --json --metrics "$TF_TMP/m.prom" >"$TF_TMP/j" 2>/dev/null || rc=$?
check "a failed cycle exits 1" [ "$rc" = 1 ]
check "and says so as JSON, with the cause" jq -e -n --slurpfile j "$TF_TMP/j" '$j[0] | .ok == false and .jobs[0].status == "failed" and (.jobs[0].error | test("nosuchvg_thinfs"))'  >/dev/null
check "and in the metrics file (written through a rename, no temp file left)" \
	bash -c "grep -q '^thinfs_replicate_last_ok{job=\"cli\",source=\"nosuchvg_thinfs/lv\",target=\"$D\"} 0\$' '$TF_TMP/m.prom' && ! ls '$TF_TMP' | grep -q 'm.prom.*tmp'"
check "a failed cycle is recorded in the job's state" grep -q '^ok=0' "$THINFS_STATE_DIR"/replicate/lv-*.state
finish
