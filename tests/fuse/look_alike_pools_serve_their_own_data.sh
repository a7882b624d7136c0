#!/usr/bin/env bash
# Two pools of one identity and identical mapping roots — thin_restore'd
# from one shape, one of them with a single data block number changed —
# never share an index: mounted side by side, each volume serves the
# chunks its own metadata maps, with lvm.cfg and without, and an index
# handed from one to the other is rebuilt, not trusted.
. "$THINFS_SRCDIR/tests/lib.sh"

XML="$FIXTURES/kernel-pool-demo/thin_dump.xml"
CHUNK=131072
data="$TF_TMP/data"
zstd -q -d -f --sparse "$FIXTURES/kernel-pool-demo/data.zst" -o "$data"

# make_pool DIR XML [cfg]: metadata restored from XML, the demo's data.
make_pool() {
	mkdir -p "$1"
	truncate -s 4M "$1/metadata"
	thin_restore -q -i "$2" -o "$1/metadata"
	ln "$data" "$1/data" 2>/dev/null || cp --sparse=always "$data" "$1/data"
	[ "${3:-}" = cfg ] && cp "$FIXTURES/kernel-pool-demo/lvm.cfg" "$1/lvm.cfg"
	return 0
}
# web (dev 1) chunk 0 maps to data block 46; the look-alike maps it to 47.
sed '3s|<single_mapping origin_block="0" data_block="46" time="1"/>|<single_mapping origin_block="0" data_block="47" time="1"/>|' \
	"$XML" >"$TF_TMP/moved.xml"
check "the look-alike differs from the original in one data block number" \
	[ "$(diff "$XML" "$TF_TMP/moved.xml" | grep -c '^>')" = 1 ]
block() { dd if="$data" bs=$CHUNK skip="$1" count=1 status=none | sha256sum | cut -d' ' -f1; }
check "data blocks 46 and 47 hold different bytes" [ "$(block 46)" != "$(block 47)" ]

for cfg in cfg none; do
	A="$TF_TMP/$cfg-a" B="$TF_TMP/$cfg-b"
	make_pool "$A" "$XML" $cfg
	make_pool "$B" "$TF_TMP/moved.xml" $cfg
	vol=web
	[ $cfg = none ] && vol=thin1
	MA="$TF_TMP/$cfg-ma" MB="$TF_TMP/$cfg-mb"
	tf_mount "$A" "$MA"
	tf_mount "$B" "$MB"
	first() { dd if="$1/volumes/$vol" bs=$CHUNK count=1 status=none | sha256sum | cut -d' ' -f1; }
	check "($cfg) the original serves chunk 0 of $vol from data block 46" [ "$(first "$MA")" = "$(block 46)" ]
	check "($cfg) the look-alike mounted beside it serves data block 47" [ "$(first "$MB")" = "$(block 47)" ]
	check "($cfg) the rest of $vol is the same in both" \
		cmp <(tail -c +$((CHUNK + 1)) "$MA/volumes/$vol") <(tail -c +$((CHUNK + 1)) "$MB/volumes/$vol")
	check "($cfg) a delta from the look-alike's volume carries its own chunk" \
		bash -c "cmp -s '$MA/deltas/$vol/@full' '$MB/deltas/$vol/@full'; [ \$? = 1 ]"
	tf_umount "$MA"
	tf_umount "$MB"
	check "($cfg) the two pools have two index files" \
		[ "$(ls "$THINFS_INDEX_DIR" | grep -c "\.db$")" = $([ $cfg = cfg ] && echo 2 || echo 4) ]
	# One index file handed from one pool to the other is rebuilt.
	IX="$TF_TMP/$cfg-shared.db"
	"$THINFS" index "$A" --index "$IX" >/dev/null
	check "($cfg) an index built from the original is rebuilt for the look-alike" \
		bash -c "'$THINFS' index '$B' --index '$IX' --json | grep -q '\"rebuilt\": true'"
	check "($cfg) and rebuilt again for the original" \
		bash -c "'$THINFS' index '$A' --index '$IX' --json | grep -q '\"rebuilt\": true'"
	check "($cfg) but not when nothing changed" \
		bash -c "'$THINFS' index '$A' --index '$IX' --json | grep -q '\"rebuilt\": false'"
done
finish
