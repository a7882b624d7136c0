#!/usr/bin/env bash
# The whole test suite, on a fresh Debian 12: installs what it needs, builds
# a normal and an ASan/UBSan tree, runs the unit, command-line and FUSE tests
# in the ASan/UBSan one, the fuzz smoke runs, and the real-kernel tests in a
# VM with the normal build's binary.  Ends with one
# "N passed, N failed" line; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh || { echo "thinfs: installing dependencies failed" >&2; exit 1; }

total_pass=0
total_fail=0
failed_parts=()

# part NAME CMD...: runs CMD, adds up its "N passed, N failed" lines (or
# counts the part as one test when it prints none).
part() {
	local name=$1 log start=$SECONDS
	shift
	log=$(mktemp)
	echo "=== $name"
	"$@" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	echo "=== $name: $((SECONDS - start)) s"
	local p f
	p=$(grep -Eo '^([A-Za-z]+: )?[0-9]+ passed, [0-9]+ failed' "$log" | awk '{ for (i = 1; i <= NF; i++) if ($(i+1) ~ /^passed/) s += $i } END { print s + 0 }')
	f=$(grep -Eo '^([A-Za-z]+: )?[0-9]+ passed, [0-9]+ failed' "$log" | awk '{ for (i = 1; i <= NF; i++) if ($(i+1) ~ /^failed/) s += $i } END { print s + 0 }')
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		[ "$rc" -eq 0 ] && p=1 || f=1
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	[ "$f" -eq 0 ] || failed_parts+=("$name")
	rm -f "$log"
}

# meson test prints per-test lines; turn its summary into the plain form.
meson_suite() {
	local dir=$1 out rc
	out=$(meson test -C "$dir" --print-errorlogs --num-processes 2 2>&1)
	rc=$?
	echo "$out" | grep -E '^ *[0-9]+/[0-9]+ |^(Ok|Fail|Expected Fail|Unexpected Pass|Skipped|Timeout):' || true
	[ "$rc" -eq 0 ] || echo "$out" | tail -n 80
	local ok fail
	ok=$(echo "$out" | awk '/^Ok:/ { print $2 }')
	fail=$(echo "$out" | awk '/^(Fail|Timeout|Unexpected Pass):/ { s += $2 } END { print s + 0 }')
	echo "meson: ${ok:-0} passed, ${fail:-0} failed"
	return "$rc"
}

part "source formatting (clang-format)" scripts/format-check.sh
part "build" scripts/build.sh
# The meson tests run once, under ASan/UBSan, which sees more than the
# normal build would (running them in both took 3.4 minutes of a 30-minute
# CI); the normal build's binary is the one the VM scenarios run.
part "build (ASan+UBSan)" scripts/build.sh --asan
# Reports go to files, so that those of the FUSE servers (which detach and
# have no terminal) are seen too: any report fails the part.
SANDIR=$(mktemp -d /tmp/thinfs-sanitizers.XXXXXX)
asan_suite() {
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:log_path=$SANDIR/asan \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$SANDIR/ubsan \
		meson_suite build-asan
	local rc=$?
	if [ -n "$(ls -A "$SANDIR")" ]; then
		echo "sanitizer reports:"
		head -c 20000 "$SANDIR"/*
		echo "sanitizers: 0 passed, $(ls "$SANDIR" | wc -l) failed"
		return 1
	fi
	return $rc
}
part "tests (ASan+UBSan build)" asan_suite
rm -rf "$SANDIR"
# The fuzzers, built once by meson into build-fuzz (clang, ASan/UBSan).
fuzz_build() {
	if [ ! -f build-fuzz/build.ninja ]; then
		CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined \
			-Db_lundef=false >/dev/null || { echo "FAIL: the fuzz build configures"; return 1; }
	fi
	ninja -C build-fuzz "$@" >/dev/null || { echo "FAIL: the fuzzers build ($*)"; return 1; }
}
fuzz_stream() {
	fuzz_build tests/fuzz/fuzz_stream tests/fuzz/fuzz_repl || return 1
	tests/fuzz/stream_smoke.sh 30 build-fuzz/tests/fuzz
}
fuzz_ext() {
	fuzz_build tests/fuzz/fuzz_ext_view || return 1
	sh tests/fuzz/ext_smoke.sh build-fuzz/tests/fuzz/fuzz_ext_view 30
}
part "fuzz smoke: delta and replication stream parsers" fuzz_stream
part "fuzz smoke: ext view open-and-walk" fuzz_ext
if [ -x tests/vm/run.sh ] && [ "${THINFS_SKIP_VM:-0}" != 1 ]; then
	THINFS="$PWD/build/tools/thinfs" part "real-kernel tests in a VM" tests/vm/run.sh
fi

echo
[ ${#failed_parts[@]} -eq 0 ] || echo "failed parts: ${failed_parts[*]}"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
