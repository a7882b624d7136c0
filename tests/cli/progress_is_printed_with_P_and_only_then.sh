#!/usr/bin/env bash
# -P on index --rebuild, send and receive: a progress line on stderr (done
# of total, rate; ETA while running), redrawn in place on a terminal, one
# line every few seconds otherwise, a final line at the end.  Without -P
# nothing extra is printed, and -P never changes what goes to stdout.
. "$THINFS_SRCDIR/tests/lib.sh"

D="$TF_TMP/demo"
unpack_demo "$D"

"$THINFS" index "$D" --rebuild >"$TF_TMP/ix.out" 2>"$TF_TMP/ix.err"
check "index --rebuild without -P prints nothing on stderr" test ! -s "$TF_TMP/ix.err"
"$THINFS" index "$D" --rebuild -P >"$TF_TMP/ixp.out" 2>"$TF_TMP/ixp.err"
check "index --rebuild -P keeps stdout as it was" bash -c "diff <(sed 's/[0-9.]* s$//' '$TF_TMP/ix.out') <(sed 's/[0-9.]* s$//' '$TF_TMP/ixp.out')"
nodes=$(grep -o '[0-9]* metadata nodes read' "$TF_TMP/ixp.out" | grep -o '^[0-9]*')
check "index --rebuild -P ends with every metadata node it read (${nodes:-?}) done" \
	grep -Eq "^thinfs index: $nodes of $nodes nodes \(100\.0%\), [0-9]+ nodes/s in [0-9.]+ s$" "$TF_TMP/ixp.err"

"$THINFS" send "$D" web >"$TF_TMP/s" 2>"$TF_TMP/s.err"
check "send without -P prints nothing on stderr" test ! -s "$TF_TMP/s.err"
"$THINFS" send "$D" web -P >"$TF_TMP/sp" 2>"$TF_TMP/sp.err"
check "send -P writes the same stream" cmp -s "$TF_TMP/s" "$TF_TMP/sp"
size=$(stat -c %s "$TF_TMP/s")
human=$(awk -v b="$size" 'BEGIN { printf "%.2f MiB", b / 1048576 }')
check "send -P ends with the stream's size ($human) done, and the rate" \
	grep -Eq "^thinfs send: $human of $human \(100\.0%\), [0-9.]+ [KMG]?i?B/s in [0-9.]+ s$" "$TF_TMP/sp.err"

mkdir -p "$TF_TMP/r1" "$TF_TMP/r2"
"$THINFS" receive "$TF_TMP/r1" web <"$TF_TMP/s" >/dev/null 2>"$TF_TMP/r.err"
check "receive without -P prints nothing on stderr" test ! -s "$TF_TMP/r.err"
"$THINFS" receive "$TF_TMP/r2" web -P <"$TF_TMP/s" >/dev/null 2>"$TF_TMP/rp.err"
check "receive -P applies the same stream the same way" cmp -s "$TF_TMP/r1/web" "$TF_TMP/r2/web"
check "receive -P ends with the stream's size from its header ($human) done" \
	grep -Eq "^thinfs receive: $human of $human \(100\.0%\), .* in [0-9.]+ s$" "$TF_TMP/rp.err"

# Not a terminal: separate lines, one every few seconds.  The reader waits
# 6 s before draining the pipe, so the sender is still mid-stream then.
"$THINFS" send "$D" web -P 2>"$TF_TMP/slow.err" | { sleep 6; cat >/dev/null; }
check "to a log, a slow send prints a line while running and a final one" bash -c "[ \$(wc -l <'$TF_TMP/slow.err') -ge 2 ]"
check "the running line has the total, rate and ETA" grep -Eq "^thinfs send: [0-9.]+ [KM]?i?B of $human \([0-9.]+%\), [0-9.]+ [KMG]?i?B/s, ETA [0-9]+:[0-9]{2}:[0-9]{2}$" "$TF_TMP/slow.err"
check "and no carriage return" bash -c "! grep -q $'\r' '$TF_TMP/slow.err'"

# A terminal: the line is redrawn in place.
if command -v script >/dev/null; then
	script -qec "'$THINFS' send '$D' web -P >'$TF_TMP/tty.stream'" /dev/null >"$TF_TMP/tty.out" 2>&1
	check "on a terminal the line is drawn with \\r and cleared to its end" bash -c "grep -q $'\r''thinfs send: ' '$TF_TMP/tty.out' && grep -q $'\e''\[K' '$TF_TMP/tty.out'"
	check "the terminal run sends the same stream" cmp -s "$TF_TMP/s" "$TF_TMP/tty.stream"
else
	echo "SKIP: progress on a terminal (script(1) is not installed)"
fi
finish
