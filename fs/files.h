/* files.h — the files/ subtree: the ext2/3/4 filesystems inside volumes.
 *
 *   files/<lv>/          the filesystem's root, when the LV holds one directly
 *   files/<lv>/p<N>/     the root of partition N, when it holds ext2/3/4
 *   files/<lv>/p<N>.img  any other partition, as a sparse raw image
 *
 * Volumes are probed on first access; what was found (or why nothing was)
 * is kept per volume and shown in .thinfs/status.  Views are opened once per
 * volume and partition and shared by every reader.
 */
#ifndef THINFS_FS_FILES_H
#define THINFS_FS_FILES_H

#include "fs.h"

struct tf_strbuf;
struct tf_files_cache;

int tf_files_cache_new(struct tf_files_cache **out);
void tf_files_cache_free(struct tf_files_cache *c);
/* Appends "name": "what was found" for every probed volume. */
void tf_files_status(struct tf_fs *fs, struct tf_strbuf *sb);

#endif
