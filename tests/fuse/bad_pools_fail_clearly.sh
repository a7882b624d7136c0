#!/usr/bin/env bash
# Corrupt or truncated pools fail with a clear message and exit 1, and a
# mapping past the end of the data image fails that range only.
. "$THINFS_SRCDIR/tests/lib.sh"

D="$TF_TMP/demo"
unpack_demo "$D"

mkdir -p "$TF_TMP/m1" "$TF_TMP/m2"
bad="$TF_TMP/bad-sb"
cp -r "$D" "$bad"
printf '\xff\xff\xff\xff' | dd of="$bad/metadata" bs=1 seek=64 conv=notrunc status=none
expect_fail "mounting a pool with a corrupt superblock fails naming the block" 1 "metadata block 0" \
	"$THINFS" mount "$bad" "$TF_TMP/m1"

trunc="$TF_TMP/trunc"
cp -r "$D" "$trunc"
truncate -s 8192 "$trunc/metadata"
expect_fail "mounting a truncated metadata image fails clearly" 1 "metadata" "$THINFS" mount "$trunc" "$TF_TMP/m2"

expect_fail "mounting on a missing mountpoint fails clearly" 1 "/nonexistent/mnt" "$THINFS" mount "$D" /nonexistent/mnt

# Data image shorter than the mappings: reads of the missing range fail,
# the rest of the volume still reads.
short="$TF_TMP/short"
cp -r "$D" "$short"
truncate -s $((40 * 131072)) "$short/data"
M="$TF_TMP/m3"
tf_mount "$short" "$M"
# scratch maps chunks 1,2,3,64,127 — where do they live?  disk's data lies
# below 40 in this pool, web's chunk 0 maps to data block 46 (past the end).
check "a mapped chunk past the end of the data image reads as EIO" \
	bash -c "! dd if='$M/volumes/web' bs=131072 count=1 of=/dev/null status=none 2>/dev/null"
check "other ranges of the same volume still read" \
	bash -c "dd if='$M/volumes/web' bs=131072 skip=385 count=4 of=/dev/null status=none"
tf_umount "$M"
finish
