/* rollbot — the approval and verify blocks of rollbot.yaml (MIT licence,
 * see LICENSE).
 *
 * Who must agree before a rollback (approval) and what must hold after its
 * commands (verify). Both are a global block and a per-service one, and a
 * service's block is read over a copy of the global one, which was read
 * over the defaults, so every service ends up with a complete struct
 * config_approval (when it has its own) and struct config_verify, and
 * readers never have to merge. Split out of config.c (config_int.h).
 */
#include "config_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REQUIRED	 100
#define MAX_QUERY_LEN	 2000 /* bytes in a PromQL query: a URL of at most ~6 KB once encoded */
#define MAX_RATIO_DIGITS 15   /* digits in error_rate_max: exact in a double */

static const char *const approval_keys[] = { "approvers", "approver_group",
					     "required",  "allow_self_approval",
					     "timeout",	  "skip_for",
					     "escalate_after", "fallback",
					     NULL };
/* The global verify block takes fewer keys than a service's: a query is
 * about one service's metrics, and `status` about its method. */
static const char *const verify_global_keys[] = { "window",	    "interval",	   "prometheus_url",
						  "error_rate_max", "latency_max", NULL };
static const char *const verify_service_keys[] = {
	"window",	  "interval",	 "prometheus_url",
	"error_rate_max", "latency_max", "error_rate_query",
	"latency_query",  "status",	 NULL
};

/* ---- approval ------------------------------------------------------- */

void config_approval_clear(struct config_approval *a)
{
	for (size_t i = 0; i < a->n_approvers; i++)
		free(a->approvers[i]);
	free(a->approvers);
	free(a->approver_group);
	for (size_t i = 0; i < a->n_fallback; i++)
		free(a->fallback[i]);
	free(a->fallback);
	free(a->fallback_group);
	memset(a, 0, sizeof *a);
}

void config_approval_copy(struct config_approval *dst, const struct config_approval *src)
{
	*dst = *src;
	dst->approvers = rb_calloc(src->n_approvers, sizeof *dst->approvers);
	for (size_t i = 0; i < src->n_approvers; i++)
		dst->approvers[i] = rb_strdup(src->approvers[i]);
	dst->approver_group = src->approver_group ? rb_strdup(src->approver_group) : NULL;
	dst->fallback = rb_calloc(src->n_fallback, sizeof *dst->fallback);
	for (size_t i = 0; i < src->n_fallback; i++)
		dst->fallback[i] = rb_strdup(src->fallback[i]);
	dst->fallback_group = src->fallback_group ? rb_strdup(src->fallback_group) : NULL;
}

/* A duration as the configuration writes it: 5m, 90s, 1500ms. */
static const char *fmt_dur(int64_t ms, char *b, size_t len)
{
	if (ms % 60000 == 0)
		snprintf(b, len, "%lldm", (long long)(ms / 60000));
	else if (ms % 1000 == 0)
		snprintf(b, len, "%llds", (long long)(ms / 1000));
	else
		snprintf(b, len, "%lldms", (long long)ms);
	return b;
}

/* `fallback`: a list (or one scalar) of user IDs and at most one user group
 * (S…), the on-call lead(s) asked when nobody answers. Replaces the
 * inherited list as a whole. */
static int parse_fallback(struct ctx *c, const struct node *v, struct config_approval *a)
{
	const struct node *const *items = (const struct node *const *)&v;
	size_t n_items = 1;
	char **users;
	size_t n_users = 0;
	char *group = NULL;
	int rc = 0;

	if (v->kind == NODE_MAP)
		return config_fail(c, v, "`fallback` must be a list of user IDs and/or a user "
					 "group ID, e.g. [U07ONCALL1, S05ONCALL1]");
	if (v->kind == NODE_SEQ) {
		items = (const struct node *const *)v->kids;
		n_items = v->n_kids;
	}
	users = rb_calloc(n_items ? n_items : 1, sizeof *users);
	for (size_t i = 0; i < n_items && rc == 0; i++) {
		const char *s;

		rc = config_scalar(c, items[i], "fallback", false, &s);
		if (rc < 0)
			break;
		if (s[0] == 'S') {
			rc = config_slack_id_check(c, items[i], s, ID_GROUP);
			if (rc == 0 && group)
				rc = config_fail(c, items[i], "`fallback` names more than one user "
							      "group; list one (and users)");
			if (rc == 0)
				group = rb_strdup(s);
		} else {
			rc = config_slack_id_check(c, items[i], s, ID_USER);
			if (rc == 0)
				users[n_users++] = rb_strdup(s);
		}
	}
	if (rc == 0 && n_users == 0 && !group)
		rc = config_fail(c, v, "`fallback` is empty: list the on-call lead's user ID or "
				       "group ID");
	if (rc < 0) {
		for (size_t i = 0; i < n_users; i++)
			free(users[i]);
		free(users);
		free(group);
		return rc;
	}
	for (size_t i = 0; i < a->n_fallback; i++)
		free(a->fallback[i]);
	free(a->fallback);
	free(a->fallback_group);
	a->fallback = users;
	a->n_fallback = n_users;
	a->fallback_group = group;
	return 0;
}

/* Reads an approval block over *a, which holds the defaults (the built-in
 * ones, or the global policy for a service's override): keys given here
 * replace those values, the rest stay. Then checks the result. `label`
 * names the block in messages: "approval", "approval of service x". */
int config_parse_approval(struct ctx *c, const struct node *n, const char *label,
			  struct config_approval *a)
{
	const struct node *v, *req_node = n, *esc_node = NULL, *timeout_node = NULL;
	const char *s;
	char b[64], where[160];
	int rc;

	snprintf(where, sizeof where, "in %s", label);
	rc = config_need_map(c, n, "approval");
	if (rc == 0)
		rc = config_check_keys(c, n, approval_keys, where);
	if (rc < 0)
		return rc;

	v = config_lookup(n, "approvers");
	if (v) {
		rc = config_id_list(c, v, "approvers", ID_USER, &a->approvers, &a->n_approvers);
		if (rc < 0)
			return rc;
	}
	v = config_lookup(n, "approver_group");
	if (v) {
		rc = config_scalar(c, v, "approver_group", false, &s);
		if (rc == 0)
			rc = config_slack_id_check(c, v, s, ID_GROUP);
		if (rc < 0)
			return rc;
		free(a->approver_group);
		a->approver_group = rb_strdup(s);
	}
	v = config_lookup(n, "required");
	if (v) {
		char *end;
		long r;

		rc = config_scalar(c, v, "required", false, &s);
		if (rc < 0)
			return rc;
		errno = 0;
		r = strtol(s, &end, 10);
		if (*end || s[0] < '0' || s[0] > '9' || errno || r < 1 || r > MAX_REQUIRED)
			return config_fail(
				c, v, "`required` must be a whole number from 1 to %d, not `%s`",
				MAX_REQUIRED, config_clip(s, b, sizeof b));
		a->required = (int)r;
		req_node = v;
	}
	v = config_lookup(n, "allow_self_approval");
	if (v) {
		rc = config_boolean(c, v, "allow_self_approval", &a->allow_self_approval);
		if (rc < 0)
			return rc;
	}
	v = config_lookup(n, "timeout");
	if (v) {
		rc = config_duration(c, v, "timeout", &a->timeout_ms);
		if (rc < 0)
			return rc;
		timeout_node = v;
	}
	v = config_lookup(n, "escalate_after");
	if (v) {
		rc = config_duration(c, v, "escalate_after", &a->escalate_after_ms);
		if (rc < 0)
			return rc;
		esc_node = v;
	}
	v = config_lookup(n, "fallback");
	if (v) {
		rc = parse_fallback(c, v, a);
		if (rc < 0)
			return rc;
	}
	v = config_lookup(n, "skip_for");
	if (v) {
		const struct node *const *items = (const struct node *const *)&v;
		size_t n_items = 1;

		if (v->kind == NODE_MAP)
			return config_fail(c, v,
					   "`skip_for` must be a list of severities, e.g. [P0]");
		if (v->kind == NODE_SEQ) {
			items = (const struct node *const *)v->kids;
			n_items = v->n_kids;
		}
		memset(a->skip, 0, sizeof a->skip);
		for (size_t i = 0; i < n_items; i++) {
			enum cmd_severity sev;

			rc = config_severity(c, items[i], "skip_for", &sev);
			if (rc < 0)
				return rc;
			a->skip[sev] = true;
		}
	}

	if (a->n_approvers == 0 && !a->approver_group)
		return config_fail(
			c, n,
			"%s lists neither `approvers` nor `approver_group`: nobody could "
			"approve a rollback",
			label);
	if (!a->approver_group && (size_t)a->required > a->n_approvers)
		return config_fail(c, req_node,
				   "%s: `required` is %d but only %zu approver%s listed (and no "
				   "approver_group)",
				   label, a->required, a->n_approvers,
				   a->n_approvers == 1 ? " is" : "s are");
	/* Escalating at or after the deadline would ask the on-call lead about
	 * a request that has already expired. */
	if (a->escalate_after_ms > 0 && a->escalate_after_ms >= a->timeout_ms)
		return config_fail(c, esc_node ? esc_node : timeout_node ? timeout_node : n,
				   "%s: `escalate_after` (%s) must be shorter than `timeout` (%s)",
				   label, fmt_dur(a->escalate_after_ms, b, sizeof b),
				   fmt_dur(a->timeout_ms, where, sizeof where));
	return 0;
}

/* ---- verification --------------------------------------------------- */

void config_verify_clear(struct config_verify *v)
{
	free(v->prometheus_url);
	free(v->error_rate_query);
	free(v->latency_query);
	memset(v, 0, sizeof *v);
}

static char *dup_or_null(const char *s)
{
	return s ? rb_strdup(s) : NULL;
}

void config_verify_copy(struct config_verify *dst, const struct config_verify *src)
{
	*dst = *src;
	dst->prometheus_url = dup_or_null(src->prometheus_url);
	dst->error_rate_query = dup_or_null(src->error_rate_query);
	dst->latency_query = dup_or_null(src->latency_query);
}

/* Parses "1%", "0.5%", "2.5 %" (a percentage) or "0.01" (a ratio) into a
 * ratio. Digits with at most one '.', then for a percentage optional
 * spaces and '%'; no sign, no exponent. By hand rather than strtod, which
 * also takes "inf", "0x1p-4" and follows the locale's decimal point. The
 * digits are read as one integer and divided once, so "0.01" is exactly
 * the double strtod would give. Returns 0 or RB_EINVAL. Sets *percent. */
static int ratio(const char *s, double *out, bool *percent)
{
	double num = 0, den = 1;
	int digits = 0;
	bool point = false;
	const char *p = s, *q;

	for (; (*p >= '0' && *p <= '9') || (*p == '.' && !point); p++) {
		if (*p == '.') {
			point = true;
			continue;
		}
		if (++digits > MAX_RATIO_DIGITS)
			return RB_EINVAL;
		num = num * 10 + (*p - '0');
		if (point)
			den *= 10;
	}
	for (q = p; *q == ' '; q++)
		;
	*percent = *q == '%';
	if (*percent) {
		den *= 100;
		p = q + 1;
	}
	if (!digits || *p)
		return RB_EINVAL;
	*out = num / den;
	return 0;
}

/* error_rate_max: a ratio in (0, 1]. A bare number above 1 was most
 * likely meant as a percentage, so the message says how to write one. */
int config_error_rate_max(struct ctx *c, const struct node *n, double *out)
{
	const char *s;
	char b[64], hint[96] = "";
	double r = 0;
	bool percent = false;
	int rc = config_scalar(c, n, "error_rate_max", false, &s);

	if (rc < 0)
		return rc;
	rc = ratio(s, &r, &percent);
	if (rc == 0 && r > 0 && r <= 1) {
		*out = r;
		return 0;
	}
	if (rc == 0 && !percent && r > 1 && r <= 100)
		snprintf(hint, sizeof hint, " (for %s percent write %s%%)", s, s);
	return config_fail(
		c, n,
		"`error_rate_max` must be a percentage like 1%% or a ratio like 0.01 between "
		"0 and 1, not `%s`%s",
		config_clip(s, b, sizeof b), hint);
}

/* prometheus_url: a base URL, the prober appends /api/v1/query?query=…,
 * so a query or fragment of its own would break the request. */
static int prometheus_url(struct ctx *c, const struct node *n, char **out)
{
	const char *s;
	int rc = config_scalar(c, n, "prometheus_url", false, &s);

	if (rc == 0)
		rc = config_check_url(c, n, "prometheus_url", s);
	if (rc < 0)
		return rc;
	if (strpbrk(s, "?#"))
		return config_fail(
			c, n,
			"`prometheus_url` must be Prometheus's base URL, without a query or "
			"fragment: rollbot appends /api/v1/query");
	free(*out);
	*out = rb_strdup(s);
	return 0;
}

/* A PromQL query: text of at most MAX_QUERY_LEN bytes; newlines pass (a
 * long query is written over several lines), other control characters do
 * not, C1 ones (U+0080..U+009F, from "\x85" escapes) included: the query
 * is shown in Slack when its check fails. libyaml has already refused
 * malformed UTF-8. */
static int query(struct ctx *c, const struct node *n, const char *key, char **out)
{
	const char *s;
	int rc = config_scalar(c, n, key, true, &s);

	if (rc < 0)
		return rc;
	if (n->len > MAX_QUERY_LEN)
		return config_fail(c, n, "`%s` is longer than %d bytes", key, MAX_QUERY_LEN);
	for (size_t i = 0; i < n->len; i++) {
		unsigned char ch = (unsigned char)s[i], next = (unsigned char)s[i + 1];

		if (ch == '\t')
			return config_fail(c, n, "`%s` contains a control character (0x09)", key);
		if (ch == 0xC2 && next >= 0x80 && next <= 0x9F)
			return config_fail(c, n, "`%s` contains a control character (U+%04X)", key,
					   next);
	}
	free(*out);
	*out = rb_strdup(s);
	return 0;
}

/* One key of a verify block whose keys have been checked. */
static int verify_key(struct ctx *c, const char *k, const struct node *v, struct config_verify *out)
{
	if (!strcmp(k, "window"))
		return config_duration_in(c, v, k, true, &out->window_ms);
	if (!strcmp(k, "interval"))
		return config_duration(c, v, k, &out->interval_ms);
	if (!strcmp(k, "prometheus_url"))
		return prometheus_url(c, v, &out->prometheus_url);
	if (!strcmp(k, "error_rate_max"))
		return config_error_rate_max(c, v, &out->error_rate_max);
	if (!strcmp(k, "latency_max"))
		return config_duration(c, v, k, &out->latency_max_ms);
	if (!strcmp(k, "error_rate_query"))
		return query(c, v, k, &out->error_rate_query);
	if (!strcmp(k, "latency_query"))
		return query(c, v, k, &out->latency_query);
	return config_boolean(c, v, k, &out->status);
}

/* The global block's keys: duplicates first, then a service-only key gets
 * its own message, anything else config_check_keys' "unknown key". */
static int check_global_verify_keys(struct ctx *c, const struct node *n)
{
	int rc = config_check_keys(c, n, NULL, "in verify");

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n->n_kids; i += 2) {
		const char *k = n->kids[i]->str;

		if (rb_str_in_list(verify_service_keys, k) &&
		    !rb_str_in_list(verify_global_keys, k))
			return config_fail(c, n->kids[i],
					   "`%s` can only be set in a service's verify block: each "
					   "service has its own metrics and method",
					   k);
	}
	return config_check_keys(c, n, verify_global_keys, "in verify");
}

/* Reads a verify block over *out, which holds the defaults (the built-in
 * ones, or the global block for a service's): keys given here replace
 * those values, the rest stay. `svc` is NULL for the global block. Then
 * checks that a service's query has a Prometheus to ask, its own or the
 * global one. */
int config_parse_verify(struct ctx *c, const struct node *n, const struct config_service *svc,
			struct config_verify *out)
{
	char where[128];
	int rc;

	if (svc)
		snprintf(where, sizeof where, "in verify of service %s", svc->name);
	else
		snprintf(where, sizeof where, "in verify");
	rc = config_need_map(c, n, "verify");
	if (rc == 0)
		rc = svc ? config_check_keys(c, n, verify_service_keys, where) :
			   check_global_verify_keys(c, n);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n->n_kids; i += 2) {
		rc = verify_key(c, n->kids[i]->str, n->kids[i + 1], out);
		if (rc < 0)
			return rc;
	}
	for (size_t i = 0; svc && i < n->n_kids; i += 2) {
		const char *k = n->kids[i]->str;

		if (!out->prometheus_url &&
		    (!strcmp(k, "error_rate_query") || !strcmp(k, "latency_query")))
			return config_fail(
				c, n->kids[i],
				"`%s` in service %s needs a `prometheus_url` to ask (in the "
				"service's verify block or the global one)",
				k, svc->name);
	}
	return 0;
}
