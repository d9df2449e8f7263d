/* rollbot — hostile values against commands/plan.c (MIT licence, see LICENSE).
 *
 * plan_build is the last code before execve. Here every hostile string we
 * could think of is tried as the target (for each kind of target) and as
 * the value of each kind of method parameter. For each pair the table says
 * whether the value is acceptable there; when it is not, plan_build must
 * fail with PLAN_EINVAL, a message, no plan, and a message that does not
 * repeat the value; when it is, the argv element (or URL, or body) must hold
 * the value byte for byte: no trimming, no quoting, no interpretation.
 * The history parsers get hostile outputs too: a row or a field that is
 * not a plain number never becomes a target.
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

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Where a value is acceptable. One bit per kind of slot. */
enum {
	OK_REV = 1 << 0,   /* a revision target */
	OK_VER = 1 << 1,   /* a version target */
	OK_NAME = 1 << 2,  /* a generic name: context, Lambda function/alias/region, flag */
	OK_K8S = 1 << 3,   /* a Kubernetes name: namespace, deployment, release, ingress */
	OK_IMAGE = 1 << 4, /* an image repository */
	OK_LABEL = 1 << 5, /* a label key or value */
	OK_PATH = 1 << 6,  /* an absolute path */
	OK_ARGS = 1 << 7,  /* script arguments (words) */
	OK_URL = 1 << 8,   /* the flag service URL (no query) */
	OK_MURL = 1 << 9,  /* a manifest URL (query allowed) */
	OK_JSON = 1 << 10, /* a patch */
};

#define OK_PLAIN (OK_VER | OK_NAME | OK_K8S | OK_IMAGE | OK_LABEL | OK_ARGS)

struct hostile {
	const char *what; /* for failure messages */
	const char *s;
	unsigned ok;
};

static char long_a[10001];
static char long_digits[10001];

/* Filled in by setup(): the two 10k strings are built at run time. */
static struct hostile hostile[] = {
	{ "semicolon", ";", 0 },
	{ "and-and", "&&", 0 },
	{ "pipe", "|", 0 },
	{ "command substitution", "$(id)", 0 },
	{ "backticks", "`id`", 0 },
	{ "IFS expansion", "${IFS}", 0 },
	{ "bare IFS", "$IFS", 0 },
	{ "newline", "\n", 0 },
	{ "carriage return", "\r", 0 },
	{ "tab", "\t", 0 },
	{ "NUL-truncated", "41\0;rm -rf /", OK_REV | OK_PLAIN },
	{ "plain 41 (control)", "41", OK_REV | OK_PLAIN },
	{ "kubeconfig option", "--kubeconfig=/tmp/x", OK_ARGS },
	{ "short option", "-n", OK_ARGS },
	{ "negative", "-1", OK_ARGS },
	{ "plus", "+1", OK_ARGS },
	{ "parent path", "../../etc/passwd", OK_ARGS },
	{ "absolute path", "/etc/passwd", OK_PATH | OK_ARGS },
	{ "absolute path climbing out", "/opt/rollbot/../../etc/passwd", OK_ARGS },
	{ "root", "/", OK_ARGS },
	{ "hex", "0x41", OK_PLAIN },
	{ "octal", "041", OK_PLAIN },
	{ "inner space", "4 1", OK_ARGS },
	{ "trailing space", "41 ", OK_ARGS },
	{ "leading space", " 41", OK_ARGS },
	{ "10k letters", long_a, 0 },
	{ "10k digits", long_digits, 0 },
	{ "Arabic-Indic digits", "\xd9\xa4\xd9\xa1", 0 },
	{ "fullwidth digits", "\xef\xbc\x94\xef\xbc\x91", 0 },
	{ "Cyrillic a", "\xd0\xb0pp", 0 },
	{ "trailing semicolon", "41;", 0 },
	{ "single quoted", "'41'", 0 },
	{ "double quoted", "\"41\"", 0 },
	{ "trailing newline", "41\n", 0 },
	{ "inner CR", "4\r1", 0 },
	{ "inner tab", "4\t1", 0 },
	{ "DEL", "41\x7f", 0 },
	{ "ANSI escape", "\x1b[31m41", 0 },
	{ "star", "*", 0 },
	{ "question mark", "?", 0 },
	{ "hash", "41#", 0 },
	{ "tilde", "~root", 0 },
	{ "redirect out", ">out", 0 },
	{ "redirect in", "<in", 0 },
	{ "empty", "", 0 },
	{ "dot", ".", OK_ARGS },
	{ "dot dot", "..", OK_ARGS },
	{ "URL", "http://evil.example.com/x", OK_NAME | OK_ARGS | OK_URL | OK_MURL },
	{ "URL with credentials", "https://user:pw@flags.example.com/admin/flags",
	  OK_NAME | OK_ARGS },
	{ "URL with query", "https://flags.example.com/admin/flags?x=1", OK_MURL },
	{ "file URL", "file:///etc/passwd", OK_NAME | OK_ARGS },
	{ "JSON object", "{\"a\":1}", OK_JSON },
	{ "JSON array", "[{\"op\":\"remove\",\"path\":\"/x\"}]", OK_JSON },
	{ "JSON duplicate keys", "{\"a\":1,\"a\":2}", 0 },
	{ "JSON trailing garbage", "{\"a\":1}; rm -rf /", 0 },
	{ "JSON scalar", "\"41\"", 0 },
};

static int setup(void **state)
{
	(void)state;
	memset(long_a, 'a', sizeof long_a - 1);
	memset(long_digits, '1', sizeof long_digits - 1);
	return 0;
}

static struct plan_input input(enum plan_method m, const struct plan_param *params, size_t n,
			       const char *target)
{
	struct plan_input in = {
		.service = "payments-api",
		.method = m,
		.params = params,
		.n_params = n,
		.target = target,
		.timeout_ms = 60000,
		.incident_id = "INC-2026-0001",
		.severity = "P0",
		.reason = "production down",
		.requested_by = "U024BE7LH",
	};
	return in;
}

/* Tries in; on failure checks the refusal completely and returns NULL. */
static struct plan *try_build(const struct plan_input *in, const struct hostile *h,
			      const char *where)
{
	struct plan *p = (struct plan *)1;
	char err[RB_ERR_LEN] = "";
	int rc = plan_build(in, &p, err, sizeof err);

	if (rc == 0)
		return p;
	if (rc != PLAN_EINVAL)
		fail_msg("%s as %s: code %d", h->what, where, rc);
	if (p)
		fail_msg("%s as %s: a plan despite the error", h->what, where);
	if (!err[0])
		fail_msg("%s as %s: no message", h->what, where);
	if (strlen(h->s) >= 4 && strstr(err, h->s))
		fail_msg("%s as %s: the message repeats the value: %s", h->what, where, err);
	return NULL;
}

static void expect(bool accepted, bool want, const struct hostile *h, const char *where)
{
	if (accepted != want)
		fail_msg("%s as %s: %s, expected %s", h->what, where,
			 accepted ? "accepted" : "refused", want ? "accepted" : "refused");
}

/* ---- targets ------------------------------------------------------------ */

static const struct plan_param kubectl_params[] = {
	{ "namespace", "payments" },
	{ "deployment", "payments-api" },
};

static void test_hostile_revision_target_kubectl(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_OF(hostile); i++) {
		const struct hostile *h = &hostile[i];
		struct plan_input in = input(PLAN_KUBECTL, kubectl_params, 2, h->s);
		struct plan *p = try_build(&in, h, "kubectl target");
		char want[64];

		expect(p != NULL, h->ok & OK_REV, h, "kubectl target");
		if (!p)
			continue;
		snprintf(want, sizeof want, "--to-revision=%s", h->s);
		assert_string_equal(p->steps[0].exec.argv[6], want);
		assert_int_equal(p->steps[0].exec.argc, 7);
		plan_free(p);
	}
}

static void test_hostile_revision_target_helm_and_lambda(void **state)
{
	static const struct plan_param helm[] = { { "namespace", "payments" },
						  { "release", "payments" } };
	static const struct plan_param lambda[] = { { "function", "checkout" },
						    { "alias", "production" } };
	(void)state;
	for (size_t i = 0; i < N_OF(hostile); i++) {
		const struct hostile *h = &hostile[i];
		struct plan_input hi = input(PLAN_HELM, helm, 2, h->s);
		struct plan_input li = input(PLAN_LAMBDA, lambda, 2, h->s);
		struct plan *hp = try_build(&hi, h, "helm target");
		struct plan *lp = try_build(&li, h, "lambda target");

		expect(hp != NULL, h->ok & OK_REV, h, "helm target");
		expect(lp != NULL, h->ok & OK_REV, h, "lambda target");
		if (hp) {
			assert_string_equal(hp->steps[0].exec.argv[3], h->s);
			assert_string_equal(hp->steps[0].exec.argv[4], "-n");
		}
		if (lp) {
			assert_string_equal(lp->steps[0].exec.argv[8], h->s);
			assert_int_equal(lp->steps[0].exec.argc, 9);
		}
		plan_free(hp);
		plan_free(lp);
	}
}

static void test_hostile_version_target_docker(void **state)
{
	static const struct plan_param params[] = { { "service", "payments" },
						    { "image", "registry:5000/team/payments" } };
	(void)state;
	for (size_t i = 0; i < N_OF(hostile); i++) {
		const struct hostile *h = &hostile[i];
		struct plan_input in = input(PLAN_DOCKER, params, N_OF(params), h->s);
		struct plan *p = try_build(&in, h, "docker target");
		char want[128];

		/* "" is no target: docker's own --rollback. */
		expect(p != NULL, (h->ok & OK_VER) || !h->s[0], h, "docker target");
		if (!p)
			continue;
		if (!h->s[0]) {
			assert_string_equal(p->steps[0].exec.argv[3], "--rollback");
		} else {
			snprintf(want, sizeof want, "registry:5000/team/payments:%s", h->s);
			assert_string_equal(p->steps[0].exec.argv[3], "--image");
			assert_string_equal(p->steps[0].exec.argv[4], want);
			assert_string_equal(p->steps[0].exec.argv[5], "payments");
		}
		plan_free(p);
	}
}

static void test_hostile_version_target_script(void **state)
{
	static const struct plan_param params[] = { { "path", "/opt/rollback.sh" } };
	(void)state;
	for (size_t i = 0; i < N_OF(hostile); i++) {
		const struct hostile *h = &hostile[i];
		struct plan_input in = input(PLAN_SCRIPT, params, 1, h->s);
		struct plan *p = try_build(&in, h, "script target");
		char want[128];

		expect(p != NULL, (h->ok & OK_VER) || !h->s[0], h, "script target");
		if (!p)
			continue;
		assert_int_equal(p->steps[0].exec.argc, h->s[0] ? 2 : 1);
		if (h->s[0])
			assert_string_equal(p->steps[0].exec.argv[1], h->s);
		snprintf(want, sizeof want, "ROLLBOT_TARGET=%s", h->s);
		assert_string_equal(p->steps[0].exec.env[2], want);
		plan_free(p);
	}
}

static void test_hostile_target_for_methods_without_one(void **state)
{
	static const struct plan_param bg[] = { { "namespace", "payments" },
						{ "service", "payments" } };
	static const struct plan_param flag[] = { { "url", "https://flags.example.com/f" },
						  { "flag", "f" } };
	(void)state;
	for (size_t i = 0; i < N_OF(hostile); i++) {
		const struct hostile *h = &hostile[i];
		struct plan_input a = input(PLAN_BLUEGREEN, bg, 2, h->s);
		struct plan_input b = input(PLAN_FLAG, flag, 2, h->s);
		struct plan *pa = try_build(&a, h, "bluegreen target");
		struct plan *pb = try_build(&b, h, "flag target");

		expect(pa != NULL, !h->s[0], h, "bluegreen target");
		expect(pb != NULL, !h->s[0], h, "flag target");
		plan_free(pa);
		plan_free(pb);
	}
}

/* ---- parameters --------------------------------------------------------- */

/* One parameter slot: the method, its other parameters, the key under
 * test, where its value must show up, and which bit says it is fine. */
struct slot {
	const char *where;
	enum plan_method method;
	const char *target;
	struct plan_param base[6];
	size_t n_base;
	const char *key;
	unsigned ok;
	/* The value must be argv[arg] of step `step`, between prefix and suffix. */
	size_t step;
	size_t arg;
	const char *prefix;
	const char *suffix;
	/* Or a check of its own (URL, body, JSON, words). */
	void (*check)(const struct plan *p, const char *value);
};

static void check_flag_body(const struct plan *p, const char *v)
{
	char want[512];

	snprintf(want, sizeof want, "{\"flag\":\"%s\",\"enabled\":false,\"percentage\":0}", v);
	assert_string_equal(p->steps[0].http.body, want);
}

static void check_flag_url(const struct plan *p, const char *v)
{
	char want[512];

	assert_string_equal(p->steps[0].http.url, v);
	snprintf(want, sizeof want, "%s/f", v);
	assert_string_equal(p->steps[1].http.url, want);
}

static void check_selector_key(const struct plan *p, const char *v)
{
	char want[512];

	snprintf(want, sizeof want, "{\"spec\":{\"selector\":{\"%s\":\"blue\"}}}", v);
	assert_string_equal(p->steps[0].exec.argv[7], want);
}

static void check_colour(const struct plan *p, const char *v)
{
	char want[512];

	snprintf(want, sizeof want, "{\"spec\":{\"selector\":{\"version\":\"%s\"}}}", v);
	assert_string_equal(p->steps[0].exec.argv[7], want);
}

/* Script args become words: argv[1..] joined by one space must be the
 * value with its runs of spaces collapsed and its ends trimmed. */
static void check_args(const struct plan *p, const char *v)
{
	char want[2048], got[2048];
	size_t o = 0, g = 0;
	const struct plan_exec *e = &p->steps[0].exec;

	for (const char *c = v; *c; c++) {
		if (*c == ' ' && (o == 0 || want[o - 1] == ' '))
			continue;
		want[o++] = *c;
	}
	if (o && want[o - 1] == ' ')
		o--;
	want[o] = '\0';
	got[0] = '\0';
	for (size_t i = 1; i < e->argc; i++) {
		size_t n = strlen(e->argv[i]);
		assert_true(n > 0);
		assert_null(strchr(e->argv[i], ' '));
		if (g)
			got[g++] = ' ';
		memcpy(got + g, e->argv[i], n + 1);
		g += n;
	}
	assert_string_equal(got, want);
}

static const struct slot slots[] = {
	{ "namespace",
	  PLAN_KUBECTL,
	  "41",
	  { { "deployment", "api" } },
	  1,
	  "namespace",
	  OK_K8S,
	  0,
	  5,
	  "",
	  "",
	  NULL },
	{ "deployment",
	  PLAN_KUBECTL,
	  "41",
	  { { "namespace", "ns" } },
	  1,
	  "deployment",
	  OK_K8S,
	  0,
	  3,
	  "deployment/",
	  "",
	  NULL },
	{ "kube context",
	  PLAN_KUBECTL,
	  "41",
	  { { "namespace", "ns" }, { "deployment", "api" } },
	  2,
	  "context",
	  OK_NAME,
	  0,
	  1,
	  "--context=",
	  "",
	  NULL },
	{ "container",
	  PLAN_KUBECTL,
	  "41",
	  { { "namespace", "ns" }, { "deployment", "api" } },
	  2,
	  "container",
	  OK_K8S,
	  0,
	  0,
	  "kubectl",
	  "",
	  NULL },
	{ "helm release",
	  PLAN_HELM,
	  "41",
	  { { "namespace", "ns" } },
	  1,
	  "release",
	  OK_K8S,
	  0,
	  2,
	  "",
	  "",
	  NULL },
	{ "helm context",
	  PLAN_HELM,
	  "41",
	  { { "namespace", "ns" }, { "release", "r" } },
	  2,
	  "context",
	  OK_NAME,
	  0,
	  1,
	  "--kube-context=",
	  "",
	  NULL },
	{ "bluegreen service",
	  PLAN_BLUEGREEN,
	  "",
	  { { "namespace", "ns" } },
	  1,
	  "service",
	  OK_K8S,
	  0,
	  3,
	  "",
	  "",
	  NULL },
	{ "selector key",
	  PLAN_BLUEGREEN,
	  "",
	  { { "namespace", "ns" }, { "service", "s" } },
	  2,
	  "selector_key",
	  OK_LABEL,
	  0,
	  0,
	  NULL,
	  NULL,
	  check_selector_key },
	{ "colour",
	  PLAN_BLUEGREEN,
	  "",
	  { { "namespace", "ns" }, { "service", "s" } },
	  2,
	  "colour",
	  OK_LABEL,
	  0,
	  0,
	  NULL,
	  NULL,
	  check_colour },
	{ "flag name",
	  PLAN_FLAG,
	  "",
	  { { "url", "https://flags.example.com/admin/flags" } },
	  1,
	  "flag",
	  OK_NAME,
	  0,
	  0,
	  NULL,
	  NULL,
	  check_flag_body },
	{ "flag URL",
	  PLAN_FLAG,
	  "",
	  { { "flag", "f" } },
	  1,
	  "url",
	  OK_URL,
	  0,
	  0,
	  NULL,
	  NULL,
	  check_flag_url },
	{ "canary deployment",
	  PLAN_CANARY,
	  "",
	  { { "namespace", "ns" } },
	  1,
	  "canary_deployment",
	  OK_K8S,
	  0,
	  2,
	  "deployment/",
	  "",
	  NULL },
	{ "canary manifest",
	  PLAN_CANARY,
	  "",
	  { { "namespace", "ns" }, { "canary_deployment", "c" } },
	  2,
	  "manifest",
	  OK_PATH | OK_MURL,
	  0,
	  3,
	  "",
	  "",
	  NULL },
	{ "canary patch",
	  PLAN_CANARY,
	  "",
	  { { "namespace", "ns" }, { "canary_deployment", "c" }, { "ingress", "i" } },
	  3,
	  "patch",
	  OK_JSON,
	  0,
	  8,
	  "",
	  "",
	  NULL },
	{ "canary ingress",
	  PLAN_CANARY,
	  "",
	  { { "namespace", "ns" }, { "canary_deployment", "c" }, { "patch", "{\"a\":1}" } },
	  3,
	  "ingress",
	  OK_K8S,
	  0,
	  3,
	  "",
	  "",
	  NULL },
	{ "recreate manifest",
	  PLAN_RECREATE,
	  "",
	  { { "namespace", "ns" }, { "deployment", "d" } },
	  2,
	  "manifest",
	  OK_PATH | OK_MURL,
	  1,
	  3,
	  "",
	  "",
	  NULL },
	{ "docker service",
	  PLAN_DOCKER,
	  "",
	  { { "image", "team/app" } },
	  1,
	  "service",
	  OK_NAME,
	  0,
	  4,
	  "",
	  "",
	  NULL },
	{ "docker image",
	  PLAN_DOCKER,
	  "v2",
	  { { "service", "s" } },
	  1,
	  "image",
	  OK_IMAGE,
	  0,
	  4,
	  "",
	  ":v2",
	  NULL },
	{ "lambda function",
	  PLAN_LAMBDA,
	  "6",
	  { { "alias", "live" } },
	  1,
	  "function",
	  OK_NAME,
	  0,
	  4,
	  "",
	  "",
	  NULL },
	{ "lambda alias",
	  PLAN_LAMBDA,
	  "6",
	  { { "function", "f" } },
	  1,
	  "alias",
	  OK_NAME,
	  0,
	  6,
	  "",
	  "",
	  NULL },
	{ "lambda region",
	  PLAN_LAMBDA,
	  "6",
	  { { "function", "f" }, { "alias", "live" } },
	  2,
	  "region",
	  OK_NAME,
	  0,
	  10,
	  "",
	  "",
	  NULL },
	{ "script path",
	  PLAN_SCRIPT,
	  "",
	  { { "args", "x" } },
	  1,
	  "path",
	  OK_PATH,
	  0,
	  0,
	  "",
	  "",
	  NULL },
	{ "script args",
	  PLAN_SCRIPT,
	  "",
	  { { "path", "/opt/x.sh" } },
	  1,
	  "args",
	  OK_ARGS,
	  0,
	  0,
	  NULL,
	  NULL,
	  check_args },
};

static void check_slot(const struct slot *sl)
{
	for (size_t i = 0; i < N_OF(hostile); i++) {
		const struct hostile *h = &hostile[i];
		struct plan_param params[8];
		struct plan_input in;
		struct plan *p;

		memcpy(params, sl->base, sl->n_base * sizeof *params);
		params[sl->n_base].key = sl->key;
		params[sl->n_base].value = h->s;
		in = input(sl->method, params, sl->n_base + 1, sl->target);
		p = try_build(&in, h, sl->where);
		expect(p != NULL, (h->ok & sl->ok) != 0, h, sl->where);
		if (!p)
			continue;
		if (sl->check) {
			sl->check(p, h->s);
		} else if (!strcmp(sl->key, "container")) {
			/* Taken, checked, and used by no command. */
			for (size_t s = 0; s < p->n_steps; s++)
				for (size_t a = 0; a < p->steps[s].exec.argc; a++)
					assert_string_not_equal(p->steps[s].exec.argv[a], h->s);
		} else {
			char want[512];
			const struct plan_step *st = &p->steps[sl->step];

			snprintf(want, sizeof want, "%s%s%s", sl->prefix, h->s, sl->suffix);
			assert_true(sl->arg < st->exec.argc);
			assert_string_equal(st->exec.argv[sl->arg], want);
		}
		plan_free(p);
	}
}

static void test_hostile_params(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_OF(slots); i++)
		check_slot(&slots[i]);
}

/* The NUL-truncated value is the C string "41": what follows the NUL never
 * reaches a plan, a description or a digest. */
static void test_nul_truncation_leaves_no_trace(void **state)
{
	static const char v[] = "41\0;rm -rf /";
	struct plan_input a = input(PLAN_KUBECTL, kubectl_params, 2, v);
	struct plan_input b = input(PLAN_KUBECTL, kubectl_params, 2, "41");
	struct plan *pa, *pb;
	char err[RB_ERR_LEN];
	char *d;
	(void)state;

	assert_int_equal(plan_build(&a, &pa, err, sizeof err), 0);
	assert_int_equal(plan_build(&b, &pb, err, sizeof err), 0);
	assert_true(plan_digest(pa) == plan_digest(pb));
	d = plan_describe(pa);
	assert_null(strstr(d, "rm"));
	assert_null(strchr(d, ';'));
	free(d);
	plan_free(pa);
	plan_free(pb);
}

/* What an incident id, severity or requester may be: up to 64 of
 * [A-Za-z0-9._@-], or nothing. */
static bool plain_word(const char *s)
{
	size_t n = strlen(s);

	if (n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("._@-", s[i])))
			return false;
	return true;
}

/* A hostile value in the incident fields of a script: they are
 * environment data, never argv; control characters are refused. */
static void test_hostile_script_environment(void **state)
{
	static const struct plan_param params[] = { { "path", "/opt/rollback.sh" } };
	struct plan_input in = input(PLAN_SCRIPT, params, 1, "");
	struct plan *p;
	char err[RB_ERR_LEN];
	(void)state;

	/* Shell characters in the reason are plain text to an env var. */
	in.reason = "5xx after `deploy` $(oops); see \"INC\" & 'ops'";
	assert_int_equal(plan_build(&in, &p, err, sizeof err), 0);
	assert_string_equal(p->steps[0].exec.env[4],
			    "ROLLBOT_REASON=5xx after `deploy` $(oops); see \"INC\" & 'ops'");
	assert_int_equal(p->steps[0].exec.argc, 1);
	plan_free(p);

	for (size_t i = 0; i < N_OF(hostile); i++) {
		const struct hostile *h = &hostile[i];
		bool ctl = false;

		for (const char *c = h->s; *c; c++)
			ctl = ctl || (unsigned char)*c < 0x20 || *c == 0x7f;
		in = input(PLAN_SCRIPT, params, 1, "");
		in.reason = h->s;
		p = try_build(&in, h, "reason");
		expect(p != NULL, !ctl && strlen(h->s) <= 2048, h, "reason");
		plan_free(p);
		in = input(PLAN_SCRIPT, params, 1, "");
		in.requested_by = h->s;
		p = try_build(&in, h, "requester");
		expect(p != NULL, plain_word(h->s), h, "requester");
		plan_free(p);
	}
}

/* A hostile service name (it is copied into script env and titles). */
static void test_hostile_service_name(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_OF(hostile); i++) {
		const struct hostile *h = &hostile[i];
		struct plan_input in = input(PLAN_KUBECTL, kubectl_params, 2, "41");
		struct plan *p;
		bool want = h->s[0] && (h->ok & OK_K8S) && strlen(h->s) <= 63;

		in.service = h->s;
		p = try_build(&in, h, "service name");
		expect(p != NULL, want, h, "service name");
		plan_free(p);
	}
}

/* ---- parsers -------------------------------------------------------------- */

static void test_hostile_kubectl_history_rows(void **state)
{
	static const char *const rows[] = {
		"41;rm -rf /",
		"41|x",
		"$(id)",
		"`id`",
		"\xd9\xa4\xd9\xa1",
		"\xef\xbc\x94\xef\xbc\x91",
		"041",
		"0x41",
		"-41",
		"+41",
		"4\0"
		"1",
		"1e3",
		"41.0",
		"9999999999",
		"'41'",
		"\"41\"",
		"41\x1b[0m",
		"~41",
		"*",
	};
	char out[256], target[32], err[RB_ERR_LEN];
	(void)state;

	for (size_t i = 0; i < N_OF(rows); i++) {
		int rc;

		snprintf(out, sizeof out, "REVISION  CHANGE-CAUSE\n40        <none>\n%s   <none>\n",
			 rows[i]);
		snprintf(target, sizeof target, "unset");
		rc = plan_parse_kubectl_history(out, target, sizeof target, err, sizeof err);
		if (!strcmp(rows[i], "4")) {
			/* The row ends at the NUL: "4", the highest is 40, the target 4. */
			assert_int_equal(rc, 0);
			assert_string_equal(target, "4");
			continue;
		}
		if (rc != PLAN_EPARSE)
			fail_msg("row %zu: rc %d target %s", i, rc, target);
		assert_string_equal(target, "unset");
	}
}

static void test_hostile_helm_history_fields(void **state)
{
	static const char *const revs[] = {
		"\"41\"", "41.5", "-1",	  "0",	"1e2",	     "99999999999",
		"null",	  "true", "[41]", "{}", "\"41;rm\"",
	};
	char out[256], target[32], err[RB_ERR_LEN];
	(void)state;

	for (size_t i = 0; i < N_OF(revs); i++) {
		snprintf(out, sizeof out,
			 "[{\"revision\":%s,\"status\":\"superseded\"},"
			 "{\"revision\":50,\"status\":\"deployed\"}]",
			 revs[i]);
		assert_int_equal(
			plan_parse_helm_history(out, target, sizeof target, err, sizeof err),
			PLAN_EPARSE);
	}
	/* A status that is not exactly "superseded" is never a target. */
	assert_int_equal(plan_parse_helm_history("[{\"revision\":1,\"status\":\"Superseded\"},"
						 "{\"revision\":2,\"status\":\"deployed\"}]",
						 target, sizeof target, err, sizeof err),
			 PLAN_ENOTARGET);
	/* Status text in messages is clipped and made printable. */
	assert_int_equal(
		plan_parse_helm_history("[{\"revision\":1,\"status\":\"deployed\"},"
					"{\"revision\":2,\"status\":\"fa\\niled\\u001b[31m\"}]",
					target, sizeof target, err, sizeof err),
		PLAN_ENOTARGET);
	assert_null(strchr(err, '\n'));
	assert_null(strchr(err, '\x1b'));
}

static void test_hostile_lambda_versions(void **state)
{
	static const char *const versions[] = {
		"\"7;rm\"", "\"$(id)\"", "\"07\"",	"\"0\"", "\"-7\"", "\"7 \"",
		"\" 7\"",   "\"\"",	 "\"\\u0664\"", "7",	 "null",   "\"1234567890\"",
	};
	char out[256], target[32], err[RB_ERR_LEN];
	(void)state;

	for (size_t i = 0; i < N_OF(versions); i++) {
		snprintf(out, sizeof out, "{\"FunctionVersion\":%s}", versions[i]);
		assert_int_equal(
			plan_parse_lambda_alias(out, target, sizeof target, err, sizeof err),
			PLAN_EPARSE);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hostile_revision_target_kubectl),
		cmocka_unit_test(test_hostile_revision_target_helm_and_lambda),
		cmocka_unit_test(test_hostile_version_target_docker),
		cmocka_unit_test(test_hostile_version_target_script),
		cmocka_unit_test(test_hostile_target_for_methods_without_one),
		cmocka_unit_test(test_hostile_params),
		cmocka_unit_test(test_nul_truncation_leaves_no_trace),
		cmocka_unit_test(test_hostile_script_environment),
		cmocka_unit_test(test_hostile_service_name),
		cmocka_unit_test(test_hostile_kubectl_history_rows),
		cmocka_unit_test(test_hostile_helm_history_fields),
		cmocka_unit_test(test_hostile_lambda_versions),
	};
	int failed = cmocka_run_group_tests_name("hostile", tests, setup, NULL);

	return failed ? 1 : 0;
}
