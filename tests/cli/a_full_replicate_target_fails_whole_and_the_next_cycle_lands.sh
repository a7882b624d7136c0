#!/usr/bin/env bash
# A replicate cycle into a directory target that fills up fails whole: it
# says the target is out of space, leaves no snapshot and no staging, and
# the next cycle, once there is room, lands the same stream and verifies
# equal.  The target side is driven as replicate (and ssh) drive it.
. "$(dirname "$0")/../lib.sh"

P="$TF_TMP/pool"
S="$TF_TMP/small"
unpack_demo "$P"
mkdir -p "$S"
trap 'umount "$S" 2>/dev/null; tf_cleanup' EXIT
"$THINFS" send "$P" web_monday >"$TF_TMP/full.s"
if ! mount -t tmpfs -o size=2m tmpfs "$S"; then
	fail "a 2 MiB tmpfs for the target can be mounted (needs root)"
	finish
	exit 1
fi
check "the stream is larger than the target's room" [ "$(stat -c %s "$TF_TMP/full.s")" -gt $((2 << 20)) ]
expect_fail "a full target fails the cycle and says it is out of space" 1 "[Nn]o space|ENOSPC" \
	"$THINFS" replicate --target-side receive "$S" web_monday <"$TF_TMP/full.s"
check "and leaves no snapshot and no staging behind" \
	bash -c "[ ! -e '$S/web_monday' ] && ! ls -a '$S' | grep -q incoming"
check "nor the space it took" [ "$(df --output=used -B1 "$S" | tail -1)" -lt $((256 << 10)) ]
mount -o remount,size=64m "$S"
check "the next cycle, with room, lands" \
	"$THINFS" replicate --target-side receive "$S" web_monday <"$TF_TMP/full.s"
check "and verifies equal to the source" "$THINFS" verify "$P/web_monday" "$S"
finish
