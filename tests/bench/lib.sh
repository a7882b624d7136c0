# lib.sh — what the benchmarks share: the build they time, best-of timing,
# ratios, and thin pools generated as thin_restore XML.  Sourced; defines
# functions only, except bench_setup, which the host-side scripts call.

# bench_setup [BUILD_DIR]: from the source root, with THINFS and READDATA
# of BUILD_DIR (default: build).
bench_setup() {
	cd "$(dirname "${BASH_SOURCE[0]}")/../.."
	B=${1:-build}
	THINFS="$PWD/$B/tools/thinfs"
	READDATA="$PWD/$B/tests/readdata"
}

now() { date +%s.%N; }
# since A: seconds from A (a now) to now.
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { print b - a }'; }
# least A B: the smaller number (B empty: A).
least() { awk -v c="$1" -v m="$2" 'BEGIN { print (m == "" || c < m) ? c : m }'; }
# best_of N CMD...: the fastest of N runs, in seconds (noise only adds time).
best_of() {
	local n=$1 best=
	shift
	for _ in $(seq "$n"); do
		local a
		a=$(now)
		"$@" >/dev/null 2>&1
		best=$(least "$(since "$a")" "$best")
	done
	echo "$best"
}
# ratio A B: A ÷ B with RATIO_DIGITS decimals (default 3).
ratio() { awk -v a="$1" -v b="$2" -v d="${RATIO_DIGITS:-3}" 'BEGIN { printf "%." d "f", a / b }'; }

# A pool as thin_restore XML, printed in pieces:
#   pool_xml_begin CHUNK_SECTORS NR_DATA_BLOCKS
#   pool_xml_full ID DATA_BEGIN LENGTH       a volume mapped whole
#   pool_xml_scattered ID DATA_BEGIN COUNT   COUNT-odd chunks of a 65536-chunk
#       volume in runs of 1-8 chunks, 1-150 chunks apart, from data chunk
#       DATA_BEGIN on (the same runs every time: srand(7))
#   pool_xml_end
pool_xml_begin() {
	printf '<superblock uuid="" time="0" transaction="1" flags="0" version="2" data_block_size="%d" nr_data_blocks="%d">\n' "$1" "$2"
}
pool_xml_full() {
	printf '  <device dev_id="%d" mapped_blocks="%d" transaction="0" creation_time="0" snap_time="0">\n' "$1" "$3"
	printf '    <range_mapping origin_begin="0" data_begin="%d" length="%d" time="0"/>\n' "$2" "$3"
	printf '  </device>\n'
}
pool_xml_scattered() {
	awk -v id="$1" -v d0="$2" -v count="$3" 'BEGIN {
	srand(7); nv = 65536; v = 0; d = d0
	printf "  <device dev_id=\"%d\" mapped_blocks=\"0\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\">\n", id
	while (d < d0 + count) {
		v += int(rand() * 150) + 1; l = int(rand() * 8) + 1
		if (v + l >= nv) break
		printf "    <range_mapping origin_begin=\"%d\" data_begin=\"%d\" length=\"%d\" time=\"0\"/>\n", v, d, l
		v += l; d += l
	}
	printf "  </device>\n" }'
}
pool_xml_end() { printf '</superblock>\n'; }
# pool_restore XML DIR: DIR/metadata (64 MiB) written by thin_restore.
pool_restore() {
	truncate -s 64M "$2/metadata"
	thin_restore -q -i "$1" -o "$2/metadata"
}
# mapped_bytes XML ID CHUNK_BYTES: the bytes device ID maps.
mapped_bytes() {
	awk -F'"' -v id="$2" -v cb="$3" '/<device / { cur = $2 } /range_mapping/ && cur == id { s += $6 } END { print s * cb }' "$1"
}
