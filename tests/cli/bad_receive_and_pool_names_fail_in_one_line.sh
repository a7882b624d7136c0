#!/usr/bin/env bash
# A TARGET that is neither a directory nor a thin pool, or a VG/POOL that
# does not exist, fails with exit 1 and exactly one stderr line, before
# anything is created (no lvcreate for a pool that is not there).
. "$THINFS_SRCDIR/tests/lib.sh"

D="$TF_TMP/demo"
unpack_demo "$D"
"$THINFS" send "$D" scratch >"$TF_TMP/s"
mkdir -p "$TF_TMP/notpool"
: >"$TF_TMP/notpool/file"
one_line() { [ "$(wc -l <"$TF_TMP/err")" = 1 ]; }

cd "$TF_TMP"
expect_fail "receive into notpool/file (a file) is refused as not a directory" 1 \
	"notpool/file: not a directory" "$THINFS" receive notpool/file x <"$TF_TMP/s"
check "in one line" one_line
check "and creates nothing" [ "$(ls -A "$TF_TMP/notpool")" = file ]
expect_fail "receive into an absolute path that does not exist is refused" 1 \
	"not a directory" "$THINFS" receive "$TF_TMP/nope" x <"$TF_TMP/s"
expect_fail "receive into a VG/POOL that does not exist is refused before creating anything" 1 \
	"no such thin pool|cannot run" "$THINFS" receive thinfs-no-vg/pool x <"$TF_TMP/s"
check "in one line" one_line
expect_fail "ls of a VG/POOL that does not exist says so" 1 "no such volume group|cannot run vgcfgbackup" \
	"$THINFS" ls thinfs-no-vg/pool
check "in one line" one_line
finish
