#!/usr/bin/env bash
# thinfs doctor on a machine where it cannot see everything (this one may
# have no device-mapper): it still runs, every check has a status, a finding
# and (unless ok) a fix, the JSON parses and its exit_code is the exit code,
# and the codes are the monitoring plugins' ones: 2 when device-mapper is
# missing, 3 for usage errors.  A missing thin_check (set in an lvm.conf of
# our own) is critical and names the package; without LVM at all doctor
# says to install lvm2 and does not crash.
. "$THINFS_SRCDIR/tests/lib.sh"

doctor() { "$THINFS" doctor "$@" >"$TF_TMP/out" 2>"$TF_TMP/err"; }
jqe() { jq -e "$@" >/dev/null; }

doctor --json
rc=$?
check "doctor --json prints one JSON object" jqe 'type == "object"' "$TF_TMP/out"
check "its exit_code is the exit code ($rc)" jqe --argjson rc "$rc" '.exit_code == $rc' "$TF_TMP/out"
check "every check has scope, check, status, finding and fix" jqe '.checks | length > 0 and all(.[]; (.scope | type) == "string" and (.check | type) == "string" and (.status | IN("ok", "warning", "critical", "unknown")) and (.finding | length) > 0 and (.fix == null or (.fix | length) > 0))' "$TF_TMP/out"
check "every check that is not ok says how to fix it" jqe 'all(.checks[]; .status == "ok" or .fix != null)' "$TF_TMP/out"
check "the counts add up to the checks" jqe '(.counts | add) == (.checks | length)' "$TF_TMP/out"
check "the status is the worst check (critical > warning > unknown > ok)" jqe '
	(if any(.checks[]; .status == "critical") then "critical" elif any(.checks[]; .status == "warning") then "warning"
	 elif any(.checks[]; .status == "unknown") then "unknown" else "ok" end) == .status' "$TF_TMP/out"
check "the exit code follows the status (0 ok, 1 warning, 2 critical, 3 unknown)" jqe '{"ok": 0, "warning": 1, "critical": 2, "unknown": 3}[.status] == .exit_code' "$TF_TMP/out"
check "nothing on stderr" test ! -s "$TF_TMP/err"
for c in device-mapper dm-thin-pool thin_check_executable thin_repair_executable thin_dump_executable autoextend fuse; do
	check "the host check $c is there" jqe --arg c "$c" 'any(.checks[]; .scope == "host" and .check == $c)' "$TF_TMP/out"
done

if ! (exec 3<>/dev/mapper/control) 2>/dev/null; then
	check "without device-mapper, doctor exits 2 or 3" bash -c "[ $rc = 2 ] || [ $rc = 3 ]"
	check "and says device-mapper is not available, critically" jqe 'any(.checks[]; .check == "device-mapper" and .status == "critical" and (.finding | test("not available")) and (.fix | test("modprobe")))' "$TF_TMP/out"
else
	echo "SKIP: this machine has device-mapper; the no-device-mapper expectations do not apply"
fi

doctor
rc=$?
check "the text report's first line is the overall state and counts" bash -c "head -1 '$TF_TMP/out' | grep -Eq '^thinfs doctor: (OK|WARNING|CRITICAL|UNKNOWN) \([0-9]+ critical, [0-9]+ warning, [0-9]+ unknown, [0-9]+ ok\)$'"
check "each check is one line: STATUS SCOPE CHECK: finding" bash -c "sed 1d '$TF_TMP/out' | grep -v '^         fix: ' | grep -Evq '^(OK|WARNING|CRITICAL|UNKNOWN) +[^ ]+ [a-z_-]+: .+' && exit 1 || exit 0"

# A thin_check_executable that does not exist, in an lvm.conf of our own.
mkdir -p "$TF_TMP/lvm"
printf 'global { thin_check_executable = "/opt/nowhere/thin_check" }\n' >"$TF_TMP/lvm/lvm.conf"
LVM_SYSTEM_DIR="$TF_TMP/lvm" "$THINFS" doctor --json >"$TF_TMP/nocheck" 2>&1
rc=$?
check "a thin_check_executable that does not exist: exit 2" [ "$rc" = 2 ]
check "it is critical and names the path" jqe 'any(.checks[]; .check == "thin_check_executable" and .status == "critical" and (.finding | test("/opt/nowhere/thin_check")))' "$TF_TMP/nocheck"
check "its fix names the package to install" jqe 'any(.checks[]; .check == "thin_check_executable" and (.fix | test("apt install thin-provisioning-tools")))' "$TF_TMP/nocheck"
printf 'global { thin_repair_executable = "" }\n' >"$TF_TMP/lvm/lvm.conf"
LVM_SYSTEM_DIR="$TF_TMP/lvm" "$THINFS" doctor --json >"$TF_TMP/norepair" 2>&1
check "an empty thin_repair_executable is a warning with the config line" jqe 'any(.checks[]; .check == "thin_repair_executable" and .status == "warning" and (.fix | test("thin_repair_executable = \"/usr/sbin/thin_repair\"")))' "$TF_TMP/norepair"
printf 'activation { thin_pool_autoextend_threshold = 100 }\n' >"$TF_TMP/lvm/lvm.conf"
LVM_SYSTEM_DIR="$TF_TMP/lvm" "$THINFS" doctor --json >"$TF_TMP/noext" 2>&1
check "autoextend off is a warning whose fix is the lvm.conf line" jqe 'any(.checks[]; .check == "autoextend" and .status == "warning" and (.fix | test("thin_pool_autoextend_threshold = 80")))' "$TF_TMP/noext"
printf 'activation { thin_pool_autoextend_threshold = 70 thin_pool_autoextend_percent = 25 }\n' >"$TF_TMP/lvm/lvm.conf"
LVM_SYSTEM_DIR="$TF_TMP/lvm" "$THINFS" doctor --json >"$TF_TMP/ext" 2>&1
check "autoextend on is ok and says when and by how much" jqe 'any(.checks[]; .check == "autoextend" and .status == "ok" and (.finding | test("by 25% when 70% full")))' "$TF_TMP/ext"

# No LVM at all (nothing in PATH): still a report, and the fix is lvm2.
mkdir -p "$TF_TMP/bin"
PATH="$TF_TMP/bin" "$THINFS" doctor --json >"$TF_TMP/nolvm" 2>"$TF_TMP/nolvm.err"
rc=$?
check "without LVM doctor still reports (exit 2)" bash -c "[ $rc = 2 ] && jq -e . '$TF_TMP/nolvm' >/dev/null"
check "and says to install lvm2" jqe 'any(.checks[]; .check == "lvm" and .status == "critical" and (.fix | test("apt install lvm2")))' "$TF_TMP/nolvm"
check "and that thin pools could not be listed" jqe 'any(.checks[]; .check == "pools" and .status == "unknown" and (.finding | test("cannot list thin pools")))' "$TF_TMP/nolvm"
check "and that fusermount3 is missing from PATH" jqe 'any(.checks[]; .check == "fuse" and .status != "ok")' "$TF_TMP/nolvm"

# Arguments.
doctor nosuchvg/nosuchpool
check "a pool LVM does not report is critical (exit 2) and named" bash -c "[ $? = 2 ] && grep -q 'CRITICAL nosuchvg/nosuchpool pools: LVM reports no thin pool nosuchvg/nosuchpool' '$TF_TMP/out'"
for bad in "--warn 0" "--warn 101" "--crit x" "--warn 90 --crit 80" "notapool" "a/b/c" "--bogus" "--rebuild" "--index /tmp/x"; do
	doctor $bad
	rc=$?
	check "doctor $bad is a usage error: exit 3 (unknown), one line and a --help hint" bash -c "[ $rc = 3 ] && [ ! -s '$TF_TMP/out' ] && grep -q \"Try 'thinfs doctor --help'\" '$TF_TMP/err'"
done
doctor --help
check "doctor --help exits 0 and documents the exit codes" bash -c "[ $? = 0 ] && grep -q '0 all ok, 1 a warning, 2 a critical finding, 3 unknown' '$TF_TMP/out'"
check "--warn/--crit accept a percent sign" bash -c "'$THINFS' doctor --warn 70% --crit 90% --json | jq -e '.warn_percent == 70 and .crit_percent == 90' >/dev/null"
finish
