#!/usr/bin/env bash
# thinfs diff and thinfs send --from ask the pool's metadata directly: on a
# pool with no index they build none, read only where the two trees differ,
# and answer what thin_delta and an index-backed send answer.  The pool is
# kernel-many-snapshots one snapshot later (31 snapshots of a 100,000-chunk
# volume; s32 differs from s31 in 50 chunks).
. "$THINFS_SRCDIR/tests/lib.sh"

P="$TF_TMP/pool"
mkdir -p "$P"
zstd -q -d "$FIXTURES/kernel-many-snapshots/metadata-plus1.zst" -o "$P/metadata"
cp "$FIXTURES/kernel-many-snapshots/lvm-plus1.cfg" "$P/lvm.cfg"
truncate -s 13107200000 "$P/data"

# thin_delta's differing ranges, coalesced, in bytes of 64 KiB chunks.
thin_delta --snap1 31 --snap2 32 "$P/metadata" | grep -E '<(left_only|right_only|different) ' |
	sed 's/.*begin="\([0-9]*\)" length="\([0-9]*\)".*/\1 \2/' | sort -n -k1,1 |
	awk '{ if (n && $1 == e) e += $2; else { if (n) printf "%.0f %.0f\n", s * 65536, (e - s) * 65536; s = $1; e = $1 + $2; n = 1 } }
	END { if (n) printf "%.0f %.0f\n", s * 65536, (e - s) * 65536 }' >"$TF_TMP/d.expected"

"$THINFS" diff "$P" s31 s32 --stats >"$TF_TMP/d.actual" 2>"$TF_TMP/stats"
check "diff s31 s32 with no index equals thin_delta" cmp -s "$TF_TMP/d.expected" "$TF_TMP/d.actual"
check "diff built no index" bash -c "! ls '$THINFS_INDEX_DIR'/*.db >/dev/null 2>&1"
nodes=$(sed -n 's/.* \([0-9]*\) metadata nodes read.*/\1/p' "$TF_TMP/stats")
check "diff read only where the trees differ ($nodes of ~1,200 nodes)" [ "${nodes:-9999}" -le 100 ]

"$THINFS" send "$P" s32 --from s31 >"$TF_TMP/noindex.s"
check "send --from with no index built none" bash -c "! ls '$THINFS_INDEX_DIR'/*.db >/dev/null 2>&1"
"$THINFS" send "$P" s32 --from s31 --rebuild >"$TF_TMP/index.s"
check "send --from with no index writes the same stream as from a built index" \
	cmp -s "$TF_TMP/noindex.s" "$TF_TMP/index.s"
check "the incremental carries the 50 changed chunks" \
	bash -c "'$THINFS' send '$P' s32 --from s31 -n | grep -q ' 3276800 bytes of changed chunks (incremental stream of s32 from s31)'"
expect_fail "an unknown volume names it, with no index" 1 "no thin volume 'nope'" "$THINFS" diff "$P" s31 nope
expect_fail "send --from an unknown base names it, with no index" 1 "no thin volume 'nope'" \
	"$THINFS" send "$P" s32 --from nope -n
finish
