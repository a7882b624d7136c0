#!/usr/bin/env bash
# The index is a cache: a refresh re-walks only the devices whose mapping
# tree or details changed; a deleted or corrupt index is rebuilt; its
# default location follows THINFS_INDEX_DIR.
. "$THINFS_SRCDIR/tests/lib.sh"
. "$THINFS_SRCDIR/tests/gen-pool.sh"

P="$TF_TMP/pool"
IX="$TF_TMP/ix.db"
gen_pool "$P" 128 5000
walked() { "$THINFS" index "$P" --index "$IX" --json | sed -n 's/.*"devices_walked": \([0-9]*\).*/\1/p'; }

check "a first index walks every device" [ "$(walked)" = 4 ]
check "an unchanged pool walks nothing" [ "$(walked)" = 0 ]
# Change device 5 only: one more mapping.
sed -i 's|<range_mapping origin_begin="7" data_begin="\([0-9]*\)" length="20" time="2"/>|<range_mapping origin_begin="7" data_begin="\1" length="21" time="2"/>|; s|dev_id="5" mapped_blocks="20"|dev_id="5" mapped_blocks="21"|' "$P/pool.xml"
thin_restore -q -i "$P/pool.xml" -o "$P/metadata"
check "after one device changed, only it is walked" [ "$(walked)" = 1 ]
check "ls shows the change" bash -c "'$THINFS' ls '$P' --index '$IX' --json | grep -q '\"name\": \"thin5\", \"thin_id\": 5, \"origin\": null, \"size_bytes\": 1835008, \"mapped_bytes\": 1376256'"
rm -f "$IX" "$IX-wal" "$IX-shm"
check "a deleted index is rebuilt" [ "$(walked)" = 4 ]
head -c 100000 /dev/urandom >"$IX"
rm -f "$IX-wal" "$IX-shm"
check "a corrupt index file is rebuilt" [ "$(walked)" = 4 ]
check "--rebuild walks everything" bash -c "'$THINFS' index '$P' --index '$IX' --rebuild | grep -q '^rebuilt: .* (4 walked)'"
THINFS_INDEX_DIR="$TF_TMP/elsewhere" "$THINFS" index "$P" >/dev/null
check "THINFS_INDEX_DIR places the default index" bash -c "ls '$TF_TMP/elsewhere'/img_*.db >/dev/null"
finish
