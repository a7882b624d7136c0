#!/usr/bin/env bash
# One receive per target at a time, whatever the path in: a second
# `thinfs receive` into a target being received, a second open of its
# receive/ entry, rsync's .name.XXXXXX alias of it, or a CLI receive while
# receive/ holds it, all get EBUSY and a clear line, and exit 1; the first
# receive then completes untouched.  A receiver killed with -9 leaves no
# lock behind.
. "$THINFS_SRCDIR/tests/lib.sh"

D="$TF_TMP/demo"
M="$TF_TMP/mnt"
R="$TF_TMP/recv"
mkdir -p "$R"
unpack_demo "$D"
"$THINFS" send "$D" web_monday >"$TF_TMP/full.s"
"$THINFS" send "$D" web_tuesday --from web_monday >"$TF_TMP/inc.s"
head -c 5000 "$TF_TMP/inc.s" >"$TF_TMP/trunc.s"

# The issue's repro: a slow incremental and, meanwhile, a truncated one.
"$THINFS" receive "$R" vm <"$TF_TMP/full.s"
mkfifo "$TF_TMP/pipe"
"$THINFS" receive "$R" vm <"$TF_TMP/pipe" 2>"$TF_TMP/slow.err" &
slow=$!
exec 3>"$TF_TMP/pipe"
head -c 100000 "$TF_TMP/inc.s" >&3
check "the slow receive holds the target's lock" wait_for test -e "$R/.vm.thinfs-lock"
expect_fail "a second receive into the same target gets EBUSY and exit 1" 1 \
	"another receive into it is running \\(pid $slow\\)" \
	"$THINFS" receive "$R" vm <"$TF_TMP/trunc.s"
check "and its error is one line" [ "$(wc -l <"$TF_TMP/err")" = 1 ]
check "the slow receive's staging file is still its own" test -s "$R/.vm.thinfs-partial"
tail -c +100001 "$TF_TMP/inc.s" >&3
exec 3>&-
rc=0
wait $slow || rc=$?
check "the slow receive then completes with exit 0" [ "$rc" = 0 ]
check "and the target is exactly web_tuesday" [ "$(sha "$R/vm")" = "$(sum_of web_tuesday)" ]
check "nothing but the target is left" [ "$(ls -A "$R")" = vm ]

# A holder killed with -9: the kernel drops its lock.
"$THINFS" receive "$R" vk <"$TF_TMP/pipe" &
victim=$!
exec 3>"$TF_TMP/pipe"
head -c 100000 "$TF_TMP/full.s" >&3
wait_for test -e "$R/.vk.thinfs-lock"
kill -9 $victim
wait $victim 2>/dev/null
exec 3>&-
check "after kill -9 of the holder a new receive gets the target" \
	bash -c "'$THINFS' receive '$R' vk <'$TF_TMP/full.s'"
check "and completes it" [ "$(sha "$R/vk")" = "$(sum_of web_monday)" ]

# Through receive/.
tf_mount "$D" "$M" -o receive_dir="$R" || { fail "mounts with receive_dir"; finish; exit 1; }
exec 4>"$M/receive/v2"
# head's own close of its copy of fd 4 ends nothing (the stream goes on
# through fd 4) but is told the stream is incomplete so far.
head -c 100000 "$TF_TMP/full.s" >&4 2>/dev/null
check "a second open of a receive/ entry being written gets EBUSY" \
	bash -c "! cp '$TF_TMP/trunc.s' '$M/receive/v2' 2>'$TF_TMP/err' && grep -q 'busy' '$TF_TMP/err'"
check "so does rsync's alias of it (.v2.XXXXXX)" \
	bash -c "! cp '$TF_TMP/trunc.s' '$M/receive/.v2.Ab12Cd' 2>'$TF_TMP/err' && grep -q 'busy' '$TF_TMP/err'"
expect_fail "so does thinfs receive from another process" 1 "another receive into it is running" \
	"$THINFS" receive "$R" v2 <"$TF_TMP/trunc.s"
tail -c +100001 "$TF_TMP/full.s" >&4
exec 4>&-
check "v2 is exactly web_monday" [ "$(sha "$R/v2")" = "$(sum_of web_monday)" ]
# Many writers at once into one entry: exactly the complete ones that got
# in apply, the target is always one whole result, no session leaks.
for i in $(seq 6); do
	cp "$TF_TMP/full.s" "$M/receive/v3" 2>/dev/null &
done
wait
check "six simultaneous cp into one entry leave it one whole stream's result" \
	[ "$(sha "$R/v3")" = "$(sum_of web_monday)" ]
check "and no staging or lock files" bash -c "[ -z \"\$(ls -A '$R' | grep thinfs)\" ]"
tf_umount "$M"
finish
