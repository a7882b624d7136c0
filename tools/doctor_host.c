/* doctor_host.c — the host checks of `thinfs doctor`: device-mapper and
 * dm-thin-pool in the kernel, the thin-provisioning-tools that LVM runs when
 * it activates a pool, LVM's autoextend settings, FUSE. */
#include "doctor.h"

#include "core/base/run.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#define HOST "host"
#define PKG_THIN                                                                                   \
	"apt install thin-provisioning-tools (Fedora/RHEL: dnf install "                           \
	"device-mapper-persistent-data)"

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Whether the kernel has the module: loaded, built in, or installed. */
static const char *module_state(const char *release, const char *mod, const char *file)
{
	static const char *const exts[] = {".ko", ".ko.xz", ".ko.zst", ".ko.gz"};
	char path[512], line[512];
	bool builtin = false;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/%s", mod);
	if (is_dir(path))
		return "loaded";
	snprintf(path, sizeof(path), "/lib/modules/%s/modules.builtin", release);
	if ((f = fopen(path, "r"))) {
		while (!builtin && fgets(line, sizeof(line), f))
			builtin = strstr(line, file) != NULL;
		fclose(f);
	}
	if (builtin)
		return "built in";
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		snprintf(path, sizeof(path), "/lib/modules/%s/kernel/drivers/md/%s%s", release,
			 file, exts[i]);
		if (access(path, R_OK) == 0)
			return "available as a module (LVM loads it when a pool is activated)";
	}
	return NULL;
}

static void check_kernel(struct tf_doc *d)
{
	struct utsname u;
	const char *state;
	int fd, e;

	if (uname(&u) < 0)
		snprintf(u.release, sizeof(u.release), "?");
	/* libdevmapper makes the node itself when it is missing, so only an open
	 * tells whether the driver is there (ENODEV when it is not). */
	fd = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
	e = errno;
	if (fd >= 0) {
		close(fd);
		tf_doc_add(d, HOST, "device-mapper", TF_DOC_OK, "/dev/mapper/control opens");
	} else if (e == EACCES || e == EPERM) {
		tf_doc_fix(tf_doc_add(d, HOST, "device-mapper", TF_DOC_UNKNOWN,
				      "/dev/mapper/control: %s", strerror(e)),
			   "run thinfs doctor as root");
	} else {
		tf_doc_fix(tf_doc_add(d, HOST, "device-mapper", TF_DOC_CRITICAL,
				      "device-mapper is not available (/dev/mapper/control: %s; "
				      "kernel %s): no thin pool can be activated or read",
				      strerror(e), u.release),
			   "modprobe dm-mod (in a container: load it on the host and pass "
			   "/dev/mapper/control and the pool's devices in)");
	}
	state = module_state(u.release, "dm_thin_pool", "dm-thin-pool");
	if (state)
		tf_doc_add(d, HOST, "dm-thin-pool", TF_DOC_OK, "dm-thin-pool is %s (kernel %s)",
			   state, u.release);
	else
		tf_doc_fix(tf_doc_add(d, HOST, "dm-thin-pool", TF_DOC_CRITICAL,
				      "kernel %s has no dm-thin-pool: it is not loaded and no "
				      "module is installed in /lib/modules/%s",
				      u.release, u.release),
			   "modprobe dm-thin-pool; if there is no such module, boot a kernel "
			   "built with CONFIG_DM_THIN_PROVISIONING (Debian: apt install "
			   "linux-image-amd64)");
}

/* ---- lvmconfig ---- */

struct lvm_setting {
	const char *key;
	char value[512];
	bool found;
};

/* Reads the settings with one lvmconfig run; -ENOENT if LVM is missing. */
static int lvmconfig(struct lvm_setting *s, size_t n, char *why, size_t why_len)
{
	const char *argv[16] = {"lvmconfig", "--type", "full"};
	struct tf_run_result r;
	size_t a = 3;
	int rc;

	for (size_t i = 0; i < n && a < 15; i++)
		argv[a++] = s[i].key;
	argv[a] = NULL;
	if ((rc = tf_run(argv, 30000, &r)) < 0) {
		snprintf(why, why_len, "%s",
			 rc == -ENOENT ? "lvmconfig is not installed"
				       : "lvmconfig could not be run");
		return rc;
	}
	if (r.status != 0) {
		char line[200];
		tf_run_first_line(r.err, line, sizeof(line));
		snprintf(why, why_len, "lvmconfig failed (exit %d): %s", r.status, line);
		tf_run_free(&r);
		return -EIO;
	}
	for (char *save = NULL, *l = strtok_r(r.out, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(l, '=');
		if (!eq)
			continue;
		*eq = '\0';
		for (size_t i = 0; i < n; i++) {
			const char *leaf = strrchr(s[i].key, '/');
			char *v = eq + 1;
			size_t vl = strlen(v);
			if (strcmp(l, leaf ? leaf + 1 : s[i].key) != 0)
				continue;
			if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
				v[vl - 1] = '\0';
				v++;
			}
			snprintf(s[i].value, sizeof(s[i].value), "%s", v);
			s[i].found = true;
		}
	}
	tf_run_free(&r);
	return 0;
}

/* "thin_check 0.9.0" from `thin_check -V`, or "" */
static void tool_version(const char *exe, char *buf, size_t n)
{
	const char *argv[] = {exe, "-V", NULL};
	struct tf_run_result r;

	buf[0] = '\0';
	if (tf_run(argv, 10000, &r) == 0) {
		if (r.status == 0)
			tf_run_first_line(r.out, buf, n);
		tf_run_free(&r);
	}
}

static void check_tool(struct tf_doc *d, const struct lvm_setting *s, const char *dflt)
{
	const char *name = strrchr(s->key, '/') + 1; /* thin_check_executable */
	const char *path = s->found ? s->value : dflt;
	char ver[128];
	struct tf_doc_finding *f;

	if (!path[0]) {
		tf_doc_fix(tf_doc_add(d, HOST, name, TF_DOC_WARNING,
				      "%s is empty in lvm.conf: LVM skips this step for thin pools "
				      "(no metadata check on activation, or no repair)",
				      s->key),
			   "in lvm.conf: global { %s = \"%s\" }", name, dflt);
		return;
	}
	int e;

	if (access(path, X_OK) == 0) {
		tool_version(path, ver, sizeof(ver));
		tf_doc_add(d, HOST, name, TF_DOC_OK, "%s = \"%s\" exists%s%s%s", s->key, path,
			   ver[0] ? " (version " : "", ver, ver[0] ? ")" : "");
		return;
	}
	e = errno;
	f = tf_doc_add(d, HOST, name, TF_DOC_CRITICAL,
		       "%s = \"%s\": %s; LVM runs it when it activates or repairs a thin pool, "
		       "so activation fails with an error that can read like data loss "
		       "(the pool's data is intact)",
		       s->key, path, strerror(e));
	if (strcmp(path, dflt) != 0 && access(dflt, X_OK) == 0)
		tf_doc_fix(f,
			   "point lvm.conf at the installed one: global { %s = \"%s\" }; if that "
			   "is missing too: %s",
			   name, dflt, PKG_THIN);
	else if (strcmp(path, dflt) != 0)
		tf_doc_fix(f, "%s; then in lvm.conf: global { %s = \"%s\" }", PKG_THIN, name, dflt);
	else
		tf_doc_fix(f, "%s", PKG_THIN);
}

static void check_lvm_config(struct tf_doc *d)
{
	struct lvm_setting s[] = {
	    {.key = "global/thin_check_executable"},
	    {.key = "global/thin_repair_executable"},
	    {.key = "global/thin_dump_executable"},
	    {.key = "activation/thin_pool_autoextend_threshold"},
	    {.key = "activation/thin_pool_autoextend_percent"},
	};
	static const char *const dflt[] = {"/usr/sbin/thin_check", "/usr/sbin/thin_repair",
					   "/usr/sbin/thin_dump"};
	char why[300];
	long thr, pct;

	if (lvmconfig(s, sizeof(s) / sizeof(s[0]), why, sizeof(why)) < 0) {
		tf_doc_fix(tf_doc_add(d, HOST, "lvm", TF_DOC_CRITICAL,
				      "%s: LVM's settings cannot be read; thin pools need LVM",
				      why),
			   "apt install lvm2 (Fedora/RHEL: dnf install lvm2)");
		for (size_t i = 0; i < 3; i++)
			check_tool(d, &s[i], dflt[i]);
		return;
	}
	for (size_t i = 0; i < 3; i++)
		check_tool(d, &s[i], dflt[i]);
	thr = s[3].found ? strtol(s[3].value, NULL, 10) : 100;
	pct = s[4].found ? strtol(s[4].value, NULL, 10) : 20;
	if (thr >= 100)
		tf_doc_fix(tf_doc_add(d, HOST, "autoextend", TF_DOC_WARNING,
				      "activation/thin_pool_autoextend_threshold = %ld: thin pools "
				      "are never extended automatically, so a pool that fills up "
				      "stops (or queues) every write to its volumes",
				      thr),
			   "in lvm.conf: activation { thin_pool_autoextend_threshold = 80 "
			   "thin_pool_autoextend_percent = %ld } (dmeventd monitoring must be on: "
			   "activation { monitoring = 1 })",
			   pct > 0 ? pct : 20);
	else if (pct <= 0)
		tf_doc_fix(tf_doc_add(d, HOST, "autoextend", TF_DOC_WARNING,
				      "activation/thin_pool_autoextend_threshold = %ld but "
				      "thin_pool_autoextend_percent = %ld: a full pool is extended "
				      "by nothing",
				      thr, pct),
			   "in lvm.conf: activation { thin_pool_autoextend_percent = 20 }");
	else
		tf_doc_add(d, HOST, "autoextend", TF_DOC_OK,
			   "pools are extended by %ld%% when %ld%% full "
			   "(activation/thin_pool_autoextend_threshold, _percent; needs dmeventd "
			   "monitoring and free space in the VG)",
			   pct, thr < 50 ? 50 : thr);
}

/* ---- FUSE ---- */

static bool in_path(const char *prog, char *found, size_t n)
{
	const char *path = getenv("PATH");
	char buf[4096];

	snprintf(buf, sizeof(buf), "%s", path && *path ? path : "/usr/bin:/bin");
	for (char *save = NULL, *dir = strtok_r(buf, ":", &save); dir;
	     dir = strtok_r(NULL, ":", &save)) {
		snprintf(found, n, "%s/%s", dir, prog);
		if (access(found, X_OK) == 0)
			return true;
	}
	return false;
}

static void check_fuse(struct tf_doc *d)
{
	struct stat st;
	char fm[4200];
	int fd;

	if (stat("/dev/fuse", &st) < 0 || !S_ISCHR(st.st_mode)) {
		tf_doc_fix(tf_doc_add(d, HOST, "fuse", TF_DOC_CRITICAL,
				      "/dev/fuse is missing: thinfs cannot mount"),
			   "modprobe fuse (in a container: pass /dev/fuse in, e.g. docker run "
			   "--device /dev/fuse --cap-add SYS_ADMIN)");
		return;
	}
	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		tf_doc_fix(tf_doc_add(d, HOST, "fuse",
				      e == EACCES ? TF_DOC_WARNING : TF_DOC_CRITICAL,
				      "/dev/fuse cannot be opened: %s", strerror(e)),
			   "%s",
			   e == EACCES ? "mount as root, or through fusermount3 (apt install fuse3)"
				       : "modprobe fuse");
		return;
	}
	close(fd);
	if (!in_path("fusermount3", fm, sizeof(fm)))
		tf_doc_fix(
		    tf_doc_add(d, HOST, "fuse", TF_DOC_WARNING,
			       "/dev/fuse works but fusermount3 is not in PATH: "
			       "'thinfs umount' and mounts by other users than root need it"),
		    "apt install fuse3 (Fedora/RHEL: dnf install fuse3)");
	else
		tf_doc_add(d, HOST, "fuse", TF_DOC_OK, "/dev/fuse opens and %s is installed", fm);
}

void tf_doc_check_host(struct tf_doc *d)
{
	check_kernel(d);
	check_lvm_config(d);
	check_fuse(d);
}
