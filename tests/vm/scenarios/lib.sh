# lib.sh — shared by the VM scenarios: results, and LVM set up to run
# without udev on the blank disk /dev/vda.
set -u
PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "PASS: $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $1${2:+ — $2}"; }
check() {
	local name=$1
	shift
	if "$@"; then pass "$name"; else fail "$name"; fi
}
finish() {
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}

# No udev in the VM: LVM makes its own device nodes.
export LVM_SYSTEM_DIR=/tmp/lvm
mkdir -p "$LVM_SYSTEM_DIR"
cat >"$LVM_SYSTEM_DIR/lvm.conf" <<'CFG'
activation { udev_sync = 0 udev_rules = 0 monitoring = 0 }
devices { obtain_device_list_from_udev = 0 scan = [ "/dev" ] filter = [ "a|^/dev/vd[ab]$|", "r|.*|" ] }
global { use_lvmpolld = 0 }
CFG
export THINFS_INDEX_DIR=/run/thinfs-index # tmpfs: SQLite locking on the 9p-backed overlay is not safe
SEEKMAP="$THINFS_SRCDIR/build/tests/seekmap"
[ -x "$SEEKMAP" ] || SEEKMAP="$(dirname "$THINFS")/../tests/seekmap"

# make_pool VG CHUNK [DISK]: a VG on DISK (default /dev/vda; /dev/vdb is a
# second blank disk, for a second VG) with a thin pool VG/pool.
make_pool() {
	local disk=${3:-/dev/vda}
	pvcreate -qy "$disk" >/dev/null && vgcreate -q "$1" "$disk" >/dev/null &&
		lvcreate -qy -L 1G --chunksize "$2" -T "$1/pool" >/dev/null
}

# held_field VG: the held metadata root field of the pool's status ('-' if none).
held_field() {
	dmsetup status "$1-pool-tpool" | awk '{ print $7 }'
}

# thin_mappings VG THIN_ID CHUNK_BYTES: data ranges per thin_dump -m, coalesced.
thin_mappings() {
	dmsetup message "$1-pool-tpool" 0 reserve_metadata_snap
	thin_dump -m "/dev/mapper/$1-pool_tmeta" >/tmp/dump.xml
	dmsetup message "$1-pool-tpool" 0 release_metadata_snap
	awk -v dev="$2" '
	/<device / { match($0, /dev_id="[0-9]+"/); d = substr($0, RSTART + 8, RLENGTH - 9) }
	d == dev && /single_mapping/ { match($0, /origin_block="[0-9]+"/); print substr($0, RSTART + 14, RLENGTH - 15), 1 }
	d == dev && /range_mapping/ { match($0, /origin_begin="[0-9]+"/); b = substr($0, RSTART + 14, RLENGTH - 15);
		match($0, /length="[0-9]+"/); print b, substr($0, RSTART + 8, RLENGTH - 9) }' /tmp/dump.xml |
		sort -n | awk -v c="$3" '{ if (n && $1 == e) e += $2; else { if (n) printf "%.0f %.0f\n", s * c, (e - s) * c; s = $1; e = $1 + $2; n = 1 } }
		END { if (n) printf "%.0f %.0f\n", s * c, (e - s) * c }'
}
