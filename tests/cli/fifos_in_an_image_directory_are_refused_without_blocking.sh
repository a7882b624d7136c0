#!/usr/bin/env bash
# A FIFO (or a directory, or a socket) in place of metadata, data or
# lvm.cfg is refused at once with one line naming it, never read from:
# `thinfs ls DIR` must not wait for a writer that never comes.
. "$THINFS_SRCDIR/tests/lib.sh"

D="$TF_TMP/demo"
unpack_demo "$D"
for name in metadata data lvm.cfg; do
	P="$TF_TMP/fifo-$name"
	cp -r "$D" "$P"
	rm -f "$P/$name"
	mkfifo "$P/$name"
	rc=0
	timeout 20 "$THINFS" ls "$P" >"$TF_TMP/out" 2>"$TF_TMP/err" || rc=$?
	check "ls with a FIFO as $name exits 1 at once (not killed by the timeout)" [ "$rc" = 1 ]
	check "the error names $name and says what is wrong" \
		grep -q "$name: not a regular file or block device" "$TF_TMP/err"
	check "the error is one line" [ "$(wc -l <"$TF_TMP/err")" = 1 ]
done
P="$TF_TMP/dir-data"
cp -r "$D" "$P"
rm -f "$P/data"
mkdir "$P/data"
expect_fail "a directory as data is refused" 1 "data: not a regular file or block device" "$THINFS" ls "$P"
finish
