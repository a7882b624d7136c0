#!/usr/bin/env bash
# thinfs ls and thinfs diff equal thin_ls and thin_delta on the same
# metadata, for kernel-written and thin_restore-made pools of every shape.
. "$THINFS_SRCDIR/tests/lib.sh"
. "$THINFS_SRCDIR/tests/gen-pool.sh"

# ls_oracle META CHUNK_BYTES: "dev mapped exclusive shared" in bytes, by thin_ls.
ls_oracle() {
	thin_ls --no-headers -o DEV,MAPPED_BLOCKS,EXCLUSIVE_BLOCKS,SHARED_BLOCKS "$1" |
		awk -v c="$2" '{ printf "%.0f %.0f %.0f %.0f\n", $1, $2 * c, $3 * c, $4 * c }' | sort -n
}

ls_thinfs() {
	"$THINFS" ls "$1" --json | tr -d '{}[],"' | awk '
		/thin_id:/ { id = $0 } { for (i = 1; i <= NF; i++) v[$i] = $(i + 1) }
		/shared_bytes:/ { print v["thin_id:"], v["mapped_bytes:"], v["exclusive_bytes:"], v["shared_bytes:"] }' | sort -n
}

# delta_oracle META A B CHUNK_BYTES: non-"same" ranges of thin_delta, coalesced, in bytes.
delta_oracle() {
	thin_delta --snap1 "$2" --snap2 "$3" "$1" | grep -E '<(left_only|right_only|different) ' |
		sed 's/.*begin="\([0-9]*\)" length="\([0-9]*\)".*/\1 \2/' | sort -n -k1,1 |
		awk -v c="$4" '{ if (n && $1 == e) e += $2; else { if (n) printf "%.0f %.0f\n", s * c, (e - s) * c; s = $1; e = $1 + $2; n = 1 } }
		END { if (n) printf "%.0f %.0f\n", s * c, (e - s) * c }'
}

# --- the kernel-written pool ---
D="$TF_TMP/demo"
unpack_demo "$D"
"$THINFS" ls "$D" --json >"$TF_TMP/ls.json"
check "ls --json of the kernel pool is valid JSON" python3 -m json.tool "$TF_TMP/ls.json" >/dev/null

# lvs.txt: name, thin id, origin, size as LVM reported them.
awk '$2 ~ /^[0-9]+$/ { o = ($3 ~ /^[0-9.]+m$/) ? "-" : $3; s = ($3 ~ /^[0-9.]+m$/) ? $3 : $4; sub(/m$/, "", s); print $1, $2, o, s * 1048576 }' \
	"$FIXTURES/kernel-pool-demo/lvs.txt" | sort >"$TF_TMP/lvs.expected"
tr -d '[]' <"$TF_TMP/ls.json" | tr '{}' '\n\n' | grep name | sed 's/"//g; s/,//g' |
	awk '{ for (i = 1; i <= NF; i++) v[$i] = $(i + 1); o = v["origin:"]; if (o == "null") o = "-"; print v["name:"], v["thin_id:"], o, v["size_bytes:"] }' |
	sort >"$TF_TMP/lvs.actual"
if cmp -s "$TF_TMP/lvs.expected" "$TF_TMP/lvs.actual"; then
	pass "kernel pool: names, thin ids, origins and sizes equal lvs"
else
	fail "kernel pool: names, thin ids, origins and sizes equal lvs" "$(diff "$TF_TMP/lvs.expected" "$TF_TMP/lvs.actual" | head -5 | tr '\n' ' ')"
fi
ls_oracle "$D/metadata" 131072 >"$TF_TMP/k.expected"
ls_thinfs "$D" >"$TF_TMP/k.actual"
check "kernel pool: mapped, exclusive and shared bytes equal thin_ls" cmp -s "$TF_TMP/k.expected" "$TF_TMP/k.actual"
for pair in "web_monday web_tuesday 2 3" "web_monday web 2 1" "web web_tuesday 1 3" "scratch disk 5 4"; do
	set -- $pair
	delta_oracle "$D/metadata" "$3" "$4" 131072 >"$TF_TMP/d.expected"
	"$THINFS" diff "$D" "$1" "$2" >"$TF_TMP/d.actual" 2>"$TF_TMP/err"
	check "kernel pool: diff $1 $2 equals thin_delta" cmp -s "$TF_TMP/d.expected" "$TF_TMP/d.actual"
done

# --- thin_restore-made pools: smallest and a large chunk size, >=100k mappings ---
for shape in "128 120000" "2097152 3000"; do
	set -- $shape
	P="$TF_TMP/pool-$1"
	gen_pool "$P" "$1" "$2"
	cb=$(($1 * 512))
	ls_oracle "$P/metadata" "$cb" >"$TF_TMP/r.expected"
	ls_thinfs "$P" >"$TF_TMP/r.actual"
	check "chunk $cb: ls equals thin_ls for every device" cmp -s "$TF_TMP/r.expected" "$TF_TMP/r.actual"
	check "chunk $cb: devices without lvm.cfg are named thin<id>" \
		bash -c "'$THINFS' ls '$P' | awk 'NR > 1 { print \$1 }' | tr '\n' ' ' | grep -qx 'thin1 thin2 thin3 thin5 '"
	for pair in "1 2" "2 1" "1 3" "3 5" "2 5"; do
		set -- $pair
		delta_oracle "$P/metadata" "$1" "$2" "$cb" >"$TF_TMP/d.expected"
		"$THINFS" diff "$P" "thin$1" "thin$2" >"$TF_TMP/d.actual"
		check "chunk $cb: diff thin$1 thin$2 equals thin_delta" cmp -s "$TF_TMP/d.expected" "$TF_TMP/d.actual"
	done
	"$THINFS" diff "$P" thin1 thin2 --json >"$TF_TMP/d.json"
	check "chunk $cb: diff --json is valid JSON with offset and length" \
		bash -c "python3 -m json.tool '$TF_TMP/d.json' >/dev/null && grep -q '\"offset\": ' '$TF_TMP/d.json'"
done

# --- the CLI contract ---
for c in ls diff index mount umount; do
	check "thinfs $c --help exits 0 and prints usage" bash -c "'$THINFS' $c --help | grep -q '^Usage: thinfs $c'"
done
expect_fail "a missing argument is a usage error (exit 2)" 2 "missing arguments" "$THINFS" ls
expect_fail "an unknown option is a usage error (exit 2)" 2 "unknown option" "$THINFS" ls "$D" --bogus
expect_fail "an unknown command is a usage error (exit 2)" 2 "unknown command" "$THINFS" frobnicate
expect_fail "a missing source is an error naming it (exit 1)" 1 "/nonexistent" "$THINFS" ls /nonexistent/pool
expect_fail "an unknown volume is an error naming it (exit 1)" 1 "no thin volume 'nope'" "$THINFS" diff "$D" web nope

finish
