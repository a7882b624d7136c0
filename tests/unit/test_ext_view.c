/* test_ext_view.c — the ext2/3/4 view against images built by mkfs.ext4 -d,
 * debugfs and e2fsck at test time (no root, no mounts).
 *
 * Oracles: the source tree the image was built from; debugfs for what it set
 * (owners, times, device numbers, xattrs); e2fsck -fy on a copy for journal
 * replay (the view of the unrecovered image must equal the view of the
 * recovered copy and what debugfs cats from it).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "core/base/err.h"
#include "core/ext/ext_view.h"
#include "core/io/bio.h"

#define BIGDIR_N 20000

static char tmp[256];

static void put_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* ---- a volume: an image file read with pread ---- */

struct vol {
	struct tf_bio bio; /* what the readers take: pread is vol_read */
	int fd;
	int fail_reads; /* make every read fail with -EIO */
	uint64_t size;
};

static int vol_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct vol *v = ctx;
	ssize_t n;

	if (v->fail_reads)
		return tf_fail(EIO, "test volume: injected read failure at %llu",
			       (unsigned long long)off);
	n = pread(v->fd, buf, len, (off_t)off);
	if (n != (ssize_t)len)
		return tf_fail(EIO, "test volume: short read at %llu", (unsigned long long)off);
	return 0;
}

static int vol_bio_pread(struct tf_bio *b, void *buf, size_t len, uint64_t off)
{
	return vol_read(b->priv, buf, len, off);
}

static void vol_bio_close(struct tf_bio *b)
{
	(void)b;
}

static const struct tf_bio_ops vol_bio_ops = {.pread = vol_bio_pread, .close = vol_bio_close};

static void vol_open(struct vol *v, const char *img)
{
	struct stat st;

	v->fd = open(img, O_RDONLY);
	assert_true(v->fd >= 0);
	assert_int_equal(fstat(v->fd, &st), 0);
	v->size = (uint64_t)st.st_size;
	v->bio = (struct tf_bio){.ops = &vol_bio_ops, .size = v->size, .priv = v};
	snprintf(v->bio.name, sizeof(v->bio.name), "%s", img);
	v->fail_reads = 0;
}

static struct tf_ext_view *view_of(struct vol *v, const char *img)
{
	struct tf_ext_view *view = NULL;
	int rc;

	vol_open(v, img);
	rc = tf_ext_view_open(&v->bio, 0, v->size, img, NULL, &view);
	if (rc < 0)
		fprintf(stderr, "open %s: %s\n", img, tf_errmsg());
	assert_int_equal(rc, 0);
	return view;
}

static uint32_t walk(struct tf_ext_view *v, const char *path)
{
	char buf[1024], *save = NULL, *part;
	uint32_t ino = TF_EXT_ROOT_INO;

	snprintf(buf, sizeof(buf), "%s", path);
	for (part = strtok_r(buf, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
		int rc = tf_ext_lookup(v, ino, part, &ino);
		if (rc < 0)
			return 0;
	}
	return ino;
}

/* ---- the main image ---- */

static char img_main[300], src_main[300];
static unsigned char big[3 * 1024 * 1024 + 123];
static char slow_target[301];

static void build_main(void)
{
	char p[512];
	int fd;

	snprintf(src_main, sizeof(src_main), "%s/src", tmp);
	snprintf(img_main, sizeof(img_main), "%s/main.img", tmp);
	sh("mkdir -p %s/a/b/c/d %s/bigdir %s/empty", src_main, src_main, src_main);
	snprintf(p, sizeof(p), "%s/small.txt", src_main);
	put_file(p, "hello, thinfs\n", 14);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)((i * 2654435761u) >> 13);
	snprintf(p, sizeof(p), "%s/big.bin", src_main);
	put_file(p, big, sizeof(big));
	snprintf(p, sizeof(p), "%s/a/b/c/d/deep.txt", src_main);
	put_file(p, "deep\n", 5);
	/* sparse: data at [0,4K), [1M,1M+8K), [3M+100,3M+200); size 5M */
	snprintf(p, sizeof(p), "%s/sparse", src_main);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	memset(big, 'S', 8192);
	assert_int_equal(pwrite(fd, big, 4096, 0), 4096);
	assert_int_equal(pwrite(fd, big, 8192, 1 << 20), 8192);
	assert_int_equal(pwrite(fd, big, 100, (3 << 20) + 100), 100);
	assert_int_equal(ftruncate(fd, 5 << 20), 0);
	close(fd);
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)((i * 2654435761u) >> 13);
	for (int i = 0; i < BIGDIR_N; i++) {
		snprintf(p, sizeof(p), "%s/bigdir/entry-%05d-with-a-longer-name", src_main, i);
		put_file(p, "", 0);
	}
	snprintf(p, sizeof(p), "%s/a/hl1", src_main);
	put_file(p, "linked\n", 7);
	sh("ln %s/a/hl1 %s/a/b/hl2", src_main, src_main);
	sh("ln -s small.txt %s/fastlink", src_main);
	memset(slow_target, 'x', 300);
	memcpy(slow_target, "a/b/c/", 6);
	slow_target[300] = '\0';
	sh("ln -s %s %s/slowlink", slow_target, src_main);
	sh("mkfs.ext4 -q -F -b 4096 -N 30000 -I 256 -d %s %s 96M >/dev/null 2>&1", src_main,
	   img_main);
	/* mkfs -d writes linear directories; e2fsck -D indexes them (htree) */
	sh("e2fsck -fyD %s >/dev/null 2>&1; test $? -le 1", img_main);
	sh("debugfs -w -f - %s >/dev/null 2>&1 <<'EOF'\n"
	   "mknod cdev c 4 5\n"
	   "mknod bdev b 259 3000\n"
	   "mknod fifo p\n"
	   "sif /small.txt uid 123456\n"
	   "sif /small.txt gid 654321\n"
	   "sif /small.txt mode 0100640\n"
	   "sif /small.txt mtime 20200102030405\n"
	   "sif /small.txt mtime_extra 4000\n"
	   "sif /small.txt atime 20210102030405\n"
	   "ea_set /small.txt user.color red\n"
	   "ea_set /small.txt trusted.t something-longer-than-inline-space-maybe\n"
	   "ea_set /a/hl1 user.empty \"\"\n"
	   "EOF",
	   img_main);
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof(tmp), "/tmp/test_ext_view.XXXXXX");
	if (!mkdtemp(tmp))
		return -1;
	build_main();
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[400];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- tests ---- */

static void assert_file_equals(struct tf_ext_view *v, uint32_t ino, const void *want, size_t len)
{
	unsigned char *got = malloc(len + 4096);
	ssize_t n;

	assert_non_null(got);
	n = tf_ext_read(v, ino, got, len + 4096, 0);
	assert_int_equal(n, (ssize_t)len);
	assert_memory_equal(got, want, len);
	free(got);
}

static void reads_files_and_nested_directories_as_in_the_source(void **state)
{
	struct vol vol;
	struct tf_ext_view *v = view_of(&vol, img_main);
	unsigned char buf[70000];
	struct stat st;
	uint32_t ino;

	(void)state;
	assert_string_equal(tf_ext_view_note(v), "");
	ino = walk(v, "big.bin");
	assert_true(ino > 0);
	assert_int_equal(tf_ext_getattr(v, ino, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, sizeof(big));
	assert_int_equal(st.st_ino, ino);
	assert_true(st.st_blocks >= (blkcnt_t)(sizeof(big) / 512));
	assert_file_equals(v, ino, big, sizeof(big));
	/* unaligned reads across block boundaries, and the tail */
	assert_int_equal(tf_ext_read(v, ino, buf, 65537, 4095), 65537);
	assert_memory_equal(buf, big + 4095, 65537);
	assert_int_equal(tf_ext_read(v, ino, buf, 1000, sizeof(big) - 10), 10);
	assert_memory_equal(buf, big + sizeof(big) - 10, 10);
	assert_int_equal(tf_ext_read(v, ino, buf, 1000, sizeof(big)), 0);
	assert_int_equal(tf_ext_read(v, ino, buf, 1000, sizeof(big) + 5000), 0);

	ino = walk(v, "a/b/c/d/deep.txt");
	assert_true(ino > 0);
	assert_file_equals(v, ino, "deep\n", 5);
	assert_int_equal(walk(v, "a/b/c/../c/d/deep.txt"), ino);
	assert_int_equal(tf_ext_lookup(v, TF_EXT_ROOT_INO, "nope", &ino), -ENOENT);
	assert_non_null(strstr(tf_errmsg(), "nope"));
	assert_int_equal(tf_ext_lookup(v, walk(v, "small.txt"), "x", &ino), -ENOTDIR);
	assert_int_equal(tf_ext_read(v, TF_EXT_ROOT_INO, buf, 10, 0), -EISDIR);
	assert_int_equal(tf_ext_getattr(v, 0, &st), -EUCLEAN);
	assert_int_equal(tf_ext_getattr(v, 4000000000u, &st), -EUCLEAN);
	assert_int_equal(tf_ext_getattr(v, TF_EXT_ROOT_INO, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	tf_ext_view_close(v);
	close(vol.fd);
}

static void sparse_file_seek_data_and_seek_hole_are_exact(void **state)
{
	struct vol vol;
	struct tf_ext_view *v = view_of(&vol, img_main);
	uint32_t ino = walk(v, "sparse");
	unsigned char buf[8192];
	struct stat st;
	const int64_t M = 1 << 20;

	(void)state;
	assert_true(ino > 0);
	assert_int_equal(tf_ext_getattr(v, ino, &st), 0);
	assert_int_equal(st.st_size, 5 * M);
	assert_int_equal(st.st_blocks, (4096 + 8192 + 4096) / 512);
	assert_int_equal(tf_ext_seek_data(v, ino, 0), 0);
	assert_int_equal(tf_ext_seek_hole(v, ino, 0), 4096);
	assert_int_equal(tf_ext_seek_hole(v, ino, 100), 4096);
	assert_int_equal(tf_ext_seek_data(v, ino, 4096), M);
	assert_int_equal(tf_ext_seek_hole(v, ino, 4096), 4096);
	assert_int_equal(tf_ext_seek_hole(v, ino, M), M + 8192);
	assert_int_equal(tf_ext_seek_data(v, ino, M + 8192), 3 * M);
	assert_int_equal(tf_ext_seek_data(v, ino, 2 * M + 1), 3 * M);
	assert_int_equal(tf_ext_seek_hole(v, ino, 3 * M + 150), 3 * M + 4096);
	assert_int_equal(tf_ext_seek_data(v, ino, 3 * M + 4096), -ENXIO);
	assert_int_equal(tf_ext_seek_hole(v, ino, 3 * M + 4096), 3 * M + 4096);
	assert_int_equal(tf_ext_seek_hole(v, ino, 5 * M - 1), 5 * M - 1);
	assert_int_equal(tf_ext_seek_data(v, ino, 5 * M), -ENXIO);
	assert_int_equal(tf_ext_seek_hole(v, ino, 5 * M), -ENXIO);
	/* holes read as zeros, data around them as written */
	assert_int_equal(tf_ext_read(v, ino, buf, 8192, 4096 - 10), 8192);
	for (int i = 0; i < 10; i++)
		assert_int_equal(buf[i], 'S');
	for (int i = 10; i < 8192; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(tf_ext_read(v, ino, buf, 300, 3 * M), 300);
	for (int i = 0; i < 300; i++)
		assert_int_equal(buf[i], i >= 100 && i < 200 ? 'S' : 0);
	tf_ext_view_close(v);
	close(vol.fd);
}

struct collect {
	unsigned n, stop_after;
	uint64_t last_cookie;
	unsigned char *seen; /* BIGDIR_N flags */
	int dots;
};

static int collect_fill(void *arg, const char *name, uint32_t ino, unsigned dtype,
			uint64_t next_cookie)
{
	struct collect *c = arg;
	int idx;

	if (c->stop_after && c->n == c->stop_after)
		return 1;
	assert_true(ino > 0);
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		assert_int_equal(dtype, DT_DIR);
		c->dots++;
	} else {
		assert_int_equal(sscanf(name, "entry-%05d-with-a-longer-name", &idx), 1);
		assert_true(idx >= 0 && idx < BIGDIR_N);
		assert_int_equal(c->seen[idx], 0);
		c->seen[idx] = 1;
		assert_int_equal(dtype, DT_REG);
	}
	c->n++;
	c->last_cookie = next_cookie;
	return 0;
}

static void large_htree_directory_is_listed_once_and_resumes_from_cookies(void **state)
{
	struct vol vol;
	struct tf_ext_view *v = view_of(&vol, img_main);
	uint32_t dir = walk(v, "bigdir"), ino;
	struct collect c = {0};
	struct tf_ext_dir *d;
	uint64_t cookie = 0;
	int n, calls = 0;
	char name[64];

	(void)state;
	sh("debugfs -R 'htree bigdir' %s 2>/dev/null | grep -q 'Root node dump'", img_main);
	c.seen = calloc(BIGDIR_N, 1);
	assert_non_null(c.seen);
	assert_int_equal(tf_ext_opendir(v, dir, &d), 0);
	assert_int_equal(tf_ext_dir_count(d), BIGDIR_N + 2);
	/* FUSE-style: small batches, each resuming at the last cookie */
	for (;;) {
		c.stop_after = c.n + 97;
		n = tf_ext_readdir(d, cookie, collect_fill, &c);
		assert_true(n >= 0);
		if (n == 0)
			break;
		cookie = c.last_cookie;
		calls++;
	}
	assert_int_equal(c.n, BIGDIR_N + 2);
	assert_int_equal(c.dots, 2);
	assert_true(calls > BIGDIR_N / 100);
	for (int i = 0; i < BIGDIR_N; i++)
		assert_int_equal(c.seen[i], 1);
	/* a cookie past the end gives nothing */
	assert_int_equal(tf_ext_readdir(d, BIGDIR_N + 10, collect_fill, &c), 0);
	tf_ext_closedir(d);
	for (int i = 0; i < BIGDIR_N; i += 997) {
		snprintf(name, sizeof(name), "entry-%05d-with-a-longer-name", i);
		assert_int_equal(tf_ext_lookup(v, dir, name, &ino), 0);
		assert_true(ino > 0);
	}
	assert_int_equal(tf_ext_lookup(v, dir, "entry-99999-with-a-longer-name", &ino), -ENOENT);
	free(c.seen);
	tf_ext_view_close(v);
	close(vol.fd);
}

static void fast_and_slow_symlinks_read_back(void **state)
{
	struct vol vol;
	struct tf_ext_view *v = view_of(&vol, img_main);
	char buf[512];
	struct stat st;
	uint32_t ino;

	(void)state;
	ino = walk(v, "fastlink");
	assert_int_equal(tf_ext_getattr(v, ino, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(st.st_size, 9);
	assert_int_equal(tf_ext_readlink(v, ino, buf, sizeof(buf)), 9);
	assert_string_equal(buf, "small.txt");
	assert_int_equal(tf_ext_readlink(v, ino, buf, 9), -ERANGE);
	ino = walk(v, "slowlink");
	assert_int_equal(tf_ext_readlink(v, ino, buf, sizeof(buf)), 300);
	assert_string_equal(buf, slow_target);
	assert_int_equal(tf_ext_readlink(v, walk(v, "small.txt"), buf, sizeof(buf)), -EINVAL);
	tf_ext_view_close(v);
	close(vol.fd);
}

static void device_nodes_and_fifos_keep_type_and_rdev(void **state)
{
	struct vol vol;
	struct tf_ext_view *v = view_of(&vol, img_main);
	struct stat st;
	char buf[8];

	(void)state;
	assert_int_equal(tf_ext_getattr(v, walk(v, "cdev"), &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	assert_int_equal(major(st.st_rdev), 4);
	assert_int_equal(minor(st.st_rdev), 5);
	assert_int_equal(tf_ext_getattr(v, walk(v, "bdev"), &st), 0);
	assert_true(S_ISBLK(st.st_mode));
	assert_int_equal(major(st.st_rdev), 259);
	assert_int_equal(minor(st.st_rdev), 3000);
	assert_int_equal(tf_ext_getattr(v, walk(v, "fifo"), &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(tf_ext_read(v, walk(v, "fifo"), buf, sizeof(buf), 0), -EINVAL);
	tf_ext_view_close(v);
	close(vol.fd);
}

static void hard_links_share_one_inode(void **state)
{
	struct vol vol;
	struct tf_ext_view *v = view_of(&vol, img_main);
	uint32_t a = walk(v, "a/hl1"), b = walk(v, "a/b/hl2");
	struct stat st;

	(void)state;
	assert_true(a > 0);
	assert_int_equal(a, b);
	assert_int_equal(tf_ext_getattr(v, a, &st), 0);
	assert_int_equal(st.st_nlink, 2);
	assert_file_equals(v, b, "linked\n", 7);
	tf_ext_view_close(v);
	close(vol.fd);
}

static void xattrs_are_listed_and_read(void **state)
{
	struct vol vol;
	struct tf_ext_view *v = view_of(&vol, img_main);
	uint32_t ino = walk(v, "small.txt");
	char buf[256];
	ssize_t n, need;
	int found_color = 0, found_t = 0;

	(void)state;
	need = tf_ext_listxattr(v, ino, NULL, 0);
	assert_true(need > 0);
	n = tf_ext_listxattr(v, ino, buf, sizeof(buf));
	assert_int_equal(n, need);
	for (char *p = buf; p < buf + n; p += strlen(p) + 1) {
		found_color |= strcmp(p, "user.color") == 0;
		found_t |= strcmp(p, "trusted.t") == 0;
	}
	assert_true(found_color && found_t);
	assert_int_equal(tf_ext_listxattr(v, ino, buf, 3), -ERANGE);
	assert_int_equal(tf_ext_getxattr(v, ino, "user.color", NULL, 0), 3);
	assert_int_equal(tf_ext_getxattr(v, ino, "user.color", buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "red", 3);
	assert_int_equal(tf_ext_getxattr(v, ino, "user.color", buf, 2), -ERANGE);
	n = tf_ext_getxattr(v, ino, "trusted.t", buf, sizeof(buf));
	assert_int_equal(n, strlen("something-longer-than-inline-space-maybe"));
	assert_int_equal(tf_ext_getxattr(v, ino, "user.missing", buf, sizeof(buf)), -ENODATA);
	assert_int_equal(tf_ext_getxattr(v, walk(v, "a/hl1"), "user.empty", buf, sizeof(buf)), 0);
	assert_int_equal(tf_ext_listxattr(v, walk(v, "big.bin"), buf, sizeof(buf)), 0);
	tf_ext_view_close(v);
	close(vol.fd);
}

static void owners_modes_and_times_include_high_bits_and_nanoseconds(void **state)
{
	struct vol vol;
	struct tf_ext_view *v = view_of(&vol, img_main);
	struct stat st;
	struct tm tm = {0};

	(void)state;
	assert_int_equal(tf_ext_getattr(v, walk(v, "small.txt"), &st), 0);
	assert_int_equal(st.st_uid, 123456);
	assert_int_equal(st.st_gid, 654321);
	assert_int_equal(st.st_mode, S_IFREG | 0640);
	assert_int_equal(st.st_size, 14);
	assert_int_equal(st.st_nlink, 1);
	/* debugfs reads dates as UTC */
	tm.tm_year = 120, tm.tm_mon = 0, tm.tm_mday = 2, tm.tm_hour = 3, tm.tm_min = 4,
	tm.tm_sec = 5;
	assert_int_equal(st.st_mtim.tv_sec, timegm(&tm));
	assert_int_equal(st.st_mtim.tv_nsec, 1000);
	tm.tm_year = 121;
	assert_int_equal(st.st_atim.tv_sec, timegm(&tm));
	tf_ext_view_close(v);
	close(vol.fd);
}

static void statfs_reports_the_superblock_read_only(void **state)
{
	struct vol vol;
	struct tf_ext_view *v = view_of(&vol, img_main);
	struct statvfs sv;

	(void)state;
	assert_int_equal(tf_ext_statfs(v, &sv), 0);
	assert_int_equal(sv.f_bsize, 4096);
	assert_int_equal(sv.f_blocks, 96 * 256);
	assert_true(sv.f_bfree > 0 && sv.f_bfree < sv.f_blocks);
	assert_true(sv.f_files >= 30000);
	assert_true(sv.f_ffree < sv.f_files - BIGDIR_N);
	assert_true(sv.f_flag & ST_RDONLY);
	tf_ext_view_close(v);
	close(vol.fd);
}

/* Compares two views' trees: names, types, sizes, contents, link targets. */
static void assert_trees_equal(struct tf_ext_view *a, uint32_t ia, struct tf_ext_view *b,
			       uint32_t ib, int depth);

struct names {
	char (*n)[256];
	uint32_t *ino;
	unsigned cnt, cap;
};

static int names_fill(void *arg, const char *name, uint32_t ino, unsigned dtype, uint64_t next)
{
	struct names *ns = arg;

	(void)dtype, (void)next;
	if (ns->cnt == ns->cap) {
		ns->cap = ns->cap ? ns->cap * 2 : 64;
		ns->n = realloc(ns->n, ns->cap * sizeof(*ns->n));
		ns->ino = realloc(ns->ino, ns->cap * sizeof(*ns->ino));
	}
	snprintf(ns->n[ns->cnt], 256, "%s", name);
	ns->ino[ns->cnt++] = ino;
	return 0;
}

static void list_dir(struct tf_ext_view *v, uint32_t ino, struct names *ns)
{
	struct tf_ext_dir *d;

	memset(ns, 0, sizeof(*ns));
	assert_int_equal(tf_ext_opendir(v, ino, &d), 0);
	assert_int_equal(tf_ext_readdir(d, 0, names_fill, ns), (int)tf_ext_dir_count(d));
	tf_ext_closedir(d);
}

static void assert_trees_equal(struct tf_ext_view *a, uint32_t ia, struct tf_ext_view *b,
			       uint32_t ib, int depth)
{
	struct stat sa, sb;

	assert_int_equal(tf_ext_getattr(a, ia, &sa), 0);
	assert_int_equal(tf_ext_getattr(b, ib, &sb), 0);
	assert_int_equal(sa.st_mode, sb.st_mode);
	assert_int_equal(sa.st_size, sb.st_size);
	if (S_ISREG(sa.st_mode) && sa.st_size < (16 << 20)) {
		char *ba = malloc((size_t)sa.st_size + 1), *bb = malloc((size_t)sa.st_size + 1);
		assert_int_equal(tf_ext_read(a, ia, ba, (size_t)sa.st_size, 0), sa.st_size);
		assert_int_equal(tf_ext_read(b, ib, bb, (size_t)sb.st_size, 0), sb.st_size);
		assert_memory_equal(ba, bb, (size_t)sa.st_size);
		free(ba);
		free(bb);
	} else if (S_ISDIR(sa.st_mode) && depth < 16) {
		struct names na, nb;

		list_dir(a, ia, &na);
		list_dir(b, ib, &nb);
		assert_int_equal(na.cnt, nb.cnt);
		for (unsigned i = 0; i < na.cnt; i++) {
			uint32_t j;
			if (!strcmp(na.n[i], ".") || !strcmp(na.n[i], ".."))
				continue;
			assert_int_equal(tf_ext_lookup(b, ib, na.n[i], &j), 0);
			assert_trees_equal(a, na.ino[i], b, j, depth + 1);
		}
		free(na.n), free(na.ino), free(nb.n), free(nb.ino);
	}
}

static void inline_data_files_directories_and_symlinks_read_back(void **state)
{
	char img[400], target[71], buf[256];
	struct vol vol;
	struct tf_ext_view *v;
	struct names ns;
	struct stat st;
	uint32_t ino;

	(void)state;
	memset(target, 'L', 70);
	target[70] = '\0';
	snprintf(img, sizeof(img), "%s/inline.img", tmp);
	sh("rm -rf %s/isrc && mkdir -p %s/isrc/sub && printf 'tiny inline file' > %s/isrc/tiny && "
	   "head -c 100 /dev/zero | tr '\\0' Q > %s/isrc/hundred && touch %s/isrc/sub/x "
	   "%s/isrc/sub/y && "
	   "ln -s %s %s/isrc/ilink && "
	   "mkfs.ext4 -q -F -b 4096 -I 256 -O inline_data -d %s/isrc %s 16M >/dev/null 2>&1",
	   tmp, tmp, tmp, tmp, tmp, tmp, target, tmp, tmp, img);
	sh("debugfs -R 'stat /tiny' %s 2>/dev/null | grep -q 'Size of inline data'", img);
	v = view_of(&vol, img);
	assert_file_equals(v, walk(v, "tiny"), "tiny inline file", 16);
	memset(buf, 'Q', 100);
	assert_file_equals(v, walk(v, "hundred"), buf, 100);
	assert_int_equal(tf_ext_seek_data(v, walk(v, "tiny"), 3), 3);
	assert_int_equal(tf_ext_seek_hole(v, walk(v, "tiny"), 3), 16);
	ino = walk(v, "sub");
	assert_int_equal(tf_ext_getattr(v, ino, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	list_dir(v, ino, &ns);
	assert_int_equal(ns.cnt, 4);
	free(ns.n), free(ns.ino);
	assert_true(walk(v, "sub/y") > 0);
	assert_int_equal(walk(v, "sub/.."), TF_EXT_ROOT_INO);
	assert_int_equal(tf_ext_readlink(v, walk(v, "ilink"), buf, sizeof(buf)), 70);
	assert_string_equal(buf, target);
	tf_ext_view_close(v);
	close(vol.fd);
}

static void external_journals_and_journal_devices_are_reported_clearly(void **state)
{
	char img[400];
	struct vol vol;
	struct tf_ext_view *v = NULL;

	(void)state;
	snprintf(img, sizeof(img), "%s/jdev.img", tmp);
	sh("mkfs.ext4 -q -F -O journal_dev -b 4096 %s 8M >/dev/null 2>&1", img);
	vol_open(&vol, img);
	assert_int_equal(tf_ext_view_open(&vol.bio, 0, vol.size, "jdev", NULL, &v), -EMEDIUMTYPE);
	assert_non_null(strstr(tf_errmsg(), "journal device"));
	close(vol.fd);
	/* a filesystem that needs recovery from an external journal */
	snprintf(img, sizeof(img), "%s/extj.img", tmp);
	sh("mkfs.ext4 -q -F -b 4096 %s 16M >/dev/null 2>&1 && "
	   "debugfs -w -f - %s >/dev/null 2>&1 <<'EOF'\n"
	   "ssv journal_inum 0\nssv journal_dev 2049\nfeature needs_recovery\nEOF",
	   img, img);
	vol_open(&vol, img);
	assert_int_equal(tf_ext_view_open(&vol.bio, 0, vol.size, "extj", NULL, &v), -EOPNOTSUPP);
	assert_non_null(strstr(tf_errmsg(), "external journal"));
	assert_null(v);
	close(vol.fd);
}

static int read_super_incompat(const char *img, uint32_t *incompat)
{
	unsigned char sb[1024];
	int fd = open(img, O_RDONLY);

	if (fd < 0 || pread(fd, sb, sizeof(sb), 1024) != 1024)
		return -1;
	close(fd);
	*incompat = sb[96] | sb[97] << 8 | sb[98] << 16 | (uint32_t)sb[99] << 24;
	return 0;
}

/* Builds j.img whose journal holds: T1 writes a.txt's block (B), T2 writes
 * c.txt's block (D), T3 revokes it, T4 writes e.txt's block (F) but never
 * commits.  jopts: "-c" for csum v3, "" for none. */
static void build_journal_image(const char *img, const char *jopts, unsigned bs,
				const char *mkfs_opts)
{
	char src[400];

	snprintf(src, sizeof(src), "%s/jsrc", tmp);
	sh("rm -rf %s && mkdir -p %s && cd %s && "
	   "head -c %u /dev/zero | tr '\\0' A > a.txt && head -c %u /dev/zero | tr '\\0' C > c.txt "
	   "&& "
	   "head -c %u /dev/zero | tr '\\0' E > e.txt && "
	   "head -c %u /dev/zero | tr '\\0' B > ../B.blk && head -c %u /dev/zero | tr '\\0' D > "
	   "../D.blk && "
	   "head -c %u /dev/zero | tr '\\0' F > ../F.blk",
	   src, src, src, bs, bs, bs, bs, bs, bs);
	sh("mkfs.ext4 -q -F -b %u %s -d %s %s 16M >/dev/null 2>&1", bs, mkfs_opts, src, img);
	sh("cd %s && A=$(debugfs -R 'bmap /a.txt 0' %s 2>/dev/null) && "
	   "C=$(debugfs -R 'bmap /c.txt 0' %s 2>/dev/null) && "
	   "E=$(debugfs -R 'bmap /e.txt 0' %s 2>/dev/null) && "
	   "printf 'jo %s\\njw -b %%s B.blk\\njw -b %%s D.blk\\njw -r %%s /dev/null\\njc\\n' $A $C "
	   "$C | "
	   "debugfs -w -f - %s >/dev/null 2>&1 && "
	   "printf 'jo\\njw -b %%s -c F.blk\\njc\\n' $E | debugfs -w -f - %s >/dev/null 2>&1",
	   tmp, img, img, img, jopts, img, img);
}

static void check_journal_image(const char *img, unsigned bs)
{
	char rec[400], a[4096];
	struct vol vol, vr;
	struct tf_ext_view *v, *r;
	uint32_t incompat = 0;
	struct stat st0, st1;

	assert_int_equal(read_super_incompat(img, &incompat), 0);
	assert_true(incompat & 0x4); /* needs_recovery */
	sh("debugfs -R logdump %s 2>&1 | grep -q 'type 5 (revoke table)'", img);
	assert_int_equal(stat(img, &st0), 0);
	v = view_of(&vol, img);
	assert_non_null(strstr(tf_ext_view_note(v), "journal replayed"));
	assert_int_equal(tf_ext_read(v, walk(v, "a.txt"), a, sizeof(a), 0), bs);
	for (unsigned i = 0; i < bs; i++)
		assert_int_equal(a[i], 'B');
	assert_int_equal(tf_ext_read(v, walk(v, "c.txt"), a, 1, 0), 1);
	assert_int_equal(a[0], 'C'); /* revoked in a later transaction */
	assert_int_equal(tf_ext_read(v, walk(v, "e.txt"), a, 1, 0), 1);
	assert_int_equal(a[0], 'E'); /* never committed */
	/* oracle: e2fsck replays a copy; both views and debugfs cat agree */
	snprintf(rec, sizeof(rec), "%s.rec", img);
	sh("cp %s %s && e2fsck -fy %s >/dev/null 2>&1; test $? -le 1", img, rec, rec);
	sh("debugfs -R 'cat /a.txt' %s 2>/dev/null | head -c 1 | grep -q B", rec);
	sh("debugfs -R 'cat /c.txt' %s 2>/dev/null | head -c 1 | grep -q C", rec);
	r = view_of(&vr, rec);
	assert_string_equal(tf_ext_view_note(r), "");
	assert_trees_equal(v, TF_EXT_ROOT_INO, r, TF_EXT_ROOT_INO, 0);
	tf_ext_view_close(r);
	close(vr.fd);
	tf_ext_view_close(v);
	close(vol.fd);
	/* the volume was not written */
	assert_int_equal(stat(img, &st1), 0);
	assert_int_equal(st0.st_mtim.tv_sec, st1.st_mtim.tv_sec);
	assert_int_equal(st0.st_mtim.tv_nsec, st1.st_mtim.tv_nsec);
	assert_int_equal(read_super_incompat(img, &incompat), 0);
	assert_true(incompat & 0x4);
}

static void journal_needing_recovery_shows_post_recovery_content(void **state)
{
	char img[400];

	(void)state;
	snprintf(img, sizeof(img), "%s/j4k.img", tmp);
	/* every tag format: csum v3 (16 bytes), none with 64bit (12), csum v2
	 * without 64bit (10), none without 64bit (8); 4 KiB and 1 KiB blocks */
	build_journal_image(img, "-c", 4096, "");
	check_journal_image(img, 4096);
	snprintf(img, sizeof(img), "%s/j1k.img", tmp);
	build_journal_image(img, "", 1024, "");
	check_journal_image(img, 1024);
	snprintf(img, sizeof(img), "%s/jv2.img", tmp);
	build_journal_image(img, "-c -v 2", 4096, "-O ^64bit");
	sh("dumpe2fs -h %s 2>/dev/null | grep -q 'journal_checksum_v2'", img);
	check_journal_image(img, 4096);
	snprintf(img, sizeof(img), "%s/j32.img", tmp);
	build_journal_image(img, "", 1024, "-O ^64bit");
	check_journal_image(img, 1024);
}

static void file_created_only_in_the_journal_appears_after_replay(void **state)
{
	char x[400], y[400], rec[400];
	struct vol vx, vr;
	struct tf_ext_view *v, *r;
	uint32_t ino;

	(void)state;
	snprintf(x, sizeof(x), "%s/x.img", tmp);
	snprintf(y, sizeof(y), "%s/y.img", tmp);
	snprintf(rec, sizeof(rec), "%s/x.rec", tmp);
	sh("mkdir -p %s/xsrc/d && echo base > %s/xsrc/d/base.txt && "
	   "mkfs.ext4 -q -F -b 4096 -d %s/xsrc %s 16M >/dev/null 2>&1 && cp %s %s && "
	   "echo 'hello from the journal' > %s/new.txt && "
	   "debugfs -w -R 'write %s/new.txt d/new.txt' %s >/dev/null 2>&1",
	   tmp, tmp, tmp, x, x, y, tmp, tmp, y);
	/* every block the change touched goes into one committed transaction of x */
	sh("cd %s && B=$(cmp -l x.img y.img | awk '{print int(($1-1)/4096)}' | uniq | paste -sd,) "
	   "&& "
	   "rm -f blks && for b in $(echo $B | tr , ' '); do "
	   "dd if=y.img bs=4096 skip=$b count=1 2>/dev/null >> blks; done && "
	   "printf 'jo -c\\njw -b %%s blks\\njc\\n' $B | debugfs -w -f - x.img >/dev/null 2>&1",
	   tmp);
	v = view_of(&vx, x);
	ino = walk(v, "d/new.txt");
	assert_true(ino > 0);
	assert_file_equals(v, ino, "hello from the journal\n", 23);
	sh("cp %s %s && e2fsck -fy %s >/dev/null 2>&1; test $? -le 1", x, rec, rec);
	r = view_of(&vr, rec);
	assert_trees_equal(v, TF_EXT_ROOT_INO, r, TF_EXT_ROOT_INO, 0);
	tf_ext_view_close(r);
	close(vr.fd);
	tf_ext_view_close(v);
	close(vx.fd);
}

static void a_volume_without_ext_is_reported_as_such(void **state)
{
	char img[400];
	struct vol vol;
	struct tf_ext_view *v = NULL;

	(void)state;
	snprintf(img, sizeof(img), "%s/zero.img", tmp);
	sh("head -c 4194304 /dev/urandom > %s", img);
	vol_open(&vol, img);
	assert_int_equal(tf_ext_probe(&vol.bio, 0, vol.size), 0);
	assert_int_equal(tf_ext_view_open(&vol.bio, 0, vol.size, "volume junk", NULL, &v),
			 -EMEDIUMTYPE);
	assert_non_null(strstr(tf_errmsg(), "volume junk"));
	assert_null(v);
	close(vol.fd);
	vol_open(&vol, img_main);
	assert_int_equal(tf_ext_probe(&vol.bio, 0, vol.size), 1);
	vol.fail_reads = 1;
	assert_int_equal(tf_ext_view_open(&vol.bio, 0, vol.size, "volume bad", NULL, &v), -EIO);
	close(vol.fd);
}

static void read_failures_after_open_give_eio_naming_the_inode(void **state)
{
	struct vol vol;
	struct tf_ext_view *v = view_of(&vol, img_main);
	uint32_t ino = walk(v, "big.bin");
	char buf[100];

	(void)state;
	vol.fail_reads = 1;
	assert_int_equal(tf_ext_read(v, ino, buf, sizeof(buf), 0), -EIO);
	assert_non_null(strstr(tf_errmsg(), "inode"));
	vol.fail_reads = 0;
	assert_int_equal(tf_ext_read(v, ino, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	assert_memory_equal(buf, big, sizeof(buf));
	tf_ext_view_close(v);
	close(vol.fd);
}

struct par {
	struct tf_ext_view *v;
	int seed, errors;
};

static void *par_reader(void *arg)
{
	struct par *p = arg;
	static unsigned char buf[1 << 16];
	unsigned char *mine = malloc(sizeof(buf));
	uint32_t big_ino = walk(p->v, "big.bin"), ino;
	char name[64];
	struct stat st;

	(void)buf;
	for (int i = 0; i < 300; i++) {
		uint64_t off = ((uint64_t)(p->seed * 7919 + i * 104729)) % (sizeof(big) - 1000);
		ssize_t n = tf_ext_read(p->v, big_ino, mine, 1 << 16, off);
		size_t want = sizeof(big) - off < (1 << 16) ? sizeof(big) - off : (1 << 16);

		if (n != (ssize_t)want || memcmp(mine, big + off, want) != 0)
			p->errors++;
		snprintf(name, sizeof(name), "entry-%05d-with-a-longer-name",
			 (p->seed * 31 + i * 67) % BIGDIR_N);
		if (tf_ext_lookup(p->v, walk(p->v, "bigdir"), name, &ino) < 0 ||
		    tf_ext_getattr(p->v, ino, &st) < 0 || st.st_size != 0)
			p->errors++;
	}
	free(mine);
	return NULL;
}

static void parallel_readers_share_a_view(void **state)
{
	struct vol vol;
	struct tf_ext_view *v = view_of(&vol, img_main);
	pthread_t th[6];
	struct par p[6];

	(void)state;
	for (int i = 0; i < 6; i++) {
		p[i] = (struct par){v, i + 1, 0};
		assert_int_equal(pthread_create(&th[i], NULL, par_reader, &p[i]), 0);
	}
	for (int i = 0; i < 6; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 6; i++)
		assert_int_equal(p[i].errors, 0);
	tf_ext_view_close(v);
	close(vol.fd);
}

/* ---- corruption ---- */

static void flip(const char *img, uint64_t off, unsigned char mask)
{
	int fd = open(img, O_RDWR);
	unsigned char c;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, (off_t)off), 1);
	c ^= mask;
	assert_int_equal(pwrite(fd, &c, 1, (off_t)off), 1);
	close(fd);
}

static uint64_t debugfs_num(const char *cmd, const char *img)
{
	char line[512];
	FILE *f;
	unsigned long long n = 0;

	snprintf(line, sizeof(line), "debugfs -R '%s' %s 2>/dev/null", cmd, img);
	f = popen(line, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	pclose(f);
	assert_int_equal(sscanf(line, "%llu", &n), 1);
	return n;
}

static void corruption_fails_only_the_affected_paths(void **state)
{
	char img[400], c[400];
	struct vol vol;
	struct tf_ext_view *v;
	struct stat st;
	uint32_t ino;
	uint64_t blk;
	char buf[64];

	(void)state;
	snprintf(img, sizeof(img), "%s/c.img", tmp);
	sh("mkdir -p %s/csrc/d1 %s/csrc/d2 && echo one > %s/csrc/d1/one && echo two > "
	   "%s/csrc/d2/two && "
	   "mkfs.ext4 -q -F -b 4096 -d %s/csrc %s 200M >/dev/null 2>&1",
	   tmp, tmp, tmp, tmp, tmp, img);

	/* superblock bit flip: the checksum fails, the backup superblock is used */
	snprintf(c, sizeof(c), "%s/c-sb.img", tmp);
	sh("cp %s %s", img, c);
	flip(c, 1024 + 0x20, 0x10); /* s_blocks_per_group */
	v = view_of(&vol, c);
	assert_non_null(strstr(tf_ext_view_note(v), "backup"));
	assert_int_equal(tf_ext_read(v, walk(v, "d2/two"), buf, sizeof(buf), 0), 4);
	tf_ext_view_close(v);
	close(vol.fd);

	/* directory block of d1: d1 fails, d2 still works */
	snprintf(c, sizeof(c), "%s/c-dir.img", tmp);
	sh("cp %s %s", img, c);
	blk = debugfs_num("bmap /d1 0", c);
	flip(c, blk * 4096 + 30, 0xff);
	v = view_of(&vol, c);
	ino = walk(v, "d1");
	assert_true(ino > 0);
	assert_int_equal(tf_ext_lookup(v, ino, "one", &ino), -EBADMSG);
	assert_non_null(strstr(tf_errmsg(), "directory inode"));
	assert_int_equal(tf_ext_read(v, walk(v, "d2/two"), buf, sizeof(buf), 0), 4);
	tf_ext_view_close(v);
	close(vol.fd);

	/* inode table block holding d2/two's inode: that inode fails (checksum) */
	snprintf(c, sizeof(c), "%s/c-ino.img", tmp);
	sh("cp %s %s", img, c);
	v = view_of(&vol, c);
	ino = walk(v, "d2/two");
	assert_true(ino > 0);
	tf_ext_view_close(v);
	close(vol.fd);
	{
		/* imap prints "Inode N is part of block group G\n\tlocated at block B, offset 0xO"
		 */
		char line[512], cmd[512];
		unsigned long long b = 0, o = 0;
		FILE *f;

		snprintf(cmd, sizeof(cmd), "debugfs -R 'imap <%u>' %s 2>/dev/null | tail -1", ino,
			 c);
		f = popen(cmd, "r");
		assert_non_null(f);
		assert_non_null(fgets(line, sizeof(line), f));
		pclose(f);
		assert_int_equal(sscanf(line, " located at block %llu, offset 0x%llx", &b, &o), 2);
		flip(c, b * 4096 + o + 0x4, 0x01); /* i_size low bit */
	}
	v = view_of(&vol, c);
	assert_int_equal(tf_ext_getattr(v, ino, &st), -EBADMSG);
	assert_non_null(strstr(tf_errmsg(), "inode"));
	assert_int_equal(tf_ext_read(v, walk(v, "d1/one"), buf, sizeof(buf), 0), 4);
	tf_ext_view_close(v);
	close(vol.fd);
}

static void corrupt_journal_never_crashes_and_never_replays_garbage(void **state)
{
	char img[400], c[400];
	struct vol vol;
	struct tf_ext_view *v = NULL;
	uint64_t jblk;
	char a[8];

	(void)state;
	snprintf(img, sizeof(img), "%s/jc.img", tmp);
	build_journal_image(img, "-c", 4096, "");
	jblk = debugfs_num("bmap <8> 1", img); /* first descriptor of T1 */
	/* descriptor checksum broken: T1 is not replayed, nothing after it either */
	snprintf(c, sizeof(c), "%s/jc1.img", tmp);
	sh("cp %s %s", img, c);
	flip(c, jblk * 4096 + 20, 0x40);
	v = view_of(&vol, c);
	assert_non_null(strstr(tf_ext_view_note(v), "checksum"));
	assert_int_equal(tf_ext_read(v, walk(v, "a.txt"), a, 1, 0), 1);
	assert_int_equal(a[0], 'A');
	tf_ext_view_close(v);
	close(vol.fd);
	/* data block of T1 broken: its tag checksum fails, the block is skipped */
	snprintf(c, sizeof(c), "%s/jc2.img", tmp);
	sh("cp %s %s", img, c);
	flip(c, (jblk + 1) * 4096 + 100, 0x01);
	v = view_of(&vol, c);
	assert_non_null(strstr(tf_ext_view_note(v), "1 bad tags"));
	assert_int_equal(tf_ext_read(v, walk(v, "a.txt"), a, 1, 0), 1);
	assert_int_equal(a[0], 'A');
	tf_ext_view_close(v);
	close(vol.fd);
	/* journal superblock garbage: a clear error, no view */
	snprintf(c, sizeof(c), "%s/jc3.img", tmp);
	sh("cp %s %s", img, c);
	flip(c, debugfs_num("bmap <8> 0", img) * 4096 + 0, 0xff);
	vol_open(&vol, c);
	v = NULL;
	assert_int_equal(tf_ext_view_open(&vol.bio, 0, vol.size, "jc3", NULL, &v), -EUCLEAN);
	assert_non_null(strstr(tf_errmsg(), "journal"));
	close(vol.fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(reads_files_and_nested_directories_as_in_the_source),
	    cmocka_unit_test(sparse_file_seek_data_and_seek_hole_are_exact),
	    cmocka_unit_test(large_htree_directory_is_listed_once_and_resumes_from_cookies),
	    cmocka_unit_test(fast_and_slow_symlinks_read_back),
	    cmocka_unit_test(device_nodes_and_fifos_keep_type_and_rdev),
	    cmocka_unit_test(hard_links_share_one_inode),
	    cmocka_unit_test(xattrs_are_listed_and_read),
	    cmocka_unit_test(owners_modes_and_times_include_high_bits_and_nanoseconds),
	    cmocka_unit_test(statfs_reports_the_superblock_read_only),
	    cmocka_unit_test(inline_data_files_directories_and_symlinks_read_back),
	    cmocka_unit_test(journal_needing_recovery_shows_post_recovery_content),
	    cmocka_unit_test(external_journals_and_journal_devices_are_reported_clearly),
	    cmocka_unit_test(file_created_only_in_the_journal_appears_after_replay),
	    cmocka_unit_test(a_volume_without_ext_is_reported_as_such),
	    cmocka_unit_test(read_failures_after_open_give_eio_naming_the_inode),
	    cmocka_unit_test(parallel_readers_share_a_view),
	    cmocka_unit_test(corruption_fails_only_the_affected_paths),
	    cmocka_unit_test(corrupt_journal_never_crashes_and_never_replays_garbage),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
