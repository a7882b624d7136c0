#!/usr/bin/env bash
# Hostile names written into receive/ or given to `thinfs receive`: every
# one is refused with EINVAL and a message, or applies to exactly the
# target it names inside receive_dir; nothing is ever written outside it,
# and names that look like thinfs's own files cannot address them.
. "$THINFS_SRCDIR/tests/lib.sh"

D="$TF_TMP/demo"
M="$TF_TMP/mnt"
R="$TF_TMP/recv"
mkdir -p "$R"
unpack_demo "$D"
"$THINFS" send "$D" scratch >"$TF_TMP/s"
tf_mount "$D" "$M" -o receive_dir="$R" || { fail "mounts"; finish; exit 1; }
: >"$TF_TMP/err"
: >"$TF_TMP/out"
outside() { find "$TF_TMP" "$D" -path "$R" -prune -o -path "$M" -prune -o -path "$THINFS_INDEX_DIR" -prune -o -print | sort | sha256sum; }
before=$(outside)

long=$(printf 'a%.0s' $(seq 127))
names=("-rf" "-" "." ".." "..." ".hidden" ". x" "a b" "a	b" $'a\nb' "a\\b" 'a"b' "a'b" 'a$b'
	'a*b' 'a?b' 'a[b' "a:b" "a;b" "a|b" "a&b" "a>b" "a<b" "é" "日本" $'\x01' $'a\x7f' "$long" "${long}b"
	".x.thinfs-lock" ".x.thinfs-partial" ".x.thinfs-resume" ".x.thinfs-state" ".x.." "..x" ".-x.abc"
	"x.thinfs-partial" "con" "nul" "lost+found" "a+b" "A_b-c.d")
refused=0 applied=0 wrong=0
for n in "${names[@]}"; do
	if cp "$TF_TMP/s" "$M/receive/$n" 2>/dev/null; then
		applied=$((applied + 1))
	else
		refused=$((refused + 1))
	fi
	if "$THINFS" receive "$R" "$n" <"$TF_TMP/s" 2>"$TF_TMP/err"; then
		applied=$((applied + 1))
	else
		grep -q "not a valid target name\|exists\|already\|busy\|unknown option" "$TF_TMP/err" || { wrong=$((wrong + 1)); echo "  $(printf %q "$n"): $(cat "$TF_TMP/err")"; }
		refused=$((refused + 1))
	fi
done
echo "  ${#names[@]} names, twice each: $applied applied, $refused refused"
check "every refusal through thinfs receive names the reason" [ "$wrong" = 0 ]
after=$(outside)
check "nothing outside receive_dir was created or removed" [ "$before" = "$after" ]
check "inside it only plain names of targets exist (letters, digits, + _ . -)" \
	bash -c "! ls -A '$R' | grep -v -E '^[A-Za-z0-9+_][A-Za-z0-9+_.-]*$'"
check "the names that are valid were applied (a+b, A_b-c.d, lost+found, x.thinfs-partial)" \
	bash -c "cd '$R' && [ -f a+b ] && [ -f A_b-c.d ] && [ -f lost+found ] && [ -f x.thinfs-partial ]"
check "a valid name of 127 bytes was applied" test -f "$R/$long"
check "one of 128 bytes was not" test ! -e "$R/${long}b"
tf_umount "$M"
finish
