#!/usr/bin/env bash
# Configures and builds thinfs into build/ (and, with --asan, build-asan/
# with AddressSanitizer and UndefinedBehaviorSanitizer).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build
opts=()
if [ "${1:-}" = "--asan" ]; then
	dir=build-asan
	opts=(-Db_sanitize=address,undefined -Db_lundef=false)
fi
if [ -f "$dir/build.ninja" ]; then
	meson setup --reconfigure "$dir" "${opts[@]}" >/dev/null
else
	meson setup "$dir" "${opts[@]}" >/dev/null
fi
ninja -C "$dir" >/dev/null
echo "$dir/tools/thinfs"
