/* lvm_text.h — parser for LVM2 text metadata (the format vgcfgbackup writes).
 *
 * Extracts what thinfs needs: the VG, its extent size, the thin pool(s) and
 * every thin LV (name, id, size, thin device id, origin, creation time,
 * tags).  Unknown sections and keys are skipped; malformed text is an error
 * that names the line.
 */
#ifndef THINFS_LVM_TEXT_H
#define THINFS_LVM_TEXT_H

#include <stddef.h>
#include <stdint.h>

struct tf_lvm_lv {
	char *name;
	char *id;	    /* LVM uuid of the LV */
	char *pool;	    /* thin_pool it belongs to */
	char *origin;	    /* origin LV name, or NULL */
	uint32_t device_id; /* thin device id */
	uint64_t size_bytes;
	int64_t creation_time; /* seconds since the epoch, or 0 */
	char **tags;	       /* NULL-terminated */
	size_t ntags;
};

struct tf_lvm_pool {
	char *name;
	char *id;
	char *metadata_lv, *data_lv;
	uint64_t transaction_id;
	uint32_t chunk_sectors;
};

struct tf_lvm_vg {
	char *name;
	char *id;
	uint64_t extent_sectors;
	struct tf_lvm_pool *pools;
	size_t npools, pools_cap;
	struct tf_lvm_lv *lvs; /* thin LVs only */
	size_t nlvs, lvs_cap;
};

/* Parses text of length len; "what" names it in messages (a path). */
int tf_lvm_parse(const char *text, size_t len, const char *what, struct tf_lvm_vg **out);
int tf_lvm_parse_file(const char *path, struct tf_lvm_vg **out);
void tf_lvm_free(struct tf_lvm_vg *vg);

#endif
