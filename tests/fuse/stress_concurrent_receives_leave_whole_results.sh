#!/usr/bin/env bash
# Bounded stress: 8 writers aim good, truncated and wrong-base streams at 3
# targets for 20 s, through `thinfs receive` and through receive/ (cp, and
# rsync's temporary names), while readers check volumes/ and files/ and the
# index is rebuilt underneath them.  Afterwards every target is
# byte-for-byte one complete stream's result and its recorded state names
# that very result; receive_dir holds the targets and, for a target whose
# last receive was cut off, only its resumable staging file and checkpoint —
# no lock, temporary or orphaned file.
. "$THINFS_SRCDIR/tests/lib.sh"

SECONDS_TO_RUN=${THINFS_STRESS_SECONDS:-20}
D="$TF_TMP/demo"
M="$TF_TMP/mnt"
R="$TF_TMP/recv"
S="$TF_TMP/streams"
mkdir -p "$R" "$S" "$TF_TMP/log"
unpack_demo "$D"
"$THINFS" send "$D" web_monday >"$S/full"
"$THINFS" send "$D" web_tuesday --from web_monday >"$S/inc1"
"$THINFS" send "$D" web --from web_tuesday >"$S/inc2"
for s in full inc1 inc2; do
	n=$(stat -c %s "$S/$s")
	for cut in 100 600 $((n / 3)) $((n - 70)); do head -c $cut "$S/$s" >"$S/$s.cut$cut"; done
done
streams=("$S"/*)
tf_mount "$D" "$M" -o receive_dir="$R" || { fail "mounts with receive_dir"; finish; exit 1; }
vol_sum=$(head -c 16M "$M/volumes/web_monday" | sha256sum | cut -c1-64)
file_want=$(cat "$M/files/web_monday/etc/version")

end=$((SECONDS + SECONDS_TO_RUN))
writer() { # ID
	local n=0 ok=0 t s f
	while [ $SECONDS -lt $end ]; do
		t=t$((RANDOM % 3))
		s=${streams[$((RANDOM % ${#streams[@]}))]}
		n=$((n + 1))
		case $((RANDOM % 4)) in
		0) "$THINFS" receive "$R" $t <"$s" 2>>"$TF_TMP/log/w$1" && ok=$((ok + 1)) ;;
		1) # --force on a full stream replaces whatever is there; on an
		   # incremental it would apply over another base by request, a
		   # result that is no stream's, so incrementals go without it.
			f=; [[ $s == */full* ]] && f=--force
			"$THINFS" receive $f "$R" $t <"$s" 2>>"$TF_TMP/log/w$1" && ok=$((ok + 1)) ;;
		2) cp "$s" "$M/receive/$t" 2>>"$TF_TMP/log/w$1" && ok=$((ok + 1)) ;;
		3) cp "$s" "$M/receive/.$t.$RANDOM$1" 2>>"$TF_TMP/log/w$1" && ok=$((ok + 1)) ;;
		esac
	done
	echo "$n $ok" >"$TF_TMP/log/w$1.count"
}
reader() { # ID
	local n=0 bad=0
	while [ $SECONDS -lt $end ]; do
		[ "$(head -c 16M "$M/volumes/web_monday" | sha256sum | cut -c1-64)" = "$vol_sum" ] || bad=$((bad + 1))
		[ "$(cat "$M/files/web_monday/etc/version")" = "$file_want" ] || bad=$((bad + 1))
		ls "$M/volumes" "$M/receive" >/dev/null || bad=$((bad + 1))
		n=$((n + 1))
	done
	echo "$n $bad" >"$TF_TMP/log/r$1.count"
}
refresher() {
	local n=0
	while [ $SECONDS -lt $end ]; do
		"$THINFS" index "$D" --rebuild >/dev/null 2>>"$TF_TMP/log/ix" && n=$((n + 1))
	done
	echo "$n" >"$TF_TMP/log/ix.count"
}
for i in 1 2 3 4 5 6 7 8; do writer $i & done
for i in 1 2; do reader $i & done
refresher &
wait
cat "$TF_TMP"/log/w? | sed 's/[0-9][0-9]*/N/g; s/\/tmp\/[^ :]*/PATH/g' | sort | uniq -c | sort -rn | head -20 | sed 's/^/  /'

tries=0 oks=0
for i in 1 2 3 4 5 6 7 8; do read -r a b <"$TF_TMP/log/w$i.count"; tries=$((tries + a)); oks=$((oks + b)); done
reads=0 bad=0
for i in 1 2; do read -r a b <"$TF_TMP/log/r$i.count"; reads=$((reads + a)); bad=$((bad + b)); done
busy=$(cat "$TF_TMP"/log/w* | grep -c "another receive into it is running\|busy")
echo "  $tries receives ($oks applied, $busy refused as busy), $reads read rounds, $(cat "$TF_TMP/log/ix.count") index rebuilds"
check "the writers ran (at least 40 receives, some applied)" test "$tries" -ge 40 -a "$oks" -ge 1
check "every read of volumes/ and files/ during the rebuilds was right ($reads rounds)" test "$bad" = 0 -a "$reads" -ge 2
check "no writer saw an error other than the expected refusals" \
	bash -c "! cat '$TF_TMP'/log/w? | grep -v -e 'another receive into it is running' -e 'already running' -e 'busy' -e 'before its trailer' -e 'before the stream' -e 'Broken pipe' -e 'refusing' -e 'does not exist: an incremental' -e 'not made by thinfs receive' -e 'Invalid argument' -e 'File exists' -e 'Operation already in progress' -e 'No such file or directory' -e 'Device or resource busy' -e 'not a thinfs delta stream' -e 'stream header' | grep ."
declare -A by_id=([2]=web_monday [3]=web_tuesday [1]=web)
for t in t0 t1 t2; do
	[ -e "$R/$t" ] || continue
	got=$(sha256sum <"$R/$t" | cut -c1-64)
	id=$(getfattr --only-values -n user.thinfs.state "$R/$t" 2>/dev/null | sed -n 's/^thin_id=//p')
	[ -n "$id" ] || id=$(sed -n 's/^thin_id=//p' "$R/.$t.thinfs-state" 2>/dev/null)
	check "$t is one complete stream's result, the one its recorded state names (${by_id[$id]:-none})" \
		test -n "$id" -a "$got" = "$(sum_of "${by_id[$id]:-none}")"
done
stray=$(ls -A "$R" | grep -v -E '^t[012]$|^\.t[012]\.thinfs-state$')
for t in t0 t1 t2; do
	if [ -e "$R/.$t.thinfs-resume" ] && [ -e "$R/.$t.thinfs-partial" ]; then
		stray=$(echo "$stray" | grep -v -e "^\.$t\.thinfs-resume$" -e "^\.$t\.thinfs-partial$")
		check "$t's cut-off receive left a checkpoint that can resume" \
			bash -c "'$THINFS' receive '$R' $t --resume-offset >/dev/null"
	fi
done
[ -z "$stray" ] || echo "  left: $stray"
check "nothing else is left in receive_dir (no lock, temporary or orphaned staging file)" [ -z "$stray" ]
check "the mount still answers" test -s "$M/volumes/web"
tf_umount "$M"
finish
