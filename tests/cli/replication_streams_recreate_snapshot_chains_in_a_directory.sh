#!/usr/bin/env bash
# thinfs send -R / --all and thinfs receive TARGET: a pool with snapshot
# chains (thin_restore-made) is replicated into a directory — every file's
# bytes equal the volume's as the pool's own XML and data say; increments
# carry only what changed; a cut stream leaves the volumes that completed
# usable and the rest untouched, and rerunning completes it; replays,
# damage and a missing base are refused; --prune, --prefix, --from-state.
. "$THINFS_SRCDIR/tests/lib.sh"
. "$THINFS_SRCDIR/tests/gen-lineage.sh"

S="$TF_TMP/src"
gen_lineage_pool "$S" 1
CHUNK=65536
sha() { sha256sum <"$1" | cut -c1-64; }

# The oracle: volume DEV's bytes from pool.xml and the data file.
expect_image() { # DEV OUT SIZE
	rm -f "$2"
	truncate -s "$3" "$2"
	awk -v dev="$1" '
	/<device / { match($0, /dev_id="[0-9]+"/); d = substr($0, RSTART + 8, RLENGTH - 9) }
	d == dev && /single_mapping/ {
		match($0, /origin_block="[0-9]+"/); v = substr($0, RSTART + 14, RLENGTH - 15)
		match($0, /data_block="[0-9]+"/); b = substr($0, RSTART + 12, RLENGTH - 13)
		if (n && v == pv + 1 && b == pb + 1) { len++ } else { if (n) print sv, sb, len; sv = v; sb = b; len = 1; n = 1 }
		pv = v; pb = b
	}
	END { if (n) print sv, sb, len }' "$S/pool.xml" |
		while read -r v b len; do
			dd if="$S/data" of="$2" bs=$CHUNK skip="$b" seek="$v" count="$len" conv=notrunc status=none
		done
}
declare -A ID=([vm]=1 [vm_s1]=2 [vm_s2]=3 [vm_s2a]=4 [vm_s3]=5 [raw]=6 [raw_r1]=7 [raw_r2]=8
	[vm_s4]=9 [vm_s5]=10)
declare -A SIZE=([vm]=33554432 [raw]=16777216)
size_of() { case $1 in vm*) echo 33554432 ;; *) echo 16777216 ;; esac; }
oracle() { # sums of every volume of the current pool version into $TF_TMP/sums
	: >"$TF_TMP/sums"
	for lv in "$@"; do
		expect_image "${ID[$lv]}" "$TF_TMP/expect" "$(size_of "$lv")"
		echo "$lv $(sha "$TF_TMP/expect")" >>"$TF_TMP/sums"
	done
}
# all_equal DIR PREFIX LV...: every DIR/PREFIX<lv> equals the oracle.
all_equal() {
	local dir=$1 prefix=$2 lv
	shift 2
	for lv in "$@"; do
		[ -f "$dir/$prefix$lv" ] || { echo "missing $prefix$lv" >&2; return 1; }
		[ "$(sha "$dir/$prefix$lv")" = "$(awk -v l="$lv" '$1 == l { print $2 }' "$TF_TMP/sums")" ] ||
			{ echo "$prefix$lv differs" >&2; return 1; }
	done
}
V1=(vm vm_s1 vm_s2 vm_s2a vm_s3)
oracle "${V1[@]}" raw raw_r1 raw_r2

# --- a full lineage ---------------------------------------------------------
"$THINFS" send "$S" vm -R >"$TF_TMP/r1.s"
"$THINFS" send "$S" vm -R -n >"$TF_TMP/r1.n"
check "-n prints the exact size of the -R stream" \
	[ "$(awk 'NR == 1 { print $1 }' "$TF_TMP/r1.n")" = "$(stat -c %s "$TF_TMP/r1.s")" ]
"$THINFS" send "$S" vm -R -P 2>"$TF_TMP/progress" >/dev/null
sz=$(awk 'NR == 1 { print $1 }' "$TF_TMP/r1.n")
check "-P shows progress against the exact size, ending at 100%" \
	bash -c "tr '\r' '\n' <'$TF_TMP/progress' | grep -v '^\$' | tail -1 | grep -qx 'thinfs send: $sz / $sz bytes (100.0%)'"
check "the lineage is sent oldest first, each over its nearest relative" \
	bash -c "awk 'NR > 1 { printf \"%s:%s \", \$1, \$NF }' '$TF_TMP/r1.n' |
		grep -qx 'vm_s1:full vm_s2:vm_s1 vm_s2a:vm_s2 vm_s3:vm_s2 vm:vm_s3 '"
check "the lineage stays in its lineage (raw is not in it)" bash -c "! grep -q raw '$TF_TMP/r1.n'"
# Unique data of the lineage: chunks 0..374 of the data device.
data=$(awk 'NR > 1 && $2 ~ /^[0-9]+$/ { s += $2 } END { print s }' "$TF_TMP/r1.n")
check "the stream carries about the lineage's unique data (<= 1.05 x 375 chunks + overheads)" \
	awk -v s="$data" -v u=$((375 * CHUNK)) 'BEGIN { exit !(s <= 1.05 * u + 5 * 4096) }'
D="$TF_TMP/d1"
mkdir -p "$D"
"$THINFS" receive "$D" <"$TF_TMP/r1.s" >"$TF_TMP/out" 2>"$TF_TMP/err"
check "receive TARGET applies a replication stream (exit 0)" [ $? -eq 0 ]
check "one summary line per volume" [ "$(grep -c ': received' "$TF_TMP/out")" = 5 ]
check "every received file's bytes equal the source volume" all_equal "$D" "" "${V1[@]}"
check "no staging is left behind (only the record of the completed stream)" \
	bash -c "[ -z \"\$(ls -A '$D/.thinfs-repl' | grep -v '^[0-9a-f]*\.done\$')\" ]"
check "origin and LVM tags travel with each volume" \
	bash -c "getfattr --only-values -n user.thinfs.replica '$D/vm_s2a' | grep -qx 'origin=vm_s2' &&
		getfattr --only-values -n user.thinfs.replica '$D/vm' | grep -qx 'tags=prod,web'"
before=$(cd "$D" && sha256sum vm* | sha256sum)
expect_fail "a replayed replication stream is refused" 1 "already received this replication stream" \
	"$THINFS" receive "$D" <"$TF_TMP/r1.s"
check "the replay left the target as it was" [ "$(cd "$D" && sha256sum vm* | sha256sum)" = "$before" ]
expect_fail "a replication stream into 'receive TARGET LV' is refused clearly" 1 \
	"replication stream.*without LV" "$THINFS" receive "$D" other <"$TF_TMP/r1.s"

# --- --prefix ---------------------------------------------------------------
"$THINFS" receive "$D" --prefix copy_ <"$TF_TMP/r1.s" >/dev/null
check "--prefix renames every volume" all_equal "$D" copy_ "${V1[@]}"

# --- cut streams ------------------------------------------------------------
# Where each volume's stream ends, from the -n plan.
mapfile -t ends < <(awk -v n=5 'NR == 1 { pos = 256 + 1024 * n } NR > 1 { pos += 64 + $2; print $1, pos }' "$TF_TMP/r1.n")
total=$(stat -c %s "$TF_TMP/r1.s")
for cut in 100 3000 $((256 + 5 * 1024 + 64 + 700000)) \
	$(( $(echo "${ends[1]}" | cut -d' ' -f2) + 1000 )) $((total - 10)); do
	C="$TF_TMP/cut$cut"
	mkdir -p "$C"
	head -c "$cut" "$TF_TMP/r1.s" | "$THINFS" receive "$C" >"$TF_TMP/out" 2>"$TF_TMP/err"
	rc=$?
	done_vols=() rest=()
	for e in "${ends[@]}"; do
		set -- $e
		if [ "$2" -le "$cut" ]; then done_vols+=("$1"); else rest+=("$1"); fi
	done
	ok=1
	[ "$rc" -eq 1 ] || ok=0
	all_equal "$C" "" "${done_vols[@]}" || ok=0
	for lv in "${rest[@]}"; do [ -e "$C/$lv" ] && ok=0; done
	check "cut at $cut: exit 1, the ${#done_vols[@]} volumes that completed are whole, the rest absent" [ "$ok" = 1 ]
	"$THINFS" receive "$C" <"$TF_TMP/r1.s" >"$TF_TMP/out" 2>"$TF_TMP/err"
	check "cut at $cut: rerunning completes it, applying nothing twice" \
		bash -c "[ $? -eq 0 ] && [ \"\$(grep -c 'already here' '$TF_TMP/out')\" = ${#done_vols[@]} ]"
	check "cut at $cut: then every volume equals the source" all_equal "$C" "" "${V1[@]}"
done

# --- damage -----------------------------------------------------------------
off=$(( $(echo "${ends[1]}" | cut -d' ' -f2) + 3000 ))
cp "$TF_TMP/r1.s" "$TF_TMP/bad.s"
printf '\xff' | dd of="$TF_TMP/bad.s" bs=1 seek="$off" conv=notrunc status=none
B="$TF_TMP/bad"
mkdir -p "$B"
"$THINFS" receive "$B" <"$TF_TMP/bad.s" >"$TF_TMP/out" 2>"$TF_TMP/err"
rc=$?
check "a damaged volume fails the receive, the volumes before it are whole" \
	bash -c "[ $rc = 1 ] && grep -q checksum '$TF_TMP/err'"
check "...and the damaged one and those after it are absent" \
	bash -c "all_equal() { :; }; [ -f '$B/vm_s1' ] && [ -f '$B/vm_s2' ] && [ ! -e '$B/vm_s2a' ] && [ ! -e '$B/vm' ]"
cp "$TF_TMP/r1.s" "$TF_TMP/bad2.s"
printf '\xff' | dd of="$TF_TMP/bad2.s" bs=1 seek=300 conv=notrunc status=none
B2="$TF_TMP/bad2"
mkdir -p "$B2"
expect_fail "a damaged manifest is refused before anything is applied" 1 "checksum" \
	"$THINFS" receive "$B2" <"$TF_TMP/bad2.s"
check "...leaving the target empty" bash -c "[ -z \"\$(ls '$B2')\" ]"

# --- the pool moves on: incremental with --from, --prune --------------------
"$THINFS" receive "$D" --state >"$TF_TMP/state1"
gen_lineage_pool "$S" 2
V2=(vm vm_s2 vm_s2a vm_s3 vm_s4 vm_s5)
oracle "${V2[@]}" raw raw_r1 raw_r2
"$THINFS" send "$S" vm -R --from vm_s3 -n >"$TF_TMP/r2.n"
"$THINFS" send "$S" vm -R --from vm_s3 >"$TF_TMP/r2.s"
check "-n prints the exact size of the incremental" \
	[ "$(awk 'NR == 1 { print $1 }' "$TF_TMP/r2.n")" = "$(stat -c %s "$TF_TMP/r2.s")" ]
check "--from sends only what is newer: vm_s4, vm_s5, vm" \
	bash -c "[ \"\$(awk 'NR > 1 && \$2 ~ /^[0-9]+\$/ { printf \"%s \", \$1 }' '$TF_TMP/r2.n')\" = 'vm_s4 vm_s5 vm ' ]"
# Changed since vm_s3: chunks 120..129 (G3), then 130..139, 10..11 (G4), 300..304 (G5).
data=$(awk 'NR > 1 && $2 ~ /^[0-9]+$/ { s += $2 } END { print s }' "$TF_TMP/r2.n")
check "the incremental carries the changed chunks (<= 1.05 x 27 chunks + overheads)" \
	awk -v s="$data" -v u=$((27 * CHUNK)) 'BEGIN { exit !(s <= 1.05 * u + 3 * 4096) }'
"$THINFS" receive "$D" --prune <"$TF_TMP/r2.s" >"$TF_TMP/out" 2>"$TF_TMP/err"
check "the incremental applies (exit 0)" [ $? -eq 0 ]
check "every volume equals the source again" all_equal "$D" "" "${V2[@]}"
check "--prune removed the snapshot deleted at the source" \
	bash -c "[ ! -e '$D/vm_s1' ] && grep -q 'vm_s1: pruned' '$TF_TMP/out'"
check "--prune kept volumes of other names (the --prefix copies)" [ -f "$D/copy_vm_s1" ]
expect_fail "an older replication stream after a newer one is refused" 1 "refusing to roll back" \
	"$THINFS" receive "$D" --prune <"$TF_TMP/r1.s"
check "...and vm_s1 was not brought back" [ ! -e "$D/vm_s1" ]
E="$TF_TMP/empty"
mkdir -p "$E"
expect_fail "an incremental into a target without its base is refused" 1 \
	"vm_s3: does not exist.*refusing before applying anything" "$THINFS" receive "$E" <"$TF_TMP/r2.s"
check "...and nothing was applied" bash -c "[ -z \"\$(ls '$E')\" ]"

# --- --all and --from-state -------------------------------------------------
A="$TF_TMP/all"
mkdir -p "$A"
gen_lineage_pool "$S" 1
"$THINFS" send "$S" --all | "$THINFS" receive "$A" >/dev/null
oracle "${V1[@]}" raw raw_r1 raw_r2
check "--all replicates every lineage of the pool" all_equal "$A" "" "${V1[@]}" raw raw_r1 raw_r2
"$THINFS" receive "$A" --state >"$TF_TMP/state"
gen_lineage_pool "$S" 2
oracle "${V2[@]}" raw raw_r1 raw_r2
"$THINFS" send "$S" --all --from-state "$TF_TMP/state" -n >"$TF_TMP/a2.n"
check "--from-state sends only what the target lacks" \
	bash -c "[ \"\$(awk 'NR > 1 && \$2 ~ /^[0-9]+\$/ { printf \"%s \", \$1 }' '$TF_TMP/a2.n')\" = 'vm_s4 vm_s5 vm ' ]"
"$THINFS" send "$S" --all --from-state "$TF_TMP/state" | "$THINFS" receive "$A" --prune >/dev/null
check "...and the target then equals the source" all_equal "$A" "" "${V2[@]}" raw raw_r1 raw_r2
check "...with the deleted snapshot pruned" [ ! -e "$A/vm_s1" ]
expect_fail "--from-state with a file that is not a state is refused" 1 "not a thinfs replica state" \
	"$THINFS" send "$S" --all --from-state "$S/lvm.cfg" -n
expect_fail "-R and --all together are a usage error" 2 "do not go together" \
	"$THINFS" send "$S" vm -R --all -n

finish
