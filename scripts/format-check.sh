#!/usr/bin/env bash
# Fails (and names the files) when a tracked C file is not as .clang-format
# says; `scripts/format-check.sh --fix` formats them in place.
set -uo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.c' '*.h' 2>/dev/null || find core fs index tools tests -name '*.[ch]')
if [ "${1:-}" = "--fix" ]; then
	clang-format -i "${files[@]}"
	exit 0
fi
bad=0
for f in "${files[@]}"; do
	if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
		echo "not formatted: $f (scripts/format-check.sh --fix)"
		bad=$((bad + 1))
	fi
done
echo "clang-format: ${#files[@]} files, $bad not formatted"
[ "$bad" -eq 0 ]
