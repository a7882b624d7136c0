#!/usr/bin/env bash
# receive/ takes a stream from any ordinary writer — a shell redirection,
# dd, tee, cp, rsync — and behaves like a directory: a name whose receive
# failed can be created again at once, finished receives never use up the
# table, mv asks and gets an answer; the mount checks its paths before it
# detaches (a relative receive_dir, a missing one, a file as mountpoint).
. "$THINFS_SRCDIR/tests/lib.sh"

D="$TF_TMP/demo"
M="$TF_TMP/mnt"
R="$TF_TMP/recv"
mkdir -p "$R"
unpack_demo "$D"
"$THINFS" send "$D" web_monday >"$TF_TMP/full.s"
"$THINFS" send "$D" scratch >"$TF_TMP/small.s"
"$THINFS" send "$D" web_tuesday --from web_monday >"$TF_TMP/inc.s"
head -c 5000 "$TF_TMP/full.s" >"$TF_TMP/trunc.s"

# Paths are checked, and made absolute, before the server detaches.
mkdir -p "$TF_TMP/work/rel" "$M"
(cd "$TF_TMP/work" && "$THINFS" mount "$D" ../mnt -o receive_dir=rel)
TF_MOUNTS+=("$M")
cp "$TF_TMP/small.s" "$M/receive/s1"
check "a relative receive_dir is resolved where thinfs mount ran" \
	[ "$(sha "$TF_TMP/work/rel/s1")" = "$(sum_of scratch)" ]
tf_umount "$M"
expect_fail "a missing receive_dir is refused at mount time" 1 "receive_dir=$TF_TMP/nope: No such file" \
	"$THINFS" mount "$D" "$M" -o receive_dir="$TF_TMP/nope"
expect_fail "a file as receive_dir is refused" 1 "not a directory" \
	"$THINFS" mount "$D" "$M" -o receive_dir="$TF_TMP/full.s"
: >"$TF_TMP/afile"
expect_fail "a regular file as mountpoint is refused" 1 "the mountpoint is not a directory" \
	"$THINFS" mount "$D" "$TF_TMP/afile"
check "and nothing got mounted on it" bash -c "! mountpoint -q '$TF_TMP/afile'"

tf_mount "$D" "$M" -o receive_dir="$R" || { fail "mounts with receive_dir"; finish; exit 1; }
# Every ordinary writer.
cat "$TF_TMP/full.s" >"$M/receive/w1"
check "cat > receive/x (the shell's dup2 and close first) applies the stream" \
	[ "$(sha "$R/w1")" = "$(sum_of web_monday)" ]
dd if="$TF_TMP/full.s" of="$M/receive/w2" bs=1M status=none
check "dd of=receive/x applies it" [ "$(sha "$R/w2")" = "$(sum_of web_monday)" ]
dd if="$TF_TMP/full.s" of="$M/receive/w3" bs=4096 status=none
check "dd with 4 KiB blocks applies it" [ "$(sha "$R/w3")" = "$(sum_of web_monday)" ]
tee "$M/receive/w4" <"$TF_TMP/full.s" >/dev/null
check "tee receive/x applies it" [ "$(sha "$R/w4")" = "$(sum_of web_monday)" ]
cat "$TF_TMP/inc.s" >>"$M/receive/w4"
check ">> (append) of an incremental onto an applied entry applies it" \
	[ "$(sha "$R/w4")" = "$(sum_of web_tuesday)" ]
cp "$TF_TMP/full.s" "$M/receive/w5"
check "cp applies it" [ "$(sha "$R/w5")" = "$(sum_of web_monday)" ]
rsync "$TF_TMP/full.s" "$M/receive/w6"
check "rsync (temporary name, then rename) applies it" [ "$(sha "$R/w6")" = "$(sum_of web_monday)" ]
rsync --inplace "$TF_TMP/inc.s" "$M/receive/w6"
check "rsync --inplace of the next incremental applies it" [ "$(sha "$R/w6")" = "$(sum_of web_tuesday)" ]
exec 5>"$M/receive/w7"
cat "$TF_TMP/full.s" >&5
exec 5>&-
check "exec 5>receive/x; cat >&5; exec 5>&- applies it" [ "$(sha "$R/w7")" = "$(sum_of web_monday)" ]
check "a truncated stream still fails the writer" bash -c "! cat '$TF_TMP/trunc.s' >'$M/receive/w8'"
check "and leaves no target" test ! -e "$R/w8"

# A failed receive's name is free again at once (no ENOENT from the kernel's
# memory of it), twenty times over, with a listing in between.
ok=1
for i in $(seq 20); do
	cp "$TF_TMP/trunc.s" "$M/receive/again" 2>/dev/null && ok=0
	ls "$M/receive" >/dev/null
	stat "$M/receive/again" >/dev/null 2>&1
	cp "$TF_TMP/small.s" "$M/receive/again" 2>"$TF_TMP/err" || { ok=0; cat "$TF_TMP/err"; break; }
	rm -f "$R/again"
done
check "open(O_CREAT) right after a failed receive of the name creates it (20 times)" [ "$ok" = 1 ]

# Finished receives do not hold the table: 80 in a row, well within a minute.
ok=1
for i in $(seq 80); do
	cp "$TF_TMP/small.s" "$M/receive/n$i" 2>"$TF_TMP/err" || { ok=0; echo "  receive $i: $(cat "$TF_TMP/err")"; break; }
done
check "80 receives in a row all succeed (the table has 64 slots)" [ "$ok" = 1 ]
check "and all 80 targets are right" bash -c "for i in \$(seq 80); do [ \"\$(sha256sum <'$R'/n\$i | cut -c1-64)\" = '$(sum_of scratch)' ] || exit 1; done"

# mv gets an answer: rsync-style rename onto the target's own name.
cp "$TF_TMP/small.s" "$M/receive/.mv1.Xy12zZ"
check "mv of an applied temporary name onto its target name succeeds" \
	mv "$M/receive/.mv1.Xy12zZ" "$M/receive/mv1"
check "and the stream was applied to mv1" [ "$(sha "$R/mv1")" = "$(sum_of scratch)" ]
cp "$TF_TMP/small.s" "$M/receive/mv2"
check "mv to another target's name is refused" bash -c "! mv -T '$M/receive/mv2' '$M/receive/mv3' 2>/dev/null"
check "nothing but targets in receive_dir" bash -c "[ -z \"\$(ls -A '$R' | grep '^\\.')\" ]"
tf_umount "$M"
finish
