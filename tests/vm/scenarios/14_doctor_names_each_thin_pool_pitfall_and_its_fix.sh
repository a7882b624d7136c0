#!/usr/bin/env bash
# thinfs doctor against real dm-thin: a healthy pool is OK (exit 0); a
# thin_check_executable that does not exist is CRITICAL (exit 2) and names
# the package; a pool filled to ~90% is a WARNING (exit 1) naming the usage;
# a VG without a spare metadata LV gets a warning whose fix, when run, makes
# it OK; a metadata snapshot held by another program is reported; an
# inactive pool is UNKNOWN (exit 3).  Every --json output is parsed.
. "$(dirname "$0")/lib.sh"

# doctor OUT ARGS...: runs doctor, text to OUT.txt, JSON to OUT.json; echoes
# both exit codes as "TEXT JSON".  doctor_json runs the JSON one only (each
# run costs several LVM commands, slow under TCG) and echoes its code twice.
doctor_json() {
	local out=$1 b
	shift
	"$THINFS" doctor --json "$@" >"/tmp/$out.json" 2>"/tmp/$out.err"
	b=$?
	{ echo "doctor --json $* -> $b"; jq -r '.checks[] | "  | \(.status) \(.scope) \(.check): \(.finding)"' "/tmp/$out.json"; } >>/tmp/doctor.log
	echo "$b $b"
}
doctor() {
	local out=$1 a b
	shift
	"$THINFS" doctor "$@" >"/tmp/$out.txt" 2>"/tmp/$out.err"
	a=$?
	"$THINFS" doctor --json "$@" >"/tmp/$out.json" 2>>"/tmp/$out.err"
	b=$?
	{ echo "doctor $* -> $a $b"; sed 's/^/  | /' "/tmp/$out.txt" "/tmp/$out.err"; } >>/tmp/doctor.log
	echo "$a $b"
}
# status OUT SCOPE CHECK: the status of one check in OUT.json
status() { jq -r --arg s "$2" --arg c "$3" '.checks[] | select(.scope == $s and .check == $c) | .status' "/tmp/$1.json"; }
fix() { jq -r --arg s "$2" --arg c "$3" '.checks[] | select(.scope == $s and .check == $c) | .fix' "/tmp/$1.json"; }
# matches TEXT REGEX
matches() { grep -Eq -- "$2" <<<"$1"; }

# Autoextend on, so a healthy setup has nothing to warn about.
sed -i 's/^activation {/activation { thin_pool_autoextend_threshold = 80 thin_pool_autoextend_percent = 20/' "$LVM_SYSTEM_DIR/lvm.conf"

make_pool vgd 64k || { fail "pool created"; finish; exit 1; }
lvcreate -qy -V 256M -T vgd/pool -n vm1 >/dev/null
dd if=/dev/urandom of=/dev/vgd/vm1 bs=1M count=8 oflag=direct status=none
"$THINFS" index vgd/pool >/dev/null

# --- healthy
rc=$(doctor healthy vgd/pool)
check "a healthy pool: doctor exits 0 (text and --json)" [ "$rc" = "0 0" ]
check "its --json parses and says ok" bash -c "jq -e '.status == \"ok\" and .exit_code == 0' /tmp/healthy.json >/dev/null"
check "every check of the pool and the host is ok" bash -c "jq -e '[.checks[] | select(.status != \"ok\")] | length == 0' /tmp/healthy.json >/dev/null"
for c in device-mapper dm-thin-pool thin_check_executable thin_repair_executable thin_dump_executable autoextend fuse; do
	check "the host check $c is reported" [ "$(status healthy host $c)" = ok ]
done
for c in pool-mode data-usage metadata-usage metadata-snapshot spare-metadata discards index; do
	check "the pool check $c is reported" [ "$(status healthy vgd/pool $c)" = ok ]
done
check "the index is found current" grep -q "index .* is readable and current" /tmp/healthy.txt
check "the queue/error mode when full is named" grep -q "when full, writes queue" /tmp/healthy.txt
check "the data device's discard support is named" grep -q "discards=passdown.*the data device supports discard" /tmp/healthy.txt
check "the text output starts with the overall state" bash -c "head -1 /tmp/healthy.txt | grep -q '^thinfs doctor: OK '"

# --- a thin_check_executable that does not exist
cp "$LVM_SYSTEM_DIR/lvm.conf" /tmp/lvm.conf.good
sed -i 's|^global {|global { thin_check_executable = "/opt/nowhere/thin_check"|' "$LVM_SYSTEM_DIR/lvm.conf"
check "lvmconfig now reports the missing path" bash -c "lvmconfig global/thin_check_executable | grep -q nowhere"
rc=$(doctor nocheck vgd/pool)
check "a thin_check_executable that does not exist: doctor exits 2" [ "$rc" = "2 2" ]
check "it is the critical check" [ "$(status nocheck host thin_check_executable)" = critical ]
check "the finding names the configured path" grep -q '"/opt/nowhere/thin_check": No such file' /tmp/nocheck.txt
f=$(fix nocheck host thin_check_executable)
check "the fix names the package to install" matches "$f" 'apt install thin-provisioning-tools'
check "and the lvm.conf line that points at the installed one" matches "$f" 'global \{ thin_check_executable = "/usr/sbin/thin_check" \}'
cp /tmp/lvm.conf.good "$LVM_SYSTEM_DIR/lvm.conf"

# --- another holder of the metadata snapshot
dmsetup message vgd-pool-tpool 0 reserve_metadata_snap
held=$(held_field vgd)
rc=$(doctor held vgd/pool)
check "a held metadata snapshot: doctor exits 1" [ "$rc" = "1 1" ]
check "it is reported with its root block" grep -q "WARNING  vgd/pool metadata-snapshot: a metadata snapshot is held (root block $held, still after 2 s)" /tmp/held.txt
check "the fix names the release message for this pool" [ "$(fix held vgd/pool metadata-snapshot)" = "when no program uses it any more: dmsetup message vgd-pool-tpool 0 release_metadata_snap" ]
check "doctor left the other holder's snapshot held" [ "$(held_field vgd)" = "$held" ]
dmsetup message vgd-pool-tpool 0 release_metadata_snap

# --- no spare metadata LV, and a pool filled to ~90%
pvcreate -qy /dev/vdb >/dev/null && vgcreate -q vgf /dev/vdb >/dev/null
lvcreate -qy -L 128M --chunksize 64k --poolmetadataspare n -T vgf/pool >/dev/null 2>&1
lvcreate -qy -V 256M -T vgf/pool -n big >/dev/null 2>&1
# Zeros allocate chunks like any data (and are quick to write under TCG).
dd if=/dev/zero of=/dev/vgf/big bs=1M count=115 oflag=direct status=none
rc=$(doctor full vgf/pool)
check "a pool filled to ~90%: doctor exits 1" [ "$rc" = "1 1" ]
check "the data usage is a warning" [ "$(status full vgf/pool data-usage)" = warning ]
check "its percentage is in the JSON" bash -c "jq -e '.checks[] | select(.check == \"data-usage\") | .percent > 85 and .percent < 95' /tmp/full.json >/dev/null"
check "the text names the usage" grep -Eq "WARNING  vgf/pool data-usage: data 8[5-9]\.[0-9]% used \(11[0-9]\.[0-9]+ MiB of 128\.00 MiB" /tmp/full.txt
check "the fix is an lvextend of the pool" matches "$(fix full vgf/pool data-usage)" '^lvextend -L \+[0-9]+M vgf/pool '

check "no spare metadata LV is a warning" [ "$(status full vgf/pool spare-metadata)" = warning ]
check "that says the VG has none" grep -q "volume group vgf has no spare metadata LV" /tmp/full.txt
sparefix=$(fix full vgf/pool spare-metadata)
check "and says how to create one" matches "$sparefix" '^lvextend --poolmetadatasize \+4M vgf/pool '

lvextend -q --poolmetadatasize +4M vgf/pool >/dev/null 2>&1
rc=$(doctor_json fixed vgf/pool)
check "after that fix the spare check is ok" [ "$(status fixed vgf/pool spare-metadata)" = ok ]
check "and the usage alone keeps the exit at 1" [ "$rc" = "1 1" ]
check "--warn 95 makes the same pool ok (exit 0)" bash -c "'$THINFS' doctor --warn 95 vgf/pool >/dev/null; [ \$? = 0 ]"
check "--crit 85 makes it critical (exit 2)" bash -c "'$THINFS' doctor --crit 85 vgf/pool >/dev/null; [ \$? = 2 ]"

# --- all pools without arguments
rc=$(doctor_json all)
check "without arguments both pools are checked" bash -c "jq -e '[.checks[].scope] | index(\"vgd/pool\") and index(\"vgf/pool\")' /tmp/all.json >/dev/null"
check "and the worst finding (a warning) sets the exit" [ "$rc" = "1 1" ]

# --- an inactive pool, then discards ignored
lvremove -qy vgf >/dev/null 2>&1
vgchange -qan vgd >/dev/null 2>&1
rc=$(doctor_json inactive vgd/pool)
check "an inactive pool: doctor exits 3 (unknown)" [ "$rc" = "3 3" ]
check "the fix activates it" [ "$(fix inactive vgd/pool pool-mode)" = "lvchange -ay vgd/pool" ]
lvchange -q --discards ignore vgd/pool >/dev/null 2>&1
vgchange -qay vgd >/dev/null 2>&1
rc=$(doctor_json ignore vgd/pool)
check "discards=ignore is a warning" [ "$(status ignore vgd/pool discards)" = warning ]
check "whose fix switches to passdown" matches "$(fix ignore vgd/pool discards)" 'lvchange --discards passdown vgd/pool'
check "and it is the only finding (exit 1)" [ "$rc" = "1 1" ]
check "a pool not known to LVM is critical" bash -c "'$THINFS' doctor vgd/nope >/tmp/nope.txt; [ \$? = 2 ] && grep -q 'LVM reports no thin pool vgd/nope' /tmp/nope.txt"
[ "$FAILED" = 0 ] || cat /tmp/doctor.log /tmp/nope.txt
finish
