#!/usr/bin/env bash
# files/<lv>/ shows the ext2/3/4 filesystem inside each volume — whole-LV,
# in GPT and MBR partitions, and after replaying a journal that needs
# recovery — exactly as debugfs (and e2fsck's recovery) see it.
. "$THINFS_SRCDIR/tests/lib.sh"

D="$TF_TMP/demo"
M="$TF_TMP/mnt"
unpack_demo "$D"
thin_dump "$D/metadata" >"$TF_TMP/dump.xml"
tf_mount "$D" "$M" || { fail "the demo pool mounts"; finish; exit 1; }

# rdump_equal NAME IMAGE DIR: DIR's tree equals debugfs's dump of IMAGE.
rdump_equal() {
	local out="$TF_TMP/rd-$1"
	mkdir -p "$out"
	debugfs -R "rdump / $out" "$2" >/dev/null 2>&1
	if diff -r --no-dereference "$3" "$out" >"$TF_TMP/diff" 2>&1; then
		pass "$1: the tree and every file equal debugfs's dump"
	else
		fail "$1: the tree and every file equal debugfs's dump" "$(head -c 400 "$TF_TMP/diff")"
	fi
}

for pair in "web 1" "web_monday 2" "web_tuesday 3"; do
	set -- $pair
	xml_assemble "$TF_TMP/dump.xml" "$2" "$D/data" 134217728 "$TF_TMP/$1.img"
	rdump_equal "$1" "$TF_TMP/$1.img" "$M/files/$1"
done
# diff --files against the two snapshots' own file lists (debugfs dumps).
(cd "$TF_TMP/rd-web_monday" && find . -mindepth 1 | sed 's|^\.||' | sort) >"$TF_TMP/l1"
(cd "$TF_TMP/rd-web_tuesday" && find . -mindepth 1 | sed 's|^\.||' | sort) >"$TF_TMP/l2"
{ comm -13 "$TF_TMP/l1" "$TF_TMP/l2" | sed 's/^/+ /'; comm -23 "$TF_TMP/l1" "$TF_TMP/l2" | sed 's/^/- /'; } | sort >"$TF_TMP/addrm.expected"
comm -12 "$TF_TMP/l1" "$TF_TMP/l2" | while read -r f; do
	[ -f "$TF_TMP/rd-web_monday$f" ] && [ ! -L "$TF_TMP/rd-web_monday$f" ] &&
		! cmp -s "$TF_TMP/rd-web_monday$f" "$TF_TMP/rd-web_tuesday$f" && echo "M $f"
done | sort >"$TF_TMP/mod.expected"
"$THINFS" diff "$D" web_monday web_tuesday --files >"$TF_TMP/files.actual"
check "diff --files: added and removed paths equal the snapshots' file lists" \
	bash -c "grep -v '^M ' '$TF_TMP/files.actual' | sort | cmp -s - '$TF_TMP/addrm.expected'"
check "diff --files: every file whose content changed is listed as modified" \
	bash -c "[ -s '$TF_TMP/mod.expected' ] && comm -23 '$TF_TMP/mod.expected' <(grep '^M ' '$TF_TMP/files.actual' | sort) | cmp -s - /dev/null"
check "diff --files: modified paths exist in both snapshots" \
	bash -c "grep '^M ' '$TF_TMP/files.actual' | cut -c3- | sort | comm -23 - <(comm -12 '$TF_TMP/l1' '$TF_TMP/l2') | cmp -s - /dev/null"
check "diff --files --json is valid JSON" bash -c "'$THINFS' diff '$D' web_monday web_tuesday --files --json | python3 -m json.tool >/dev/null"
check "diff --files of a snapshot with itself lists nothing" bash -c "[ -z \"\$('$THINFS' diff '$D' web_tuesday web_tuesday --files)\" ]"

check "web_monday has the old /etc/version" bash -c "[ \"\$(cat '$M/files/web_monday/etc/version')\" = v1 ]"
check "web_tuesday has the new /etc/version" bash -c "[ \"\$(cat '$M/files/web_tuesday/etc/version')\" = v2 ]"
check "a symlink reads as one" bash -c "[ \"\$(readlink '$M/files/web_tuesday/srv/current')\" = ../etc/version ]"
check "restoring a file with cp gives its bytes" bash -c "cp '$M/files/web_monday/srv/www/counter.txt' '$TF_TMP/c.txt' && seq 1 5000 | cmp -s - '$TF_TMP/c.txt'"
check "a file removed later is still in the older snapshot" bash -c "[ -d '$M/files/web_monday/srv/www/lvm2' ] && [ ! -e '$M/files/web_tuesday/srv/www/lvm2/examples' ]"

# disk: a GPT partition holding ext4.
xml_assemble "$TF_TMP/dump.xml" 4 "$D/data" 67108864 "$TF_TMP/disk.img"
start=$(sfdisk -J "$TF_TMP/disk.img" | awk -F'[:,]' '/"start"/ { for (i = 1; i <= NF; i++) if ($i ~ /"start"/) { print $(i + 1) + 0; exit } }')
dd if="$TF_TMP/disk.img" of="$TF_TMP/disk-p1.img" bs=512 skip="$start" status=none
check "disk: files/disk holds p1/" bash -c "[ \"\$(ls '$M/files/disk')\" = p1 ]"
rdump_equal "disk-p1" "$TF_TMP/disk-p1.img" "$M/files/disk/p1"

check "scratch: no filesystem gives an empty directory" bash -c "[ -z \"\$(ls -A '$M/files/scratch')\" ]"
check "scratch: .thinfs/status says why" bash -c "grep -q '\"scratch\": \"no ext2/3/4 filesystem' '$M/.thinfs/status'"
check "files are read-only" bash -c "! (echo x >> '$M/files/web/etc/version') 2>/dev/null"
tf_umount "$M"

# An MBR-partitioned volume: ext4 with xattrs, a hole and a hard link in p1,
# raw data in p2.
mkdir -p "$TF_TMP/tree/d"
seq 1 20000 >"$TF_TMP/tree/d/numbers"
ln "$TF_TMP/tree/d/numbers" "$TF_TMP/tree/hardlink"
truncate -s 5M "$TF_TMP/tree/sparse"
echo tail >>"$TF_TMP/tree/sparse"
ln -s d/numbers "$TF_TMP/tree/link"
mkfs.ext4 -q -F -b 4096 -d "$TF_TMP/tree" "$TF_TMP/p1.img" 24M
debugfs -w -R "ea_set /d/numbers user.color blue" "$TF_TMP/p1.img" >/dev/null 2>&1
truncate -s 64M "$TF_TMP/mbr.img"
printf 'label: dos\nstart=2048, size=49152, type=83\nstart=53248, size=8192, type=c\n' | sfdisk -q "$TF_TMP/mbr.img"
dd if="$TF_TMP/p1.img" of="$TF_TMP/mbr.img" bs=512 seek=2048 conv=notrunc,sparse status=none
head -c 65536 /dev/urandom | dd of="$TF_TMP/mbr.img" bs=512 seek=$((53248 + 2048)) conv=notrunc status=none
pool_from_image "$TF_TMP/mbr.img" "$TF_TMP/mbrpool"
tf_mount "$TF_TMP/mbrpool" "$M"
check "MBR: p1 is a directory and p2 a raw image" bash -c "[ \"\$(ls '$M/files/thin1' | tr '\n' ' ')\" = 'p1 p2.img ' ]"
if diff -r --no-dereference -x lost+found "$TF_TMP/tree" "$M/files/thin1/p1" >"$TF_TMP/diff" 2>&1; then
	pass "MBR p1: the tree equals the directory it was made from"
else
	fail "MBR p1: the tree equals the directory it was made from" "$(head -c 300 "$TF_TMP/diff")"
fi
check "MBR p1: a hard link has the same inode" bash -c "[ \$(stat -c %i '$M/files/thin1/p1/hardlink') = \$(stat -c %i '$M/files/thin1/p1/d/numbers') ]"
check "MBR p1: xattrs are listed and read" bash -c "getfattr -n user.color --only-values '$M/files/thin1/p1/d/numbers' | grep -qx blue"
check "MBR p1: SEEK_DATA/SEEK_HOLE of a sparse file show its hole" \
	bash -c "[ \"\$('$SEEKMAP' '$M/files/thin1/p1/sparse' | tail -1 | cut -d' ' -f1)\" -ge 5242880 ] && [ \$('$SEEKMAP' '$M/files/thin1/p1/sparse' | wc -l) -eq 1 ]"
dd if="$TF_TMP/mbr.img" of="$TF_TMP/p2.expected" bs=512 skip=53248 count=8192 status=none
check "MBR p2.img: bytes equal the partition" cmp -s "$TF_TMP/p2.expected" "$M/files/thin1/p2.img"
check "MBR p2.img: its data map is the one written range" bash -c "[ \"\$('$SEEKMAP' '$M/files/thin1/p2.img')\" = '1048576 65536' ]"
tf_umount "$M"

# A filesystem whose journal needs recovery (a VM's disk snapshotted while
# mounted): the view equals e2fsck's recovery.
mkfs.ext4 -q -F -b 4096 -d "$TF_TMP/tree" "$TF_TMP/j.img" 32M
echo "only in the journal" >"$TF_TMP/jblock"
truncate -s 4096 "$TF_TMP/jblock"
ino_blk=$(debugfs -R "bmap /d/numbers 0" "$TF_TMP/j.img" 2>/dev/null)
printf 'jo\njw -b %s %s\njc\n' "$ino_blk" "$TF_TMP/jblock" | debugfs -w -f - "$TF_TMP/j.img" >/dev/null 2>&1
check "the journal test image needs recovery" bash -c "dumpe2fs -h '$TF_TMP/j.img' 2>/dev/null | grep -q needs_recovery"
cp "$TF_TMP/j.img" "$TF_TMP/j-recovered.img"
e2fsck -fy "$TF_TMP/j-recovered.img" >/dev/null 2>&1
pool_from_image "$TF_TMP/j.img" "$TF_TMP/jpool"
tf_mount "$TF_TMP/jpool" "$M"
rdump_equal "journal" "$TF_TMP/j-recovered.img" "$M/files/thin1"
check "journal: the replayed block is served" bash -c "head -c 19 '$M/files/thin1/d/numbers' | grep -q 'only in the journal'"
check "journal: the pool image was not written" bash -c "dumpe2fs -h '$TF_TMP/j.img' 2>/dev/null | grep -q needs_recovery"
tf_umount "$M"
finish
