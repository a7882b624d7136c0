# gen-pool.sh — sourced by script tests: writes thin_restore XML for pools of
# chosen shapes, so every shape the reader must handle is made at test time.
#
# gen_pool_xml CHUNK_SECTORS N: prints a pool whose devices are
#   1  origin: N mappings (a range of 1000, then single mappings spaced two
#      apart whose data blocks run backwards so they do not coalesce)
#   2  snapshot of 1: shares all but every 997th mapping (remapped), drops
#      every 1999th, adds 50 beyond the end
#   3  a device with no mappings
#   5  a snapshot whose origin (4) was deleted: shares blocks nobody else maps
gen_pool_xml() {
	awk -v cs="$1" -v n="$2" 'BEGIN {
		nd = 3 * n + 4000
		printf "<superblock uuid=\"\" time=\"3\" transaction=\"7\" flags=\"0\" version=\"2\" data_block_size=\"%d\" nr_data_blocks=\"%d\">\n", cs, nd
		printf "  <device dev_id=\"1\" mapped_blocks=\"%d\" transaction=\"0\" creation_time=\"0\" snap_time=\"1\">\n", n
		printf "    <range_mapping origin_begin=\"0\" data_begin=\"0\" length=\"1000\" time=\"0\"/>\n"
		for (i = 1000; i < n; i++)
			printf "    <single_mapping origin_block=\"%d\" data_block=\"%d\" time=\"0\"/>\n", 1000 + 2 * (i - 1000), n + 1000 - i
		printf "  </device>\n"
		m = 0
		for (i = 0; i < n; i++) if (i % 1999 != 5) m++
		printf "  <device dev_id=\"2\" mapped_blocks=\"%d\" transaction=\"1\" creation_time=\"1\" snap_time=\"1\">\n", m + 50
		for (i = 0; i < n; i++) {
			if (i % 1999 == 5) continue
			v = i < 1000 ? i : 1000 + 2 * (i - 1000)
			d = i < 1000 ? i : n + 1000 - i
			if (i % 997 == 3) d = n + 1001 + i
			printf "    <single_mapping origin_block=\"%d\" data_block=\"%d\" time=\"1\"/>\n", v, d
		}
		for (j = 0; j < 50; j++)
			printf "    <single_mapping origin_block=\"%d\" data_block=\"%d\" time=\"1\"/>\n", 3 * n + j, 2 * n + 2000 + j
		printf "  </device>\n"
		printf "  <device dev_id=\"3\" mapped_blocks=\"0\" transaction=\"2\" creation_time=\"2\" snap_time=\"2\">\n  </device>\n"
		printf "  <device dev_id=\"5\" mapped_blocks=\"20\" transaction=\"3\" creation_time=\"3\" snap_time=\"3\">\n"
		printf "    <range_mapping origin_begin=\"7\" data_begin=\"%d\" length=\"20\" time=\"2\"/>\n", 2 * n + 3000
		printf "  </device>\n</superblock>\n"
	}'
}

# gen_pool DIR CHUNK_SECTORS N: a pool-image directory (metadata only) and
# its XML as DIR/pool.xml.
gen_pool() {
	mkdir -p "$1"
	gen_pool_xml "$2" "$3" >"$1/pool.xml"
	truncate -s 64M "$1/metadata"
	thin_restore -q -i "$1/pool.xml" -o "$1/metadata"
}
