/* test_parttable.c — GPT/MBR parsing against tables written by sgdisk and
 * sfdisk, hand-made nonsense, and an ext4 in p1 opened through the view. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "core/base/err.h"
#include "core/ext/ext_view.h"
#include "core/io/bio.h"
#include "core/part/parttable.h"

static char tmp[256];

struct vol {
	struct tf_bio bio; /* what the readers take: pread is vol_read */
	int fd;
	uint64_t size;
	int fail;
};

static int vol_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct vol *v = ctx;

	if (v->fail)
		return tf_fail(EIO, "test volume: injected failure");
	if (pread(v->fd, buf, len, (off_t)off) != (ssize_t)len)
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
	v->fail = 0;
}

static void table_of(const char *img, struct tf_parttable *pt)
{
	struct vol v;

	vol_open(&v, img);
	assert_int_equal(tf_parttable_read(&v.bio, pt), 0);
	close(v.fd);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof(tmp), "/tmp/test_parttable.XXXXXX");
	if (!mkdtemp(tmp))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	return system(cmd) == 0 ? 0 : -1;
}

/* ext4 with one file written into the volume at byte offset off. */
static void ext4_at(const char *img, uint64_t off, const char *size)
{
	sh("mkdir -p %s/p1src && echo 'in partition one' > %s/p1src/hello.txt && "
	   "mkfs.ext4 -q -F -b 4096 -d %s/p1src %s/p1.fs %s >/dev/null 2>&1 && "
	   "dd if=%s/p1.fs of=%s bs=1M seek=%llu conv=notrunc status=none",
	   tmp, tmp, tmp, tmp, size, tmp, img, (unsigned long long)(off >> 20));
}

static void assert_p1_holds_the_ext4(const char *img, const struct tf_part *p1,
				     const struct tf_part *p2)
{
	struct vol v;
	struct tf_ext_view *view;
	uint32_t ino;
	char buf[64];

	vol_open(&v, img);
	assert_int_equal(tf_ext_probe(&v.bio, p1->start, p1->length), 1);
	assert_int_equal(tf_ext_probe(&v.bio, p2->start, p2->length), 0);
	assert_int_equal(tf_ext_view_open(&v.bio, p1->start, p1->length, "p1", NULL, &view), 0);
	assert_int_equal(tf_ext_lookup(view, TF_EXT_ROOT_INO, "hello.txt", &ino), 0);
	assert_int_equal(tf_ext_read(view, ino, buf, sizeof(buf), 0), 17);
	assert_memory_equal(buf, "in partition one\n", 17);
	tf_ext_view_close(view);
	close(v.fd);
}

static void gpt_volume_shows_ext4_in_p1_and_swap_in_p2(void **state)
{
	char img[300];
	struct tf_parttable pt;

	(void)state;
	snprintf(img, sizeof(img), "%s/gpt.img", tmp);
	sh("truncate -s 64M %s && sgdisk -n 1:2048:+32M -t 1:8300 -c 1:rootfs -n 2:0:0 -t 2:8200 "
	   "%s >/dev/null && head -c 65536 /dev/urandom | dd of=%s bs=1M seek=40 conv=notrunc "
	   "status=none",
	   img, img, img);
	ext4_at(img, 1 << 20, "32M");
	table_of(img, &pt);
	assert_int_equal(pt.scheme, TF_PT_GPT);
	assert_string_equal(pt.reason, "");
	assert_int_equal(pt.count, 2);
	assert_int_equal(pt.parts[0].index, 1);
	assert_int_equal(pt.parts[0].start, 1 << 20);
	assert_int_equal(pt.parts[0].length, 32 << 20);
	assert_int_equal(pt.parts[0].kind, TF_PKIND_LINUX);
	assert_string_equal(pt.parts[0].type, "0FC63DAF-8483-4772-8E79-3D69D8477DE4");
	assert_string_equal(pt.parts[0].name, "rootfs");
	assert_int_equal(pt.parts[1].index, 2);
	assert_int_equal(pt.parts[1].kind, TF_PKIND_SWAP);
	assert_true(pt.parts[1].start >= (33u << 20));
	assert_true(pt.parts[1].start + pt.parts[1].length <= (64u << 20) - 33 * 512);
	assert_p1_holds_the_ext4(img, &pt.parts[0], &pt.parts[1]);
	tf_parttable_free(&pt);

	/* primary header corrupt: the backup at the last LBA is used */
	sh("printf '\\377' | dd of=%s bs=1 seek=%d conv=notrunc status=none", img, 512 + 20);
	table_of(img, &pt);
	assert_int_equal(pt.scheme, TF_PT_GPT);
	assert_int_equal(pt.count, 2);
	assert_non_null(strstr(pt.reason, "backup"));
	tf_parttable_free(&pt);

	/* both headers corrupt: protective MBR, no GPT → no partitions, a reason */
	sh("printf '\\377' | dd of=%s bs=1 seek=%llu conv=notrunc status=none", img,
	   (64ull << 20) - 512 + 20);
	table_of(img, &pt);
	assert_int_equal(pt.scheme, TF_PT_NONE);
	assert_int_equal(pt.count, 0);
	assert_non_null(strstr(pt.reason, "protective MBR"));
	tf_parttable_free(&pt);
}

static void mbr_volume_shows_ext4_in_p1_and_logical_partitions(void **state)
{
	char img[300];
	struct tf_parttable pt;

	(void)state;
	snprintf(img, sizeof(img), "%s/mbr.img", tmp);
	sh("truncate -s 64M %s && printf 'label: "
	   "dos\\n2048,65536,83\\n,20480,82\\n,,5\\n,4096,83\\n,,c\\n' "
	   "| sfdisk -q %s >/dev/null",
	   img, img);
	ext4_at(img, 1 << 20, "32M");
	table_of(img, &pt);
	assert_int_equal(pt.scheme, TF_PT_MBR);
	assert_string_equal(pt.reason, "");
	assert_int_equal(pt.count, 4);
	assert_int_equal(pt.parts[0].index, 1);
	assert_int_equal(pt.parts[0].start, 1 << 20);
	assert_int_equal(pt.parts[0].length, 32 << 20);
	assert_int_equal(pt.parts[0].kind, TF_PKIND_LINUX);
	assert_string_equal(pt.parts[0].type, "0x83");
	assert_int_equal(pt.parts[1].index, 2);
	assert_int_equal(pt.parts[1].kind, TF_PKIND_SWAP);
	assert_int_equal(pt.parts[2].index, 5);
	assert_int_equal(pt.parts[2].length, 4096 * 512);
	assert_int_equal(pt.parts[3].index, 6);
	assert_int_equal(pt.parts[3].kind, TF_PKIND_MS_DATA);
	for (unsigned i = 0; i < pt.count; i++)
		assert_true(pt.parts[i].start + pt.parts[i].length <= (64u << 20));
	assert_p1_holds_the_ext4(img, &pt.parts[0], &pt.parts[1]);
	tf_parttable_free(&pt);
}

static void write_mbr(const char *img, const uint32_t ent[4][3])
{
	unsigned char mbr[512] = {0};
	int fd = open(img, O_RDWR);

	for (int i = 0; i < 4; i++) {
		unsigned char *e = mbr + 446 + 16 * i;
		e[4] = (unsigned char)ent[i][0];
		for (int k = 0; k < 4; k++) {
			e[8 + k] = (unsigned char)(ent[i][1] >> (8 * k));
			e[12 + k] = (unsigned char)(ent[i][2] >> (8 * k));
		}
	}
	mbr[510] = 0x55, mbr[511] = 0xAA;
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, mbr, sizeof(mbr), 0), 512);
	close(fd);
}

static void nonsense_tables_give_no_partitions_and_a_reason(void **state)
{
	char img[300];
	struct tf_parttable pt;
	struct vol v;
	const uint32_t beyond[4][3] = {{0x83, 2048, 8192}, {0x83, 16384, 1u << 30}};
	const uint32_t overlap[4][3] = {{0x83, 2048, 8192}, {0x83, 4096, 8192}};
	const uint32_t loop[4][3] = {{0x05, 2048, 8192}};

	(void)state;
	snprintf(img, sizeof(img), "%s/junk.img", tmp);
	sh("head -c 8388608 /dev/urandom > %s", img);
	table_of(img, &pt);
	assert_int_equal(pt.scheme, TF_PT_NONE);
	assert_int_equal(pt.count, 0);
	assert_true(pt.reason[0] != '\0');
	tf_parttable_free(&pt);

	sh("truncate -s 0 %s && truncate -s 8M %s", img, img);
	write_mbr(img, beyond);
	table_of(img, &pt);
	assert_int_equal(pt.scheme, TF_PT_MBR);
	assert_int_equal(pt.count, 1);
	assert_non_null(strstr(pt.reason, "outside the volume"));
	assert_non_null(strstr(pt.reason, "p2"));
	tf_parttable_free(&pt);

	write_mbr(img, overlap);
	table_of(img, &pt);
	assert_int_equal(pt.scheme, TF_PT_NONE);
	assert_int_equal(pt.count, 0);
	assert_non_null(strstr(pt.reason, "overlap"));
	tf_parttable_free(&pt);

	/* an extended partition whose EBR links to itself: no hang */
	write_mbr(img, loop);
	{
		unsigned char ebr[512] = {0};
		int fd = open(img, O_RDWR);

		ebr[446 + 4] = 0x83, ebr[446 + 8] = 1, ebr[446 + 12] = 16;
		ebr[462 + 4] = 0x05, ebr[462 + 8] = 100, ebr[462 + 12] = 16; /* next EBR */
		ebr[510] = 0x55, ebr[511] = 0xAA;
		assert_int_equal(pwrite(fd, ebr, 512, 2048 * 512), 512);
		/* ... which links to itself */
		assert_int_equal(pwrite(fd, ebr, 512, (2048 + 100) * 512), 512);
		close(fd);
	}
	table_of(img, &pt);
	assert_int_equal(pt.count, 2);
	assert_int_equal(pt.parts[0].index, 5);
	assert_int_equal(pt.parts[1].index, 6);
	assert_non_null(strstr(pt.reason, "backwards"));
	tf_parttable_free(&pt);

	/* tiny volume, and a failing read */
	vol_open(&v, img);
	v.bio.size = 100;
	assert_int_equal(tf_parttable_read(&v.bio, &pt), 0);
	v.bio.size = v.size;
	assert_int_equal(pt.count, 0);
	tf_parttable_free(&pt);
	v.fail = 1;
	assert_int_equal(tf_parttable_read(&v.bio, &pt), -EIO);
	close(v.fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(gpt_volume_shows_ext4_in_p1_and_swap_in_p2),
	    cmocka_unit_test(mbr_volume_shows_ext4_in_p1_and_logical_partitions),
	    cmocka_unit_test(nonsense_tables_give_no_partitions_and_a_reason),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
