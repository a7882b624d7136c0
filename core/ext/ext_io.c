/* ext_io.c — the bytes of an ext2/3/4 filesystem inside a volume, for libext2fs.
 *
 * thinfs never mounts or activates anything to browse a filesystem: libext2fs
 * reads through this io_manager, which reads the volume's block I/O
 * (core/vol/volume.h: tf_volume_bio) within a byte window (the whole volume
 * or one partition), and answers first from the journal overlay (blocks that
 * replaying the journal would have written).  Writes are refused: a view is
 * read-only and the volume is never written.
 *
 * Like e2fsprogs' unix_io and test_io, the manager is a static table and an
 * exported pointer.  libext2fs opens a channel by name, so the name carries
 * the address of the ext_src ("thinfs-ext:0x..."); the caller keeps that
 * source alive for as long as the channel lives.  Each channel has a small
 * direct-mapped cache of single-block reads (inode table, directory and
 * extent blocks are read again and again by getattr/lookup storms); it
 * belongs to the one ext2_filsys handle of the channel, which one thread
 * uses at a time, so it needs no lock.  Nothing is shared between channels
 * but the immutable source, so handles run in parallel as long as the read
 * callback is thread-safe.
 */
#include "core/ext/ext_internal.h"

#include "core/base/err.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- overlay: open-addressing hash of block number → copy of the block ---- */

struct ov_slot {
	uint64_t blk;
	void *data; /* NULL: empty slot */
};

struct ext_overlay {
	unsigned bs;
	size_t count, cap; /* cap: power of two */
	struct ov_slot *slots;
};

static size_t ov_hash(uint64_t blk, size_t cap)
{
	blk ^= blk >> 33;
	blk *= 0xff51afd7ed558ccdULL;
	blk ^= blk >> 33;
	return (size_t)blk & (cap - 1);
}

struct ext_overlay *ext_overlay_new(unsigned blocksize)
{
	struct ext_overlay *ov = calloc(1, sizeof(*ov));

	if (!ov)
		return NULL;
	ov->bs = blocksize;
	ov->cap = 64;
	ov->slots = calloc(ov->cap, sizeof(*ov->slots));
	if (!ov->slots) {
		free(ov);
		return NULL;
	}
	return ov;
}

static struct ov_slot *ov_slot(const struct ext_overlay *ov, uint64_t blk)
{
	size_t i = ov_hash(blk, ov->cap);

	while (ov->slots[i].data && ov->slots[i].blk != blk)
		i = (i + 1) & (ov->cap - 1);
	return &ov->slots[i];
}

static int ov_grow(struct ext_overlay *ov)
{
	struct ext_overlay big = *ov;

	big.cap = ov->cap * 2;
	big.slots = calloc(big.cap, sizeof(*big.slots));
	if (!big.slots)
		return -ENOMEM;
	for (size_t i = 0; i < ov->cap; i++)
		if (ov->slots[i].data)
			*ov_slot(&big, ov->slots[i].blk) = ov->slots[i];
	free(ov->slots);
	ov->slots = big.slots;
	ov->cap = big.cap;
	return 0;
}

int ext_overlay_put(struct ext_overlay *ov, uint64_t blk, const void *data)
{
	struct ov_slot *s;

	if ((ov->count + 1) * 2 > ov->cap && ov_grow(ov) < 0)
		return tf_fail(ENOMEM, "journal overlay: out of memory");
	s = ov_slot(ov, blk);
	if (!s->data) {
		s->data = malloc(ov->bs);
		if (!s->data)
			return tf_fail(ENOMEM, "journal overlay: out of memory");
		s->blk = blk;
		ov->count++;
	}
	memcpy(s->data, data, ov->bs);
	return 0;
}

const void *ext_overlay_get(const struct ext_overlay *ov, uint64_t blk)
{
	return ov_slot(ov, blk)->data;
}

size_t ext_overlay_count(const struct ext_overlay *ov)
{
	return ov ? ov->count : 0;
}

void ext_overlay_free(struct ext_overlay *ov)
{
	if (!ov)
		return;
	for (size_t i = 0; i < ov->cap; i++)
		free(ov->slots[i].data);
	free(ov->slots);
	free(ov);
}

/* ---- the source ---- */

static void src_patch(const struct ext_overlay *ov, uint8_t *buf, size_t len, uint64_t off)
{
	uint64_t bs = ov->bs, first = off / bs, last = (off + len - 1) / bs;

	if (last - first + 1 <= 4 * (uint64_t)ov->count) {
		for (uint64_t b = first; b <= last; b++) {
			const uint8_t *d = ext_overlay_get(ov, b);
			uint64_t bstart = b * bs, s, e;

			if (!d)
				continue;
			s = bstart > off ? bstart : off;
			e = bstart + bs < off + len ? bstart + bs : off + len;
			memcpy(buf + (s - off), d + (s - bstart), e - s);
		}
		return;
	}
	for (size_t i = 0; i < ov->cap; i++) {
		const struct ov_slot *sl = &ov->slots[i];
		uint64_t bstart, s, e;

		if (!sl->data || sl->blk < first || sl->blk > last)
			continue;
		bstart = sl->blk * bs;
		s = bstart > off ? bstart : off;
		e = bstart + bs < off + len ? bstart + bs : off + len;
		memcpy(buf + (s - off), (const uint8_t *)sl->data + (s - bstart), e - s);
	}
}

int ext_src_read(const struct ext_src *src, void *buf, size_t len, uint64_t off)
{
	int rc;

	if (len == 0)
		return 0;
	if (off > src->len || len > src->len - off)
		return tf_fail(
		    EIO, "%s: read of %zu bytes at %" PRIu64 " is past the end (%" PRIu64 " bytes)",
		    src->label, len, off, src->len);
	rc = tf_bio_pread(src->vol, buf, len, src->off + off);
	if (rc < 0)
		return tf_fail_ctx(rc, "%s: ", src->label);
	if (src->ov && src->ov->count)
		src_patch(src->ov, buf, len, off);
	return 0;
}

/* ---- the io_manager ---- */

#define EXT_IO_PREFIX "thinfs-ext:"
#define EIO_CACHE_BYTES (256u << 10)

struct eio_chan {
	const struct ext_src *src;
	unsigned slots; /* 0 until the first cached read at this block size */
	uint64_t *tag;	/* block + 1 per slot, 0 = empty */
	uint8_t *data;	/* slots x block size */
};

static void eio_cache_drop(struct eio_chan *c)
{
	free(c->tag);
	free(c->data);
	c->tag = NULL;
	c->data = NULL;
	c->slots = 0;
}

void ext_io_name(const struct ext_src *src, char *buf, size_t len)
{
	snprintf(buf, len, EXT_IO_PREFIX "%p", (const void *)src);
}

static errcode_t eio_open(const char *name, int flags, io_channel *channel)
{
	io_channel ch = NULL;
	struct eio_chan *c;
	void *p = NULL;
	errcode_t e;

	if (!name || strncmp(name, EXT_IO_PREFIX, strlen(EXT_IO_PREFIX)) != 0 ||
	    sscanf(name + strlen(EXT_IO_PREFIX), "%p", &p) != 1 || !p)
		return EXT2_ET_BAD_DEVICE_NAME;
	if (flags & IO_FLAG_RW)
		return EXT2_ET_RO_FILSYS;
	c = calloc(1, sizeof(*c));
	if (!c)
		return EXT2_ET_NO_MEMORY;
	c->src = p;
	e = ext2fs_get_memzero(sizeof(*ch), &ch);
	if (e) {
		free(c);
		return e;
	}
	e = ext2fs_get_mem(strlen(name) + 1, &ch->name);
	if (e) {
		ext2fs_free_mem(&ch);
		free(c);
		return e;
	}
	strcpy(ch->name, name);
	ch->magic = EXT2_ET_MAGIC_IO_CHANNEL;
	ch->manager = tf_ext_io_manager;
	ch->block_size = 1024;
	ch->refcount = 1;
	ch->private_data = c;
	*channel = ch;
	return 0;
}

static errcode_t eio_close(io_channel ch)
{
	if (--ch->refcount > 0)
		return 0;
	eio_cache_drop(ch->private_data);
	free(ch->private_data);
	ext2fs_free_mem(&ch->name);
	ext2fs_free_mem(&ch);
	return 0;
}

static errcode_t eio_set_blksize(io_channel ch, int blksize)
{
	if (blksize <= 0 || blksize > (1 << 20))
		return EXT2_ET_INVALID_ARGUMENT;
	if (blksize != ch->block_size)
		eio_cache_drop(ch->private_data);
	ch->block_size = blksize;
	return 0;
}

/* count > 0: blocks; count < 0: bytes (the io_manager contract). */
static errcode_t eio_read_blk64(io_channel ch, unsigned long long block, int count, void *data)
{
	struct eio_chan *c = ch->private_data;
	uint64_t bs = (uint64_t)ch->block_size;
	uint64_t len = count < 0 ? (uint64_t)(-(int64_t)count) : (uint64_t)count * bs;
	unsigned slot = 0;
	int rc, cacheable = len == bs;

	if (len == 0)
		return 0;
	if (block > UINT64_MAX / bs)
		return EXT2_ET_SHORT_READ;
	if (cacheable && !c->slots) {
		unsigned n = EIO_CACHE_BYTES / (unsigned)bs;

		n = n < 8 ? 8 : n;
		c->tag = calloc(n, sizeof(*c->tag));
		c->data = malloc((size_t)n * bs);
		if (c->tag && c->data)
			c->slots = n;
		else
			eio_cache_drop(c);
	}
	if (cacheable && c->slots) {
		slot = (unsigned)(block % c->slots);
		if (c->tag[slot] == block + 1) {
			memcpy(data, c->data + (size_t)slot * bs, bs);
			return 0;
		}
	}
	rc = ext_src_read(c->src, data, (size_t)len, block * bs);
	if (rc == 0 && cacheable && c->slots) {
		memcpy(c->data + (size_t)slot * bs, data, bs);
		c->tag[slot] = block + 1;
	}
	if (rc < 0) {
		if (ch->read_error)
			return ch->read_error(ch, (unsigned long)block, count, data, (size_t)len, 0,
					      (errcode_t)-rc);
		return rc == -EIO ? EXT2_ET_SHORT_READ : (errcode_t)-rc;
	}
	return 0;
}

static errcode_t eio_read_blk(io_channel ch, unsigned long block, int count, void *data)
{
	return eio_read_blk64(ch, block, count, data);
}

static errcode_t eio_write_blk(io_channel ch, unsigned long block, int count, const void *data)
{
	(void)ch, (void)block, (void)count, (void)data;
	return EXT2_ET_RO_FILSYS;
}

static errcode_t eio_write_blk64(io_channel ch, unsigned long long block, int count,
				 const void *data)
{
	(void)ch, (void)block, (void)count, (void)data;
	return EXT2_ET_RO_FILSYS;
}

static errcode_t eio_write_byte(io_channel ch, unsigned long offset, int count, const void *data)
{
	(void)ch, (void)offset, (void)count, (void)data;
	return EXT2_ET_RO_FILSYS;
}

static errcode_t eio_flush(io_channel ch)
{
	(void)ch;
	return 0;
}

static errcode_t eio_set_option(io_channel ch, const char *option, const char *arg)
{
	(void)ch, (void)option, (void)arg;
	return EXT2_ET_INVALID_ARGUMENT;
}

static errcode_t eio_discard(io_channel ch, unsigned long long block, unsigned long long count)
{
	(void)ch, (void)block, (void)count;
	return EXT2_ET_RO_FILSYS;
}

static errcode_t eio_zeroout(io_channel ch, unsigned long long block, unsigned long long count)
{
	(void)ch, (void)block, (void)count;
	return EXT2_ET_RO_FILSYS;
}

static struct struct_io_manager ext_io_table = {
    .magic = EXT2_ET_MAGIC_IO_MANAGER,
    .name = "thinfs volume window I/O manager",
    .open = eio_open,
    .close = eio_close,
    .set_blksize = eio_set_blksize,
    .read_blk = eio_read_blk,
    .write_blk = eio_write_blk,
    .flush = eio_flush,
    .write_byte = eio_write_byte,
    .set_option = eio_set_option,
    .read_blk64 = eio_read_blk64,
    .write_blk64 = eio_write_blk64,
    .discard = eio_discard,
    .zeroout = eio_zeroout,
};

io_manager tf_ext_io_manager = &ext_io_table;
