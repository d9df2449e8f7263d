/* rollbot — what one value of rollbot.yaml may be (MIT licence, see LICENSE).
 *
 * Durations, booleans, severities, Slack IDs, http(s) URLs and the display
 * time zone: each read from a scalar of the tree, checked, and refused with
 * a message at its line and column that says what was expected. The
 * blocks (config.c, config_policy.c, config_service.c) decide which key
 * takes which. Split out of config.c (config_int.h).
 */
#include "config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_DURATION_MS (7LL * 24 * 3600 * 1000)
#define MAX_ID_LEN	32

/* An IANA zone name of the system's tz database: "Europe/Berlin", "UTC".
 * Checked here, at load, so that a typo stops the start with its line and
 * column instead of silently showing UTC (glibc falls back to UTC for a
 * zone it cannot read). The name is a relative path of plain characters,
 * and the file must be a TZif file. */
int config_timezone_name(struct ctx *c, const struct node *n, char **out)
{
	char path[256], magic[4];
	const char *s;
	FILE *f;
	size_t got = 0;
	int rc = config_scalar(c, n, "display_timezone", false, &s);

	if (rc < 0)
		return rc;
	if (!*s || strlen(s) > 64 || s[0] == '/' || strstr(s, "..") ||
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+-/") !=
		    strlen(s))
		return config_fail(c, n,
				   "`display_timezone` `%s` is not a time zone name such as "
				   "Europe/Berlin or America/New_York",
				   s);
	snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", s);
	f = fopen(path, "rb");
	if (f) {
		got = fread(magic, 1, sizeof magic, f);
		fclose(f);
	}
	if (got != sizeof magic || memcmp(magic, "TZif", 4))
		return config_fail(c, n,
				   "`display_timezone` `%s` is not in the tz database "
				   "(/usr/share/zoneinfo): use a name such as Europe/Berlin or "
				   "America/New_York",
				   s);
	free(*out);
	*out = rb_strdup(s);
	return 0;
}

/* A duration of at most 7 days; more than 0 unless `zero_ok`. */
int config_duration_in(struct ctx *c, const struct node *n, const char *key, bool zero_ok,
		       int64_t *out)
{
	const char *s;
	char b[64];
	int64_t ms;
	int rc = config_scalar(c, n, key, false, &s);

	if (rc < 0)
		return rc;
	if (config_duration_ms(s, &ms) != 0)
		return config_fail(c, n, "`%s` must be a duration such as 90s, 10m or 1h, not `%s`",
				   key, config_clip(s, b, sizeof b));
	if (zero_ok && ms > MAX_DURATION_MS)
		return config_fail(c, n, "`%s` must be at most 7 days", key);
	if (!zero_ok && (ms <= 0 || ms > MAX_DURATION_MS))
		return config_fail(c, n, "`%s` must be more than 0 and at most 7 days", key);
	*out = ms;
	return 0;
}

int config_duration(struct ctx *c, const struct node *n, const char *key, int64_t *out)
{
	return config_duration_in(c, n, key, false, out);
}

int config_boolean(struct ctx *c, const struct node *n, const char *key, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", NULL };
	static const char *const no[] = { "false", "no", "off", NULL };
	const char *s;
	char b[64];
	int rc = config_scalar(c, n, key, false, &s);

	if (rc < 0)
		return rc;
	for (size_t i = 0; yes[i]; i++) {
		if (!strcasecmp(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*out = false;
			return 0;
		}
	}
	return config_fail(c, n, "`%s` must be true or false, not `%s`", key,
			   config_clip(s, b, sizeof b));
}

int config_severity(struct ctx *c, const struct node *n, const char *key, enum cmd_severity *out)
{
	const char *s;
	char b[64];
	int rc = config_scalar(c, n, key, false, &s);

	if (rc < 0)
		return rc;
	if (cmd_severity_from_name(s, out) != 0)
		return config_fail(c, n, "`%s` must be P0, P1, P2 or P3, not `%s`", key,
				   config_clip(s, b, sizeof b));
	return 0;
}

/* True for a Slack ID: the prefix letter, then upper-case letters and
 * digits, 3 to MAX_ID_LEN characters in all. */
static bool slack_id(const char *s, const char *prefixes)
{
	size_t n = strlen(s);

	if (n < 3 || n > MAX_ID_LEN || !strchr(prefixes, s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

int config_slack_id_check(struct ctx *c, const struct node *n, const char *s, enum id_kind k)
{
	char b[64];

	switch (k) {
	case ID_CHANNEL:
		if (slack_id(s, "CG"))
			return 0;
		return config_fail(
			c, n,
			"`%s` is not a Slack channel ID (C… or G…, upper-case letters and "
			"digits, e.g. C05K8Q2V7XM): use the channel's ID, not its name",
			config_clip(s, b, sizeof b));
	case ID_USER:
		if (slack_id(s, "UW"))
			return 0;
		return config_fail(c, n,
				   "`%s` is not a Slack user ID (U… or W…, upper-case letters and "
				   "digits, e.g. U03ASM1TH7Q)",
				   config_clip(s, b, sizeof b));
	case ID_GROUP:
		if (slack_id(s, "S"))
			return 0;
		return config_fail(c, n,
				   "`%s` is not a Slack user group ID (S…, upper-case letters and "
				   "digits, e.g. S05RLMGRS1)",
				   config_clip(s, b, sizeof b));
	}
	return CONFIG_EINVALID;
}

/* A list of Slack IDs; a single value counts as a list of one. Replaces
 * *list. Empty lists are allowed here; callers decide if that is fine. */
int config_id_list(struct ctx *c, const struct node *n, const char *key, enum id_kind k,
		   char ***list, size_t *count)
{
	const struct node *const *items = (const struct node *const *)&n;
	size_t n_items = 1;
	char **out;
	int rc;

	if (n->kind == NODE_MAP)
		return config_fail(c, n, "`%s` must be a list of IDs, not a mapping", key);
	if (n->kind == NODE_SEQ) {
		items = (const struct node *const *)n->kids;
		n_items = n->n_kids;
	}
	out = rb_calloc(n_items, sizeof *out);
	for (size_t i = 0; i < n_items; i++) {
		const char *s;

		rc = config_scalar(c, items[i], key, false, &s);
		if (rc == 0)
			rc = config_slack_id_check(c, items[i], s, k);
		for (size_t j = 0; rc == 0 && j < i; j++)
			if (!strcmp(out[j], s))
				rc = config_fail(c, items[i], "`%s` lists %s twice", key, s);
		if (rc < 0) {
			for (size_t j = 0; j < i; j++)
				free(out[j]);
			free(out);
			return rc;
		}
		out[i] = rb_strdup(s);
	}
	for (size_t j = 0; j < *count; j++)
		free((*list)[j]);
	free(*list);
	*list = out;
	*count = n_items;
	return 0;
}

/* ---- URLs ----------------------------------------------------------- */

/* An http(s) URL with a host and only characters that need no quoting:
 * health_url, version_url and prometheus_url, which the prober fetches. (A
 * method's `url` is plan_build's to check, credentials included; see
 * check_plan.) */
static bool url_ok(const char *s)
{
	const char *host;

	if (!strncmp(s, "https://", 8))
		host = s + 8;
	else if (!strncmp(s, "http://", 7))
		host = s + 7;
	else
		return false;
	if (!*host || *host == '/' || *host == ':')
		return false;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch <= 0x20 || ch >= 0x7F || strchr("\"<>\\^`{|}", ch))
			return false;
	}
	return true;
}

/* True when the authority of a URL (after "scheme://", or from the start
 * when there is none, up to the first / ? #) holds an '@', that is a
 * "user:password@". Loose on purpose, for any scheme: it runs before any
 * message repeats the URL. */
static bool has_userinfo(const char *s)
{
	const char *a = strstr(s, "://");

	a = a ? a + 3 : s;
	return memchr(a, '@', strcspn(a, "/?#")) != NULL;
}

/* health_url, version_url, prometheus_url. Credentials are refused first
 * and without repeating the URL: the password is in it, and this message
 * goes to a terminal, CI logs, a chat. */
int config_check_url(struct ctx *c, const struct node *n, const char *key, const char *s)
{
	char b[64];

	if (has_userinfo(s))
		return config_fail(
			c, n,
			"`%s` must not carry credentials (user:password@): rollbot writes "
			"URLs to Slack and the audit log",
			key);
	if (!url_ok(s))
		return config_fail(c, n, "`%s` must be an http:// or https:// URL, not `%s`", key,
				   config_clip(s, b, sizeof b));
	return 0;
}

/* Parses "1500ms", "90s", "10m", "1h" or bare seconds ("600") into
 * milliseconds. Digits then an optional unit, nothing else: no sign, no
 * spaces, no fractions. Returns 0, or RB_EINVAL for anything else or a
 * value that would overflow. */
int config_duration_ms(const char *s, int64_t *out)
{
	int64_t v = 0, mult;
	const char *p = s;

	if (!s || *s < '0' || *s > '9')
		return RB_EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		int d = *p - '0';
		if (v > (INT64_MAX - d) / 10)
			return RB_EINVAL;
		v = v * 10 + d;
	}
	if (!strcmp(p, "ms"))
		mult = 1;
	else if (!*p || !strcmp(p, "s"))
		mult = 1000;
	else if (!strcmp(p, "m"))
		mult = 60 * 1000;
	else if (!strcmp(p, "h"))
		mult = 3600 * 1000;
	else
		return RB_EINVAL;
	if (v > INT64_MAX / mult)
		return RB_EINVAL;
	*out = v * mult;
	return 0;
}
