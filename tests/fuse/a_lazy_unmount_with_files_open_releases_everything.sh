#!/usr/bin/env bash
# A lazy unmount while files are open — a volume, a file inside it, a
# delta stream, a directory, .thinfs/status and a receive mid-stream —
# then SIGTERM to the server: it exits, releasing every open file as a
# release from the kernel would (the receive's lock and staging file go
# away; under ASan, LeakSanitizer finds nothing left).
. "$THINFS_SRCDIR/tests/lib.sh"

D="$TF_TMP/demo"
M="$TF_TMP/mnt"
R="$TF_TMP/recv"
mkdir -p "$R"
unpack_demo "$D"
"$THINFS" send "$D" web_monday >"$TF_TMP/full.s"
tf_mount "$D" "$M" -o receive_dir="$R" || { fail "mounts"; finish; exit 1; }
pid=$(pgrep -f -- "thinfs mount $D $M" | head -1)
check "the server's pid is known" [ -n "$pid" ]
exec 3<"$M/volumes/web" 4<"$M/files/web/etc/version" 5<"$M/deltas/web/@full" \
	6<"$M/files/web/etc" 7<"$M/.thinfs/status" 8>"$M/receive/vm"
head -c 4096 <&3 >/dev/null
head -c 100 <&5 >/dev/null
head -c 300 "$TF_TMP/full.s" >&8 2>/dev/null # its close of its copy: "incomplete so far"
check "the receive holds its target's lock" test -e "$R/.vm.thinfs-lock"
fusermount3 -uz "$M"
check "the lazy unmount detaches the mount" bash -c "! mountpoint -q '$M'"
kill -TERM "$pid"
gone() { ! kill -0 "$pid" 2>/dev/null; }
ok=0
for _ in $(seq 200); do gone && { ok=1; break; }; sleep 0.1; done
check "the server exits on SIGTERM with files still open (within 20 s)" [ "$ok" = 1 ]
exec 3<&- 4<&- 5<&- 6<&- 7<&- 8>&-
check "the receive's lock was released and removed" test ! -e "$R/.vm.thinfs-lock"
check "and no staging file is left (no record had arrived)" bash -c "[ -z \"\$(ls -A '$R')\" ]"
finish
