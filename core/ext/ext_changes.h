/* ext_changes.h — which files differ between two states of one ext2/3/4
 * filesystem, found from the byte ranges that changed between them.
 *
 * Every change to a file touches its inode (size, times, block map), so
 * only inodes whose on-disk slot lies in a changed range are compared;
 * directories are read only to name them.  If either state needed its
 * journal replayed, or the two states do not share a layout, every inode
 * is a candidate (correct, just slower).
 */
#ifndef THINFS_EXT_CHANGES_H
#define THINFS_EXT_CHANGES_H

#include <stddef.h>
#include <stdint.h>

#include "core/ext/ext_view.h"

struct tf_byte_range {
	uint64_t off, len; /* relative to the filesystem's window */
};

struct tf_file_change {
	char kind;  /* '+' added, '-' removed, 'M' modified */
	char *path; /* "/etc/version" */
};

int tf_ext_changes(struct tf_ext_view *base, struct tf_ext_view *lv,
		   const struct tf_byte_range *changed, size_t nchanged,
		   struct tf_file_change **out, size_t *n);
void tf_file_changes_free(struct tf_file_change *c, size_t n);

#endif
