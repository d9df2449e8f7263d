/* rollbot — what runs before the rollback, from the tool's history (MIT licence, see LICENSE).
 *
 * The history a rollback without --to reads (plan_resolve_step) also says
 * which revision is running now and, for helm, when it was deployed: the
 * report's "rolled back from" and its deploy event (runbook 000 §6.4).
 * Best effort: an output these parsers do not understand only leaves the
 * report without them; plan_parse_resolve decides the target.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

static void put(char *dst, size_t len, const char *s)
{
	if (len)
		snprintf(dst, len, "%s", s ? s : "");
}

/* kubectl rollout history: the highest revision listed after the header. */
static int current_kubectl(const char *out, char *from, size_t len)
{
	unsigned long top = 0;
	int header = 0;

	for (const char *line = out; *line;) {
		const char *eol = strchr(line, '\n');
		size_t n = eol ? (size_t)(eol - line) : strlen(line);
		const char *s = line;

		line += n + (eol ? 1 : 0);
		while (n && (*s == ' ' || *s == '\t')) {
			s++;
			n--;
		}
		if (!n)
			continue;
		if (!header) {
			header = n >= 8 && !strncmp(s, "REVISION", 8);
			continue;
		}
		if (*s >= '1' && *s <= '9') {
			unsigned long rev = strtoul(s, NULL, 10);
			if (rev > top && rev <= 999999999)
				top = rev;
		}
	}
	if (!top)
		return PLAN_EPARSE;
	snprintf(from, len, "%lu", top);
	return 0;
}

/* helm history -o json: the one "deployed" entry, and its "updated". */
static int current_helm(const char *out, char *from, size_t len, char *at, size_t atlen)
{
	json_t *root = json_loads(out, 0, NULL);
	json_t *e, *found = NULL;
	size_t i;
	int rc = PLAN_EPARSE;

	json_array_foreach (root, i, e) {
		const char *st = json_string_value(json_object_get(e, "status"));
		if (st && !strcmp(st, "deployed"))
			found = found ? json_null() : e;
	}
	if (json_is_object(found) && json_is_integer(json_object_get(found, "revision"))) {
		snprintf(from, len, "%lld",
			 (long long)json_integer_value(json_object_get(found, "revision")));
		put(at, atlen, json_string_value(json_object_get(found, "updated")));
		rc = 0;
	}
	json_decref(root);
	return rc;
}

/* aws lambda get-alias: the version the alias points at. */
static int current_lambda(const char *out, char *from, size_t len)
{
	json_t *root = json_loads(out, 0, NULL);
	const char *fv = json_string_value(json_object_get(root, "FunctionVersion"));
	int rc = PLAN_EPARSE;

	if (fv && strlen(fv) < 64) {
		put(from, len, fv);
		rc = 0;
	}
	json_decref(root);
	return rc;
}

int plan_parse_current(enum plan_method m, const char *out, char *from, size_t len, char *at,
		       size_t atlen)
{
	put(from, len, "");
	put(at, atlen, "");
	if (!out || !len)
		return PLAN_EPARSE;
	switch (m) {
	case PLAN_KUBECTL:
		return current_kubectl(out, from, len);
	case PLAN_HELM:
		return current_helm(out, from, len, at, atlen);
	case PLAN_LAMBDA:
		return current_lambda(out, from, len);
	default:
		return PLAN_EINVAL;
	}
}
