/* test_lvm_text.c — unit tests of the LVM2 text metadata parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/base/err.h"
#include "core/lvm/lvm_text.h"

#ifndef FIXTURE_DIR
#error FIXTURE_DIR must be defined
#endif

static const struct tf_lvm_lv *lv_by_name(const struct tf_lvm_vg *vg, const char *name)
{
	for (size_t i = 0; i < vg->nlvs; i++)
		if (!strcmp(vg->lvs[i].name, name))
			return &vg->lvs[i];
	return NULL;
}

static void fixture_matches_lvs_report(void **state)
{
	(void)state;
	struct tf_lvm_vg *vg;
	int rc = tf_lvm_parse_file(FIXTURE_DIR "/kernel-pool-demo/lvm.cfg", &vg);
	assert_int_equal(rc, 0);
	assert_string_equal(vg->name, "demo");
	assert_string_equal(vg->id, "5WrII3-FIKN-7mIQ-rpQa-4rTU-lY0y-gJlfc0");
	assert_int_equal(vg->extent_sectors, 8192);
	assert_int_equal(vg->npools, 1);
	assert_string_equal(vg->pools[0].name, "pool");
	assert_string_equal(vg->pools[0].id, "YD4ZIP-iop0-j8Tf-50lb-0wDr-irDw-15ELDk");
	assert_string_equal(vg->pools[0].metadata_lv, "pool_tmeta");
	assert_string_equal(vg->pools[0].data_lv, "pool_tdata");
	assert_int_equal(vg->pools[0].transaction_id, 5);
	assert_int_equal(vg->pools[0].chunk_sectors, 256);
	assert_int_equal(vg->nlvs, 5);
	static const struct {
		const char *name;
		uint32_t id;
		uint64_t mib;
		const char *origin;
	} want[] = {
	    {"web", 1, 128, NULL}, {"web_monday", 2, 128, "web"}, {"web_tuesday", 3, 128, "web"},
	    {"disk", 4, 64, NULL}, {"scratch", 5, 16, NULL},
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct tf_lvm_lv *lv = lv_by_name(vg, want[i].name);
		assert_non_null(lv);
		assert_int_equal(lv->device_id, want[i].id);
		assert_int_equal(lv->size_bytes, want[i].mib << 20);
		assert_string_equal(lv->pool, "pool");
		if (want[i].origin)
			assert_string_equal(lv->origin, want[i].origin);
		else
			assert_null(lv->origin);
		assert_non_null(lv->tags);
		assert_null(lv->tags[lv->ntags]);
	}
	assert_int_equal(lv_by_name(vg, "web")->creation_time, 1795341280);
	assert_string_equal(lv_by_name(vg, "web")->id, "vtUBxg-M7zG-WutO-WqUv-xHQa-PTm0-u8rLlF");
	tf_lvm_free(vg);
}

#define VG_HEAD "vg1 {\n id = \"VGID\"\n extent_size = 8192\n logical_volumes {\n"
#define POOL_LV                                                                                    \
	" pool { id = \"PID\"\n segment1 { start_extent = 0\n extent_count = 2\n"                  \
	" type = \"thin-pool\"\n metadata = \"pool_tmeta\"\n pool = \"pool_tdata\"\n"              \
	" transaction_id = 7\n chunk_size = 128 } }\n"

static void tags_escapes_and_multiple_segments(void **state)
{
	(void)state;
	const char *text = VG_HEAD POOL_LV
	    " my+odd.lv-name_1 { id = \"L\\\"ID\"\n tags = [\"a\", \"b\\\\c\", \"q\\\"x\"]\n"
	    "   segment1 { extent_count = 3\n type = \"thin\"\n thin_pool = \"pool\"\n device_id = "
	    "9 }\n"
	    "   segment2 { extent_count = 1\n type = \"thin\"\n thin_pool = \"pool\"\n device_id = "
	    "9 }\n"
	    "   unknown_section { x = [1, 2.5, \"z\"] }\n"
	    " }\n"
	    " 1digit { segment1 { extent_count = 1 type = \"thin\" thin_pool = \"pool\" device_id "
	    "= 10 } }\n"
	    " linear { segment1 { extent_count = 1 type = \"striped\" } }\n"
	    "}\n}\n";
	struct tf_lvm_vg *vg;
	assert_int_equal(tf_lvm_parse(text, strlen(text), "t.cfg", &vg), 0);
	assert_int_equal(vg->nlvs, 2);
	const struct tf_lvm_lv *lv = lv_by_name(vg, "my+odd.lv-name_1");
	assert_non_null(lv);
	assert_string_equal(lv->id, "L\"ID");
	assert_int_equal(lv->size_bytes, 4ull * 8192 * 512);
	assert_int_equal(lv->ntags, 3);
	assert_string_equal(lv->tags[0], "a");
	assert_string_equal(lv->tags[1], "b\\c");
	assert_string_equal(lv->tags[2], "q\"x");
	assert_null(lv->tags[3]);
	assert_non_null(lv_by_name(vg, "1digit"));
	assert_int_equal(vg->pools[0].chunk_sectors, 128);
	assert_int_equal(vg->pools[0].transaction_id, 7);
	tf_lvm_free(vg);
}

static void expect_fail(const char *text, const char *msg)
{
	struct tf_lvm_vg *vg = (void *)1;
	int rc = tf_lvm_parse(text, strlen(text), "bad.cfg", &vg);
	assert_int_equal(rc, -EINVAL);
	assert_null(vg);
	if (!strstr(tf_errmsg(), msg)) {
		print_error("message '%s' lacks '%s'\n", tf_errmsg(), msg);
		fail();
	}
}

static void malformed_text_names_the_line(void **state)
{
	(void)state;
	expect_fail("# c\nvg {\n id \"x\"\n}\n", "bad.cfg:3: expected '=' after 'id'");
	expect_fail("vg {\n id = \"x\n", "bad.cfg:2: unterminated string");
	expect_fail("vg {\n\n id = \"x\"\n", "bad.cfg:4: missing '}'");
	expect_fail("vg {\n a = [1 2]\n}", "bad.cfg:2: expected ',' or ']'");
	expect_fail("}\n", "bad.cfg:1: unexpected '}'");
	expect_fail("vg {\n\n a = }\n}", "bad.cfg:3: expected a value");
	expect_fail("vg {\n a = 99999999999999999999999\n}", "bad.cfg:2: number");
	expect_fail("vg {\n a = 1 ; \n}", "bad.cfg:2: unexpected character ';'");
	expect_fail("vg {\n id = \"x\"\n}\n",
		    "bad.cfg:1: volume group vg: missing or bad extent_size");
	expect_fail(
	    VG_HEAD
	    " t {\n segment1 {\n extent_count = 1 type = \"thin\" thin_pool = \"p\" }\n }\n}\n}\n",
	    "bad.cfg:6: thin LV t: missing or bad device_id");
	expect_fail("a {} b {}", "more than one volume group");
}

static void bounds_are_enforced(void **state)
{
	(void)state;
	char deep[400] = "";
	for (int i = 0; i < 40; i++)
		strcat(deep, "a {\n");
	expect_fail(deep, "nested deeper");
	static char longstr[8000];
	memset(longstr, 'x', sizeof(longstr) - 1);
	memcpy(longstr, "vg { s = \"", 10);
	expect_fail(longstr, "string longer than");
	/* An embedded NUL byte does not end the text early or crash. */
	const char nul[] = "vg {\n a = \"x\0y\"\n}";
	struct tf_lvm_vg *vg;
	assert_int_equal(tf_lvm_parse(nul, sizeof(nul) - 1, "nul.cfg", &vg), -EINVAL);
	assert_non_null(strstr(tf_errmsg(), "nul.cfg:2"));
	assert_int_equal(tf_lvm_parse_file(FIXTURE_DIR "/does-not-exist.cfg", &vg), -ENOENT);
}

/* Every prefix of the fixture, and the fixture with each byte flipped to a
 * delimiter, parses or fails with EINVAL: no crash, no other error. */
static void truncated_and_mangled_fixture_fails_cleanly(void **state)
{
	(void)state;
	FILE *f = fopen(FIXTURE_DIR "/kernel-pool-demo/lvm.cfg", "rb");
	static char text[65536];
	assert_non_null(f);
	size_t len = fread(text, 1, sizeof(text), f);
	fclose(f);
	assert_true(len > 1000 && len < sizeof(text));
	size_t ok = 0;
	for (size_t n = 0; n < len; n++) {
		struct tf_lvm_vg *vg;
		int rc = tf_lvm_parse(text, n, "cut.cfg", &vg);
		assert_true(rc == 0 || rc == -EINVAL);
		if (rc == 0) {
			ok++;
			tf_lvm_free(vg);
		}
	}
	assert_true(ok < len / 2); /* most prefixes are unbalanced */
	static const char subst[] = "{}[]=\",\"#";
	for (size_t n = 0; n < len; n += 7) {
		char saved = text[n];
		text[n] = subst[n % (sizeof(subst) - 1)];
		struct tf_lvm_vg *vg;
		int rc = tf_lvm_parse(text, len, "mangled.cfg", &vg);
		assert_true(rc == 0 || rc == -EINVAL);
		if (rc == 0)
			tf_lvm_free(vg);
		text[n] = saved;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(fixture_matches_lvs_report),
	    cmocka_unit_test(tags_escapes_and_multiple_segments),
	    cmocka_unit_test(malformed_text_names_the_line),
	    cmocka_unit_test(bounds_are_enforced),
	    cmocka_unit_test(truncated_and_mangled_fixture_fails_cleanly),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
