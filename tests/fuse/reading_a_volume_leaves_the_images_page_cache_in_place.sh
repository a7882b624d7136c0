#!/usr/bin/env bash
# Reading a volume through the mount leaves the data image's pages in the
# page cache.  Volumes and snapshots share data chunks, so a reply that
# moved (stole) the image's pages into the volume's cache would send the
# next reader of any sharing volume to the disk; thinfs splices with a
# copy, never a move.  The image lives on a disk filesystem: tmpfs pages
# cannot be moved, so there the test could not fail and is skipped.
. "$THINFS_SRCDIR/tests/lib.sh"

D=$(mktemp -d /var/tmp/thinfs-cache.XXXXXX)
trap 'tf_cleanup; rm -rf "$D"' EXIT
if [ "$(stat -f -c %T "$D")" = tmpfs ]; then
	echo "SKIP: /var/tmp is tmpfs"
	exit 77
fi
P="$TF_TMP/pool"
mkdir -p "$P"
printf '%s\n' '<superblock uuid="" time="0" transaction="1" flags="0" version="2" data_block_size="128" nr_data_blocks="1024">' \
	'<device dev_id="1" mapped_blocks="1024" transaction="0" creation_time="0" snap_time="0">' \
	'<range_mapping origin_begin="0" data_begin="0" length="1024" time="0"/>' \
	'</device>' '</superblock>' >"$TF_TMP/pool.xml"
truncate -s 4M "$P/metadata"
thin_restore -q -i "$TF_TMP/pool.xml" -o "$P/metadata"
head -c 64M /dev/urandom >"$D/data"
sync "$D/data"
ln -s "$D/data" "$P/data"
cached() { fincore -n -b -o RES "$D/data" | tr -d ' '; }
want=$(sha256sum <"$D/data") # reads the image: its pages are now cached
before=$(cached)
check "the image is in the page cache before the read ($before bytes)" [ "$before" -ge $((60 << 20)) ]
M="$TF_TMP/mnt"
tf_mount "$P" "$M"
got=$(dd if="$M/volumes/thin1" bs=1M status=none | sha256sum)
after=$(cached)
check "the volume reads as the image's bytes" [ "$got" = "$want" ]
check "the image's pages are still cached after the read ($after of $before bytes)" \
	[ "$after" -ge $((before * 9 / 10)) ]
finish
