#!/usr/bin/env bash
# Zero-copy reads check the data image as it is at each read: when the
# image is cut short under a mount, reading the chunks it lost fails with
# EIO (never zeros, never an early end of file), everything before them is
# served right, and other volumes read on.
. "$THINFS_SRCDIR/tests/lib.sh"

P="$TF_TMP/pool"
M="$TF_TMP/mnt"
mkdir -p "$P"
cat >"$TF_TMP/pool.xml" <<'XML'
<superblock uuid="" time="0" transaction="1" flags="0" version="2" data_block_size="128" nr_data_blocks="32">
  <device dev_id="1" mapped_blocks="16" transaction="0" creation_time="0" snap_time="0">
    <range_mapping origin_begin="0" data_begin="0" length="16" time="0"/>
  </device>
  <device dev_id="2" mapped_blocks="16" transaction="0" creation_time="0" snap_time="0">
    <range_mapping origin_begin="0" data_begin="16" length="16" time="0"/>
  </device>
</superblock>
XML
truncate -s 8M "$P/metadata"
thin_restore -q -i "$TF_TMP/pool.xml" -o "$P/metadata"
head -c $((2 << 20)) /dev/urandom >"$P/data"
head -c $((1 << 20)) "$P/data" >"$TF_TMP/thin1"
tail -c $((1 << 20)) "$P/data" >"$TF_TMP/thin2"

tf_mount "$P" "$M" || { fail "mounts"; finish; exit 1; }
check "thin1 reads in full" cmp -s "$M/volumes/thin1" "$TF_TMP/thin1"

# Cut the image at 1.5 MiB: thin2's second half is gone.
truncate -s $((3 << 19)) "$P/data"
rc=0
dd if="$M/volumes/thin2" of="$TF_TMP/got" bs=64k 2>"$TF_TMP/dd.err" || rc=$?
got=$(stat -c %s "$TF_TMP/got")
check "reading past the cut fails" [ "$rc" -ne 0 ]
check "with EIO" grep -q "Input/output error" "$TF_TMP/dd.err"
check "after no more than the bytes still there" [ "$got" -le $((1 << 19)) ]
check "and every byte served before it is right" cmp -s "$TF_TMP/got" <(head -c "$got" "$TF_TMP/thin2")
check "the part before the cut reads in full" \
	cmp -s <(dd if="$M/volumes/thin2" bs=64k count=8 status=none) <(head -c $((1 << 19)) "$TF_TMP/thin2")
check "thin1 still reads in full" cmp -s "$M/volumes/thin1" "$TF_TMP/thin1"
finish
