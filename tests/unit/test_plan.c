/* rollbot — unit tests of commands/plan.c (MIT licence, see LICENSE).
 *
 * The method table must be complete and agree with README.md (the methods
 * under Configuration) and the runbooks; plan_target_valid is the last gate before a value from Slack
 * reaches an argv, so its edges are tested one by one. The executable plans
 * are checked argv element by argv element for every method, with and
 * without the optional parameters; the HTTP requests of the flag method
 * field by field; the history parsers with outputs as the CLIs print them;
 * the text people approve; and the digest approvals are bound to.
 * Hostile values have their own file, test_hostile.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

/* ---- plan_build: helpers ---------------------------------------------- */

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static struct plan_input input(enum plan_method m, const struct plan_param *params, size_t n,
			       const char *target)
{
	struct plan_input in = {
		.service = "payments-api",
		.method = m,
		.params = params,
		.n_params = n,
		.target = target,
		.timeout_ms = 300000,
		.incident_id = "INC-2026-0001",
		.severity = "P1",
		.reason = "checkout 5xx at 6% after v2.1.0",
		.requested_by = "U024BE7LH",
	};
	return in;
}

static struct plan *must_build(const struct plan_input *in)
{
	struct plan *p = NULL;
	char err[RB_ERR_LEN] = "";
	int rc = plan_build(in, &p, err, sizeof err);

	if (rc != 0)
		fail_msg("plan_build failed (%d): %s", rc, err);
	assert_non_null(p);
	return p;
}

/* plan_build must refuse in, with a message; returns nothing, checks all. */
static void must_refuse(const struct plan_input *in, const char *needle)
{
	struct plan *p = (struct plan *)1;
	char err[RB_ERR_LEN] = "";

	assert_int_equal(plan_build(in, &p, err, sizeof err), PLAN_EINVAL);
	assert_null(p);
	assert_true(err[0] != '\0');
	if (needle && !strstr(err, needle))
		fail_msg("message \"%s\" lacks \"%s\"", err, needle);
}

static void assert_argv(const struct plan_step *s, const char *const *want)
{
	size_t n = 0;

	assert_int_equal(s->kind, PLAN_STEP_EXEC);
	while (want[n])
		n++;
	for (size_t i = 0; i < n && i < s->exec.argc; i++)
		assert_string_equal(s->exec.argv[i], want[i]);
	assert_int_equal(s->exec.argc, n);
	assert_null(s->exec.argv[n]);
}

static void assert_no_env(const struct plan *p)
{
	for (size_t i = 0; i < p->n_steps; i++) {
		assert_null(p->steps[i].exec.env);
		assert_int_equal(p->steps[i].exec.n_env, 0);
	}
}

static void assert_titles(const struct plan *p)
{
	for (size_t i = 0; i < p->n_steps; i++) {
		assert_non_null(p->steps[i].title);
		assert_true(p->steps[i].title[0] != '\0');
	}
}

static const struct plan_param kubectl_params[] = {
	{ "namespace", "payments" },
	{ "deployment", "payments-api" },
};

/* ---- plan_build: every method ----------------------------------------- */

static void test_kubectl_plan(void **state)
{
	static const char *const undo[] = {
		"kubectl",  "rollout",		"undo", "deployment/payments-api", "-n",
		"payments", "--to-revision=41", NULL
	};
	static const char *const status[] = {
		"kubectl", "rollout",  "status",	 "deployment/payments-api",
		"-n",	   "payments", "--timeout=300s", NULL
	};
	struct plan_input in = input(PLAN_KUBECTL, kubectl_params, 2, "41");
	struct plan *p = must_build(&in);
	(void)state;

	assert_int_equal(p->method, PLAN_KUBECTL);
	assert_int_equal(p->n_steps, 2);
	assert_argv(&p->steps[0], undo);
	assert_int_equal(p->steps[0].role, PLAN_ROLE_ACTION);
	assert_int_equal(p->steps[0].timeout_ms, 300000);
	assert_argv(&p->steps[1], status);
	assert_int_equal(p->steps[1].role, PLAN_ROLE_CHECK);
	/* kubectl's own --timeout fires first: its message beats a kill. */
	assert_true(p->steps[1].timeout_ms > 300000);
	assert_no_env(p);
	assert_titles(p);
	assert_string_equal(p->steps[0].title,
			    "Roll deployment/payments-api in payments back to revision 41");
	plan_free(p);
}

static void test_db_step_runs_last_with_its_own_timeout(void **state)
{
	static const char *const db[] = { "/opt/payments/bin/migrate", "down", "--to", "0042",
					   NULL };
	struct plan_input in = input(PLAN_KUBECTL, kubectl_params, 2, "41");
	struct plan *without = must_build(&in), *p;
	(void)state;

	in.db_argv = db;
	in.db_timeout_ms = 600000;
	p = must_build(&in);
	assert_int_equal(p->n_steps, 3);
	assert_argv(&p->steps[2], db);
	assert_int_equal(p->steps[2].role, PLAN_ROLE_ACTION);
	assert_int_equal(p->steps[2].timeout_ms, 600000);
	assert_string_equal(p->steps[2].title,
			    "Roll the database back (the service's down-migration)");
	/* Approvals bind to the digest: a database step is another plan. */
	assert_true(plan_digest(p) != plan_digest(without));
	plan_free(p);
	plan_free(without);
}

static void test_db_step_refuses_a_relative_or_hostile_command(void **state)
{
	static const char *const relative[] = { "migrate", "down", NULL };
	static const char *const newline[] = { "/opt/m", "down\n--force", NULL };
	static const char *const empty[] = { NULL };
	const char *const *bad[] = { relative, newline, empty };
	struct plan_input in = input(PLAN_KUBECTL, kubectl_params, 2, "41");
	struct plan *p;
	char err[RB_ERR_LEN];
	(void)state;

	in.db_timeout_ms = 600000;
	for (size_t i = 0; i < RB_ARRAY_LEN(bad); i++) {
		in.db_argv = bad[i];
		assert_int_equal(plan_build(&in, &p, err, sizeof err), PLAN_EINVAL);
		assert_null(p);
		assert_true(strstr(err, "db_rollback") != NULL);
	}
}

static void test_kubectl_plan_with_context_and_container(void **state)
{
	static const struct plan_param params[] = {
		{ "namespace", "payments" },
		{ "deployment", "payments-api" },
		{ "container", "app" },
		{ "context", "arn:aws:eks:eu-west-1:123456789012:cluster/prod" },
	};
	static const char *const undo[] = {
		"kubectl",
		"--context=arn:aws:eks:eu-west-1:123456789012:cluster/prod",
		"rollout",
		"undo",
		"deployment/payments-api",
		"-n",
		"payments",
		"--to-revision=7",
		NULL
	};
	static const char *const status[] = {
		"kubectl",
		"--context=arn:aws:eks:eu-west-1:123456789012:cluster/prod",
		"rollout",
		"status",
		"deployment/payments-api",
		"-n",
		"payments",
		"--timeout=300s",
		NULL
	};
	struct plan_input in = input(PLAN_KUBECTL, params, N_OF(params), "7");
	struct plan *p = must_build(&in);
	(void)state;

	assert_int_equal(p->n_steps, 2);
	assert_argv(&p->steps[0], undo);
	assert_argv(&p->steps[1], status);
	plan_free(p);
}

static void test_timeout_is_rounded_up_to_whole_seconds(void **state)
{
	struct plan_input in = input(PLAN_KUBECTL, kubectl_params, 2, "41");
	struct plan *p;
	(void)state;

	in.timeout_ms = 90500;
	p = must_build(&in);
	assert_string_equal(p->steps[1].exec.argv[6], "--timeout=91s");
	assert_int_equal(p->steps[0].timeout_ms, 90500);
	plan_free(p);

	in.timeout_ms = 1;
	p = must_build(&in);
	assert_string_equal(p->steps[1].exec.argv[6], "--timeout=1s");
	plan_free(p);
}

static void test_helm_plan(void **state)
{
	static const struct plan_param params[] = {
		{ "namespace", "payments" },
		{ "release", "payments" },
	};
	static const char *const rollback[] = { "helm",	    "rollback", "payments",  "12",   "-n",
						"payments", "--wait",	"--timeout", "300s", NULL };
	static const char *const status[] = {
		"helm", "status", "payments", "-n", "payments", NULL
	};
	struct plan_input in = input(PLAN_HELM, params, N_OF(params), "12");
	struct plan *p = must_build(&in);
	(void)state;

	assert_int_equal(p->n_steps, 2);
	assert_argv(&p->steps[0], rollback);
	assert_int_equal(p->steps[0].role, PLAN_ROLE_ACTION);
	assert_true(p->steps[0].timeout_ms > 300000); /* --wait --timeout of its own */
	assert_argv(&p->steps[1], status);
	assert_int_equal(p->steps[1].role, PLAN_ROLE_CHECK);
	assert_no_env(p);
	plan_free(p);
}

static void test_helm_plan_with_context(void **state)
{
	static const struct plan_param params[] = {
		{ "namespace", "payments" },
		{ "release", "payments" },
		{ "context", "prod-eu" },
	};
	static const char *const rollback[] = { "helm",	     "--kube-context=prod-eu",
						"rollback",  "payments",
						"12",	     "-n",
						"payments",  "--wait",
						"--timeout", "300s",
						NULL };
	static const char *const status[] = {
		"helm", "--kube-context=prod-eu", "status", "payments", "-n", "payments", NULL
	};
	struct plan_input in = input(PLAN_HELM, params, N_OF(params), "12");
	struct plan *p = must_build(&in);
	(void)state;

	assert_argv(&p->steps[0], rollback);
	assert_argv(&p->steps[1], status);
	plan_free(p);
}

static void test_bluegreen_plan_defaults(void **state)
{
	static const struct plan_param params[] = {
		{ "namespace", "payments" },
		{ "service", "app-service" },
	};
	static const char *const patch[] = {
		"kubectl", "patch",
		"service", "app-service",
		"-n",	   "payments",
		"-p",	   "{\"spec\":{\"selector\":{\"version\":\"blue\"}}}",
		NULL
	};
	static const char *const get[] = { "kubectl", "get",
					   "service", "app-service",
					   "-n",      "payments",
					   "-o",      "jsonpath={.spec.selector.version}",
					   NULL };
	struct plan_input in = input(PLAN_BLUEGREEN, params, N_OF(params), "");
	struct plan *p = must_build(&in);
	(void)state;

	assert_int_equal(p->n_steps, 2);
	assert_argv(&p->steps[0], patch);
	assert_int_equal(p->steps[0].role, PLAN_ROLE_ACTION);
	assert_argv(&p->steps[1], get);
	assert_int_equal(p->steps[1].role, PLAN_ROLE_CHECK);
	plan_free(p);
}

static void test_bluegreen_plan_with_key_colour_context(void **state)
{
	static const struct plan_param params[] = {
		{ "namespace", "payments" },
		{ "service", "app-service" },
		{ "selector_key", "app.kubernetes.io/version" },
		{ "colour", "green" },
		{ "context", "prod" },
	};
	static const char *const patch[] = {
		"kubectl",
		"--context=prod",
		"patch",
		"service",
		"app-service",
		"-n",
		"payments",
		"-p",
		"{\"spec\":{\"selector\":{\"app.kubernetes.io/version\":\"green\"}}}",
		NULL
	};
	static const char *const get[] = {
		"kubectl",
		"--context=prod",
		"get",
		"service",
		"app-service",
		"-n",
		"payments",
		"-o",
		"jsonpath={.spec.selector.app\\.kubernetes\\.io/version}",
		NULL
	};
	struct plan_input in = input(PLAN_BLUEGREEN, params, N_OF(params), NULL);
	struct plan *p = must_build(&in);
	(void)state;

	assert_argv(&p->steps[0], patch);
	assert_argv(&p->steps[1], get);
	plan_free(p);
}

static const struct plan_param flag_params[] = {
	{ "url", "https://flags.example.com/admin/flags" },
	{ "flag", "oauth_auth" },
};

static void test_flag_plan_requests(void **state)
{
	struct plan_input in = input(PLAN_FLAG, flag_params, 2, "");
	struct plan *p = must_build(&in);
	const struct plan_step *post, *get;
	(void)state;

	assert_int_equal(p->n_steps, 2);
	post = &p->steps[0];
	assert_int_equal(post->kind, PLAN_STEP_HTTP);
	assert_int_equal(post->role, PLAN_ROLE_ACTION);
	assert_string_equal(post->http.method, "POST");
	assert_string_equal(post->http.url, "https://flags.example.com/admin/flags");
	assert_string_equal(post->http.body,
			    "{\"flag\":\"oauth_auth\",\"enabled\":false,\"percentage\":0}");
	assert_int_equal(post->http.n_expect, 2);
	assert_int_equal(post->http.expect[0], 200);
	assert_int_equal(post->http.expect[1], 204);
	assert_int_equal(post->timeout_ms, 300000);
	assert_null(post->exec.argv);

	get = &p->steps[1];
	assert_int_equal(get->kind, PLAN_STEP_HTTP);
	assert_int_equal(get->role, PLAN_ROLE_CHECK);
	assert_string_equal(get->http.method, "GET");
	assert_string_equal(get->http.url, "https://flags.example.com/admin/flags/oauth_auth");
	assert_null(get->http.body);
	assert_int_equal(get->http.n_expect, 1);
	assert_int_equal(get->http.expect[0], 200);
	assert_null(get->exec.argv);
	plan_free(p);
}

static void test_flag_name_is_escaped_in_url_and_body(void **state)
{
	static const struct plan_param params[] = {
		{ "url", "http://flags.internal:8080/admin/flags/" },
		{ "flag", "team/new+ui,v2@x" },
	};
	struct plan_input in = input(PLAN_FLAG, params, N_OF(params), "");
	struct plan *p = must_build(&in);
	(void)state;

	assert_string_equal(p->steps[0].http.url, "http://flags.internal:8080/admin/flags/");
	assert_string_equal(p->steps[0].http.body,
			    "{\"flag\":\"team/new+ui,v2@x\",\"enabled\":false,\"percentage\":0}");
	/* No doubled slash; the name stays one path segment. */
	assert_string_equal(p->steps[1].http.url,
			    "http://flags.internal:8080/admin/flags/team%2Fnew%2Bui%2Cv2%40x");
	plan_free(p);
}

static void test_canary_plan_with_manifest(void **state)
{
	static const struct plan_param params[] = {
		{ "namespace", "payments" },
		{ "canary_deployment", "payments-canary" },
		{ "manifest", "/etc/rollbot/k8s/canary-0-percent.yaml" },
	};
	static const char *const apply[] = { "kubectl", "apply",
					     "-f",	"/etc/rollbot/k8s/canary-0-percent.yaml",
					     "-n",	"payments",
					     NULL };
	static const char *const scale[] = { "kubectl", "scale",    "deployment/payments-canary",
					     "-n",	"payments", "--replicas=0",
					     NULL };
	static const char *const status[] = {
		"kubectl", "rollout",  "status",	 "deployment/payments-canary",
		"-n",	   "payments", "--timeout=300s", NULL
	};
	struct plan_input in = input(PLAN_CANARY, params, N_OF(params), "");
	struct plan *p = must_build(&in);
	(void)state;

	assert_int_equal(p->n_steps, 3);
	assert_argv(&p->steps[0], apply);
	assert_int_equal(p->steps[0].role, PLAN_ROLE_ACTION);
	assert_argv(&p->steps[1], scale);
	assert_int_equal(p->steps[1].role, PLAN_ROLE_ACTION);
	assert_argv(&p->steps[2], status);
	assert_int_equal(p->steps[2].role, PLAN_ROLE_CHECK);
	plan_free(p);
}

static void test_canary_plan_with_merge_patch(void **state)
{
	static const char patch_json[] =
		"{\"metadata\":{\"annotations\":{\"nginx.ingress.kubernetes.io/canary-weight\":\"0\"}}}";
	static const struct plan_param params[] = {
		{ "namespace", "payments" }, { "canary_deployment", "payments-canary" },
		{ "ingress", "payments" },   { "patch", patch_json },
		{ "context", "prod" },
	};
	static const char *const patch[] = {
		"kubectl",  "--context=prod", "patch", "ingress",  "payments", "-n",
		"payments", "--type=merge",   "-p",    patch_json, NULL
	};
	static const char *const scale[] = { "kubectl",	     "--context=prod",
					     "scale",	     "deployment/payments-canary",
					     "-n",	     "payments",
					     "--replicas=0", NULL };
	struct plan_input in = input(PLAN_CANARY, params, N_OF(params), "");
	struct plan *p = must_build(&in);
	(void)state;

	assert_int_equal(p->n_steps, 3);
	assert_argv(&p->steps[0], patch);
	assert_argv(&p->steps[1], scale);
	assert_string_equal(p->steps[2].exec.argv[1], "--context=prod");
	plan_free(p);
}

static void test_canary_plan_with_json_patch(void **state)
{
	static const char patch_json[] =
		"[{\"op\":\"remove\",\"path\":\"/spec/rules/0/http/paths/0/backend/canary\"}]";
	static const struct plan_param params[] = {
		{ "namespace", "payments" },
		{ "canary_deployment", "payments-canary" },
		{ "ingress", "payments" },
		{ "patch", patch_json },
	};
	static const char *const patch[] = {
		"kubectl",  "patch",	   "ingress", "payments", "-n",
		"payments", "--type=json", "-p",      patch_json, NULL
	};
	struct plan_input in = input(PLAN_CANARY, params, N_OF(params), "");
	struct plan *p = must_build(&in);
	(void)state;

	assert_argv(&p->steps[0], patch);
	plan_free(p);
}

static void test_canary_plan_without_routing(void **state)
{
	static const struct plan_param params[] = {
		{ "namespace", "payments" },
		{ "canary_deployment", "payments-canary" },
	};
	struct plan_input in = input(PLAN_CANARY, params, N_OF(params), "");
	struct plan *p = must_build(&in);
	(void)state;

	assert_int_equal(p->n_steps, 2);
	assert_string_equal(p->steps[0].exec.argv[1], "scale");
	assert_string_equal(p->steps[1].exec.argv[1], "rollout");
	plan_free(p);
}

static void test_recreate_plan(void **state)
{
	static const struct plan_param params[] = {
		{ "namespace", "payments" },
		{ "deployment", "app" },
		{ "manifest", "https://git.example.com/raw/k8s/deployment-v2.0.0.yaml" },
	};
	static const char *const scale[] = { "kubectl", "scale",    "deployment/app",
					     "-n",	"payments", "--replicas=0",
					     NULL };
	static const char *const apply[] = {
		"kubectl", "apply",
		"-f",	   "https://git.example.com/raw/k8s/deployment-v2.0.0.yaml",
		"-n",	   "payments",
		NULL
	};
	static const char *const status[] = { "kubectl",	"rollout", "status",
					      "deployment/app", "-n",	   "payments",
					      "--timeout=300s", NULL };
	struct plan_input in = input(PLAN_RECREATE, params, N_OF(params), "");
	struct plan *p = must_build(&in);
	(void)state;

	assert_int_equal(p->n_steps, 3);
	assert_argv(&p->steps[0], scale);
	assert_int_equal(p->steps[0].role, PLAN_ROLE_ACTION);
	assert_argv(&p->steps[1], apply);
	assert_int_equal(p->steps[1].role, PLAN_ROLE_ACTION);
	assert_argv(&p->steps[2], status);
	assert_int_equal(p->steps[2].role, PLAN_ROLE_CHECK);
	plan_free(p);
}

static void test_recreate_plan_with_context(void **state)
{
	static const struct plan_param params[] = {
		{ "namespace", "payments" },
		{ "deployment", "app" },
		{ "manifest", "/srv/k8s/deployment-v2.0.0.yaml" },
		{ "context", "staging@eu" },
	};
	struct plan_input in = input(PLAN_RECREATE, params, N_OF(params), "");
	struct plan *p = must_build(&in);
	(void)state;

	for (size_t i = 0; i < p->n_steps; i++) {
		assert_string_equal(p->steps[i].exec.argv[0], "kubectl");
		assert_string_equal(p->steps[i].exec.argv[1], "--context=staging@eu");
	}
	assert_string_equal(p->steps[1].exec.argv[4], "/srv/k8s/deployment-v2.0.0.yaml");
	plan_free(p);
}

static void test_docker_plan_to_a_tag(void **state)
{
	static const struct plan_param params[] = {
		{ "service", "payments_api" },
		{ "image", "registry.example.com:5000/team/payments" },
	};
	static const char *const update[] = { "docker",
					      "service",
					      "update",
					      "--image",
					      "registry.example.com:5000/team/payments:v2.0.0",
					      "payments_api",
					      NULL };
	static const char *const ps[] = { "docker",	  "service",	"ps",
					  "payments_api", "--no-trunc", NULL };
	struct plan_input in = input(PLAN_DOCKER, params, N_OF(params), "v2.0.0");
	struct plan *p = must_build(&in);
	(void)state;

	assert_int_equal(p->n_steps, 2);
	assert_argv(&p->steps[0], update);
	assert_int_equal(p->steps[0].role, PLAN_ROLE_ACTION);
	assert_argv(&p->steps[1], ps);
	assert_int_equal(p->steps[1].role, PLAN_ROLE_CHECK);
	plan_free(p);
}

static void test_docker_plan_without_target_rolls_back(void **state)
{
	static const struct plan_param params[] = {
		{ "service", "payments_api" },
		{ "image", "team/payments" }, /* unused without a target, still checked */
	};
	static const char *const update[] = { "docker",	    "service",	    "update",
					      "--rollback", "payments_api", NULL };
	struct plan_input in = input(PLAN_DOCKER, params, N_OF(params), "");
	struct plan *p = must_build(&in);
	(void)state;

	assert_argv(&p->steps[0], update);
	assert_string_equal(p->steps[1].exec.argv[2], "ps");
	plan_free(p);

	in.n_params = 1; /* no image at all */
	p = must_build(&in);
	assert_argv(&p->steps[0], update);
	plan_free(p);
}

static void test_docker_target_without_image_is_refused(void **state)
{
	static const struct plan_param params[] = { { "service", "payments_api" } };
	struct plan_input in = input(PLAN_DOCKER, params, N_OF(params), "v2.0.0");
	(void)state;

	must_refuse(&in, "image");
}

static void test_docker_image_with_tag_or_digest_is_refused(void **state)
{
	static const char *const bad[] = { "team/payments:v2", "payments:latest",
					   "team/payments@sha256:abcd", "registry:5000/", NULL };
	(void)state;
	for (size_t i = 0; bad[i]; i++) {
		struct plan_param params[] = { { "service", "payments_api" }, { "image", bad[i] } };
		struct plan_input in = input(PLAN_DOCKER, params, N_OF(params), "v2.0.0");
		must_refuse(&in, "image");
	}
}

static void test_lambda_plan(void **state)
{
	static const struct plan_param params[] = {
		{ "function", "checkout-handler" },
		{ "alias", "production" },
	};
	static const char *const update[] = { "aws",
					      "lambda",
					      "update-alias",
					      "--function-name",
					      "checkout-handler",
					      "--name",
					      "production",
					      "--function-version",
					      "6",
					      NULL };
	static const char *const get[] = {
		"aws",	  "lambda",	"get-alias", "--function-name", "checkout-handler",
		"--name", "production", NULL
	};
	struct plan_input in = input(PLAN_LAMBDA, params, N_OF(params), "6");
	struct plan *p = must_build(&in);
	(void)state;

	assert_int_equal(p->n_steps, 2);
	assert_argv(&p->steps[0], update);
	assert_int_equal(p->steps[0].role, PLAN_ROLE_ACTION);
	assert_argv(&p->steps[1], get);
	assert_int_equal(p->steps[1].role, PLAN_ROLE_CHECK);
	plan_free(p);
}

static void test_lambda_plan_with_region(void **state)
{
	static const struct plan_param params[] = {
		{ "function", "arn:aws:lambda:eu-west-1:123456789012:function:checkout" },
		{ "alias", "production" },
		{ "region", "eu-west-1" },
	};
	static const char *const update[] = {
		"aws",
		"lambda",
		"update-alias",
		"--function-name",
		"arn:aws:lambda:eu-west-1:123456789012:function:checkout",
		"--name",
		"production",
		"--function-version",
		"6",
		"--region",
		"eu-west-1",
		NULL
	};
	static const char *const get[] = {
		"aws",
		"lambda",
		"get-alias",
		"--function-name",
		"arn:aws:lambda:eu-west-1:123456789012:function:checkout",
		"--name",
		"production",
		"--region",
		"eu-west-1",
		NULL
	};
	struct plan_input in = input(PLAN_LAMBDA, params, N_OF(params), "6");
	struct plan *p = must_build(&in);
	(void)state;

	assert_argv(&p->steps[0], update);
	assert_argv(&p->steps[1], get);
	plan_free(p);
}

static void test_script_plan_with_args_and_target(void **state)
{
	static const struct plan_param params[] = {
		{ "path", "/opt/rollbot/rollback.sh" },
		{ "args", "--env=prod  -v  deploy" },
	};
	static const char *const argv[] = {
		"/opt/rollbot/rollback.sh", "--env=prod", "-v", "deploy", "v2.0.0", NULL
	};
	static const char *const env[] = {
		"ROLLBOT_INCIDENT=INC-2026-0001",
		"ROLLBOT_SERVICE=payments-api",
		"ROLLBOT_TARGET=v2.0.0",
		"ROLLBOT_SEVERITY=P1",
		"ROLLBOT_REASON=checkout 5xx at 6% after v2.1.0",
		"ROLLBOT_REQUESTED_BY=U024BE7LH",
		NULL,
	};
	struct plan_input in = input(PLAN_SCRIPT, params, N_OF(params), "v2.0.0");
	struct plan *p = must_build(&in);
	(void)state;

	assert_int_equal(p->n_steps, 1);
	assert_argv(&p->steps[0], argv);
	assert_int_equal(p->steps[0].role, PLAN_ROLE_ACTION);
	assert_int_equal(p->steps[0].exec.n_env, 6);
	for (size_t i = 0; i < 6; i++)
		assert_string_equal(p->steps[0].exec.env[i], env[i]);
	assert_null(p->steps[0].exec.env[6]);
	plan_free(p);
}

static void test_script_plan_without_args_or_target(void **state)
{
	static const struct plan_param params[] = { { "path", "/opt/rollbot/rollback.sh" } };
	static const char *const argv[] = { "/opt/rollbot/rollback.sh", NULL };
	struct plan_input in = input(PLAN_SCRIPT, params, N_OF(params), "");
	struct plan *p;
	(void)state;

	in.incident_id = NULL;
	in.reason = NULL;
	p = must_build(&in);
	assert_argv(&p->steps[0], argv);
	assert_string_equal(p->steps[0].exec.env[0], "ROLLBOT_INCIDENT=");
	assert_string_equal(p->steps[0].exec.env[2], "ROLLBOT_TARGET=");
	assert_string_equal(p->steps[0].exec.env[4], "ROLLBOT_REASON=");
	plan_free(p);
}

/* ---- plan_build: refusals ------------------------------------------------ */

static void test_missing_required_param_is_refused(void **state)
{
	struct plan_input in = input(PLAN_KUBECTL, kubectl_params, 1, "41");
	(void)state;
	must_refuse(&in, "deployment");
}

static void test_unknown_param_is_refused(void **state)
{
	static const struct plan_param params[] = {
		{ "namespace", "payments" },
		{ "deployment", "payments-api" },
		{ "kubeconfig", "/tmp/x" },
	};
	struct plan_input in = input(PLAN_KUBECTL, params, N_OF(params), "41");
	(void)state;
	must_refuse(&in, "kubeconfig");
}

static void test_duplicate_param_is_refused(void **state)
{
	static const struct plan_param params[] = {
		{ "namespace", "payments" },
		{ "deployment", "payments-api" },
		{ "namespace", "kube-system" },
	};
	struct plan_input in = input(PLAN_KUBECTL, params, N_OF(params), "41");
	(void)state;
	must_refuse(&in, "twice");
}

static void test_param_with_null_value_is_refused(void **state)
{
	static const struct plan_param params[] = {
		{ "namespace", NULL },
		{ "deployment", "payments-api" },
	};
	struct plan_input in = input(PLAN_KUBECTL, params, N_OF(params), "41");
	(void)state;
	must_refuse(&in, NULL);
}

static void test_revision_methods_need_a_target(void **state)
{
	static const struct plan_param helm[] = { { "namespace", "p" }, { "release", "p" } };
	static const struct plan_param lambda[] = { { "function", "f" }, { "alias", "live" } };
	struct plan_input k = input(PLAN_KUBECTL, kubectl_params, 2, "");
	struct plan_input kn = input(PLAN_KUBECTL, kubectl_params, 2, NULL);
	struct plan_input h = input(PLAN_HELM, helm, 2, "");
	struct plan_input l = input(PLAN_LAMBDA, lambda, 2, "");
	(void)state;

	must_refuse(&k, "explicit target");
	must_refuse(&kn, "explicit target");
	must_refuse(&h, "explicit target");
	must_refuse(&l, "explicit target");
}

static void test_none_methods_take_no_target(void **state)
{
	struct plan_input in = input(PLAN_FLAG, flag_params, 2, "1");
	(void)state;
	must_refuse(&in, "takes no target");
}

static void test_bad_method_service_and_timeout_are_refused(void **state)
{
	struct plan_input in = input(PLAN_KUBECTL, kubectl_params, 2, "41");
	(void)state;

	in.method = PLAN_METHOD_COUNT;
	must_refuse(&in, "method");
	in = input(PLAN_KUBECTL, kubectl_params, 2, "41");
	in.service = NULL;
	must_refuse(&in, "service");
	in.service = "Payments API";
	must_refuse(&in, "service");
	in = input(PLAN_KUBECTL, kubectl_params, 2, "41");
	in.timeout_ms = 0;
	must_refuse(&in, "timeout");
	in.timeout_ms = -1000;
	must_refuse(&in, "timeout");
	in.timeout_ms = 8LL * 24 * 3600 * 1000;
	must_refuse(&in, "timeout");
	must_refuse(NULL, NULL);
}

static void test_canary_routing_params_must_agree(void **state)
{
	static const struct plan_param both[] = {
		{ "namespace", "p" },
		{ "canary_deployment", "c" },
		{ "manifest", "/k8s/canary.yaml" },
		{ "patch", "{\"a\":1}" },
		{ "ingress", "i" },
	};
	static const struct plan_param lone_patch[] = {
		{ "namespace", "p" },
		{ "canary_deployment", "c" },
		{ "patch", "{\"a\":1}" },
	};
	static const struct plan_param lone_ingress[] = {
		{ "namespace", "p" },
		{ "canary_deployment", "c" },
		{ "ingress", "i" },
	};
	struct plan_input a = input(PLAN_CANARY, both, N_OF(both), "");
	struct plan_input b = input(PLAN_CANARY, lone_patch, N_OF(lone_patch), "");
	struct plan_input c = input(PLAN_CANARY, lone_ingress, N_OF(lone_ingress), "");
	(void)state;

	must_refuse(&a, "not both");
	must_refuse(&b, "together");
	must_refuse(&c, "together");
}

static void test_script_incident_fields_are_checked(void **state)
{
	static const struct plan_param params[] = { { "path", "/opt/rollback.sh" } };
	struct plan_input in = input(PLAN_SCRIPT, params, 1, "");
	(void)state;

	in.reason = "line one\nROLLBOT_TARGET=evil";
	must_refuse(&in, "reason");
	in = input(PLAN_SCRIPT, params, 1, "");
	in.incident_id = "INC-1; rm -rf /";
	must_refuse(&in, NULL);
	in = input(PLAN_SCRIPT, params, 1, "");
	in.requested_by = "U1\tU2";
	must_refuse(&in, NULL);
}

static void test_every_method_builds_with_all_its_keys(void **state)
{
	/* A value of the right kind for every key any method takes: a key
	 * added to the table without a validation rule fails here. */
	static const struct plan_param values[] = {
		{ "namespace", "payments" },
		{ "deployment", "app" },
		{ "container", "app" },
		{ "context", "prod" },
		{ "release", "app" },
		{ "service", "app" },
		{ "selector_key", "version" },
		{ "colour", "blue" },
		{ "url", "https://flags.example.com/admin/flags" },
		{ "flag", "f" },
		{ "canary_deployment", "app-canary" },
		{ "manifest", "/k8s/x.yaml" },
		{ "patch", "{\"a\":1}" },
		{ "ingress", "app" },
		{ "image", "team/app" },
		{ "function", "fn" },
		{ "alias", "live" },
		{ "region", "eu-west-1" },
		{ "path", "/opt/x.sh" },
		{ "args", "a b" },
	};
	(void)state;
	for (int m = 0; m < PLAN_METHOD_COUNT; m++) {
		const struct plan_method_info *mi = plan_method_info((enum plan_method)m);
		struct plan_param params[16];
		size_t n = 0;
		const char *target = mi->target == PLAN_TARGET_NONE ? "" : "41";
		struct plan_input in;
		struct plan *p;

		for (size_t v = 0; v < N_OF(values); v++) {
			if (!list_has(mi->required, values[v].key) &&
			    !list_has(mi->optional, values[v].key))
				continue;
			/* canary: manifest, or patch + ingress; not all three */
			if (m == PLAN_CANARY && !strcmp(values[v].key, "manifest"))
				continue;
			params[n++] = values[v];
		}
		in = input((enum plan_method)m, params, n, target);
		p = must_build(&in);
		assert_true(p->n_steps >= 1);
		assert_titles(p);
		plan_free(p);
	}
}

/* ---- target resolution ---------------------------------------------------- */

static struct plan_step *must_resolve(const struct plan_input *in)
{
	struct plan_step *s = NULL;
	char err[RB_ERR_LEN] = "";
	int rc = plan_resolve_step(in, &s, err, sizeof err);

	if (rc != 0)
		fail_msg("plan_resolve_step failed (%d): %s", rc, err);
	return s;
}

static void test_resolve_step_kubectl(void **state)
{
	static const struct plan_param params[] = {
		{ "namespace", "payments" },
		{ "deployment", "payments-api" },
		{ "context", "prod" },
	};
	static const char *const want[] = {
		"kubectl", "--context=prod", "rollout", "history", "deployment/payments-api",
		"-n",	   "payments",	     NULL
	};
	static const char *const plain[] = {
		"kubectl", "rollout", "history", "deployment/payments-api", "-n", "payments", NULL
	};
	struct plan_input in = input(PLAN_KUBECTL, params, N_OF(params), "");
	struct plan_step *s = must_resolve(&in);
	(void)state;

	assert_non_null(s);
	assert_argv(s, want);
	assert_int_equal(s->role, PLAN_ROLE_CHECK);
	assert_int_equal(s->timeout_ms, 300000);
	assert_non_null(s->title);
	plan_step_free(s);

	in = input(PLAN_KUBECTL, kubectl_params, 2, "41"); /* the target is ignored */
	s = must_resolve(&in);
	assert_argv(s, plain);
	plan_step_free(s);
}

static void test_resolve_step_helm(void **state)
{
	static const struct plan_param params[] = {
		{ "namespace", "payments" },
		{ "release", "payments" },
	};
	static const char *const want[] = { "helm",	"history", "payments", "-n",
					    "payments", "-o",	   "json",     NULL };
	struct plan_input in = input(PLAN_HELM, params, N_OF(params), "");
	struct plan_step *s = must_resolve(&in);
	(void)state;

	assert_argv(s, want);
	plan_step_free(s);
}

static void test_resolve_step_lambda(void **state)
{
	static const struct plan_param params[] = {
		{ "function", "checkout-handler" },
		{ "alias", "production" },
		{ "region", "us-east-1" },
	};
	static const char *const want[] = { "aws",
					    "lambda",
					    "get-alias",
					    "--function-name",
					    "checkout-handler",
					    "--name",
					    "production",
					    "--output",
					    "json",
					    "--region",
					    "us-east-1",
					    NULL };
	struct plan_input in = input(PLAN_LAMBDA, params, N_OF(params), "");
	struct plan_step *s = must_resolve(&in);
	(void)state;

	assert_argv(s, want);
	plan_step_free(s);
}

static void test_resolve_step_none_for_other_methods(void **state)
{
	static const struct plan_param docker[] = { { "service", "payments_api" } };
	static const struct plan_param script[] = { { "path", "/opt/x.sh" } };
	struct plan_input a = input(PLAN_DOCKER, docker, 1, "");
	struct plan_input b = input(PLAN_FLAG, flag_params, 2, "");
	struct plan_input c = input(PLAN_SCRIPT, script, 1, "");
	struct plan_step *s = (struct plan_step *)1;
	char err[RB_ERR_LEN];
	(void)state;

	assert_int_equal(plan_resolve_step(&a, &s, err, sizeof err), 0);
	assert_null(s);
	s = (struct plan_step *)1;
	assert_int_equal(plan_resolve_step(&b, &s, err, sizeof err), 0);
	assert_null(s);
	s = (struct plan_step *)1;
	assert_int_equal(plan_resolve_step(&c, &s, err, sizeof err), 0);
	assert_null(s);
}

static void test_resolve_step_checks_params(void **state)
{
	static const struct plan_param params[] = {
		{ "namespace", "--all-namespaces" },
		{ "deployment", "payments-api" },
	};
	struct plan_input in = input(PLAN_KUBECTL, params, N_OF(params), "");
	struct plan_step *s = (struct plan_step *)1;
	char err[RB_ERR_LEN] = "";
	(void)state;

	assert_int_equal(plan_resolve_step(&in, &s, err, sizeof err), PLAN_EINVAL);
	assert_null(s);
	assert_non_null(strstr(err, "namespace"));
}

/* ---- history parsers ------------------------------------------------------ */

static const char kubectl_history[] =
	"deployment.apps/payments-api \n"
	"REVISION  CHANGE-CAUSE\n"
	"38        <none>\n"
	"39        kubectl set image deployment/payments-api app=registry/payments:v2.0.0 "
	"--record=true\n"
	"40        deploy v2.0.1 (JIRA-1234: fix rounding; retry 3x)\n"
	"41        kubectl apply --filename=k8s/deployment.yaml --record=true\n"
	"\n";

static void test_kubectl_history_picks_second_highest(void **state)
{
	char target[16] = "";
	char err[RB_ERR_LEN] = "";
	(void)state;

	assert_int_equal(
		plan_parse_kubectl_history(kubectl_history, target, sizeof target, err, sizeof err),
		0);
	assert_string_equal(target, "40");
}

/* What runs before the rollback, for the report (plan_current.c). */
static void test_current_revision_from_history(void **state)
{
	char from[16], at[64];
	(void)state;

	assert_int_equal(plan_parse_current(PLAN_KUBECTL, kubectl_history, from, sizeof from, at,
					    sizeof at),
			 0);
	assert_string_equal(from, "41");
	assert_string_equal(at, "");
	assert_int_equal(
		plan_parse_current(PLAN_HELM,
				   "[{\"revision\":6,\"updated\":\"2026-11-20T10:00:00Z\","
				   "\"status\":\"superseded\"},{\"revision\":8,\"updated\":"
				   "\"2026-11-24T04:02:11.412367+01:00\",\"status\":\"deployed\"}]",
				   from, sizeof from, at, sizeof at),
		0);
	assert_string_equal(from, "8");
	assert_string_equal(at, "2026-11-24T04:02:11.412367+01:00");
	assert_int_equal(plan_parse_current(PLAN_LAMBDA, "{\"FunctionVersion\":\"12\"}", from,
					    sizeof from, at, sizeof at),
			 0);
	assert_string_equal(from, "12");
	assert_int_equal(plan_parse_current(PLAN_HELM, "not json", from, sizeof from, at,
					    sizeof at),
			 PLAN_EPARSE);
	assert_string_equal(from, "");
	assert_int_equal(plan_parse_current(PLAN_DOCKER, "x", from, sizeof from, at, sizeof at),
			 PLAN_EINVAL);
}

static void test_kubectl_history_after_a_rollback(void **state)
{
	/* 40 was rolled back to and became 42: numbers never repeat. */
	static const char out[] = "deployment.apps/payments-api\n"
				  "REVISION  CHANGE-CAUSE\n"
				  "39        <none>\n"
				  "41        <none>\n"
				  "42        <none>\n";
	char target[16] = "";
	char err[RB_ERR_LEN];
	(void)state;

	assert_int_equal(plan_parse_kubectl_history(out, target, sizeof target, err, sizeof err),
			 0);
	assert_string_equal(target, "41");
}

static void test_kubectl_history_unsorted_and_crlf(void **state)
{
	static const char out[] = "REVISION\tCHANGE-CAUSE\r\n"
				  "  7  <none>\r\n"
				  "12  <none>\r\n"
				  "9\r\n";
	char target[16] = "";
	char err[RB_ERR_LEN];
	(void)state;

	assert_int_equal(
		plan_parse_resolve(PLAN_KUBECTL, out, target, sizeof target, err, sizeof err), 0);
	assert_string_equal(target, "9");
}

static void test_kubectl_history_single_revision(void **state)
{
	static const char out[] = "deployment.apps/payments-api\n"
				  "REVISION  CHANGE-CAUSE\n"
				  "1         <none>\n";
	char target[16] = "unchanged";
	char err[RB_ERR_LEN] = "";
	(void)state;

	assert_int_equal(plan_parse_kubectl_history(out, target, sizeof target, err, sizeof err),
			 PLAN_ENOTARGET);
	assert_non_null(strstr(err, "nothing to roll back to"));
	assert_string_equal(target, "unchanged");
}

static void test_kubectl_history_empty_table(void **state)
{
	char target[16];
	char err[RB_ERR_LEN] = "";
	(void)state;

	assert_int_equal(plan_parse_kubectl_history("REVISION  CHANGE-CAUSE\n", target,
						    sizeof target, err, sizeof err),
			 PLAN_ENOTARGET);
	assert_non_null(strstr(err, "nothing to roll back to"));
}

static void test_kubectl_history_garbage(void **state)
{
	static const char *const bad[] = {
		"",
		"Error from server (NotFound): deployments.apps \"payments-api\" not found\n",
		"<html><body>502 Bad Gateway</body></html>",
		"REVISION  CHANGE-CAUSE\n40 <none>\nforty-one <none>\n",
		"REVISION  CHANGE-CAUSE\n40 <none>\n40 <none>\n",
		"REVISION  CHANGE-CAUSE\n040 <none>\n41 <none>\n",
		"REVISION  CHANGE-CAUSE\n40x <none>\n41 <none>\n",
		"REVISION  CHANGE-CAUSE\n0 <none>\n41 <none>\n",
		"REVISION  CHANGE-CAUSE\n12345678901 <none>\n41 <none>\n",
		"REVISIONS\n40\n41\n",
		NULL,
	};
	char target[16];
	char err[RB_ERR_LEN];
	(void)state;

	for (size_t i = 0; bad[i]; i++) {
		err[0] = '\0';
		assert_int_equal(
			plan_parse_kubectl_history(bad[i], target, sizeof target, err, sizeof err),
			PLAN_EPARSE);
		assert_true(err[0] != '\0');
	}
	assert_int_equal(plan_parse_kubectl_history(NULL, target, sizeof target, err, sizeof err),
			 PLAN_EPARSE);
}

static void test_kubectl_history_target_buffer_too_small(void **state)
{
	char target[2];
	char err[RB_ERR_LEN];
	(void)state;

	assert_int_equal(
		plan_parse_kubectl_history(kubectl_history, target, sizeof target, err, sizeof err),
		RB_ETOOBIG);
}

static const char helm_history[] =
	"[{\"revision\":1,\"updated\":\"2026-01-10T09:12:44.123456+00:00\",\"status\":"
	"\"superseded\",\"chart\":\"payments-1.4.0\",\"app_version\":\"2.0.0\",\"description\":"
	"\"Install complete\"},"
	"{\"revision\":2,\"updated\":\"2026-01-12T10:00:01+00:00\",\"status\":\"superseded\","
	"\"chart\":\"payments-1.5.0\",\"app_version\":\"2.0.1\",\"description\":\"Upgrade "
	"complete\"},"
	"{\"revision\":3,\"updated\":\"2026-01-15T14:30:00+00:00\",\"status\":\"deployed\","
	"\"chart\":\"payments-1.6.0\",\"app_version\":\"2.1.0\",\"description\":\"Upgrade "
	"complete\"}]\n";

static void test_helm_history_previous_superseded(void **state)
{
	char target[16] = "";
	char err[RB_ERR_LEN];
	(void)state;

	assert_int_equal(
		plan_parse_helm_history(helm_history, target, sizeof target, err, sizeof err), 0);
	assert_string_equal(target, "2");
}

static void test_helm_history_skips_failed_revisions(void **state)
{
	static const char out[] = "[{\"revision\":3,\"status\":\"superseded\"},"
				  "{\"revision\":4,\"status\":\"failed\"},"
				  "{\"revision\":5,\"status\":\"deployed\"}]";
	char target[16] = "";
	char err[RB_ERR_LEN];
	(void)state;

	assert_int_equal(plan_parse_resolve(PLAN_HELM, out, target, sizeof target, err, sizeof err),
			 0);
	assert_string_equal(target, "3");
}

static void test_helm_history_newest_failed_needs_a_person(void **state)
{
	static const char out[] = "[{\"revision\":4,\"status\":\"superseded\"},"
				  "{\"revision\":5,\"status\":\"deployed\"},"
				  "{\"revision\":6,\"status\":\"failed\"}]";
	char target[16];
	char err[RB_ERR_LEN] = "";
	(void)state;

	assert_int_equal(plan_parse_helm_history(out, target, sizeof target, err, sizeof err),
			 PLAN_ENOTARGET);
	assert_non_null(strstr(err, "6"));
	assert_non_null(strstr(err, "5"));
	assert_non_null(strstr(err, "--to"));
}

static void test_helm_history_nothing_to_roll_back_to(void **state)
{
	static const char *const cases[] = {
		"[{\"revision\":1,\"status\":\"deployed\"}]",
		"[{\"revision\":1,\"status\":\"failed\"},{\"revision\":2,\"status\":\"deployed\"}]",
		"[]",
		"[{\"revision\":1,\"status\":\"superseded\"},{\"revision\":2,\"status\":"
		"\"uninstalled\"}]",
		NULL,
	};
	char target[16];
	char err[RB_ERR_LEN];
	(void)state;

	for (size_t i = 0; cases[i]; i++) {
		err[0] = '\0';
		assert_int_equal(
			plan_parse_helm_history(cases[i], target, sizeof target, err, sizeof err),
			PLAN_ENOTARGET);
		assert_true(err[0] != '\0');
	}
}

static void test_helm_history_garbage(void **state)
{
	static const char *const bad[] = {
		"Error: release: not found\n",
		"{\"revision\":1,\"status\":\"deployed\"}",
		"[{\"revision\":\"2\",\"status\":\"superseded\"},{\"revision\":3,\"status\":"
		"\"deployed\"}]",
		"[{\"revision\":2},{\"revision\":3,\"status\":\"deployed\"}]",
		"[{\"revision\":2,\"status\":\"deployed\"},{\"revision\":3,\"status\":\"deployed\"}]",
		"[{\"revision\":2,\"status\":\"superseded\"},{\"revision\":2,\"status\":"
		"\"deployed\"}]",
		"[{\"revision\":-1,\"status\":\"superseded\"},{\"revision\":3,\"status\":"
		"\"deployed\"}]",
		"[{\"revision\":1,\"status\":\"superseded\",\"status\":\"deployed\"}]",
		"[1,2,3]",
		"",
		NULL,
	};
	char target[16];
	char err[RB_ERR_LEN];
	(void)state;

	for (size_t i = 0; bad[i]; i++) {
		err[0] = '\0';
		assert_int_equal(
			plan_parse_helm_history(bad[i], target, sizeof target, err, sizeof err),
			PLAN_EPARSE);
		assert_true(err[0] != '\0');
	}
}

static void test_lambda_alias_previous_version(void **state)
{
	static const char out[] =
		"{\n"
		"    \"AliasArn\": \"arn:aws:lambda:us-east-1:123456789012:function:checkout:"
		"production\",\n"
		"    \"Name\": \"production\",\n"
		"    \"FunctionVersion\": \"7\",\n"
		"    \"Description\": \"\",\n"
		"    \"RevisionId\": \"594f41fb-b85f-4c20-95c7-6ca5f2a92c93\"\n"
		"}\n";
	char target[16] = "";
	char err[RB_ERR_LEN];
	(void)state;

	assert_int_equal(plan_parse_lambda_alias(out, target, sizeof target, err, sizeof err), 0);
	assert_string_equal(target, "6");
	assert_int_equal(plan_parse_resolve(PLAN_LAMBDA,
					    "{\"FunctionVersion\":\"100\","
					    "\"RoutingConfig\":{"
					    "\"AdditionalVersionWeights\":{}}}",
					    target, sizeof target, err, sizeof err),
			 0);
	assert_string_equal(target, "99");
}

static void test_lambda_alias_no_previous(void **state)
{
	static const char *const cases[] = {
		"{\"FunctionVersion\":\"1\"}",
		"{\"FunctionVersion\":\"$LATEST\"}",
		"{\"FunctionVersion\":\"8\",\"RoutingConfig\":{\"AdditionalVersionWeights\":"
		"{\"9\":0.1}}}",
		NULL,
	};
	char target[16];
	char err[RB_ERR_LEN];
	(void)state;

	for (size_t i = 0; cases[i]; i++) {
		err[0] = '\0';
		assert_int_equal(
			plan_parse_lambda_alias(cases[i], target, sizeof target, err, sizeof err),
			PLAN_ENOTARGET);
		assert_true(err[0] != '\0');
	}
}

static void test_lambda_alias_garbage(void **state)
{
	static const char *const bad[] = {
		"An error occurred (ResourceNotFoundException) when calling the GetAlias operation",
		"{\"FunctionVersion\":7}",
		"{\"FunctionVersion\":\"07\"}",
		"{\"FunctionVersion\":\"6; rm -rf /\"}",
		"{\"Name\":\"production\"}",
		"[\"7\"]",
		NULL,
	};
	char target[16];
	char err[RB_ERR_LEN];
	(void)state;

	for (size_t i = 0; bad[i]; i++) {
		err[0] = '\0';
		assert_int_equal(
			plan_parse_lambda_alias(bad[i], target, sizeof target, err, sizeof err),
			PLAN_EPARSE);
		assert_true(err[0] != '\0');
	}
}

static void test_parse_resolve_without_resolution_is_einval(void **state)
{
	char target[16];
	char err[RB_ERR_LEN];
	(void)state;

	assert_int_equal(
		plan_parse_resolve(PLAN_BLUEGREEN, "x", target, sizeof target, err, sizeof err),
		PLAN_EINVAL);
	assert_int_equal(
		plan_parse_resolve(PLAN_DOCKER, "x", target, sizeof target, err, sizeof err),
		PLAN_EINVAL);
}

/* ---- describe -------------------------------------------------------------- */

static void assert_describe(const struct plan *p, const char *want)
{
	char *d = plan_describe(p);

	assert_string_equal(d, want);
	free(d);
}

static void test_describe_kubectl(void **state)
{
	struct plan_input in = input(PLAN_KUBECTL, kubectl_params, 2, "41");
	struct plan *p = must_build(&in);
	(void)state;

	assert_describe(p, "1. `kubectl rollout undo deployment/payments-api -n payments "
			   "--to-revision=41`\n"
			   "2. `kubectl rollout status deployment/payments-api -n payments "
			   "--timeout=300s`");
	plan_free(p);
}

static void test_describe_quotes_json_and_jsonpath(void **state)
{
	static const struct plan_param params[] = {
		{ "namespace", "payments" },
		{ "service", "app-service" },
	};
	struct plan_input in = input(PLAN_BLUEGREEN, params, N_OF(params), "");
	struct plan *p = must_build(&in);
	(void)state;

	assert_describe(p, "1. `kubectl patch service app-service -n payments -p "
			   "'{\"spec\":{\"selector\":{\"version\":\"blue\"}}}'`\n"
			   "2. `kubectl get service app-service -n payments -o "
			   "'jsonpath={.spec.selector.version}'`");
	plan_free(p);
}

static void test_describe_flag_requests(void **state)
{
	struct plan_input in = input(PLAN_FLAG, flag_params, 2, "");
	struct plan *p = must_build(&in);
	(void)state;

	assert_describe(p, "1. POST https://flags.example.com/admin/flags "
			   "{\"flag\":\"oauth_auth\",\"enabled\":false,\"percentage\":0}\n"
			   "2. GET https://flags.example.com/admin/flags/oauth_auth");
	plan_free(p);
}

static void test_describe_escapes_single_quote(void **state)
{
	static const struct plan_param params[] = {
		{ "namespace", "p" },
		{ "canary_deployment", "c" },
		{ "ingress", "i" },
		{ "patch", "{\"metadata\":{\"annotations\":{\"note\":\"it's off\"}}}" },
	};
	struct plan_input in = input(PLAN_CANARY, params, N_OF(params), "");
	struct plan *p = must_build(&in);
	char *line = plan_step_display(&p->steps[0]);
	(void)state;

	assert_string_equal(line, "kubectl patch ingress i -n p --type=merge -p "
				  "'{\"metadata\":{\"annotations\":{\"note\":\"it'\\''s off\"}}}'");
	free(line);
	plan_free(p);
}

static void test_describe_multi_line_patch_stays_one_line(void **state)
{
	static const struct plan_param params[] = {
		{ "namespace", "p" },
		{ "canary_deployment", "c" },
		{ "ingress", "i" },
		{ "patch", "[\n  {\"op\": \"remove\", \"path\": \"/spec/x\"}\n]\n" },
	};
	struct plan_input in = input(PLAN_CANARY, params, N_OF(params), "");
	struct plan *p = must_build(&in);
	char *line = plan_step_display(&p->steps[0]);
	(void)state;

	/* The argv element itself is untouched. */
	assert_string_equal(p->steps[0].exec.argv[8], params[3].value);
	assert_string_equal(line, "kubectl patch ingress i -n p --type=json -p "
				  "$'[\\n  {\"op\": \"remove\", \"path\": \"/spec/x\"}\\n]\\n'");
	assert_null(strchr(line, '\n'));
	free(line);
	plan_free(p);
}

static void test_describe_script_and_resolve_step(void **state)
{
	static const struct plan_param params[] = {
		{ "path", "/opt/rollback.sh" },
		{ "args", "--env=prod" },
	};
	struct plan_input in = input(PLAN_SCRIPT, params, N_OF(params), "v2.0.0");
	struct plan *p = must_build(&in);
	struct plan_input r = input(PLAN_KUBECTL, kubectl_params, 2, "");
	struct plan_step *s = must_resolve(&r);
	char *line = plan_step_display(s);
	(void)state;

	assert_describe(p, "1. `/opt/rollback.sh --env=prod v2.0.0`");
	assert_string_equal(line, "kubectl rollout history deployment/payments-api -n payments");
	free(line);
	plan_step_free(s);
	plan_free(p);
}

/* ---- digest ---------------------------------------------------------------- */

static void test_digest_is_stable(void **state)
{
	struct plan_input in = input(PLAN_KUBECTL, kubectl_params, 2, "41");
	struct plan *a = must_build(&in);
	struct plan *b = must_build(&in);
	(void)state;

	assert_true(plan_digest(a) == plan_digest(b));
	assert_true(plan_digest(a) == plan_digest(a));
	assert_true(plan_digest(a) != 0);
	plan_free(a);
	plan_free(b);
}

static void test_digest_changes_with_inputs(void **state)
{
	static const struct plan_param other_ns[] = {
		{ "namespace", "payment" },
		{ "deployment", "payments-api" },
	};
	static const struct plan_param ctx[] = {
		{ "namespace", "payments" },
		{ "deployment", "payments-api" },
		{ "context", "prod" },
	};
	struct plan_input base = input(PLAN_KUBECTL, kubectl_params, 2, "41");
	struct plan_input v[5];
	struct plan *p0, *p;
	(void)state;

	v[0] = input(PLAN_KUBECTL, kubectl_params, 2, "40");
	v[1] = input(PLAN_KUBECTL, kubectl_params, 2, "411");
	v[2] = input(PLAN_KUBECTL, other_ns, 2, "41");
	v[3] = input(PLAN_KUBECTL, ctx, 3, "41");
	v[4] = input(PLAN_KUBECTL, kubectl_params, 2, "41");
	v[4].timeout_ms = 301000;
	p0 = must_build(&base);
	for (size_t i = 0; i < N_OF(v); i++) {
		p = must_build(&v[i]);
		assert_true(plan_digest(p) != plan_digest(p0));
		plan_free(p);
	}
	plan_free(p0);
}

/* Replaces *slot by a copy of s, returning the old string (for restore). */
static char *swap_str(char **slot, const char *s)
{
	char *old = *slot;

	*slot = rb_strdup(s);
	return old;
}

static void restore_str(char **slot, char *old)
{
	free(*slot);
	*slot = old;
}

/* Every argv element, env entry and HTTP string of p, changed by one byte
 * and by one appended byte, changes the digest; put back, it is the same
 * digest again. */
static void check_every_string_counts(struct plan *p)
{
	uint64_t d0 = plan_digest(p);

	for (size_t i = 0; i < p->n_steps; i++) {
		struct plan_step *s = &p->steps[i];
		char **slots[64];
		size_t n = 0;

		for (size_t j = 0; j < s->exec.argc; j++)
			slots[n++] = &s->exec.argv[j];
		for (size_t j = 0; j < s->exec.n_env; j++)
			slots[n++] = &s->exec.env[j];
		if (s->http.url)
			slots[n++] = &s->http.url;
		if (s->http.body)
			slots[n++] = &s->http.body;
		slots[n++] = &s->title;
		for (size_t j = 0; j < n; j++) {
			char buf[1024];
			char *old;
			size_t len = strlen(*slots[j]);

			assert_true(len + 2 < sizeof buf);
			memcpy(buf, *slots[j], len + 1);
			buf[len - 1] ^= 1;
			old = swap_str(slots[j], buf);
			assert_true(plan_digest(p) != d0);
			restore_str(slots[j], old);
			assert_true(plan_digest(p) == d0);

			memcpy(buf, *slots[j], len);
			buf[len] = 'x';
			buf[len + 1] = '\0';
			old = swap_str(slots[j], buf);
			assert_true(plan_digest(p) != d0);
			restore_str(slots[j], old);
			assert_true(plan_digest(p) == d0);
		}
		s->timeout_ms++;
		assert_true(plan_digest(p) != d0);
		s->timeout_ms--;
		s->role = s->role == PLAN_ROLE_ACTION ? PLAN_ROLE_CHECK : PLAN_ROLE_ACTION;
		assert_true(plan_digest(p) != d0);
		s->role = s->role == PLAN_ROLE_ACTION ? PLAN_ROLE_CHECK : PLAN_ROLE_ACTION;
		assert_true(plan_digest(p) == d0);
	}
}

static void test_digest_covers_every_argv_element(void **state)
{
	static const struct plan_param ctx[] = {
		{ "namespace", "payments" },
		{ "deployment", "payments-api" },
		{ "context", "prod" },
	};
	struct plan_input in = input(PLAN_KUBECTL, ctx, 3, "41");
	struct plan *p = must_build(&in);
	(void)state;

	check_every_string_counts(p);
	plan_free(p);
}

static void test_digest_covers_env_and_http(void **state)
{
	static const struct plan_param script[] = {
		{ "path", "/opt/rollback.sh" },
		{ "args", "a b" },
	};
	struct plan_input s = input(PLAN_SCRIPT, script, 2, "v2");
	struct plan_input f = input(PLAN_FLAG, flag_params, 2, "");
	struct plan *ps = must_build(&s);
	struct plan *pf = must_build(&f);
	uint64_t d0 = plan_digest(pf);
	(void)state;

	check_every_string_counts(ps);
	check_every_string_counts(pf);
	pf->steps[0].http.expect[1] = 201;
	assert_true(plan_digest(pf) != d0);
	pf->steps[0].http.expect[1] = 204;
	pf->steps[0].http.method = "PUT";
	assert_true(plan_digest(pf) != d0);
	pf->steps[0].http.method = "POST";
	assert_true(plan_digest(pf) == d0);
	plan_free(ps);
	plan_free(pf);
}

static void test_digest_sees_element_boundaries(void **state)
{
	static const struct plan_param script[] = {
		{ "path", "/opt/rollback.sh" },
		{ "args", "ab c" },
	};
	struct plan_input in = input(PLAN_SCRIPT, script, 2, "");
	struct plan *p = must_build(&in);
	uint64_t d0 = plan_digest(p);
	char *a, *b;
	(void)state;

	/* ["ab","c"] -> ["a","bc"]: same bytes end to end, another plan. */
	a = swap_str(&p->steps[0].exec.argv[1], "a");
	b = swap_str(&p->steps[0].exec.argv[2], "bc");
	assert_true(plan_digest(p) != d0);
	restore_str(&p->steps[0].exec.argv[1], a);
	restore_str(&p->steps[0].exec.argv[2], b);
	assert_true(plan_digest(p) == d0);
	plan_free(p);
}

static void test_digest_differs_between_methods(void **state)
{
	static const struct plan_param canary[] = {
		{ "namespace", "payments" },
		{ "canary_deployment", "payments-api" },
	};
	static const struct plan_param recreate[] = {
		{ "namespace", "payments" },
		{ "deployment", "payments-api" },
		{ "manifest", "/k8s/x.yaml" },
	};
	struct plan_input a = input(PLAN_CANARY, canary, 2, "");
	struct plan_input b = input(PLAN_RECREATE, recreate, 3, "");
	struct plan *pa = must_build(&a);
	struct plan *pb = must_build(&b);
	(void)state;

	assert_true(plan_digest(pa) != plan_digest(pb));
	assert_true(plan_step_digest(&pa->steps[0]) != plan_step_digest(&pb->steps[0]));
	plan_free(pa);
	plan_free(pb);
}

static void test_strerror_and_free_null(void **state)
{
	(void)state;
	assert_string_equal(plan_strerror(PLAN_EINVAL), "invalid plan input");
	assert_string_not_equal(plan_strerror(PLAN_EPARSE), plan_strerror(PLAN_ENOTARGET));
	assert_string_equal(plan_strerror(-9999), "unknown error");
	plan_free(NULL);
	plan_step_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_db_step_runs_last_with_its_own_timeout),
		cmocka_unit_test(test_db_step_refuses_a_relative_or_hostile_command),
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
		cmocka_unit_test(test_kubectl_plan),
		cmocka_unit_test(test_kubectl_plan_with_context_and_container),
		cmocka_unit_test(test_timeout_is_rounded_up_to_whole_seconds),
		cmocka_unit_test(test_helm_plan),
		cmocka_unit_test(test_helm_plan_with_context),
		cmocka_unit_test(test_bluegreen_plan_defaults),
		cmocka_unit_test(test_bluegreen_plan_with_key_colour_context),
		cmocka_unit_test(test_flag_plan_requests),
		cmocka_unit_test(test_flag_name_is_escaped_in_url_and_body),
		cmocka_unit_test(test_canary_plan_with_manifest),
		cmocka_unit_test(test_canary_plan_with_merge_patch),
		cmocka_unit_test(test_canary_plan_with_json_patch),
		cmocka_unit_test(test_canary_plan_without_routing),
		cmocka_unit_test(test_recreate_plan),
		cmocka_unit_test(test_recreate_plan_with_context),
		cmocka_unit_test(test_docker_plan_to_a_tag),
		cmocka_unit_test(test_docker_plan_without_target_rolls_back),
		cmocka_unit_test(test_docker_target_without_image_is_refused),
		cmocka_unit_test(test_docker_image_with_tag_or_digest_is_refused),
		cmocka_unit_test(test_lambda_plan),
		cmocka_unit_test(test_lambda_plan_with_region),
		cmocka_unit_test(test_script_plan_with_args_and_target),
		cmocka_unit_test(test_script_plan_without_args_or_target),
		cmocka_unit_test(test_missing_required_param_is_refused),
		cmocka_unit_test(test_unknown_param_is_refused),
		cmocka_unit_test(test_duplicate_param_is_refused),
		cmocka_unit_test(test_param_with_null_value_is_refused),
		cmocka_unit_test(test_revision_methods_need_a_target),
		cmocka_unit_test(test_none_methods_take_no_target),
		cmocka_unit_test(test_bad_method_service_and_timeout_are_refused),
		cmocka_unit_test(test_canary_routing_params_must_agree),
		cmocka_unit_test(test_script_incident_fields_are_checked),
		cmocka_unit_test(test_every_method_builds_with_all_its_keys),
		cmocka_unit_test(test_resolve_step_kubectl),
		cmocka_unit_test(test_resolve_step_helm),
		cmocka_unit_test(test_resolve_step_lambda),
		cmocka_unit_test(test_resolve_step_none_for_other_methods),
		cmocka_unit_test(test_resolve_step_checks_params),
		cmocka_unit_test(test_kubectl_history_picks_second_highest),
		cmocka_unit_test(test_kubectl_history_after_a_rollback),
		cmocka_unit_test(test_kubectl_history_unsorted_and_crlf),
		cmocka_unit_test(test_kubectl_history_single_revision),
		cmocka_unit_test(test_kubectl_history_empty_table),
		cmocka_unit_test(test_kubectl_history_garbage),
		cmocka_unit_test(test_kubectl_history_target_buffer_too_small),
		cmocka_unit_test(test_helm_history_previous_superseded),
		cmocka_unit_test(test_helm_history_skips_failed_revisions),
		cmocka_unit_test(test_helm_history_newest_failed_needs_a_person),
		cmocka_unit_test(test_helm_history_nothing_to_roll_back_to),
		cmocka_unit_test(test_helm_history_garbage),
		cmocka_unit_test(test_lambda_alias_previous_version),
		cmocka_unit_test(test_lambda_alias_no_previous),
		cmocka_unit_test(test_lambda_alias_garbage),
		cmocka_unit_test(test_parse_resolve_without_resolution_is_einval),
		cmocka_unit_test(test_describe_kubectl),
		cmocka_unit_test(test_describe_quotes_json_and_jsonpath),
		cmocka_unit_test(test_describe_flag_requests),
		cmocka_unit_test(test_describe_escapes_single_quote),
		cmocka_unit_test(test_describe_multi_line_patch_stays_one_line),
		cmocka_unit_test(test_describe_script_and_resolve_step),
		cmocka_unit_test(test_digest_is_stable),
		cmocka_unit_test(test_digest_changes_with_inputs),
		cmocka_unit_test(test_digest_covers_every_argv_element),
		cmocka_unit_test(test_digest_covers_env_and_http),
		cmocka_unit_test(test_digest_sees_element_boundaries),
		cmocka_unit_test(test_digest_differs_between_methods),
		cmocka_unit_test(test_strerror_and_free_null),
		cmocka_unit_test(test_current_revision_from_history),
	};
	int failed = cmocka_run_group_tests_name("plan", tests, NULL, NULL);

	return failed ? 1 : 0;
}
