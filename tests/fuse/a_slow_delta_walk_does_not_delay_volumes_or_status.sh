#!/usr/bin/env bash
# While a delta stream is being planned (a metadata walk, held open here by
# the debug build's THINFS_TEST_WALK_GATE), opening and reading volumes,
# reading .thinfs/status, and listing deltas/, deltas/<other LV>/ and files/
# all complete; a
# second lookup of the same stream waits for the first plan and
# gets the same answer.  The ordering is the proof: each of these finishes
# while the walk is still held (its stat is still running); no timing.
. "$THINFS_SRCDIR/tests/lib.sh"

D="$TF_TMP/demo"
M="$TF_TMP/mnt"
G="$TF_TMP/gate"
unpack_demo "$D"

if ! THINFS_TEST_WALK_GATE="$G" tf_mount "$D" "$M"; then
	fail "the demo pool mounts with the walk gate"
	finish
	exit 1
fi


stat -c %s "$M/deltas/web_tuesday/web_monday" >"$TF_TMP/stat1" 2>&1 &
s1=$!
if ! wait_for test -e "$G.waiting"; then
	fail "the delta lookup reaches its walk"
	touch "$G"
	finish
	exit 1
fi
pass "the delta lookup reaches its walk and is held there"
stat -c %s "$M/deltas/web_tuesday/web_monday" >"$TF_TMP/stat2" 2>&1 &
s2=$!

held() { kill -0 "$s1" 2>/dev/null; }
# Each step runs under timeout: a regression fails here instead of hanging.
check ".thinfs/status reads in full during the walk" \
	bash -c "timeout 30 cat '$M/.thinfs/status' | grep -q '\"mounted_at\"'"
web_sum=$(awk '$2 == "web" { print $1 }' "$FIXTURES/kernel-pool-demo/sha256.txt")
check "a volume opens for the first time and reads in full during the walk" \
	bash -c "[ \"\$(timeout 60 sha256sum <'$M/volumes/web' | cut -c1-64)\" = '$web_sum' ]"
check "another volume's SEEK_DATA map answers during the walk" \
	bash -c "timeout 30 '$SEEKMAP' '$M/volumes/disk' | grep -q ."
# Not deltas/web_tuesday/ itself: libfuse before 3.17.1 does not let the
# kernel run a listing beside a lookup in the same directory.
check "deltas/ and another LV's deltas/ directory list during the walk" \
	bash -c "timeout 30 ls '$M/deltas' | grep -qx web && timeout 30 ls '$M/deltas/web' | grep -qx '@full'"
check "files/ lists during the walk" bash -c "timeout 30 ls '$M/files' | grep -qx web"
check "every step above finished while the walk was still held" held
check "a second lookup of the same stream waits for the first plan" \
	bash -c "kill -0 $s2 2>/dev/null"

touch "$G"
wait "$s1"
r1=$?
wait "$s2"
r2=$?
size=$("$THINFS" send "$D" web_tuesday --from web_monday -n | awk '{ print $1 }')
check "the held lookup completes with the stream's true size once the walk goes on" \
	bash -c "[ $r1 -eq 0 ] && [ \"\$(cat '$TF_TMP/stat1')\" = '$size' ]"
check "the waiting lookup gets the same size" \
	bash -c "[ $r2 -eq 0 ] && [ \"\$(cat '$TF_TMP/stat2')\" = '$size' ]"
finish
