#!/usr/bin/env bash
# Mounting a pool image serves every thin LV as a sparse file whose bytes
# equal what the kernel served, whose holes are exactly the unmapped chunks,
# and which cp, tar and parallel readers copy correctly.
. "$THINFS_SRCDIR/tests/lib.sh"

D="$TF_TMP/demo"
M="$TF_TMP/mnt"
unpack_demo "$D"
thin_dump "$D/metadata" >"$TF_TMP/dump.xml"
CB=131072

if ! tf_mount "$D" "$M"; then
	fail "the kernel-written pool mounts"
	finish
	exit 1
fi
pass "the kernel-written pool mounts"

check "volumes/ lists every LV" bash -c "ls '$M/volumes' | tr '\n' ' ' | grep -qx 'disk scratch web web_monday web_tuesday '"

while read -r sum lv; do
	check "$lv: sha256 equals the kernel's" bash -c "[ \"\$(sha256sum < '$M/volumes/$lv' | cut -c1-64)\" = '$sum' ]"
done <"$FIXTURES/kernel-pool-demo/sha256.txt"

# thin ids from lvm.cfg: web 1, web_monday 2, web_tuesday 3, disk 4, scratch 5
for pair in "web 1" "web_monday 2" "web_tuesday 3" "disk 4" "scratch 5"; do
	set -- $pair
	xml_ranges "$TF_TMP/dump.xml" "$2" 256 >"$TF_TMP/seek.expected"
	"$SEEKMAP" "$M/volumes/$1" >"$TF_TMP/seek.actual"
	check "$1: SEEK_DATA/SEEK_HOLE map equals the thin_dump mappings" cmp -s "$TF_TMP/seek.expected" "$TF_TMP/seek.actual"
	mapped=$(awk '{ s += $2 } END { print s + 0 }' "$TF_TMP/seek.expected")
	check "$1: st_blocks is the mapped bytes" bash -c "[ \$(stat -c %b '$M/volumes/$1') -eq $((mapped / 512)) ]"
done
check "web: st_size is the LV size" bash -c "[ \$(stat -c %s '$M/volumes/web') -eq 134217728 ]"

# cp --sparse=always: byte-equal, allocating no more than the mapped bytes.
cp --sparse=always "$M/volumes/web_tuesday" "$TF_TMP/copy"
check "cp --sparse=always gives a byte-equal copy" cmp -s "$M/volumes/web_tuesday" "$TF_TMP/copy"
mapped=$(xml_ranges "$TF_TMP/dump.xml" 3 256 | awk '{ s += $2 } END { print s }')
check "the copy allocates no more than the mapped bytes" bash -c "[ \$(( \$(stat -c %b '$TF_TMP/copy') * 512 )) -le $mapped ]"

# tar -S round trip.
(cd "$M/volumes" && tar -S -cf "$TF_TMP/v.tar" web scratch)
mkdir -p "$TF_TMP/untar"
tar -S -xf "$TF_TMP/v.tar" -C "$TF_TMP/untar"
check "tar -S round trip of web is byte-equal" cmp -s "$M/volumes/web" "$TF_TMP/untar/web"
check "tar -S round trip of scratch is byte-equal" cmp -s "$M/volumes/scratch" "$TF_TMP/untar/scratch"
check "tar -S keeps the holes" bash -c "[ \$(stat -c %b '$TF_TMP/untar/scratch') -le $((5 * CB / 512)) ]"

# 8 parallel readers of random ranges agree with the assembled oracle image.
xml_assemble "$TF_TMP/dump.xml" 1 "$D/data" 134217728 "$TF_TMP/web.img"
check "the assembled oracle of web equals the kernel's sha256" \
	bash -c "[ \"\$(sha256sum < '$TF_TMP/web.img' | cut -c1-64)\" = \"\$(awk '\$2 == \"web\" { print \$1 }' '$FIXTURES/kernel-pool-demo/sha256.txt')\" ]"
reader() {
	local seed=$1 bad=0
	RANDOM=$seed
	for _ in $(seq 40); do
		local off=$(((RANDOM * 32768 + RANDOM) % 134217728)) len=$((RANDOM * 8 + 1))
		cmp -s <(tail -c +$((off + 1)) "$M/volumes/web" | head -c "$len") \
			<(tail -c +$((off + 1)) "$TF_TMP/web.img" | head -c "$len") || bad=1
	done
	return $bad
}
pids=()
for s in 1 2 3 4 5 6 7 8; do reader "$s" & pids+=($!); done
ok=1
for p in "${pids[@]}"; do wait "$p" || ok=0; done
check "8 parallel readers of random ranges agree with the oracle" [ "$ok" = 1 ]

# .thinfs/status is JSON with the pool state and counters.
check ".thinfs/status is valid JSON" bash -c "python3 -m json.tool '$M/.thinfs/status' >/dev/null"
check ".thinfs/status names the transaction id" bash -c "grep -q '\"transaction_id\": 5' '$M/.thinfs/status'"
check ".thinfs/status counts bytes read from the data device" bash -c "grep -Eq '\"data_bytes_read\": [1-9]' '$M/.thinfs/status'"

# Files are read-only and owned by the mounting user, mode 0400.
check "volumes have mode 0400" bash -c "[ \$(stat -c %a '$M/volumes/web') = 400 ]"
check "opening a volume for writing fails" bash -c "! (echo x > '$M/volumes/web') 2>/dev/null"

# Inode numbers are stable across remounts.
ino1=$(stat -c %i "$M/volumes/web_monday")
tf_umount "$M"
check "umount unmounts" bash -c "! mountpoint -q '$M'"
tf_mount "$D" "$M"
check "inode numbers are stable across remounts" bash -c "[ \$(stat -c %i '$M/volumes/web_monday') = $ino1 ]"

# Unmounting while readers are active does not crash the server.
(cat "$M/volumes/web" >/dev/null 2>&1 &) ; (cat "$M/volumes/disk" >/dev/null 2>&1 &)
sleep 0.2
fusermount3 -uz "$M"
sleep 0.5
check "lazy unmount under active readers leaves no mount" bash -c "! mountpoint -q '$M'"

finish
