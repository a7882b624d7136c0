#!/usr/bin/env bash
# statfs of a mount is the pool's data space: df shows the data device's
# size and the chunks the pool has allocated (the data blocks thin_dump
# lists, counted once however many devices share them), not zeros.
. "$THINFS_SRCDIR/tests/lib.sh"

D="$TF_TMP/demo"
M="$TF_TMP/mnt"
unpack_demo "$D"
thin_dump "$D/metadata" >"$TF_TMP/dump.xml"

# The oracle: thin_dump's superblock and its distinct data blocks.
read -r bs nr <<<"$(sed -n 's/.*data_block_size="\([0-9]*\)" nr_data_blocks="\([0-9]*\)".*/\1 \2/p' "$TF_TMP/dump.xml" | head -1)"
used_blocks=$(awk '
	/single_mapping/ { match($0, /data_block="[0-9]+"/); u[substr($0, RSTART + 12, RLENGTH - 13)] = 1 }
	/range_mapping/ { match($0, /data_begin="[0-9]+"/); b = substr($0, RSTART + 12, RLENGTH - 13);
		match($0, /length="[0-9]+"/); l = substr($0, RSTART + 8, RLENGTH - 9) + 0; for (i = 0; i < l; i++) u[b + i] = 1 }
	END { n = 0; for (k in u) n++; print n }' "$TF_TMP/dump.xml")
size=$((nr * bs * 512))
used=$((used_blocks * bs * 512))
check "the oracle sees a 96 MiB pool with chunks in use" bash -c "[ $size = 100663296 ] && [ $used -gt 0 ]"

if ! tf_mount "$D" "$M"; then
	fail "the pool mounts"
	finish
	exit 1
fi
read -r dsize dused davail <<<"$(df -B1 --output=size,used,avail "$M" | tail -1)"
check "df shows the pool's data size ($size bytes)" [ "$dsize" = "$size" ]
check "df shows the allocated chunks as used ($used bytes)" [ "$dused" = "$used" ]
check "df shows the rest as available" [ "$davail" = $((size - used)) ]
read -r frsize blocks free avail files <<<"$(stat -f -c '%S %b %f %a %c' "$M")"
check "stat -f: blocks of the fundamental size add up to the data size" [ $((frsize * blocks)) = "$size" ]
check "stat -f: free blocks are the unallocated chunks" [ $((frsize * free)) = $((size - used)) ]
check "stat -f: one file per thin volume" [ "$files" = 5 ]
check "df's use% matches the pool's Data% in lvs (13.67%)" bash -c "df --output=pcent '$M' | tail -1 | grep -q '14%'"
check "the status file agrees" bash -c "jq -e '.data.total_bytes == $size and .data.used_bytes == $used' '$M/.thinfs/status' >/dev/null"
tf_umount "$M"
finish
