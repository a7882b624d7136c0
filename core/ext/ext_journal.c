/* ext_journal.c — jbd2 journal replay into an in-memory overlay.
 *
 * A filesystem on a snapshot of a running system usually "needs recovery":
 * its latest metadata sits in the journal.  The kernel would replay the
 * journal onto the disk at mount; thinfs never writes the volume, so the
 * replayed blocks go into an overlay (block number → latest committed copy)
 * that the io_manager consults first.  The superblock copy in the overlay
 * gets needs_recovery cleared (and its checksum refreshed).
 *
 * The passes follow the kernel's fs/jbd2/recovery.c: PASS_SCAN finds the end
 * of the log (the first transaction without a valid commit block), PASS_REVOKE
 * collects revoke records with the newest revoking transaction per block,
 * PASS_REPLAY copies every block of a committed transaction unless a revoke
 * in the same or a later transaction covers it.  Where the kernel would fail
 * the mount on a checksum error in the middle of the log, we stop the log at
 * the last good transaction and say so in the note: a view of slightly older
 * metadata beats no view, and nothing is written.  Not supported (clear
 * error): external journal devices.  Not replayed (noted): fast commits, and
 * v1 (COMPAT_CHECKSUM) transaction checksums are not verified.
 *
 * On-disk map (all big-endian; offsets in bytes):
 *   block header (every metadata block): 0 magic 0xC03B3998  4 type  8 sequence
 *     type 1 descriptor, 2 commit, 3 superblock v1, 4 superblock v2, 5 revoke
 *   superblock (journal block 0): 12 blocksize  16 maxlen  20 first  24 sequence
 *     28 start (0 = clean)  36 compat  40 incompat  44 ro_compat  48 uuid[16]
 *     incompat: 0x1 revoke  0x2 64bit  0x4 async commit  0x8 csum v2
 *               0x10 csum v3  0x20 fast commit (84: number of fc blocks)
 *   descriptor: header, then tags; with csum v2/v3 the last 4 bytes of the
 *     block are a crc32c tail.  Tag: 0 blocknr  (v3: 4 flags32 8 blocknr_high
 *     12 csum32 = 16 bytes) (else: 4 csum16 6 flags16 8 blocknr_high, size
 *     12, +2 with csum v2, -4 without 64bit); flags (low 16 bits at 6):
 *     1 escape (restore the magic in the data block's first 4 bytes),
 *     2 same uuid (else 16 uuid bytes follow the tag), 8 last tag.
 *     Each tag's data block follows the descriptor in the log, in order.
 *   commit: header, 12 csum type  13 csum size  16 csum[8]  48 sec  56 nsec
 *   revoke: header, 12 r_count (bytes used incl. header), records of 4 or 8
 *     (64bit) bytes; csum v2/v3 tail as for descriptors.
 *   checksums (v2/v3): seed = crc32c(~0, uuid); block csums are
 *     crc32c(seed, block with its csum field zeroed); tag csum =
 *     crc32c(crc32c(seed, be32 sequence), data block).
 * The log runs from journal block `start` with transaction `sequence` and
 * wraps from maxlen back to first.
 */
#include "core/ext/ext_internal.h"

#include "core/base/err.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JBD2_MAGIC 0xC03B3998u
#define JT_DESCRIPTOR 1
#define JT_COMMIT 2
#define JT_SB_V1 3
#define JT_SB_V2 4
#define JT_REVOKE 5

#define JI_REVOKE 0x1u
#define JI_64BIT 0x2u
#define JI_ASYNC 0x4u
#define JI_CSUM2 0x8u
#define JI_CSUM3 0x10u
#define JI_FC 0x20u
#define JI_KNOWN (JI_REVOKE | JI_64BIT | JI_ASYNC | JI_CSUM2 | JI_CSUM3 | JI_FC)

#define JF_ESCAPE 1u
#define JF_SAME_UUID 2u
#define JF_LAST 8u

enum pass { PASS_SCAN, PASS_REVOKE, PASS_REPLAY };

struct revoke_ent {
	uint64_t blk;
	uint32_t seq;
	int used;
};

struct jrnl {
	ext2_filsys fs;
	const struct ext_src *src;
	const char *label;
	struct ext_map *map;
	unsigned bs;
	uint32_t maxlen, first, start, seq0;
	uint32_t incompat;
	uint32_t seed;
	unsigned tag_bytes;
	uint8_t *buf, *dbuf;
	uint32_t end_tid; /* first transaction not to replay (from PASS_SCAN) */
	struct revoke_ent *rv;
	size_t rv_cap, rv_count;
	unsigned long replayed, revoked_hits, bad_tags;
	char why_end[120];
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static int tid_gt(uint32_t x, uint32_t y)
{
	return (int32_t)(x - y) > 0;
}

static int j_read(struct jrnl *j, uint32_t lblk, uint8_t *buf)
{
	size_t i = ext_map_find(j->map, lblk);
	const struct ext_run *r = i < j->map->n ? &j->map->runs[i] : NULL;

	if (lblk >= j->maxlen)
		return tf_fail(EUCLEAN, "%s journal: block %u beyond its length %u", j->label, lblk,
			       j->maxlen);
	if (!r || r->lblk > lblk)
		return tf_fail(EUCLEAN, "%s journal: block %u is not mapped", j->label, lblk);
	return ext_src_read(j->src, buf, j->bs, (r->pblk + (lblk - r->lblk)) * (uint64_t)j->bs);
}

/* jbd2's crc32c: the raw Castagnoli update, no final inversion. */
static uint32_t j_csum(const struct jrnl *j, uint32_t crc, const void *p, size_t len)
{
	(void)j;
	return ext2fs_crc32c_le(crc, p, len);
}

/* Descriptor and revoke blocks: crc32c tail in the last 4 bytes. */
static int j_tail_ok(const struct jrnl *j, uint8_t *b)
{
	uint8_t saved[4];
	uint32_t c;

	if (!(j->incompat & (JI_CSUM2 | JI_CSUM3)))
		return 1;
	memcpy(saved, b + j->bs - 4, 4);
	memset(b + j->bs - 4, 0, 4);
	c = j_csum(j, j->seed, b, j->bs);
	memcpy(b + j->bs - 4, saved, 4);
	return c == be32(saved);
}

static int j_commit_ok(const struct jrnl *j, uint8_t *b)
{
	uint8_t saved[4];
	uint32_t c;

	if (!(j->incompat & (JI_CSUM2 | JI_CSUM3)))
		return 1;
	memcpy(saved, b + 16, 4);
	memset(b + 16, 0, 4);
	c = j_csum(j, j->seed, b, j->bs);
	memcpy(b + 16, saved, 4);
	return c == be32(saved);
}

static int j_tag_ok(const struct jrnl *j, const uint8_t *tag, const uint8_t *data, uint32_t seq)
{
	uint8_t s[4] = {(uint8_t)(seq >> 24), (uint8_t)(seq >> 16), (uint8_t)(seq >> 8),
			(uint8_t)seq};
	uint32_t c;

	if (!(j->incompat & (JI_CSUM2 | JI_CSUM3)))
		return 1;
	c = j_csum(j, j->seed, s, 4);
	c = j_csum(j, c, data, j->bs);
	if (j->incompat & JI_CSUM3)
		return be32(tag + 12) == c;
	return be16(tag + 4) == (uint16_t)c;
}

static uint32_t j_wrap(const struct jrnl *j, uint32_t blk)
{
	return blk >= j->maxlen ? blk - (j->maxlen - j->first) : blk;
}

static int rv_set(struct jrnl *j, uint64_t blk, uint32_t seq)
{
	size_t i;

	if ((j->rv_count + 1) * 2 > j->rv_cap) {
		size_t ncap = j->rv_cap ? j->rv_cap * 2 : 256;
		struct revoke_ent *n = calloc(ncap, sizeof(*n));

		if (!n)
			return tf_fail(ENOMEM, "%s journal: out of memory for revoke records",
				       j->label);
		for (size_t k = 0; k < j->rv_cap; k++) {
			if (!j->rv[k].used)
				continue;
			i = (size_t)(j->rv[k].blk * 0x9E3779B97F4A7C15ULL) & (ncap - 1);
			while (n[i].used)
				i = (i + 1) & (ncap - 1);
			n[i] = j->rv[k];
		}
		free(j->rv);
		j->rv = n;
		j->rv_cap = ncap;
	}
	i = (size_t)(blk * 0x9E3779B97F4A7C15ULL) & (j->rv_cap - 1);
	while (j->rv[i].used && j->rv[i].blk != blk)
		i = (i + 1) & (j->rv_cap - 1);
	if (!j->rv[i].used) {
		j->rv[i] = (struct revoke_ent){blk, seq, 1};
		j->rv_count++;
	} else if (tid_gt(seq, j->rv[i].seq)) {
		j->rv[i].seq = seq;
	}
	return 0;
}

/* Revoked iff a revoke for blk exists in transaction seq or later. */
static int rv_test(const struct jrnl *j, uint64_t blk, uint32_t seq)
{
	size_t i;

	if (!j->rv_cap)
		return 0;
	i = (size_t)(blk * 0x9E3779B97F4A7C15ULL) & (j->rv_cap - 1);
	while (j->rv[i].used) {
		if (j->rv[i].blk == blk)
			return !tid_gt(seq, j->rv[i].seq);
		i = (i + 1) & (j->rv_cap - 1);
	}
	return 0;
}

/* Walks the tags of descriptor block b (in j->buf); for each calls the
 * replay step when pass is PASS_REPLAY.  Returns the number of tags. */
static int j_tags(struct jrnl *j, uint8_t *b, enum pass pass, uint32_t tid, uint32_t *next,
		  struct ext_overlay *ov)
{
	size_t limit = j->bs - ((j->incompat & (JI_CSUM2 | JI_CSUM3)) ? 4 : 0);
	size_t off = 12;
	int n = 0, rc;

	while (off + j->tag_bytes <= limit) {
		const uint8_t *tag = b + off;
		unsigned flags = be16(tag + 6);
		uint32_t io = *next;

		n++;
		*next = j_wrap(j, *next + 1);
		if (pass == PASS_REPLAY) {
			uint64_t blk = be32(tag);

			if (j->incompat & JI_64BIT)
				blk |= (uint64_t)be32(tag + 8) << 32;
			if ((rc = j_read(j, io, j->dbuf)) < 0)
				return rc;
			if (rv_test(j, blk, tid)) {
				j->revoked_hits++;
			} else if (!j_tag_ok(j, tag, j->dbuf, tid) ||
				   blk >= ext2fs_blocks_count(j->fs->super)) {
				j->bad_tags++; /* as the kernel: skip the block, go on */
			} else {
				if (flags & JF_ESCAPE) {
					j->dbuf[0] = 0xC0, j->dbuf[1] = 0x3B;
					j->dbuf[2] = 0x39, j->dbuf[3] = 0x98;
				}
				if ((rc = ext_overlay_put(ov, blk, j->dbuf)) < 0)
					return rc;
				j->replayed++;
			}
		}
		off += j->tag_bytes;
		if (!(flags & JF_SAME_UUID))
			off += 16;
		if (flags & JF_LAST)
			break;
	}
	return n;
}

static int j_revokes(struct jrnl *j, const uint8_t *b, uint32_t tid)
{
	size_t csz = (j->incompat & (JI_CSUM2 | JI_CSUM3)) ? 4 : 0;
	size_t rlen = (j->incompat & JI_64BIT) ? 8 : 4;
	uint32_t count = be32(b + 12);
	int rc;

	if (count > j->bs - csz)
		return tf_fail(EUCLEAN, "%s journal: revoke block of transaction %u is corrupt",
			       j->label, tid);
	for (size_t off = 16; off + rlen <= count; off += rlen) {
		uint64_t blk =
		    rlen == 8 ? (uint64_t)be32(b + off) << 32 | be32(b + off + 4) : be32(b + off);
		if ((rc = rv_set(j, blk, tid)) < 0)
			return rc;
	}
	return 0;
}

static int j_pass(struct jrnl *j, enum pass pass, struct ext_overlay *ov)
{
	uint32_t tid = j->seq0, next = j->start;
	int rc;

	/* A log cannot hold more blocks than the journal: bounds a corrupt loop. */
	for (uint64_t steps = 0; steps <= (uint64_t)j->maxlen * 2; steps++) {
		uint8_t *b = j->buf;
		uint32_t type;

		if (pass != PASS_SCAN && !tid_gt(j->end_tid, tid))
			return 0;
		if ((rc = j_read(j, next, b)) < 0) {
			if (pass != PASS_SCAN)
				return rc;
			snprintf(j->why_end, sizeof(j->why_end), "unreadable log block %u", next);
			break;
		}
		next = j_wrap(j, next + 1);
		if (be32(b) != JBD2_MAGIC || be32(b + 8) != tid)
			break;
		type = be32(b + 4);
		if (type == JT_DESCRIPTOR) {
			if (pass == PASS_SCAN && !j_tail_ok(j, b)) {
				snprintf(j->why_end, sizeof(j->why_end),
					 "descriptor checksum mismatch in transaction %u", tid);
				break;
			}
			if ((rc = j_tags(j, b, pass, tid, &next, ov)) < 0)
				return rc;
		} else if (type == JT_COMMIT) {
			if (pass == PASS_SCAN && !j_commit_ok(j, b)) {
				snprintf(j->why_end, sizeof(j->why_end),
					 "commit checksum mismatch in transaction %u", tid);
				break;
			}
			tid++;
		} else if (type == JT_REVOKE) {
			if (pass == PASS_SCAN && !j_tail_ok(j, b)) {
				snprintf(j->why_end, sizeof(j->why_end),
					 "revoke checksum mismatch in transaction %u", tid);
				break;
			}
			if (pass == PASS_REVOKE && (rc = j_revokes(j, b, tid)) < 0)
				return rc;
		} else {
			break;
		}
	}
	if (pass == PASS_SCAN)
		j->end_tid = tid;
	else if (tid != j->end_tid)
		return tf_fail(EIO, "%s journal: pass %d ended at transaction %u, scan at %u",
			       j->label, pass, tid, j->end_tid);
	return 0;
}

static int j_super(struct jrnl *j)
{
	const uint8_t *b = j->buf;
	uint32_t type;
	int rc;

	if ((rc = j_read(j, 0, j->buf)) < 0)
		return rc;
	type = be32(b + 4);
	if (be32(b) != JBD2_MAGIC || (type != JT_SB_V1 && type != JT_SB_V2))
		return tf_fail(EUCLEAN, "%s journal: bad superblock magic", j->label);
	if (be32(b + 12) != j->bs)
		return tf_fail(EUCLEAN,
			       "%s journal: block size %u differs from the filesystem's %u",
			       j->label, be32(b + 12), j->bs);
	j->maxlen = be32(b + 16);
	j->first = be32(b + 20);
	j->seq0 = be32(b + 24);
	j->start = be32(b + 28);
	if (!j->map->n ||
	    j->maxlen > j->map->runs[j->map->n - 1].lblk + j->map->runs[j->map->n - 1].len ||
	    j->first == 0 || j->first >= j->maxlen ||
	    (j->start && (j->start < j->first || j->start >= j->maxlen)))
		return tf_fail(EUCLEAN,
			       "%s journal: superblock geometry is corrupt (first %u, start "
			       "%u, length %u)",
			       j->label, j->first, j->start, j->maxlen);
	if (type == JT_SB_V2) {
		j->incompat = be32(b + 40);
		if (j->incompat & ~JI_KNOWN)
			return tf_fail(EOPNOTSUPP, "%s journal: unknown incompatible features 0x%x",
				       j->label, j->incompat & ~JI_KNOWN);
	}
	if (j->incompat & JI_CSUM3)
		j->tag_bytes = 16;
	else
		j->tag_bytes =
		    12 + ((j->incompat & JI_CSUM2) ? 2 : 0) - ((j->incompat & JI_64BIT) ? 0 : 4);
	j->seed = ext2fs_crc32c_le(~0u, b + 48, 16);
	return 0;
}

/* Puts a copy of the superblock's block with needs_recovery cleared. */
static int j_clear_recover(struct jrnl *j, struct ext_overlay *ov)
{
	uint64_t blk = j->bs == 1024 ? 1 : 0;
	size_t off = j->bs == 1024 ? 0 : 1024;
	const void *cur = ext_overlay_get(ov, blk);
	struct ext2_super_block *sb;
	int rc;

	if (cur)
		memcpy(j->dbuf, cur, j->bs);
	else if ((rc = ext_src_read(j->src, j->dbuf, j->bs, blk * j->bs)) < 0)
		return rc;
	sb = (struct ext2_super_block *)(void *)(j->dbuf + off);
	sb->s_feature_incompat = ext2fs_cpu_to_le32(ext2fs_le32_to_cpu(sb->s_feature_incompat) &
						    ~(uint32_t)EXT3_FEATURE_INCOMPAT_RECOVER);
	ext2fs_superblock_csum_set(j->fs, sb);
	return ext_overlay_put(ov, blk, j->dbuf);
}

int ext_journal_replay(ext2_filsys fs, const struct ext_src *src, struct ext_overlay **out,
		       char *note, size_t notelen)
{
	struct ext2_super_block *sb = fs->super;
	struct jrnl j = {.fs = fs, .src = src, .label = src->label, .bs = fs->blocksize};
	struct ext2_inode ji;
	struct ext_overlay *ov = NULL;
	errcode_t e;
	int rc;

	*out = NULL;
	if (note && notelen)
		note[0] = '\0';
	if (!ext2fs_has_feature_journal_needs_recovery(sb))
		return 0;
	if (!ext2fs_has_feature_journal(sb))
		return tf_fail(EUCLEAN, "%s: needs_recovery is set but there is no journal",
			       src->label);
	if (sb->s_journal_inum == 0)
		return tf_fail(EOPNOTSUPP,
			       "%s: needs recovery from an external journal device "
			       "(not supported: cannot show consistent content)",
			       src->label);
	e = ext2fs_read_inode(fs, sb->s_journal_inum, &ji);
	if (e)
		return tf_fail(ext_errno(e), "%s journal inode %u: %s", src->label,
			       sb->s_journal_inum, ext_strerror(e));
	if ((rc = ext_map_build(fs, sb->s_journal_inum, &ji, src->label, &j.map)) < 0)
		return tf_fail_ctx(rc, "journal: ");
	j.maxlen = UINT32_MAX;
	j.buf = malloc(j.bs);
	j.dbuf = malloc(j.bs);
	ov = ext_overlay_new(j.bs);
	if (!j.buf || !j.dbuf || !ov) {
		rc = tf_fail(ENOMEM, "%s journal: out of memory", src->label);
		goto out;
	}
	if ((rc = j_super(&j)) < 0)
		goto out;
	if (j.start != 0) {
		if ((rc = j_pass(&j, PASS_SCAN, ov)) < 0 ||
		    (rc = j_pass(&j, PASS_REVOKE, ov)) < 0 ||
		    (rc = j_pass(&j, PASS_REPLAY, ov)) < 0)
			goto out;
	}
	if ((rc = j_clear_recover(&j, ov)) < 0)
		goto out;
	if (note && notelen)
		snprintf(note, notelen,
			 "journal replayed in memory: %u transactions from %u, %lu blocks, "
			 "%lu revoked, %lu bad tags skipped%s%s%s",
			 j.end_tid - j.seq0, j.seq0, j.replayed, j.revoked_hits, j.bad_tags,
			 j.why_end[0] ? "; log ends early: " : "", j.why_end,
			 (j.incompat & JI_FC) ? "; fast-commit area not replayed" : "");
	*out = ov;
	ov = NULL;
out:
	ext_overlay_free(ov);
	ext_map_free(j.map);
	free(j.buf);
	free(j.dbuf);
	free(j.rv);
	return rc;
}
