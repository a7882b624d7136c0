/* parttable.c — GPT and MBR parsing behind parttable.h.
 *
 * On-disk map (all little-endian; LBA = sector, 512 or 4096 bytes):
 *
 *   MBR, LBA 0:  446: 4 entries x 16 bytes   510: 0x55 0xAA
 *     entry: 0 status (0x00 or 0x80)  4 type  8 first LBA (u32)  12 sectors (u32)
 *     type 0xEE = protective MBR: the real table is a GPT.
 *     type 0x05/0x0F/0x85 = extended: a chain of EBRs, each an MBR whose
 *     entry 0 is a logical partition (relative to that EBR) and entry 1 links
 *     to the next EBR (relative to the start of the extended partition).
 *   GPT header, LBA 1 (backup: last LBA):
 *     0 "EFI PART"  8 revision  12 header size  16 header crc32 (field zeroed)
 *     24 my LBA  32 alternate LBA  40 first usable  48 last usable  56 disk GUID
 *     72 entries LBA  80 entry count  84 entry size  88 entries crc32
 *   GPT entry (entry size >= 128): 0 type GUID  16 unique GUID  32 first LBA
 *     40 last LBA (inclusive)  48 attributes  56 name, 36 UTF-16LE units.
 */
#include "core/part/parttable.h"
#include "core/base/vec.h"

#include "core/io/bio.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MBR_SIZE 512
#define GPT_MAX_ENTRIES 1024
#define GPT_MAX_ARRAY (1u << 20)
#define EBR_MAX 128

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* IEEE 802.3 CRC-32 (reflected, 0xEDB88320), as GPT uses. */
static uint32_t pt_crc32(const uint8_t *p, size_t len)
{
	uint32_t crc = 0xFFFFFFFFu;

	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

static const struct {
	const char *guid;
	enum tf_part_kind kind;
} gpt_types[] = {
    {"0FC63DAF-8483-4772-8E79-3D69D8477DE4", TF_PKIND_LINUX},
    {"C12A7328-F81F-11D2-BA4B-00A0C93EC93B", TF_PKIND_ESP},
    {"0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", TF_PKIND_SWAP},
    {"E6D6D379-F507-44C2-A23C-238F2A3DF928", TF_PKIND_LVM},
    {"A19D880F-05FC-4D3B-A006-743F0F84911E", TF_PKIND_RAID},
    {"21686148-6449-6E6F-744E-656564454649", TF_PKIND_BIOS_BOOT},
    {"EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", TF_PKIND_MS_DATA},
    /* root/home/srv partitions of the discoverable partitions spec: Linux data too */
    {"4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", TF_PKIND_LINUX},
    {"933AC7E1-2EB4-4F13-B844-0E14E2AEF915", TF_PKIND_LINUX},
    {"3B8F8425-20E0-4F3B-907F-1A25A76F98E8", TF_PKIND_LINUX},
};

static enum tf_part_kind mbr_kind(uint8_t type)
{
	switch (type) {
	case 0x83:
		return TF_PKIND_LINUX;
	case 0xEF:
		return TF_PKIND_ESP;
	case 0x82:
		return TF_PKIND_SWAP;
	case 0x8E:
		return TF_PKIND_LVM;
	case 0xFD:
		return TF_PKIND_RAID;
	case 0x01:
	case 0x04:
	case 0x06:
	case 0x07:
	case 0x0B:
	case 0x0C:
	case 0x0E:
		return TF_PKIND_MS_DATA;
	default:
		return TF_PKIND_OTHER;
	}
}

static void guid_text(const uint8_t *g, char *out, size_t outlen)
{
	/* The first three fields are little-endian, the rest big-endian bytes. */
	snprintf(out, outlen, "%08X-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X", le32(g),
		 (unsigned)(g[4] | g[5] << 8), (unsigned)(g[6] | g[7] << 8), g[8], g[9], g[10],
		 g[11], g[12], g[13], g[14], g[15]);
}

/* UTF-16LE name (BMP and surrogate pairs) to NUL-terminated UTF-8. */
static void gpt_name(const uint8_t *p, size_t units, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < units; i++) {
		uint32_t c = (uint32_t)(p[2 * i] | p[2 * i + 1] << 8);
		char enc[4];
		size_t n;

		if (c == 0)
			break;
		if (c >= 0xD800 && c < 0xDC00 && i + 1 < units) {
			uint32_t lo = (uint32_t)(p[2 * i + 2] | p[2 * i + 3] << 8);
			if (lo >= 0xDC00 && lo < 0xE000) {
				c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
				i++;
			} else {
				c = '?';
			}
		} else if (c >= 0xD800 && c < 0xE000) {
			c = '?';
		}
		if (c < 0x80) {
			enc[0] = (char)c;
			n = 1;
		} else if (c < 0x800) {
			enc[0] = (char)(0xC0 | c >> 6);
			enc[1] = (char)(0x80 | (c & 0x3F));
			n = 2;
		} else if (c < 0x10000) {
			enc[0] = (char)(0xE0 | c >> 12);
			enc[1] = (char)(0x80 | ((c >> 6) & 0x3F));
			enc[2] = (char)(0x80 | (c & 0x3F));
			n = 3;
		} else {
			enc[0] = (char)(0xF0 | c >> 18);
			enc[1] = (char)(0x80 | ((c >> 12) & 0x3F));
			enc[2] = (char)(0x80 | ((c >> 6) & 0x3F));
			enc[3] = (char)(0x80 | (c & 0x3F));
			n = 4;
		}
		if (o + n + 1 > outlen)
			break;
		memcpy(out + o, enc, n);
		o += n;
	}
	out[o] = '\0';
}

static int pt_add(struct tf_parttable *pt, const struct tf_part *p)
{
	if (TF_VEC_RESERVE(pt->parts, pt->parts_cap, (size_t)pt->count + 1) < 0)
		return -ENOMEM;
	pt->parts[pt->count++] = *p;
	return 0;
}

static void pt_note(struct tf_parttable *pt, const char *fmt, unsigned idx)
{
	size_t used = strlen(pt->reason);

	if (used + 2 < sizeof(pt->reason))
		snprintf(pt->reason + used, sizeof(pt->reason) - used, "%s%s", used ? "; " : "",
			 fmt);
	used = strlen(pt->reason);
	if (idx && used + 8 < sizeof(pt->reason))
		snprintf(pt->reason + used, sizeof(pt->reason) - used, " (p%u)", idx);
}

static void pt_reset(struct tf_parttable *pt, const char *why)
{
	free(pt->parts);
	pt->parts = NULL;
	pt->parts_cap = 0;
	pt->count = 0;
	pt->scheme = TF_PT_NONE;
	snprintf(pt->reason, sizeof(pt->reason), "%s", why);
}

/* Partitions sorted by start must not overlap: a table where they do is nonsense. */
static int pt_overlaps(const struct tf_parttable *pt)
{
	for (unsigned i = 0; i < pt->count; i++)
		for (unsigned j = i + 1; j < pt->count; j++) {
			const struct tf_part *a = &pt->parts[i], *b = &pt->parts[j];
			if (a->start < b->start + b->length && b->start < a->start + a->length)
				return 1;
		}
	return 0;
}

/* Reads and validates the GPT header at lba; 1 if valid (entries loaded), 0 if not. */
static int gpt_try(struct tf_bio *vol, uint64_t size, unsigned ss, uint64_t lba, uint8_t **entries,
		   uint32_t *count, uint32_t *esize, int *rc)
{
	uint8_t *h = malloc(ss);
	uint32_t hsize, crc, n, es;
	uint64_t elba, total = size / ss;
	int ok = 0;

	*rc = 0;
	if (!h) {
		*rc = -ENOMEM;
		return 0;
	}
	if (lba >= total || (*rc = tf_bio_pread(vol, h, ss, lba * ss)) < 0)
		goto out;
	if (memcmp(h, "EFI PART", 8) != 0)
		goto out;
	hsize = le32(h + 12);
	if (hsize < 92 || hsize > ss)
		goto out;
	crc = le32(h + 16);
	memset(h + 16, 0, 4);
	if (pt_crc32(h, hsize) != crc || le64(h + 24) != lba)
		goto out;
	elba = le64(h + 72);
	n = le32(h + 80);
	es = le32(h + 84);
	if (es < 128 || es % 8 != 0 || n == 0 || n > GPT_MAX_ENTRIES ||
	    (uint64_t)n * es > GPT_MAX_ARRAY || elba >= total ||
	    (uint64_t)n * es > (total - elba) * ss)
		goto out;
	*entries = malloc((size_t)n * es);
	if (!*entries) {
		*rc = -ENOMEM;
		goto out;
	}
	if ((*rc = tf_bio_pread(vol, *entries, (size_t)n * es, elba * ss)) < 0 ||
	    pt_crc32(*entries, (size_t)n * es) != le32(h + 88)) {
		free(*entries);
		*entries = NULL;
		goto out;
	}
	*count = n;
	*esize = es;
	ok = 1;
out:
	free(h);
	return ok;
}

/* 1 if a GPT was found (pt filled), 0 if none, -errno on read failure. */
static int gpt_read(struct tf_bio *vol, uint64_t size, struct tf_parttable *pt)
{
	static const unsigned sizes[] = {512, 4096};

	for (unsigned s = 0; s < 2; s++) {
		unsigned ss = sizes[s];
		uint64_t total = size / ss;
		uint8_t *e = NULL;
		uint32_t n = 0, es = 0;
		int rc, backup = 0;

		if (total < 3)
			continue;
		if (!gpt_try(vol, size, ss, 1, &e, &n, &es, &rc)) {
			if (rc < 0)
				return rc;
			if (!gpt_try(vol, size, ss, total - 1, &e, &n, &es, &rc)) {
				if (rc < 0)
					return rc;
				continue;
			}
			backup = 1;
		}
		pt->scheme = TF_PT_GPT;
		pt->sector_size = ss;
		if (backup)
			pt_note(pt, "primary GPT header invalid, backup used", 0);
		for (uint32_t i = 0; i < n; i++) {
			const uint8_t *ent = e + (size_t)i * es;
			static const uint8_t zero[16];
			struct tf_part p = {0};
			uint64_t first = le64(ent + 32), last = le64(ent + 40);

			if (memcmp(ent, zero, 16) == 0)
				continue;
			p.index = i + 1;
			if (first == 0 || last < first || last >= total) {
				pt_note(pt, "entry outside the volume dropped", p.index);
				continue;
			}
			p.start = first * ss;
			p.length = (last - first + 1) * ss;
			guid_text(ent, p.type, sizeof(p.type));
			for (size_t k = 0; k < sizeof(gpt_types) / sizeof(gpt_types[0]); k++)
				if (strcmp(p.type, gpt_types[k].guid) == 0)
					p.kind = gpt_types[k].kind;
			gpt_name(ent + 56, (es - 56) / 2 < 36 ? (es - 56) / 2 : 36, p.name,
				 sizeof(p.name));
			if ((rc = pt_add(pt, &p)) < 0) {
				free(e);
				return rc;
			}
		}
		free(e);
		return 1;
	}
	return 0;
}

static int mbr_entry_ok(const uint8_t *ent)
{
	return ent[0] == 0x00 || ent[0] == 0x80;
}

static int mbr_is_extended(uint8_t type)
{
	return type == 0x05 || type == 0x0F || type == 0x85;
}

static int mbr_logicals(struct tf_bio *vol, uint64_t size, uint64_t ext_start, uint64_t ext_len,
			struct tf_parttable *pt)
{
	uint8_t b[MBR_SIZE];
	uint64_t ebr = ext_start;
	unsigned idx = 5;

	for (int hop = 0; hop < EBR_MAX; hop++) {
		int rc = tf_bio_pread(vol, b, sizeof(b), ebr * 512);
		const uint8_t *e0 = b + 446, *e1 = b + 462;

		if (rc < 0)
			return rc;
		if (b[510] != 0x55 || b[511] != 0xAA) {
			pt_note(pt, "broken EBR chain", idx);
			return 0;
		}
		if (e0[4] != 0 && le32(e0 + 12) != 0) {
			struct tf_part p = {0};
			uint64_t s = ebr + le32(e0 + 8), l = le32(e0 + 12);

			p.index = idx;
			if (s + l > ext_start + ext_len || (s + l) * 512 > size) {
				pt_note(pt, "logical partition outside the extended one dropped",
					idx);
			} else {
				p.start = s * 512;
				p.length = l * 512;
				p.kind = mbr_kind(e0[4]);
				snprintf(p.type, sizeof(p.type), "0x%02X", e0[4]);
				if ((rc = pt_add(pt, &p)) < 0)
					return rc;
			}
		}
		idx++;
		if (!mbr_is_extended(e1[4]) || le32(e1 + 8) == 0)
			return 0;
		/* Links are relative to the extended partition and must move forward,
		 * which also rules out loops. */
		if (ext_start + le32(e1 + 8) <= ebr || le32(e1 + 8) >= ext_len) {
			pt_note(pt, "EBR chain goes backwards or out of the extended partition",
				idx);
			return 0;
		}
		ebr = ext_start + le32(e1 + 8);
	}
	pt_note(pt, "too many logical partitions", idx);
	return 0;
}

int tf_parttable_read(struct tf_bio *vol, struct tf_parttable *out)
{
	assert(vol && out);
	const uint64_t size = vol->size;
	uint8_t mbr[MBR_SIZE];
	int rc, protective = 0, any = 0;

	memset(out, 0, sizeof(*out));
	out->sector_size = 512;
	if (size < MBR_SIZE) {
		pt_reset(out, "volume smaller than one sector");
		return 0;
	}
	if ((rc = tf_bio_pread(vol, mbr, sizeof(mbr), 0)) < 0)
		return rc;
	if (mbr[510] == 0x55 && mbr[511] == 0xAA)
		for (int i = 0; i < 4; i++)
			if (mbr[446 + 16 * i + 4] == 0xEE)
				protective = 1;
	rc = gpt_read(vol, size, out);
	if (rc < 0) {
		tf_parttable_free(out);
		return rc;
	}
	if (rc == 1) {
		if (pt_overlaps(out))
			pt_reset(out, "GPT partitions overlap: table ignored");
		return 0;
	}
	if (protective) {
		pt_reset(out,
			 "protective MBR but no valid GPT (header or entry checksum mismatch)");
		return 0;
	}
	if (mbr[510] != 0x55 || mbr[511] != 0xAA) {
		pt_reset(out, "no partition table (no MBR signature, no GPT)");
		return 0;
	}
	for (int i = 0; i < 4; i++) {
		if (!mbr_entry_ok(mbr + 446 + 16 * i)) {
			pt_reset(out,
				 "MBR signature present but entries are not a partition table");
			return 0;
		}
	}
	out->scheme = TF_PT_MBR;
	for (int i = 0; i < 4; i++) {
		const uint8_t *e = mbr + 446 + 16 * i;
		uint64_t s = le32(e + 8), l = le32(e + 12);
		struct tf_part p = {0};

		if (e[4] == 0 || l == 0)
			continue;
		any = 1;
		p.index = (unsigned)i + 1;
		if (s == 0 || (s + l) * 512 > size) {
			pt_note(out, "entry outside the volume dropped", p.index);
			continue;
		}
		if (mbr_is_extended(e[4])) {
			if ((rc = mbr_logicals(vol, size, s, l, out)) < 0) {
				tf_parttable_free(out);
				return rc;
			}
			continue;
		}
		p.start = s * 512;
		p.length = l * 512;
		p.kind = mbr_kind(e[4]);
		snprintf(p.type, sizeof(p.type), "0x%02X", e[4]);
		if ((rc = pt_add(out, &p)) < 0) {
			tf_parttable_free(out);
			return rc;
		}
	}
	if (!any) {
		pt_reset(out, "MBR with no partitions");
	} else if (pt_overlaps(out)) {
		pt_reset(out, "MBR partitions overlap: table ignored");
	}
	/* Logical partitions were appended while walking: keep index order. */
	for (unsigned i = 1; i < out->count; i++)
		for (unsigned j = i; j > 0 && out->parts[j - 1].index > out->parts[j].index; j--) {
			struct tf_part t = out->parts[j];
			out->parts[j] = out->parts[j - 1];
			out->parts[j - 1] = t;
		}
	return 0;
}

void tf_parttable_free(struct tf_parttable *pt)
{
	free(pt->parts);
	pt->parts = NULL;
	pt->parts_cap = 0;
	pt->count = 0;
}
