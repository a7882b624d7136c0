#!/usr/bin/env bash
# run.sh [SCENARIO...] — the real-kernel tests: boots the Debian kernel
# under qemu (TCG) once per scenario with the host's root as a read-only
# 9p root under a tmpfs overlay, so lvm2, thin-provisioning-tools and the
# thinfs just built run unchanged against real dm-thin.  Prints each
# scenario's PASS/FAIL lines and ends with "N passed, N failed".  A VM that
# cannot start or finish is a failure, never a pass.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
THINFS=${THINFS:-$REPO/build/tools/thinfs}
CACHE=${THINFS_VM_CACHE:-$REPO/build/vm-cache}
TIMEOUT=${THINFS_VM_TIMEOUT:-1500}
passed=0
failed=0

die() { echo "FAIL: VM harness: $*"; echo "$passed passed, $((failed + 1)) failed"; exit 1; }
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is not installed"
[ -x "$THINFS" ] || die "no thinfs binary at $THINFS (build first)"
"$HERE/prepare.sh" "$CACHE" || die "cannot prepare the kernel and initramfs in $CACHE"

# run_one SCENARIO: boots one VM for SCENARIO; prints its lines and leaves
# "PASSED FAILED" as its last line.
run_one() {
	local s=$1 name R start end qrc line p f
	name=$(basename "$s" .sh)
	echo "=== VM scenario: $name"
	R=$(mktemp -d /tmp/thinfs-vm.XXXXXX)
	truncate -s 4G "$R/disk.raw"
	truncate -s 4G "$R/disk2.raw" # /dev/vdb: a second disk for a second VG (replication targets)
	mkdir -p "$R/out"
	start=$(date +%s)
	timeout "$TIMEOUT" qemu-system-x86_64 -accel tcg -m 3072 -smp 2 -nographic -no-reboot \
		-kernel "$CACHE/vmlinuz" -initrd "$CACHE/initrd.gz" \
		-append "console=ttyS0 quiet panic=-1 thinfs.scenario=$s thinfs.repo=$REPO thinfs.thinfs=$THINFS" \
		-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on \
		-virtfs local,path="$R/out",mount_tag=results,security_model=none \
		-drive file="$R/disk.raw",format=raw,if=virtio,cache=unsafe \
		-drive file="$R/disk2.raw",format=raw,if=virtio,cache=unsafe \
		</dev/null >"$R/console" 2>&1
	qrc=$?
	end=$(date +%s)
	# The scenario's own summary is reported once, in the "---" line below,
	# so that the suite's total counts each check once.
	if [ -f "$R/out/log" ]; then
		grep -vE '^[0-9]+ passed, [0-9]+ failed$' "$R/out/log"
	fi
	if [ ! -f "$R/out/rc" ]; then
		echo "FAIL: $name: the VM did not finish the scenario (qemu exit $qrc after $((end - start)) s); console:"
		tail -30 "$R/console"
		p=0
		f=1
	else
		line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$R/out/log" | tail -1)
		p=$(echo "$line" | awk '{ print $1 + 0 }')
		f=$(echo "$line" | awk '{ print $3 + 0 }')
		if [ -z "$line" ]; then
			p=0
			f=1
			echo "FAIL: $name: the scenario printed no summary"
		elif [ "$(cat "$R/out/rc")" != 0 ] && [ "$f" -eq 0 ]; then
			f=1
		fi
		echo "--- $name: $p passed, $f failed in $((end - start)) s"
	fi
	rm -rf "$R"
	echo "$p $f"
}

scenarios=("$@")
# Largest scripts first (the replication scenarios are the long ones), so
# that VMs run side by side finish at about the same time.
[ ${#scenarios[@]} -gt 0 ] || mapfile -t scenarios < <(ls -S "$HERE"/scenarios/[0-9]*.sh)
# THINFS_VM_JOBS VMs at a time.  A VM under TCG keeps about two host cores
# busy (its vCPUs, and the 9p server that serves it the host's binaries):
# on a 2-core machine two at a time took twice as long each, so the
# default is one; machines with more cores gain from more.
JOBS=${THINFS_VM_JOBS:-1}
OUT=$(mktemp -d /tmp/thinfs-vm-reports.XXXXXX)
report() { # prints a finished scenario's lines, once, as a block
	local r=$1
	[ -f "$r.done" ] || return 1
	sed '$d' "$r"
	set -- $(tail -1 "$r")
	passed=$((passed + ${1:-0}))
	failed=$((failed + ${2:-1}))
	rm -f "$r" "$r.done"
}
n=0
for s in "${scenarios[@]}"; do
	s=$(cd "$(dirname "$s")" && pwd)/$(basename "$s")
	n=$((n + 1))
	(run_one "$s" >"$OUT/$n" 2>&1; touch "$OUT/$n.done") &
	while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do
		wait -n
		for r in "$OUT"/*.done; do [ -e "$r" ] && report "${r%.done}"; done
	done
done
wait
for r in "$OUT"/*.done; do [ -e "$r" ] && report "${r%.done}"; done
rm -rf "$OUT"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
