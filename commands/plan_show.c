/* rollbot — a plan for people, and its digest (MIT licence, see LICENSE).
 *
 * plan_describe and plan_step_display write the steps as the approvers read
 * them: an argv as one line that pastes into a POSIX shell (words quoted
 * only when they need it), a request as its method, URL and body.
 * plan_digest and plan_step_digest hash everything a step will do, the
 * same on every machine, so an approval is bound to the plan it was given
 * for. Split out of plan.c (plan_int.h). Pure.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "plan_int.h"

/* ---- for people ------------------------------------------------------ */

/* Characters a POSIX shell reads literally in a word. */
static bool shell_plain(char c)
{
	return plan_is_alnum(c) || plan_in_set(c, "_./:=,@%+-");
}

/* Appends s as a shell word: bare when plain; in single quotes otherwise,
 * with ' written '\''; and when it holds a control character (a multi-line
 * patch from YAML), as $'…' with C escapes, so the line stays one line and
 * still pastes into bash. */
static int append_word(struct rb_buf *b, const char *s)
{
	bool plain = *s != '\0', ctl = false;
	int rc = 0;

	for (const char *c = s; *c; c++) {
		unsigned char ch = (unsigned char)*c;
		plain = plain && shell_plain(*c);
		ctl = ctl || ch < 0x20 || ch == 0x7f;
	}
	if (plain)
		return rb_buf_puts(b, s);
	if (!ctl) {
		rc = rb_buf_puts(b, "'");
		for (const char *c = s; rc == 0 && *c; c++)
			rc = *c == '\'' ? rb_buf_puts(b, "'\\''") : rb_buf_append(b, c, 1);
		return rc ? rc : rb_buf_puts(b, "'");
	}
	rc = rb_buf_puts(b, "$'");
	for (const char *c = s; rc == 0 && *c; c++) {
		unsigned char ch = (unsigned char)*c;
		if (ch == '\n')
			rc = rb_buf_puts(b, "\\n");
		else if (ch == '\t')
			rc = rb_buf_puts(b, "\\t");
		else if (ch == '\r')
			rc = rb_buf_puts(b, "\\r");
		else if (ch < 0x20 || ch == 0x7f)
			rc = rb_buf_printf(b, "\\x%02x", ch);
		else if (ch == '\'' || ch == '\\')
			rc = rb_buf_printf(b, "\\%c", ch);
		else
			rc = rb_buf_append(b, c, 1);
	}
	return rc ? rc : rb_buf_puts(b, "'");
}

static int append_step(struct rb_buf *b, const struct plan_step *s)
{
	int rc = 0;

	if (s->kind == PLAN_STEP_HTTP) {
		rc = rb_buf_printf(b, "%s %s", s->http.method, s->http.url);
		if (rc == 0 && s->http.body)
			rc = rb_buf_printf(b, " %s", s->http.body);
		return rc;
	}
	for (size_t i = 0; rc == 0 && i < s->exec.argc; i++) {
		if (i)
			rc = rb_buf_puts(b, " ");
		if (rc == 0)
			rc = append_word(b, s->exec.argv[i]);
	}
	return rc;
}

/* The display line of one step; see plan.h. New string, free with free(). */
char *plan_step_display(const struct plan_step *s)
{
	struct rb_buf b;

	rb_buf_init(&b, 4u << 20);
	RB_ASSERT(append_step(&b, s) == 0);
	return rb_buf_steal(&b);
}

/* The whole plan for Slack; see plan.h. New string, free with free(). */
char *plan_describe(const struct plan *p)
{
	struct rb_buf b;
	int rc = 0;

	rb_buf_init(&b, 16u << 20);
	for (size_t i = 0; rc == 0 && i < p->n_steps; i++) {
		const struct plan_step *s = &p->steps[i];
		bool exec = s->kind == PLAN_STEP_EXEC;

		rc = rb_buf_printf(&b, "%s%zu. %s", i ? "\n" : "", i + 1, exec ? "`" : "");
		if (rc == 0)
			rc = append_step(&b, s);
		if (rc == 0 && exec)
			rc = rb_buf_puts(&b, "`");
	}
	RB_ASSERT(rc == 0);
	return rb_buf_steal(&b);
}

/* ---- digest ---------------------------------------------------------- */

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME  0x100000001b3ULL

static void fnv_bytes(uint64_t *h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++) {
		*h ^= c[i];
		*h *= FNV_PRIME;
	}
}

/* Eight bytes, little-endian whatever the machine, so a digest recorded
 * on one host checks on another. */
static void fnv_u64(uint64_t *h, uint64_t v)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	fnv_bytes(h, b, sizeof b);
}

/* A string as its length and bytes, so ["ab","c"] and ["a","bc"] differ;
 * NULL as a length no string has, so it differs from "". */
static void fnv_str(uint64_t *h, const char *s)
{
	size_t n;

	if (!s) {
		fnv_u64(h, UINT64_MAX);
		return;
	}
	n = strlen(s);
	fnv_u64(h, n);
	fnv_bytes(h, s, n);
}

static void fnv_strv(uint64_t *h, char *const *v, size_t n)
{
	fnv_u64(h, n);
	for (size_t i = 0; i < n; i++)
		fnv_str(h, v[i]);
}

static void digest_step(uint64_t *h, const struct plan_step *s)
{
	fnv_u64(h, (uint64_t)s->kind);
	fnv_u64(h, (uint64_t)s->role);
	fnv_u64(h, (uint64_t)s->timeout_ms);
	fnv_str(h, s->title);
	fnv_strv(h, s->exec.argv, s->exec.argc);
	fnv_strv(h, s->exec.env, s->exec.n_env);
	fnv_str(h, s->http.method);
	fnv_str(h, s->http.url);
	fnv_str(h, s->http.body);
	fnv_u64(h, s->http.n_expect);
	for (size_t i = 0; i < s->http.n_expect && i < PLAN_HTTP_EXPECT_MAX; i++)
		fnv_u64(h, (uint64_t)(int64_t)s->http.expect[i]);
}

/* FNV-1a 64 of the whole plan; see plan.h. A version tag leads the
 * serialisation, so changing its layout changes every digest rather than
 * matching an old approval by accident. */
uint64_t plan_digest(const struct plan *p)
{
	uint64_t h = FNV_OFFSET;

	fnv_str(&h, "rollbot-plan-1");
	fnv_u64(&h, (uint64_t)p->method);
	fnv_u64(&h, p->n_steps);
	for (size_t i = 0; i < p->n_steps; i++)
		digest_step(&h, &p->steps[i]);
	return h;
}

/* FNV-1a 64 of one step alone (a resolution step, for its audit row). */
uint64_t plan_step_digest(const struct plan_step *s)
{
	uint64_t h = FNV_OFFSET;

	fnv_str(&h, "rollbot-step-1");
	digest_step(&h, s);
	return h;
}
