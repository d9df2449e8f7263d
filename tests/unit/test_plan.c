/* rollbot — unit tests of commands/plan.c (MIT licence, see LICENSE).
 *
 * The method table must be complete and agree with DESIGN.md and the
 * runbooks; plan_target_valid is the last gate before a value from Slack
 * reaches an argv, so its edges are tested one by one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "commands/plan.h"
#include "commands/rb.h"

/* Keys every service block takes in bot/config.c; a method key with one
 * of these names could never be set. */
static const char *const common_keys[] = { "method",	 "timeout",	"affected", "eta",
					   "health_url", "version_url", "approval", NULL };

static size_t list_len(const char *const *l)
{
	size_t n = 0;

	while (l[n])
		n++;
	return n;
}

static bool list_has(const char *const *l, const char *s)
{
	for (size_t i = 0; l[i]; i++)
		if (!strcmp(l[i], s))
			return true;
	return false;
}

/* ---- the table ------------------------------------------------------ */

static void test_every_method_has_complete_row(void **state)
{
	(void)state;
	for (int m = 0; m < PLAN_METHOD_COUNT; m++) {
		const struct plan_method_info *mi = plan_method_info((enum plan_method)m);
		assert_non_null(mi->name);
		assert_true(mi->name[0] != '\0');
		assert_non_null(mi->title);
		assert_true(mi->title[0] != '\0');
		assert_non_null(mi->eta);
		assert_true(mi->eta[0] != '\0');
		assert_non_null(mi->default_target);
		assert_true(mi->default_target[0] != '\0');
		assert_non_null(mi->required);
		assert_non_null(mi->optional);
	}
}

static void test_every_method_requires_a_key(void **state)
{
	(void)state;
	for (int m = 0; m < PLAN_METHOD_COUNT; m++)
		assert_true(list_len(plan_method_info((enum plan_method)m)->required) >= 1);
}

static void test_method_keys_are_unique_within_method(void **state)
{
	(void)state;
	for (int m = 0; m < PLAN_METHOD_COUNT; m++) {
		const struct plan_method_info *mi = plan_method_info((enum plan_method)m);
		const char *const *lists[] = { mi->required, mi->optional };
		for (int a = 0; a < 2; a++)
			for (size_t i = 0; lists[a][i]; i++)
				for (int b = 0; b < 2; b++)
					for (size_t j = 0; lists[b][j]; j++)
						if (a != b || i != j)
							assert_string_not_equal(lists[a][i],
										lists[b][j]);
	}
}

static void test_method_keys_do_not_clash_with_service_keys(void **state)
{
	(void)state;
	for (int m = 0; m < PLAN_METHOD_COUNT; m++) {
		const struct plan_method_info *mi = plan_method_info((enum plan_method)m);
		for (size_t i = 0; mi->required[i]; i++)
			assert_false(list_has(common_keys, mi->required[i]));
		for (size_t i = 0; mi->optional[i]; i++)
			assert_false(list_has(common_keys, mi->optional[i]));
	}
}

static void test_method_names_are_unique(void **state)
{
	(void)state;
	for (int a = 0; a < PLAN_METHOD_COUNT; a++)
		for (int b = a + 1; b < PLAN_METHOD_COUNT; b++)
			assert_string_not_equal(plan_method_info((enum plan_method)a)->name,
						plan_method_info((enum plan_method)b)->name);
}

static void test_method_names_match_design(void **state)
{
	static const char *const names[PLAN_METHOD_COUNT] = {
		[PLAN_KUBECTL] = "kubectl",	[PLAN_HELM] = "helm",
		[PLAN_BLUEGREEN] = "bluegreen", [PLAN_FLAG] = "flag",
		[PLAN_CANARY] = "canary",	[PLAN_RECREATE] = "recreate",
		[PLAN_DOCKER] = "docker",	[PLAN_LAMBDA] = "lambda",
		[PLAN_SCRIPT] = "script",
	};
	(void)state;
	for (int m = 0; m < PLAN_METHOD_COUNT; m++)
		assert_string_equal(plan_method_info((enum plan_method)m)->name, names[m]);
}

static void test_method_name_round_trips(void **state)
{
	(void)state;
	for (int m = 0; m < PLAN_METHOD_COUNT; m++) {
		enum plan_method out = PLAN_METHOD_COUNT;
		assert_int_equal(
			plan_method_from_name(plan_method_info((enum plan_method)m)->name, &out),
			0);
		assert_int_equal(out, m);
	}
}

static void test_method_name_unknown_is_einval(void **state)
{
	enum plan_method out = PLAN_HELM;
	(void)state;
	assert_int_equal(plan_method_from_name("kubect", &out), RB_EINVAL);
	assert_int_equal(plan_method_from_name("", &out), RB_EINVAL);
	assert_int_equal(plan_method_from_name(NULL, &out), RB_EINVAL);
	assert_int_equal(out, PLAN_HELM);
}

static void test_method_name_is_case_sensitive(void **state)
{
	enum plan_method out;
	(void)state;
	assert_int_equal(plan_method_from_name("KUBECTL", &out), RB_EINVAL);
}

static void test_method_targets_match_design(void **state)
{
	static const enum plan_target want[PLAN_METHOD_COUNT] = {
		[PLAN_KUBECTL] = PLAN_TARGET_REVISION, [PLAN_HELM] = PLAN_TARGET_REVISION,
		[PLAN_BLUEGREEN] = PLAN_TARGET_NONE,   [PLAN_FLAG] = PLAN_TARGET_NONE,
		[PLAN_CANARY] = PLAN_TARGET_NONE,      [PLAN_RECREATE] = PLAN_TARGET_NONE,
		[PLAN_DOCKER] = PLAN_TARGET_VERSION,   [PLAN_LAMBDA] = PLAN_TARGET_REVISION,
		[PLAN_SCRIPT] = PLAN_TARGET_VERSION,
	};
	(void)state;
	for (int m = 0; m < PLAN_METHOD_COUNT; m++)
		assert_int_equal(plan_method_info((enum plan_method)m)->target, want[m]);
}

static void test_method_etas_follow_runbooks(void **state)
{
	(void)state;
	assert_string_equal(plan_method_info(PLAN_KUBECTL)->eta, "10-20 minutes");
	assert_string_equal(plan_method_info(PLAN_BLUEGREEN)->eta, "1-2 minutes");
	assert_string_equal(plan_method_info(PLAN_FLAG)->eta, "30 seconds - 1 minute");
	assert_string_equal(plan_method_info(PLAN_CANARY)->eta, "2-5 minutes");
	assert_string_equal(plan_method_info(PLAN_RECREATE)->eta,
			    "5-15 minutes (includes downtime)");
	assert_string_equal(plan_method_info(PLAN_SCRIPT)->eta, "set by the operator");
}

static void test_default_targets_read_for_people(void **state)
{
	(void)state;
	assert_string_equal(plan_method_info(PLAN_KUBECTL)->default_target,
			    "the previous revision");
	assert_string_equal(plan_method_info(PLAN_BLUEGREEN)->default_target,
			    "the blue environment");
	assert_string_equal(plan_method_info(PLAN_FLAG)->default_target, "flag off (0%)");
}

static void test_method_keys_match_design(void **state)
{
	const struct plan_method_info *k = plan_method_info(PLAN_KUBECTL);
	const struct plan_method_info *h = plan_method_info(PLAN_HELM);
	const struct plan_method_info *bg = plan_method_info(PLAN_BLUEGREEN);
	const struct plan_method_info *f = plan_method_info(PLAN_FLAG);
	const struct plan_method_info *c = plan_method_info(PLAN_CANARY);
	const struct plan_method_info *r = plan_method_info(PLAN_RECREATE);
	const struct plan_method_info *d = plan_method_info(PLAN_DOCKER);
	const struct plan_method_info *l = plan_method_info(PLAN_LAMBDA);
	const struct plan_method_info *s = plan_method_info(PLAN_SCRIPT);
	(void)state;

	assert_true(list_has(k->required, "namespace") && list_has(k->required, "deployment"));
	assert_true(list_has(k->optional, "container") && list_has(k->optional, "context"));
	assert_true(list_has(h->required, "namespace") && list_has(h->required, "release"));
	assert_true(list_has(bg->required, "namespace") && list_has(bg->required, "service"));
	assert_true(list_has(bg->optional, "selector_key") && list_has(bg->optional, "colour"));
	assert_true(list_has(f->required, "url") && list_has(f->required, "flag"));
	assert_true(list_has(c->required, "namespace") &&
		    list_has(c->required, "canary_deployment"));
	assert_true(list_has(c->optional, "manifest") && list_has(c->optional, "patch"));
	assert_true(list_has(r->required, "namespace") && list_has(r->required, "deployment") &&
		    list_has(r->required, "manifest"));
	assert_true(list_has(d->required, "service") && list_has(d->optional, "image"));
	assert_true(list_has(l->required, "function") && list_has(l->required, "alias"));
	assert_true(list_has(s->required, "path") && list_has(s->optional, "args"));
}

/* ---- plan_target_valid ---------------------------------------------- */

static void test_revision_accepts_plain_numbers(void **state)
{
	(void)state;
	assert_true(plan_target_valid(PLAN_TARGET_REVISION, "1"));
	assert_true(plan_target_valid(PLAN_TARGET_REVISION, "41"));
	assert_true(plan_target_valid(PLAN_TARGET_REVISION, "999999999"));
}

static void test_revision_rejects_empty(void **state)
{
	(void)state;
	assert_false(plan_target_valid(PLAN_TARGET_REVISION, ""));
}

static void test_revision_rejects_zero_and_leading_zero(void **state)
{
	(void)state;
	assert_false(plan_target_valid(PLAN_TARGET_REVISION, "0"));
	assert_false(plan_target_valid(PLAN_TARGET_REVISION, "041"));
}

static void test_revision_rejects_ten_digits(void **state)
{
	(void)state;
	assert_false(plan_target_valid(PLAN_TARGET_REVISION, "1234567890"));
}

static void test_revision_rejects_non_digits(void **state)
{
	(void)state;
	assert_false(plan_target_valid(PLAN_TARGET_REVISION, "41a"));
	assert_false(plan_target_valid(PLAN_TARGET_REVISION, "-1"));
	assert_false(plan_target_valid(PLAN_TARGET_REVISION, "+1"));
	assert_false(plan_target_valid(PLAN_TARGET_REVISION, " 41"));
	assert_false(plan_target_valid(PLAN_TARGET_REVISION, "4 1"));
	assert_false(plan_target_valid(PLAN_TARGET_REVISION, "41\n"));
	assert_false(plan_target_valid(PLAN_TARGET_REVISION, "v41"));
}

static void test_revision_rejects_unicode_digits(void **state)
{
	(void)state;
	assert_false(
		plan_target_valid(PLAN_TARGET_REVISION, "\xef\xbc\x94\xef\xbc\x91")); /* ４１ */
	assert_false(plan_target_valid(PLAN_TARGET_REVISION, "\xd9\xa4"));	      /* ٤ */
}

static void test_version_accepts_tags(void **state)
{
	(void)state;
	assert_true(plan_target_valid(PLAN_TARGET_VERSION, "v2.0.1"));
	assert_true(plan_target_valid(PLAN_TARGET_VERSION, "2024-06-01.3"));
	assert_true(plan_target_valid(PLAN_TARGET_VERSION, "a"));
	assert_true(plan_target_valid(PLAN_TARGET_VERSION, "Release_1-rc.2"));
	assert_true(plan_target_valid(PLAN_TARGET_VERSION, "41"));
}

static void test_version_accepts_64_characters(void **state)
{
	char s[65];
	(void)state;
	memset(s, 'a', 64);
	s[64] = '\0';
	assert_true(plan_target_valid(PLAN_TARGET_VERSION, s));
}

static void test_version_rejects_65_characters(void **state)
{
	char s[66];
	(void)state;
	memset(s, 'a', 65);
	s[65] = '\0';
	assert_false(plan_target_valid(PLAN_TARGET_VERSION, s));
}

static void test_version_rejects_empty(void **state)
{
	(void)state;
	assert_false(plan_target_valid(PLAN_TARGET_VERSION, ""));
}

static void test_version_rejects_leading_punctuation(void **state)
{
	(void)state;
	assert_false(plan_target_valid(PLAN_TARGET_VERSION, "-rf"));
	assert_false(plan_target_valid(PLAN_TARGET_VERSION, ".v1"));
	assert_false(plan_target_valid(PLAN_TARGET_VERSION, "_v1"));
}

static void test_version_rejects_dot_dot(void **state)
{
	(void)state;
	assert_false(plan_target_valid(PLAN_TARGET_VERSION, "v1..2"));
	assert_false(plan_target_valid(PLAN_TARGET_VERSION, "v1.."));
}

static void test_version_rejects_paths_and_shell_characters(void **state)
{
	static const char *const bad[] = { "../x", "v1/2", "v1;rm", "v1 2",  "v1\n", "$(id)",
					   "`id`", "v1|x", "v1&x",  "v1>x",  "v1:2", "v1@x",
					   "v1=2", "v1'x", "v1\"x", "v1\\x", "v1*",  NULL };
	(void)state;
	for (size_t i = 0; bad[i]; i++)
		assert_false(plan_target_valid(PLAN_TARGET_VERSION, bad[i]));
}

static void test_version_rejects_non_ascii(void **state)
{
	(void)state;
	assert_false(plan_target_valid(PLAN_TARGET_VERSION, "v\xc3\xa9")); /* vé */
	assert_false(plan_target_valid(PLAN_TARGET_VERSION, "\xd0\xb0"
							    "1")); /* Cyrillic а */
}

static void test_none_accepts_only_empty(void **state)
{
	(void)state;
	assert_true(plan_target_valid(PLAN_TARGET_NONE, ""));
	assert_false(plan_target_valid(PLAN_TARGET_NONE, "1"));
	assert_false(plan_target_valid(PLAN_TARGET_NONE, "blue"));
}

static void test_null_is_never_valid(void **state)
{
	(void)state;
	assert_false(plan_target_valid(PLAN_TARGET_NONE, NULL));
	assert_false(plan_target_valid(PLAN_TARGET_REVISION, NULL));
	assert_false(plan_target_valid(PLAN_TARGET_VERSION, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_method_has_complete_row),
		cmocka_unit_test(test_every_method_requires_a_key),
		cmocka_unit_test(test_method_keys_are_unique_within_method),
		cmocka_unit_test(test_method_keys_do_not_clash_with_service_keys),
		cmocka_unit_test(test_method_names_are_unique),
		cmocka_unit_test(test_method_names_match_design),
		cmocka_unit_test(test_method_name_round_trips),
		cmocka_unit_test(test_method_name_unknown_is_einval),
		cmocka_unit_test(test_method_name_is_case_sensitive),
		cmocka_unit_test(test_method_targets_match_design),
		cmocka_unit_test(test_method_etas_follow_runbooks),
		cmocka_unit_test(test_default_targets_read_for_people),
		cmocka_unit_test(test_method_keys_match_design),
		cmocka_unit_test(test_revision_accepts_plain_numbers),
		cmocka_unit_test(test_revision_rejects_empty),
		cmocka_unit_test(test_revision_rejects_zero_and_leading_zero),
		cmocka_unit_test(test_revision_rejects_ten_digits),
		cmocka_unit_test(test_revision_rejects_non_digits),
		cmocka_unit_test(test_revision_rejects_unicode_digits),
		cmocka_unit_test(test_version_accepts_tags),
		cmocka_unit_test(test_version_accepts_64_characters),
		cmocka_unit_test(test_version_rejects_65_characters),
		cmocka_unit_test(test_version_rejects_empty),
		cmocka_unit_test(test_version_rejects_leading_punctuation),
		cmocka_unit_test(test_version_rejects_dot_dot),
		cmocka_unit_test(test_version_rejects_paths_and_shell_characters),
		cmocka_unit_test(test_version_rejects_non_ascii),
		cmocka_unit_test(test_none_accepts_only_empty),
		cmocka_unit_test(test_null_is_never_valid),
	};
	int failed = cmocka_run_group_tests_name("plan", tests, NULL, NULL);

	return failed ? 1 : 0;
}
