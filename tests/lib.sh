# lib.sh — shared by the script tests: results, temp dirs, fixtures, mounts.
# Each test script sources this, calls pass/fail/check, and ends with
# `finish`, which prints "N passed, N failed" and sets the exit code.
set -u

: "${THINFS:?THINFS must point at the thinfs binary}"
: "${THINFS_SRCDIR:?THINFS_SRCDIR must point at the source tree}"
: "${THINFS_BUILDDIR:=$(dirname "$(dirname "$THINFS")")}"
SEEKMAP="${SEEKMAP:-$THINFS_BUILDDIR/tests/seekmap}"
FIXTURES="$THINFS_SRCDIR/tests/fixtures"

TF_PASSED=0
TF_FAILED=0
TF_MOUNTS=()
TF_TMP=$(mktemp -d "${TMPDIR:-/tmp}/thinfs-test.XXXXXX")
export THINFS_INDEX_DIR="$TF_TMP/index"
# Receive checkpoints and replicate's job state, per test: tests run two at
# a time and never share (or leave) state in /var/lib/thinfs.
export THINFS_STATE_DIR="$TF_TMP/state"

tf_cleanup() {
	for m in "${TF_MOUNTS[@]}"; do
		mountpoint -q "$m" 2>/dev/null && { fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" 2>/dev/null; }
	done
	rm -rf "$TF_TMP"
}
trap tf_cleanup EXIT

pass() { TF_PASSED=$((TF_PASSED + 1)); echo "PASS: $1"; }
fail() { TF_FAILED=$((TF_FAILED + 1)); echo "FAIL: $1${2:+ — $2}"; }

# check NAME CMD...: passes iff CMD succeeds.
check() {
	local name=$1
	shift
	if "$@"; then pass "$name"; else fail "$name"; fi
}

# expect_fail NAME EXIT_CODE PATTERN CMD...: passes iff CMD exits with
# EXIT_CODE and its stderr matches PATTERN (an extended regex).
expect_fail() {
	local name=$1 code=$2 pat=$3 rc=0
	shift 3
	"$@" >"$TF_TMP/out" 2>"$TF_TMP/err" || rc=$?
	if [ "$rc" -eq "$code" ] && grep -Eq -- "$pat" "$TF_TMP/err"; then
		pass "$name"
	else
		fail "$name" "exit $rc, stderr: $(head -c 300 "$TF_TMP/err")"
	fi
}

finish() {
	echo "$TF_PASSED passed, $TF_FAILED failed"
	[ "$TF_FAILED" -eq 0 ]
}

# unpack_demo DIR: the kernel-written demo pool as a pool-image directory.
unpack_demo() {
	mkdir -p "$1"
	zstd -q -d -f "$FIXTURES/kernel-pool-demo/metadata.zst" -o "$1/metadata"
	zstd -q -d -f --sparse "$FIXTURES/kernel-pool-demo/data.zst" -o "$1/data"
	cp "$FIXTURES/kernel-pool-demo/lvm.cfg" "$1/lvm.cfg"
}

# tf_mount SOURCE MNT [ARGS...]: mounts and registers for cleanup.
tf_mount() {
	local src=$1 mnt=$2
	shift 2
	mkdir -p "$mnt"
	TF_MOUNTS+=("$mnt")
	"$THINFS" mount "$src" "$mnt" "$@"
}

tf_umount() {
	"$THINFS" umount "$1"
}

# xml_ranges XML DEV: the byte ranges thin_dump reports for DEV, coalesced
# ("OFFSET LENGTH" lines), given the chunk size in sectors as $3.
xml_ranges() {
	awk -v dev="$2" -v cs="$3" '
	/<device / { match($0, /dev_id="[0-9]+"/); d = substr($0, RSTART + 8, RLENGTH - 9) }
	d == dev && /single_mapping/ { match($0, /origin_block="[0-9]+"/); b = substr($0, RSTART + 14, RLENGTH - 15); print b, 1 }
	d == dev && /range_mapping/ { match($0, /origin_begin="[0-9]+"/); b = substr($0, RSTART + 14, RLENGTH - 15);
		match($0, /length="[0-9]+"/); l = substr($0, RSTART + 8, RLENGTH - 9); print b, l }
	' "$1" | sort -n -k1,1 | awk -v cs="$3" '
	{ if (n && $1 == e) { e += $2 } else { if (n) printf "%.0f %.0f\n", s * cs * 512, (e - s) * cs * 512; s = $1; e = $1 + $2; n = 1 } }
	END { if (n) printf "%.0f %.0f\n", s * cs * 512, (e - s) * cs * 512 }'
}

# xml_assemble XML DEV DATA SIZE OUT: rebuilds the volume image that the
# kernel would serve for DEV from thin_dump output and the data image.
xml_assemble() {
	local xml=$1 dev=$2 data=$3 size=$4 out=$5 cs
	cs=$(sed -n 's/.*data_block_size="\([0-9]*\)".*/\1/p' "$xml" | head -1)
	rm -f "$out"
	truncate -s "$size" "$out"
	awk -v dev="$dev" '
	/<device / { match($0, /dev_id="[0-9]+"/); d = substr($0, RSTART + 8, RLENGTH - 9) }
	d == dev && /single_mapping/ { match($0, /origin_block="[0-9]+"/); v = substr($0, RSTART + 14, RLENGTH - 15);
		match($0, /data_block="[0-9]+"/); p = substr($0, RSTART + 12, RLENGTH - 13); print v, p, 1 }
	d == dev && /range_mapping/ { match($0, /origin_begin="[0-9]+"/); v = substr($0, RSTART + 14, RLENGTH - 15);
		match($0, /data_begin="[0-9]+"/); p = substr($0, RSTART + 12, RLENGTH - 13);
		match($0, /length="[0-9]+"/); l = substr($0, RSTART + 8, RLENGTH - 9); print v, p, l }
	' "$xml" | while read -r v p l; do
		dd if="$data" of="$out" bs=$((cs * 512)) skip="$p" seek="$v" count="$l" conv=notrunc,sparse status=none
	done
}

. "$THINFS_SRCDIR/tests/pool-from-image.sh"

# sum_of LV: the kernel's sha256 of a volume of the demo pool (its oracle).
sum_of() { awk -v lv="$1" '$2 == lv { print $1 }' "$FIXTURES/kernel-pool-demo/sha256.txt"; }
# sha FILE: the sha256 of a file's bytes.
sha() { sha256sum <"$1" | cut -c1-64; }
# wait_for CMD...: polls CMD every 0.1 s for at most 60 s (CI is a loaded
# machine: never sample once); false if it never held.
wait_for() {
	for _ in $(seq 600); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}
