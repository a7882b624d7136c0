#!/usr/bin/env bash
# The index stays queryable with sqlite3: the extents view lists every
# device's runs, and the README's query ("which volumes map data chunk
# N?") answers what thin_dump says, for shared and exclusive chunks of the
# kernel-written demo pool and of the pool with 31 devices sharing leaves.
. "$THINFS_SRCDIR/tests/lib.sh"

# owners_oracle METADATA N...: "N thin_id vchunk" of every mapping of each
# data chunk N, from one thin_dump.
owners_oracle() {
	local m=$1
	shift
	thin_dump "$m" | awk -v ns="$*" '
		BEGIN { k = split(ns, want, " ") }
		function a(k) { match($0, k "=\"[0-9]+\""); return substr($0, RSTART + length(k) + 2, RLENGTH - length(k) - 3) + 0 }
		/<device / { dev = a("dev_id") }
		/<single_mapping/ { d = a("data_block"); for (j = 1; j <= k; j++) if (d == want[j]) print want[j], dev, a("origin_block") }
		/<range_mapping/ { d = a("data_begin"); l = a("length")
			for (j = 1; j <= k; j++) if (want[j] >= d && want[j] < d + l) print want[j], dev, a("origin_begin") + want[j] - d }'
}
owners_index() {
	sqlite3 "$1" "SELECT e.dev, e.vbegin + ($2 - e.dbegin) FROM extents e JOIN devices d ON d.thin_id = e.dev
		WHERE $2 >= e.dbegin AND $2 < e.dbegin + e.len" | tr '|' ' ' | sort
}

D="$TF_TMP/demo"
unpack_demo "$D"
"$THINFS" index "$D" --index "$TF_TMP/demo.db" >/dev/null
owners_oracle "$D/metadata" 4 20 46 100 700 >"$TF_TMP/all"
for n in 4 20 46 100 700; do
	awk -v n="$n" '$1 == n { print $2, $3 }' "$TF_TMP/all" | sort >"$TF_TMP/o"
	owners_index "$TF_TMP/demo.db" "$n" >"$TF_TMP/i"
	check "demo pool: the volumes mapping data chunk $n ($(wc -l <"$TF_TMP/o") mappings) are thin_dump's" cmp -s "$TF_TMP/o" "$TF_TMP/i"
done
check "the view names them: data chunk 4 is mapped by web, web_monday and web_tuesday" \
	bash -c "sqlite3 '$TF_TMP/demo.db' \"SELECT d.name FROM extents e JOIN devices d ON d.thin_id = e.dev WHERE 4 >= e.dbegin AND 4 < e.dbegin + e.len ORDER BY d.name\" | tr '\n' ' ' | grep -qx 'web web_monday web_tuesday '"

P="$TF_TMP/many"
mkdir -p "$P"
zstd -q -d "$FIXTURES/kernel-many-snapshots/metadata.zst" -o "$P/metadata"
cp "$FIXTURES/kernel-many-snapshots/lvm.cfg" "$P/lvm.cfg"
truncate -s 13107200000 "$P/data"
"$THINFS" index "$P" --index "$TF_TMP/many.db" >/dev/null
owners_oracle "$P/metadata" 0 97393 100000 49694 123456 >"$TF_TMP/all"
for n in 0 97393 100000 49694 123456; do
	awk -v n="$n" '$1 == n { print $2, $3 }' "$TF_TMP/all" | sort >"$TF_TMP/o"
	owners_index "$TF_TMP/many.db" "$n" >"$TF_TMP/i"
	check "many snapshots: the volumes mapping data chunk $n ($(wc -l <"$TF_TMP/o") mappings) are thin_dump's" cmp -s "$TF_TMP/o" "$TF_TMP/i"
done
check "a device's map through the view equals thin_dump's, run by run" bash -c "
	sqlite3 '$TF_TMP/many.db' 'SELECT vbegin, dbegin, len FROM extents WHERE dev = 7 ORDER BY vbegin' |
		awk -F'|' '{ for (i = 0; i < \$3; i++) print \$1 + i, \$2 + i }' >'$TF_TMP/v'
	thin_dump --dev-id 7 '$P/metadata' | awk '
		function a(k) { match(\$0, k \"=\\\"[0-9]+\\\"\"); return substr(\$0, RSTART + length(k) + 2, RLENGTH - length(k) - 3) + 0 }
		/<single_mapping/ { print a(\"origin_block\"), a(\"data_block\") }
		/<range_mapping/ { for (i = 0; i < a(\"length\"); i++) print a(\"origin_begin\") + i, a(\"data_begin\") + i }' >'$TF_TMP/t'
	cmp -s '$TF_TMP/v' '$TF_TMP/t'"
finish
