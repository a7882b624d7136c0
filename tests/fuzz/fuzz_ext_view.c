/* fuzz_ext_view.c — libFuzzer harness: the input is a volume image; open it
 * (partition table, journal replay, superblock fallback) and walk everything
 * the FUSE layer could ask for.  Any crash, hang, leak or sanitizer report is
 * a bug: corrupt input must only ever produce error returns. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/err.h"
#include "core/ext/ext_view.h"
#include "core/io/bio.h"
#include "core/part/parttable.h"

#define MAX_VISITS 400

struct walk {
	struct tf_ext_view *v;
	unsigned visits;
	uint32_t stack[512];
	unsigned nstack;
};

static int collect(void *arg, const char *name, uint32_t ino, unsigned dtype, uint64_t next)
{
	struct walk *w = arg;

	(void)dtype, (void)next;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return 0;
	if (w->nstack < sizeof(w->stack) / sizeof(w->stack[0]))
		w->stack[w->nstack++] = ino;
	return 0;
}

static void visit(struct walk *w, uint32_t ino)
{
	static _Thread_local char buf[65536];
	struct tf_ext_dir *d;
	struct stat st;
	uint32_t found;

	if (tf_ext_getattr(w->v, ino, &st) < 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		if (tf_ext_opendir(w->v, ino, &d) == 0) {
			(void)tf_ext_readdir(d, 0, collect, w);
			(void)tf_ext_readdir(d, 3, collect, w);
			tf_ext_closedir(d);
		}
		(void)tf_ext_lookup(w->v, ino, "lost+found", &found);
	} else if (S_ISREG(st.st_mode)) {
		(void)tf_ext_read(w->v, ino, buf, sizeof(buf), 0);
		(void)tf_ext_read(w->v, ino, buf, 100, (uint64_t)st.st_size / 2);
		(void)tf_ext_seek_data(w->v, ino, 0);
		(void)tf_ext_seek_hole(w->v, ino, 0);
	} else if (S_ISLNK(st.st_mode)) {
		(void)tf_ext_readlink(w->v, ino, buf, sizeof(buf));
	}
	if (tf_ext_listxattr(w->v, ino, buf, sizeof(buf)) > 0)
		(void)tf_ext_getxattr(w->v, ino, buf, buf + 4096, sizeof(buf) - 4096);
}

static void walk_view(struct tf_bio *im, uint64_t off, uint64_t len)
{
	struct tf_ext_opts opts = {.max_handles = 2, .cache_dirs = 4, .cache_maps = 4};
	struct walk w = {0};
	struct statvfs sv;

	if (tf_ext_view_open(im, off, len, "fuzz", &opts, &w.v) < 0)
		return;
	(void)tf_ext_statfs(w.v, &sv);
	w.stack[w.nstack++] = TF_EXT_ROOT_INO;
	while (w.nstack && w.visits++ < MAX_VISITS)
		visit(&w, w.stack[--w.nstack]);
	tf_ext_view_close(w.v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tf_parttable pt;
	struct tf_bio *im;

	/* The image as block I/O; nothing writes through it. */
	if (tf_bio_open_mem((void *)data, size, "fuzz image", &im) < 0)
		return 0;
	walk_view(im, 0, size);
	if (tf_parttable_read(im, &pt) == 0) {
		for (unsigned i = 0; i < pt.count && i < 2; i++)
			if (tf_ext_probe(im, pt.parts[i].start, pt.parts[i].length) == 1)
				walk_view(im, pt.parts[i].start, pt.parts[i].length);
		tf_parttable_free(&pt);
	}
	tf_bio_close(im);
	return 0;
}
