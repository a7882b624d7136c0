#!/usr/bin/env bash
# `meson install` into a DESTDIR puts everything an operator needs in place:
# the thinfs binary (which runs), thinfs(8) and mount.thinfs(8) (which man
# renders without warnings and which describe every subcommand and every
# option of every --help), the systemd unit (which systemd-analyze accepts),
# bash completion, and mount.thinfs, which mounts as mount(8) calls it.
. "$THINFS_SRCDIR/tests/lib.sh"

D="$TF_TMP/destdir"
if ! meson install -C "$THINFS_BUILDDIR" --destdir "$D" --no-rebuild >"$TF_TMP/install.log" 2>&1; then
	fail "meson install --destdir succeeds" "$(tail -5 "$TF_TMP/install.log")"
	finish
	exit 1
fi
pass "meson install --destdir succeeds"

BIN=$(find "$D" -path '*/bin/thinfs' -type f | head -1)
HELPER=$(find "$D" -name mount.thinfs -type f | head -1)
UNIT=$(find "$D" -name 'thinfs-mount@.service' -type f | head -1)
COMPL=$(find "$D" -path '*/bash-completion/completions/thinfs' -type f | head -1)
MAN8=$(find "$D" -path '*/man8/thinfs.8' -type f | head -1)
check "the binary is installed in bin/" test -x "$BIN"
check "mount.thinfs is installed and executable" test -x "$HELPER"
check "mount.thinfs is where mount(8) looks (/sbin)" test "$HELPER" = "$D/sbin/mount.thinfs"
check "the thinfs-mount@ unit is installed under lib/systemd/system" bash -c "[[ '$UNIT' == */lib/systemd/system/thinfs-mount@.service ]]"
check "bash completion is installed" test -f "$COMPL"
check "thinfs(8) is installed in man8" test -f "$MAN8"
check "mount.thinfs(8) is installed in man8" test -f "$(dirname "$MAN8")/mount.thinfs.8"
check "no test program is installed" bash -c "! find '$D' -name 'test_*' | grep -q ."

# The installed binary runs.
check "the installed binary prints its version" bash -c "'$BIN' --version | grep -Eq '^thinfs [0-9]+\.[0-9]+'"
unpack_demo "$TF_TMP/demo"
check "the installed binary lists the demo pool" bash -c "'$BIN' ls '$TF_TMP/demo' | grep -q '^web_tuesday '"

# Man pages render, without groff warnings.
for page in "$MAN8" "$(dirname "$MAN8")/mount.thinfs.8"; do
	name=$(basename "$page")
	if MANWIDTH=200 MANPAGER=cat man --warnings -l "$page" >"$TF_TMP/$name.txt" 2>"$TF_TMP/$name.err"; then
		pass "man -l $name renders"
	else
		fail "man -l $name renders" "$(head -3 "$TF_TMP/$name.err")"
	fi
	check "man -l $name gives no warnings" bash -c "[ ! -s '$TF_TMP/$name.err' ]"
done
MANTXT="$TF_TMP/thinfs.8.txt"

# section CMD: the rendered body of the man page's section on thinfs CMD
# (from its heading to the next subsection heading).
section() {
	awk -v c="$1" '
	/^   [^ ]/ { on = ($1 == "thinfs" && $2 == c); next }
	on' "$MANTXT"
}

commands=$("$BIN" --help | awk '/^  [a-z]+ / { print $1 }')
check "thinfs --help lists the subcommands" bash -c "[ $(echo "$commands" | wc -l) -ge 8 ]"
for cmd in $commands; do
	if [ -z "$(section "$cmd")" ]; then
		fail "thinfs(8) has a section on thinfs $cmd"
		continue
	fi
	pass "thinfs(8) has a section on thinfs $cmd"
	section "$cmd" >"$TF_TMP/section"
	missing=
	# The options: those of the Usage line and of the option list (lines
	# that start with an option), not ones quoted in examples.
	for opt in $("$BIN" "$cmd" --help | grep -E '^(Usage:|  +-)' |
		grep -oE '(^|[][ (|,])--?[A-Za-z][A-Za-z-]*' | sed 's/^[][ (|,]//' | sort -u); do
		# described: the option starts a line (a tagged paragraph), not just in the heading
		grep -qE -- "^ +$opt( |,|$)" "$TF_TMP/section" || missing="$missing $opt"
	done
	# thinfs mount -o OPTIONS: the names listed under "Options (-o".
	if [ "$cmd" = mount ]; then
		for o in $("$BIN" mount --help | sed -n '/^Options (-o/,$p' | grep -oE '^  [a-z_]+' | tr -d ' '); do
			grep -qE -- "^ +([^ ]*,)?$o([=, ]|$)" "$TF_TMP/section" || missing="$missing -o:$o"
		done
	fi
	if [ -z "$missing" ]; then
		pass "every option of thinfs $cmd --help is described in its section of thinfs(8)"
	else
		fail "every option of thinfs $cmd --help is described in its section of thinfs(8)" "missing:$missing"
	fi
done
check "thinfs(8) has a section on thinfs --help and --version" grep -q "^   thinfs --help, thinfs --version" "$MANTXT"
check "thinfs(8) documents doctor's exit codes" grep -q "0 ok, 1 warning, 2 critical, 3 unknown" "$MANTXT"

# mount.thinfs as mount(8) calls it: SPEC DIR [-sfnv] -o OPTS.
export PATH="$(dirname "$BIN"):$PATH" # the helper finds the DESTDIR binary through PATH
"$HELPER" vg/pool /srv/pool -fv -o ro,allow_other,noatime,nofail,_netdev,x-systemd.automount,uid=5,defaults >"$TF_TMP/fake.out" 2>&1
rc=$?
check "mount.thinfs -f (fake) mounts nothing and succeeds" [ "$rc" = 0 ]
check "it keeps thinfs's options and drops mount(8)'s and systemd's" grep -q "mount vg/pool /srv/pool -o allow_other,uid=5$" "$TF_TMP/fake.out"
M="$TF_TMP/mnt"
mkdir -p "$M"
TF_MOUNTS+=("$M")
if "$HELPER" "$TF_TMP/demo" "$M" -o ro,allow_other,nofail,noatime,mode=0444 2>"$TF_TMP/helper.err"; then
	pass "mount.thinfs mounts a pool with fstab-style options"
	check "the mount serves the volumes" bash -c "ls '$M/volumes' | grep -qx web_tuesday"
	check "mode= reached thinfs" bash -c "[ \$(stat -c %a '$M/volumes/web') = 444 ]"
	check "df of the helper's mount shows the pool size" bash -c "[ \$(df -B1 --output=size '$M' | tail -1) = 100663296 ]"
	"$BIN" umount "$M"
else
	fail "mount.thinfs mounts a pool with fstab-style options" "$(cat "$TF_TMP/helper.err")"
fi
"$HELPER" "$TF_TMP/demo" "$M" -o bogus_option 2>"$TF_TMP/bad.err"
rc=$?
check "an unknown option fails as a bad invocation (exit 1), named" bash -c "[ $rc = 1 ] && grep -q bogus_option '$TF_TMP/bad.err'"
"$HELPER" "$TF_TMP/no-such-pool-dir/x" "$M" 2>"$TF_TMP/fail.err"
rc=$?
check "a pool that cannot be mounted fails with mount(8)'s code 32" [ "$rc" = 32 ]
"$HELPER" onlyone 2>/dev/null
check "a missing mountpoint is a bad invocation (exit 1)" [ $? = 1 ]

# The systemd unit: the instance is VG/POOL escaped.
inst=$(systemd-escape vg/pool 2>/dev/null || echo vg-pool)
check "systemd-escape vg/pool is the instance vg-pool" [ "$inst" = vg-pool ]
check "the unit mounts %I (VG/POOL) in the foreground" grep -q "^ExecStart=.*/thinfs mount -f .* %I /run/thinfs/%I$" "$UNIT"
check "the unit's ExecStart names the installed binary's path" bash -c "grep -q '^ExecStart=${BIN#"$D"} ' '$UNIT'"
if command -v systemd-analyze >/dev/null; then
	U="$TF_TMP/units"
	mkdir -p "$U"
	# Paths pointed into the DESTDIR, so verify finds the executables.
	sed "s|${BIN#"$D"}|$BIN|g" "$UNIT" >"$U/thinfs-mount@$inst.service"
	if systemd-analyze verify --man=no "$U/thinfs-mount@$inst.service" >"$TF_TMP/verify" 2>&1; then
		pass "systemd-analyze verify accepts thinfs-mount@$inst.service"
	else
		fail "systemd-analyze verify accepts thinfs-mount@$inst.service" "$(head -5 "$TF_TMP/verify")"
	fi
else
	echo "SKIP: systemd-analyze verify (systemd-analyze is not installed)"
fi

# Bash completion: plain bash, no bash-completion package needed.
complete_words() { bash -c ". '$COMPL'; COMP_WORDS=($1); COMP_CWORD=$2; _thinfs; echo \"\${COMPREPLY[*]}\""; }
check "completion offers the subcommands" [ "$(complete_words 'thinfs do' 1)" = doctor ]
check "completion offers a subcommand's options" [ "$(complete_words 'thinfs receive x y --res' 4)" = "--resume --resume-offset" ]
check "completion offers mount -o options" [ "$(complete_words 'thinfs mount a b -o all' 5)" = allow_other ]
finish
