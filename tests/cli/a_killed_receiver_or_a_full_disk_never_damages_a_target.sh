#!/usr/bin/env bash
# `thinfs receive` killed with -9 at 30 points of an incremental leaves the
# target whole — the old state or the new, its recorded state naming what
# it holds — and never blocks the next receive.  A receive_dir that runs
# out of space while copying the target, or while writing a full stream,
# fails with ENOSPC, keeps the target, and leaves no staging file.
. "$THINFS_SRCDIR/tests/lib.sh"

D="$TF_TMP/demo"
R="$TF_TMP/recv"
mkdir -p "$R"
unpack_demo "$D"
state_id() { getfattr --only-values -n user.thinfs.state "$1" 2>/dev/null | sed -n 's/^thin_id=//p'; }
"$THINFS" send "$D" web_monday >"$TF_TMP/full.s"
"$THINFS" send "$D" web_tuesday --from web_monday >"$TF_TMP/inc.s"
mon=$(sum_of web_monday) tue=$(sum_of web_tuesday)

"$THINFS" receive "$R" vm <"$TF_TMP/full.s"
whole=1 blocked=0 done_before=0
for i in $(seq 30); do
	"$THINFS" receive "$R" vm <"$TF_TMP/inc.s" 2>/dev/null &
	p=$!
	sleep "0.0$((i * 3 % 100 / 10))$((i % 10))"
	kill -9 $p 2>/dev/null
	wait $p 2>/dev/null
	got=$(sha "$R/vm")
	id=$(state_id "$R/vm")
	if [ "$got" = "$mon" ] && { [ "$id" = 2 ] || [ -z "$(getfattr -d "$R/vm" 2>/dev/null)" ]; }; then
		:
	elif [ "$got" = "$tue" ] && [ "$id" = 3 ]; then
		done_before=$((done_before + 1))
		"$THINFS" receive --force "$R" vm <"$TF_TMP/full.s" || blocked=$((blocked + 1))
	else
		whole=0
		echo "  kill $i: the target is neither state (sha $got, state thin $id)"
	fi
done
echo "  30 kills, $done_before after the receive had finished"
check "after 30 kill -9 at different points the target is always one whole state" [ "$whole" = 1 ]
check "no kill left a lock that blocked the next receive" [ "$blocked" = 0 ]
check "the incremental then applies" bash -c "'$THINFS' receive '$R' vm <'$TF_TMP/inc.s'"
check "giving web_tuesday" [ "$(sha "$R/vm")" = "$tue" ]
check "and nothing but the target is left" [ "$(ls -A "$R")" = vm ]

# A full disk (a 10 MiB tmpfs: the full stream fits, a copy of it for the
# incremental does not).
T="$TF_TMP/small"
mkdir -p "$T"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=10m tmpfs "$T" 2>/dev/null; then
	"$THINFS" receive "$T" vm <"$TF_TMP/full.s"
	check "a full stream fits in the small filesystem" [ "$(sha "$T/vm")" = "$mon" ]
	expect_fail "an incremental that cannot copy its target fails with ENOSPC" 1 \
		"No space left on device" "$THINFS" receive "$T" vm <"$TF_TMP/inc.s"
	check "the target is unchanged" [ "$(sha "$T/vm")" = "$mon" ]
	check "and no staging file is left" [ "$(ls -A "$T")" = vm ]
	rm -f "$T/vm"
	head -c $((9 * 1024 * 1024)) /dev/zero >"$T/filler"
	expect_fail "a full stream that does not fit fails with ENOSPC" 1 \
		"No space left on device" "$THINFS" receive "$T" vm2 <"$TF_TMP/full.s"
	check "and leaves no target or staging file" [ "$(ls -A "$T")" = filler ]
	umount "$T"
else
	echo "  (not root or no tmpfs: the full-disk cases are skipped)"
fi
finish
