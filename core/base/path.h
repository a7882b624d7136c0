/* path.h — small filesystem-path helpers shared by the index location and
 * the mount. */
#ifndef THINFS_PATH_H
#define THINFS_PATH_H

/* Creates every missing parent directory of path (mode 0700). */
int tf_mkdir_parents(const char *path);

#endif
