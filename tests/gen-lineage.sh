# gen-lineage.sh — sourced by script tests: a pool-image directory whose
# volumes form snapshot chains, written with thin_restore, with an lvm.cfg
# naming them (origins, tags, creation times) and random data.
#
# gen_lineage_pool DIR VERSION   (chunks of 64 KiB)
#  version 1:
#   vm (thin 1, 32 MiB): history G0 -> G1 -> G2 -> G3 (now)
#     vm_s1  (2)  snapshot of vm at G0
#     vm_s2  (3)  snapshot of vm at G1
#     vm_s2a (4)  snapshot of vm_s2, then written (5 chunks)
#     vm_s3  (5)  snapshot of vm at G2 (G2 unmapped 10 chunks: a discard)
#   raw (thin 6, 16 MiB), raw_r1 (7) at its start, raw_r2 (8) after a write
#   unique data: 485 chunks
#  version 2 (the same pool later): vm_s4 (9) snapshot of vm at G3, vm
#   written (G4), vm_s5 (10) at G4, vm written again (G5, now); vm_s1
#   deleted; raw unchanged.
gen_lineage_xml() {
	awk -v ver="$1" '
	function dev(id, arr, ctime,   v, n) {
		n = 0
		for (v in arr) n++
		printf "  <device dev_id=\"%d\" mapped_blocks=\"%d\" transaction=\"%d\" creation_time=\"%d\" snap_time=\"%d\">\n", id, n, id, ctime, ctime
		for (v = 0; v < 1024; v++)
			if (v in arr)
				printf "    <single_mapping origin_block=\"%d\" data_block=\"%d\" time=\"%d\"/>\n", v, arr[v], ctime
		printf "  </device>\n"
	}
	function copy(dst, src,   v) { delete dst; for (v in src) dst[v] = src[v] }
	function write(a, from, to, data,   v) { for (v = from; v <= to; v++) a[v] = data + v - from }
	function discard(a, from, to,   v) { for (v = from; v <= to; v++) delete a[v] }
	BEGIN {
		printf "<superblock uuid=\"\" time=\"%d\" transaction=\"%d\" flags=\"0\" version=\"2\" data_block_size=\"128\" nr_data_blocks=\"640\">\n", 10 + ver, 10 + ver
		write(g, 0, 299, 0);              copy(s1, g)
		write(g, 10, 29, 300); write(g, 400, 409, 320); copy(s2, g)
		copy(s2a, s2); write(s2a, 50, 54, 330)
		write(g, 10, 14, 340); write(g, 100, 119, 345); discard(g, 200, 209); copy(s3, g)
		write(g, 120, 129, 365)
		write(r, 0, 99, 400); copy(r1, r); write(r, 0, 9, 500); copy(r2, r)
		if (ver == 2) {
			copy(s4, g)
			write(g, 130, 139, 510); write(g, 10, 11, 520); copy(s5, g)
			write(g, 300, 304, 525)
		}
		dev(1, g, 0)
		if (ver == 1) dev(2, s1, 1)
		dev(3, s2, 2); dev(4, s2a, 3); dev(5, s3, 4)
		dev(6, r, 5); dev(7, r1, 5); dev(8, r2, 6)
		if (ver == 2) { dev(9, s4, 7); dev(10, s5, 8) }
		printf "</superblock>\n"
	}'
}

gen_lineage_lv() { # NAME ID DEV_ID EXTENTS CTIME ORIGIN TAGS
	cat <<EOF
		$1 {
			id = "$2"
			status = ["READ", "WRITE", "VISIBLE"]
			flags = []
			tags = [$7]
			creation_time = $5
			creation_host = "test"
			segment_count = 1
			segment1 {
				start_extent = 0
				extent_count = $4
				type = "thin"
				thin_pool = "pool"
				transaction_id = $3
				device_id = $3
$( [ -n "$6" ] && printf '\t\t\t\torigin = "%s"\n' "$6" )
			}
		}
EOF
}

gen_lineage_cfg() { # VERSION
	cat <<EOF
contents = "Text Format Volume Group"
version = 1
lin {
	id = "LINvg0-0000-0000-0000-0000-0000-000000"
	seqno = $((10 + $1))
	format = "lvm2"
	status = ["RESIZEABLE", "READ", "WRITE"]
	flags = []
	extent_size = 8192
	max_lv = 0
	max_pv = 0
	metadata_copies = 0
	physical_volumes {
		pv0 {
			id = "LINpv0-0000-0000-0000-0000-0000-000000"
			device = "/dev/vda"
			status = ["ALLOCATABLE"]
			flags = []
			dev_size = 614400
			pe_start = 2048
			pe_count = 74
		}
	}
	logical_volumes {
		pool {
			id = "LINpool-0000-0000-0000-0000-0000-00000"
			status = ["READ", "WRITE", "VISIBLE"]
			flags = []
			creation_time = 1795340000
			creation_host = "test"
			segment_count = 1
			segment1 {
				start_extent = 0
				extent_count = 10
				type = "thin-pool"
				metadata = "pool_tmeta"
				pool = "pool_tdata"
				transaction_id = $((10 + $1))
				chunk_size = 128
				discards = "passdown"
				zero_new_blocks = 1
			}
		}
EOF
	gen_lineage_lv vm "LINvm0-0000-0000-0000-0000-0000-000001" 1 8 1795340001 "" '"prod", "web"'
	[ "$1" = 1 ] && gen_lineage_lv vm_s1 "LINvm0-0000-0000-0000-0000-0000-000002" 2 8 1795340002 vm '"daily"'
	gen_lineage_lv vm_s2 "LINvm0-0000-0000-0000-0000-0000-000003" 3 8 1795340003 vm '"daily"'
	gen_lineage_lv vm_s2a "LINvm0-0000-0000-0000-0000-0000-000004" 4 8 1795340004 vm_s2 ''
	gen_lineage_lv vm_s3 "LINvm0-0000-0000-0000-0000-0000-000005" 5 8 1795340005 vm '"daily"'
	gen_lineage_lv raw "LINraw-0000-0000-0000-0000-0000-000006" 6 4 1795340006 "" ''
	gen_lineage_lv raw_r1 "LINraw-0000-0000-0000-0000-0000-000007" 7 4 1795340007 raw ''
	gen_lineage_lv raw_r2 "LINraw-0000-0000-0000-0000-0000-000008" 8 4 1795340008 raw ''
	if [ "$1" = 2 ]; then
		gen_lineage_lv vm_s4 "LINvm0-0000-0000-0000-0000-0000-000009" 9 8 1795340009 vm '"daily"'
		gen_lineage_lv vm_s5 "LINvm0-0000-0000-0000-0000-0000-000010" 10 8 1795340010 vm '"daily"'
	fi
	printf '\t}\n}\n'
}

# gen_lineage_pool DIR VERSION: writes DIR/metadata, DIR/lvm.cfg, DIR/pool.xml
# and (once) DIR/data: 640 chunks of random bytes.
gen_lineage_pool() {
	mkdir -p "$1"
	gen_lineage_xml "$2" >"$1/pool.xml"
	rm -f "$1/metadata"
	truncate -s 8M "$1/metadata"
	thin_restore -q -i "$1/pool.xml" -o "$1/metadata"
	gen_lineage_cfg "$2" >"$1/lvm.cfg"
	[ -f "$1/data" ] || head -c $((640 * 65536)) /dev/urandom >"$1/data"
}
