# pool-from-image.sh — sourced by tests and benchmarks (needs $SEEKMAP).

# pool_from_image IMG DIR [CHUNK_SECTORS]: a pool-image directory whose one
# thin volume (thin1) holds the bytes of IMG, mapping only IMG's data ranges
# (and its last chunk, so the volume keeps IMG's size).  Data chunks are laid
# out in reverse order, so volume and data offsets differ.
pool_from_image() {
	local img=$1 dir=$2 cs=${3:-128} cb size nchunks
	cb=$((cs * 512))
	size=$(stat -c %s "$img")
	nchunks=$(((size + cb - 1) / cb))
	mkdir -p "$dir"
	{ "$SEEKMAP" "$img"; echo "$(((nchunks - 1) * cb)) 1"; } |
		awk -v cb="$cb" '{ s = int($1 / cb); e = int(($1 + $2 + cb - 1) / cb); for (c = s; c < e; c++) print c }' |
		sort -n -u >"$dir/chunks"
	local n
	n=$(wc -l <"$dir/chunks")
	awk -v cs="$cs" -v n="$n" 'BEGIN {
		printf "<superblock uuid=\"\" time=\"0\" transaction=\"1\" flags=\"0\" version=\"2\" data_block_size=\"%d\" nr_data_blocks=\"%d\">\n", cs, n + 8
		printf "  <device dev_id=\"1\" mapped_blocks=\"%d\" transaction=\"0\" creation_time=\"0\" snap_time=\"0\">\n", n }
	{ printf "    <single_mapping origin_block=\"%d\" data_block=\"%d\" time=\"0\"/>\n", $1, n - NR }
	END { printf "  </device>\n</superblock>\n" }' "$dir/chunks" >"$dir/pool.xml"
	truncate -s 16M "$dir/metadata"
	thin_restore -q -i "$dir/pool.xml" -o "$dir/metadata"
	rm -f "$dir/data"
	truncate -s $(((n + 8) * cb)) "$dir/data"
	local i=0
	while read -r c; do
		i=$((i + 1))
		dd if="$img" of="$dir/data" bs="$cb" skip="$c" seek=$((n - i)) count=1 conv=notrunc status=none
	done <"$dir/chunks"
}
