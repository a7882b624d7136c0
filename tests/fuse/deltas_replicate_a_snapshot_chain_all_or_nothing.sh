#!/usr/bin/env bash
# deltas/ and receive/ replicate a snapshot chain — full(s1) then s1→s2 —
# byte for byte, through cp, rsync and thinfs send | thinfs receive; and
# every damaged, truncated, misdirected or replayed stream leaves the
# target exactly as it was, with the error reaching the writer.
. "$THINFS_SRCDIR/tests/lib.sh"

D="$TF_TMP/demo"
M="$TF_TMP/mnt"
R="$TF_TMP/recv"
mkdir -p "$R"
unpack_demo "$D"
tf_mount "$D" "$M" -o receive_dir="$R" || { fail "mounts with receive_dir"; finish; exit 1; }

# The stream files.
check "deltas/web_tuesday lists @full, its origin and its sibling" \
	bash -c "[ \"\$(ls '$M/deltas/web_tuesday' | tr '\n' ' ')\" = '@full web web_monday ' ]"
check "any LV of the pool works as a base by name" test -f "$M/deltas/web_tuesday/scratch"
size=$(stat -c %s "$M/deltas/web_tuesday/web_monday")
check "st_size equals thinfs send -n" bash -c "'$THINFS' send '$D' web_tuesday --from web_monday -n | grep -q '^$size bytes'"
"$THINFS" send "$D" web_tuesday --from web_monday >"$TF_TMP/inc.s"
check "the file's bytes equal thinfs send's" cmp -s "$M/deltas/web_tuesday/web_monday" "$TF_TMP/inc.s"
"$THINFS" send "$D" web_monday >"$TF_TMP/full.s"
ok=1
for off in 0 1 511 512 543 544 100000 1048576 1048608 $((size - 64)) $((size - 1)); do
	cmp -s <(dd if="$M/deltas/web_monday/@full" bs=1 skip="$off" count=4096 status=none) \
		<(dd if="$TF_TMP/full.s" bs=1 skip="$off" count=4096 status=none) || ok=0
done
check "random-offset reads equal the sequential stream" [ "$ok" = 1 ]
changed=$("$THINFS" send "$D" web_tuesday --from web_monday -n | sed 's/.*records, \([0-9]*\) bytes.*/\1/')
check "an incremental is about the size of its changed chunks (R_amp <= 1.01)" \
	awk -v s="$size" -v c="$changed" 'BEGIN { exit !(s <= 1.01 * c) }'

# Round trips.
cp "$M/deltas/web_monday/@full" "$M/receive/vm"
cp "$M/deltas/web_tuesday/web_monday" "$M/receive/vm"
check "cp into receive/: full then incremental reproduces web_tuesday" [ "$(sha "$R/vm")" = "$(sum_of web_tuesday)" ]
"$THINFS" send "$D" web_monday | "$THINFS" receive "$R" vm2
"$THINFS" send "$D" web_tuesday --from web_monday | "$THINFS" receive "$R" vm2
check "send | receive reproduces web_tuesday" [ "$(sha "$R/vm2")" = "$(sum_of web_tuesday)" ]
rsync --inplace "$M/deltas/web_monday/@full" "$M/receive/vm3" &&
	rsync --inplace "$M/deltas/web_tuesday/web_monday" "$M/receive/vm3"
check "rsync --inplace reproduces web_tuesday" [ "$(sha "$R/vm3")" = "$(sum_of web_tuesday)" ]
rsync "$M/deltas/web_monday/@full" "$M/receive/vm4"
check "plain rsync (temp file and rename) works" [ "$(sha "$R/vm4")" = "$(sum_of web_monday)" ]
check "the receive leaves no staging files" bash -c "[ -z \"\$(ls -A '$R' | grep thinfs)\" ]"

# Failure modes: each leaves vm (at web_tuesday) unchanged and fails the writer.
before=$(sha "$R/vm")
refused() { # NAME FILE
	if cp "$2" "$M/receive/vm" 2>/dev/null; then
		fail "$1" "cp succeeded"
	elif [ "$(sha "$R/vm")" != "$before" ]; then
		fail "$1" "the target changed"
	else
		pass "$1"
	fi
}
flip() { # OFFSET IN OUT
	cp "$2" "$3"
	printf "\\x$(printf %02x $(( ($(od -An -tu1 -j "$1" -N1 "$2") ^ 1) )))" | dd of="$3" bs=1 seek="$1" conv=notrunc status=none
}
"$THINFS" send "$D" web --from web_tuesday >"$TF_TMP/next.s"
flip 20 "$TF_TMP/next.s" "$TF_TMP/bad-header.s"
refused "a flipped bit in the header is refused" "$TF_TMP/bad-header.s"
cp "$M/deltas/web_monday/@full" "$M/receive/vm5"
flip 700 "$TF_TMP/inc.s" "$TF_TMP/bad-data.s"
if cp "$TF_TMP/bad-data.s" "$M/receive/vm5" 2>/dev/null || [ "$(sha "$R/vm5")" != "$(sum_of web_monday)" ]; then
	fail "a flipped bit in a data record is refused"
else
	pass "a flipped bit in a data record is refused"
fi
tsize=$(stat -c %s "$TF_TMP/next.s")
flip $((tsize - 30)) "$TF_TMP/next.s" "$TF_TMP/bad-trailer.s"
refused "a flipped bit in the trailer is refused" "$TF_TMP/bad-trailer.s"
refused "a stream aimed at another base is refused" "$TF_TMP/inc.s"
"$THINFS" send "$D" web_tuesday --from web_monday >"$TF_TMP/replay.s"
refused "replaying the stream already applied is refused" "$TF_TMP/replay.s"
# Truncation at every record boundary and in the middle of every record,
# on the incremental stream applied to vm5 (which is at web_monday).
isize=$(stat -c %s "$TF_TMP/inc.s")
bounds=""
pos=512
while [ "$pos" -lt $((isize - 64)) ]; do
	type=$(od -An -tu4 -j "$pos" -N4 "$TF_TMP/inc.s" | tr -d ' ')
	len=$(od -An -tu8 -j $((pos + 16)) -N8 "$TF_TMP/inc.s" | tr -d ' ')
	bounds="$bounds $pos $((pos + 16))"
	[ "$type" = 1 ] && { bounds="$bounds $((pos + 32 + len / 2))"; pos=$((pos + 32 + len)); } || pos=$((pos + 32))
done
bounds="1 100 511 512$bounds $((isize - 64)) $((isize - 1))"
ok=1
# Nothing written is nothing received (a shell's dup2 closes an untouched
# entry before the stream comes): the close succeeds, the target stays.
: >"$TF_TMP/empty.s"
cp "$TF_TMP/empty.s" "$M/receive/vm5" && [ "$(sha "$R/vm5")" = "$(sum_of web_monday)" ] || ok=0
for n in $bounds; do
	head -c "$n" "$TF_TMP/inc.s" >"$TF_TMP/cut.s"
	if cp "$TF_TMP/cut.s" "$M/receive/vm5" 2>/dev/null || [ "$(sha "$R/vm5")" != "$(sum_of web_monday)" ]; then
		ok=0
		echo "  truncation at $n was not refused cleanly"
	fi
done
check "truncation at every record boundary and mid-record is refused, target unchanged ($(echo $bounds | wc -w) cuts)" [ "$ok" = 1 ]
check "the error names the cause (thinfs receive)" bash -c "head -c 700 '$TF_TMP/next.s' | '$THINFS' receive '$R' vm 2>&1 >/dev/null | grep -q 'before its trailer'"
check "the right stream still applies after all that" cp "$TF_TMP/next.s" "$M/receive/vm"
check "and gives web" [ "$(sha "$R/vm")" = "$(sum_of web)" ]

# A writer killed mid-stream, then resumed from the checkpoint.
"$THINFS" send "$D" web_tuesday >"$TF_TMP/full-tue.s"
head -c 3000000 "$TF_TMP/full-tue.s" | "$THINFS" receive "$R" vm6 2>/dev/null
check "an interrupted receive leaves no target" test ! -e "$R/vm6"
off=$("$THINFS" receive "$R" vm6 --resume-offset)
check "it can say where to resume" bash -c "[ '$off' -gt 512 ] && [ '$off' -le 3000000 ]"
"$THINFS" send "$D" web_tuesday --offset "$off" | "$THINFS" receive "$R" vm6 --resume
check "resuming completes it byte for byte" [ "$(sha "$R/vm6" 2>/dev/null)" = "$(sum_of web_tuesday)" ]

tf_umount "$M"
tf_mount "$D" "$M"
cp "$TF_TMP/full.s" "$M/receive/x" 2>"$TF_TMP/err"
check "receive/ of an image mount without receive_dir refuses writes" grep -q "Read-only file system" "$TF_TMP/err"
tf_umount "$M"
finish
