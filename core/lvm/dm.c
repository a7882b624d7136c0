/* dm.c — device-mapper through libdevmapper (see dm.h).  thinfs runs
 * without udev (containers, initramfs-like VMs), so udev synchronisation is
 * turned off and devices are opened as /dev/dm-<minor>, which devtmpfs
 * creates. */
#include "core/lvm/dm.h"

#include "core/base/err.h"

#include <errno.h>
#include <inttypes.h>
#include <libdevmapper.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tf_dm_parse_pool_status(const char *params, struct tf_dm_pool_status *st)
{
	char held[32], mode[32];
	int n;

	memset(st, 0, sizeof(*st));
	if (strncmp(params, "Fail", 4) == 0)
		return tf_fail(EIO, "thin pool status: the pool has failed");
	n = sscanf(params, "%" SCNu64 " %" SCNu64 "/%" SCNu64 " %" SCNu64 "/%" SCNu64 " %31s %31s",
		   &st->transaction_id, &st->meta_used, &st->meta_total, &st->data_used,
		   &st->data_total, held, mode);
	if (n != 7)
		return tf_fail(EPROTO, "thin pool status: cannot parse '%.120s'", params);
	if (strcmp(held, "-") != 0) {
		char *end;
		st->held = true;
		st->held_root = strtoull(held, &end, 10);
		if (*end)
			return tf_fail(EPROTO, "thin pool status: bad held root '%s'", held);
	}
	st->read_only = strcmp(mode, "rw") != 0;
	st->out_of_data_space = strcmp(mode, "out_of_data_space") == 0;
	st->needs_check = strstr(params, "needs_check") != NULL;
	st->error_if_no_space = strstr(params, "error_if_no_space") != NULL;
	if (strstr(params, "no_discard_passdown"))
		strcpy(st->discards, "nopassdown");
	else if (strstr(params, "discard_passdown"))
		strcpy(st->discards, "passdown");
	else if (strstr(params, "ignore_discard"))
		strcpy(st->discards, "ignore");
	return 0;
}

int tf_dm_lvm_name(const char *vg, const char *lv, const char *suffix, char *buf, size_t len)
{
	size_t o = 0;
	const char *parts[2] = {vg, lv};

	for (int k = 0; k < 2; k++) {
		for (const char *c = parts[k]; *c; c++) {
			if (o + 3 >= len)
				return tf_fail(ENAMETOOLONG, "%s/%s: device name too long", vg, lv);
			if (*c == '-')
				buf[o++] = '-';
			buf[o++] = *c;
		}
		if (k == 0)
			buf[o++] = '-';
	}
	if (o + strlen(suffix) + 1 > len)
		return tf_fail(ENAMETOOLONG, "%s/%s: device name too long", vg, lv);
	strcpy(buf + o, suffix);
	return 0;
}

static struct dm_task *task_new(int type, const char *name)
{
	struct dm_task *t;

	dm_udev_set_sync_support(0);
	t = dm_task_create(type);
	if (!t)
		return NULL;
	if (name && !dm_task_set_name(t, name)) {
		dm_task_destroy(t);
		return NULL;
	}
	return t;
}

/* libdevmapper logs its own reasons; thinfs names the device and the step. */
static int dm_failed(const char *name, const char *what)
{
	int e = errno ? errno : EIO;

	return tf_fail(e, "device-mapper %s: %s failed (%s; is dm-thin loaded and are you root?)",
		       name, what, strerror(e));
}

int tf_dm_pool_status(const char *dm_name, struct tf_dm_pool_status *st)
{
	struct dm_task *t = task_new(DM_DEVICE_STATUS, dm_name);
	char *type = NULL, *params = NULL;
	uint64_t start, length;
	int rc;

	if (!t)
		return dm_failed(dm_name, "status");
	errno = 0;
	if (!dm_task_run(t)) {
		dm_task_destroy(t);
		return dm_failed(dm_name, "status");
	}
	dm_get_next_target(t, NULL, &start, &length, &type, &params);
	if (!type || strcmp(type, "thin-pool") != 0 || !params)
		rc = tf_fail(EINVAL, "device-mapper %s: not a thin-pool target", dm_name);
	else
		rc = tf_dm_parse_pool_status(params, st);
	dm_task_destroy(t);
	return rc < 0 ? tf_fail_ctx(rc, "%s: ", dm_name) : 0;
}

int tf_dm_message(const char *dm_name, const char *msg)
{
	struct dm_task *t = task_new(DM_DEVICE_TARGET_MSG, dm_name);
	int ok;

	if (!t || !dm_task_set_sector(t, 0) || !dm_task_set_message(t, msg)) {
		if (t)
			dm_task_destroy(t);
		return dm_failed(dm_name, msg);
	}
	errno = 0;
	ok = dm_task_run(t);
	dm_task_destroy(t);
	return ok ? 0 : dm_failed(dm_name, msg);
}

int tf_dm_info(const char *dm_name, bool *exists, uint32_t *major, uint32_t *minor)
{
	struct dm_task *t = task_new(DM_DEVICE_INFO, dm_name);
	struct dm_info info;

	if (!t)
		return dm_failed(dm_name, "info");
	errno = 0;
	if (!dm_task_run(t) || !dm_task_get_info(t, &info)) {
		dm_task_destroy(t);
		return dm_failed(dm_name, "info");
	}
	*exists = info.exists;
	*major = info.major;
	*minor = info.minor;
	dm_task_destroy(t);
	return 0;
}

int tf_dm_create_ro(const char *dm_name, uint64_t sectors, const char *target, const char *params)
{
	struct dm_task *t = task_new(DM_DEVICE_CREATE, dm_name);
	int ok;

	if (!t || !dm_task_set_ro(t) || !dm_task_add_target(t, 0, sectors, target, params)) {
		if (t)
			dm_task_destroy(t);
		return dm_failed(dm_name, "create");
	}
	errno = 0;
	ok = dm_task_run(t);
	dm_task_destroy(t);
	return ok ? 0 : dm_failed(dm_name, "create");
}

int tf_dm_remove(const char *dm_name)
{
	struct dm_task *t = task_new(DM_DEVICE_REMOVE, dm_name);
	int ok;

	if (!t)
		return dm_failed(dm_name, "remove");
	errno = 0;
	ok = dm_task_run(t);
	dm_task_destroy(t);
	return ok ? 0 : dm_failed(dm_name, "remove");
}
