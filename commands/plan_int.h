/* rollbot — what the plan's files share (MIT licence, see LICENSE).
 *
 * plan.c owns the method table and builds the plans (plan_build,
 * plan_resolve_step); plan_check.c checks every value they read, once
 * more, and says the errors; plan_history.c reads the history a rollback
 * without --to takes its target from; plan_show.c writes a plan for
 * people and digests it. (plan_current.c reads the history for the report
 * and needs none of this.) Internal to the plan: nothing outside
 * commands/plan*.c includes this.
 */
#ifndef PLAN_INT_H
#define PLAN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "plan.h"
#include "rb.h"

/* The longest URL a step carries: plan_check.c refuses longer ones, plan.c
 * sizes a buffer by it. */
#define MAX_URL_LEN    2048

static inline bool plan_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static inline bool plan_is_alnum(char c)
{
	return plan_is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* c is in set; '\0' never is (strchr would find the terminator). */
static inline bool plan_in_set(char c, const char *set)
{
	return c != '\0' && strchr(set, c) != NULL;
}

static inline const char *plan_or_empty(const char *s)
{
	return s ? s : "";
}

/* plan_check.c. */
/* Writes the message (when the caller gave a buffer) and returns code. */
int plan_fail(char *err, size_t errlen, int code, const char *fmt, ...) RB_PRINTF(4, 5);
/* A short, printable copy of text we did not write (at most 40 characters
 * of printable ASCII, '?' for the rest) in buf, for a message. Returns buf. */
const char *plan_clip(const char *s, char *buf, size_t size);
/* An absolute path: safe characters, no "..". */
bool plan_path_ok(const char *s);
/* Free text for an environment variable: one line, no control bytes. */
bool plan_text_ok(const char *s);
/* Borrowed value of parameter key, or NULL. Keys are unique (checked). */
const char *plan_input_param(const struct plan_input *in, const char *key);
/* Checks everything plan_build and plan_resolve_step read from `in`;
 * with_target also checks the target for the method. Returns 0 or
 * PLAN_EINVAL with a message that names the value but never quotes it. */
int plan_check_input(const struct plan_input *in, bool with_target, char *err, size_t errlen);

#endif
