/* rollbot — the configuration file (MIT licence, see LICENSE).
 *
 * This file owns reading rollbot.yaml into struct config and checking it
 * completely before the bot starts: a mistake in the file should stop
 * `rollbot check-config` with the line that is wrong, not surface at 3 a.m.
 * when someone types /rollback. Every message reads "FILE:LINE:COL: …".
 *
 * How. libyaml's event parser builds a small tree of our own (struct node)
 * with the position of every value; the tree is then walked by hand, one
 * function per block. Building our own tree, rather than using libyaml's
 * document loader, lets us refuse anchors and aliases where they appear
 * (the loader resolves them silently, so one edited anchor could change
 * several services' settings at once) and bound the nesting depth. Keys are
 * checked before values: duplicates and unknown keys first, with the list
 * of known keys, so a typo is reported as a typo.
 *
 * Method parameters have one source of truth: plan_build (commands/plan.c),
 * the last check before execve. This file only checks what plan_build
 * cannot see: that a parameter is a key of the method (with the list of
 * valid keys) and a single value without control characters. Then, once a
 * service block is read, it builds that service's plan as a rollback would
 * (check_plan) and reports plan_build's refusal, so check-config accepts
 * exactly what can run at 3 a.m. and the rules cannot drift apart.
 * bluegreen's optional selector_key and colour are filled in with their
 * defaults (version, blue), so every reader sees the values in force.
 *
 * The optional `db_rollback` (the argv of a down migration, for
 * --with-db) is not a method parameter: plan_build does not know it, so
 * it is checked here (parse_db_rollback).
 *
 * `verify` (the checks after a rollback's commands) is a global block and
 * a per-service one. Like approval, a service's block is read over a copy
 * of the global one, which was read over the defaults, so every service
 * ends up with a complete struct config_verify of its own and readers
 * never have to merge.
 *
 * Memory: everything hangs off struct config and is freed by config_free,
 * which accepts a half-built config, so every error path is "free and
 * return". The node tree is always freed before returning.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "../commands/parse.h"

#define CONFIG_FILE_MAX	 (1u << 20) /* a config file larger than 1 MiB is a mistake */
#define MAX_DEPTH	 16	    /* deeper nesting than this is never a rollbot.yaml */
#define CLIP_CHARS	 40	    /* how much of a bad value a message repeats */
#define MAX_DURATION_MS	 (7LL * 24 * 3600 * 1000)
#define MAX_REQUIRED	 100
#define MAX_AFFECTED_LEN 200
#define MAX_ETA_LEN	 64
#define MAX_FACT_LEN	 100 /* display_name, environment, owner */
#define MAX_ID_LEN	 32
#define MAX_DB_ARGS	 32   /* elements of db_rollback */
#define MAX_DB_ARG_LEN	 256  /* bytes in one element */
#define MAX_QUERY_LEN	 2000 /* bytes in a PromQL query: a URL of at most ~6 KB once encoded */
#define MAX_RATIO_DIGITS 15   /* digits in error_rate_max: exact in a double */

#define DEFAULT_SVC_TIMEOUT_MS (5 * 60 * 1000)
#define DEFAULT_DB_TIMEOUT_MS  (10 * 60 * 1000)
/* The runbook's "healthy again" (000, Phase 4): error rate back under 1 %,
 * p99 under 2 s, checked every 15 s for up to 5 minutes. */
#define DEFAULT_VERIFY_WINDOW_MS   (5 * 60 * 1000)
#define DEFAULT_VERIFY_INTERVAL_MS (15 * 1000)
#define DEFAULT_ERROR_RATE_MAX	   0.01
#define DEFAULT_LATENCY_MAX_MS	   2000

#define EXAMPLE_HINT "see examples/rollbot.yaml"

enum node_kind {
	NODE_SCALAR,
	NODE_SEQ,
	NODE_MAP
};

/* One YAML value. A mapping's kids are key, value, key, value, … */
struct node {
	enum node_kind kind;
	int line, col; /* 1-based */
	char *str;     /* scalar text, NUL-terminated; may hold NULs from "\0" */
	size_t len;
	bool plain; /* unquoted scalar: only these can be null (``, ~, null) */
	struct node **kids;
	size_t n_kids;
	size_t cap;
};

struct ctx {
	const char *name; /* the file, for messages */
	char *err;
	size_t errlen;
};

static const char *const top_keys[] = { "incidents_channels",
					"default_severity",
					"update_interval",
					"templates_dir",
					"display_timezone",
					"http_listen",
					"approval",
					"verify",
					"services",
					NULL };
static const char *const approval_keys[] = { "approvers", "approver_group",
					     "required",  "allow_self_approval",
					     "timeout",	  "skip_for",
					     NULL };
/* Keys every service takes, whatever its method. */
static const char *const service_keys[] = { "method",	"timeout",     "affected",
					    "eta",	"health_url",  "version_url",
					    "approval", "db_rollback", "db_rollback_timeout",
					    "verify",	"display_name", "environment",
					    "owner",	NULL };
/* The global verify block takes fewer keys than a service's: a query is
 * about one service's metrics, and `status` about its method. */
static const char *const verify_global_keys[] = { "window",	    "interval",	   "prometheus_url",
						  "error_rate_max", "latency_max", NULL };
static const char *const verify_service_keys[] = {
	"window",	  "interval",	 "prometheus_url",
	"error_rate_max", "latency_max", "error_rate_query",
	"latency_query",  "status",	 NULL
};

/* ---- messages ------------------------------------------------------- */

/* Copies at most CLIP_CHARS characters of s into buf for a message, with
 * control characters shown as '?' and "…" when cut. Returns buf. */
static const char *clip(const char *s, char *buf, size_t size)
{
	size_t o = 0, chars = 0;

	for (size_t i = 0; s[i] && o + 8 < size; i++) {
		unsigned char ch = (unsigned char)s[i];
		if ((ch & 0xC0) != 0x80 && chars++ == CLIP_CHARS) {
			memcpy(buf + o, "…", 3);
			o += 3;
			break;
		}
		buf[o++] = ch < 0x20 || ch == 0x7F ? '?' : (char)ch;
	}
	buf[o] = '\0';
	return buf;
}

/* Writes "FILE:LINE:COL: message" (position of n, or 1:1) and returns
 * CONFIG_EINVALID, so callers can `return fail(…)`. */
static int fail(struct ctx *c, const struct node *n, const char *fmt, ...) RB_PRINTF(3, 4);

static int fail(struct ctx *c, const struct node *n, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (c->err && c->errlen)
		snprintf(c->err, c->errlen, "%s:%d:%d: %s", c->name, n ? n->line : 1,
			 n ? n->col : 1, msg);
	return CONFIG_EINVALID;
}

/* "a, b, c" from a NULL-terminated list, into buf. */
static const char *join(const char *const *list, char *buf, size_t size)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; list[i]; i++) {
		int n = snprintf(buf + o, size - o, "%s%s", i ? ", " : "", list[i]);
		if (n < 0 || (size_t)n >= size - o)
			break;
		o += (size_t)n;
	}
	return buf;
}

/* ---- the YAML tree -------------------------------------------------- */

static void node_free(struct node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n_kids; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->str);
	free(n);
}

static struct node *node_new(enum node_kind kind, const yaml_mark_t *mark)
{
	struct node *n = rb_calloc(1, sizeof *n);

	n->kind = kind;
	n->line = (int)mark->line + 1;
	n->col = (int)mark->column + 1;
	return n;
}

static void node_add(struct node *parent, struct node *kid)
{
	if (parent->n_kids == parent->cap) {
		parent->cap = parent->cap ? parent->cap * 2 : 8;
		parent->kids = rb_realloc(parent->kids, parent->cap * sizeof *parent->kids);
	}
	parent->kids[parent->n_kids++] = kid;
}

static int yaml_fail(struct ctx *c, const yaml_parser_t *p)
{
	if (c->err && c->errlen)
		snprintf(c->err, c->errlen, "%s:%zu:%zu: not valid YAML: %s%s%s", c->name,
			 p->problem_mark.line + 1, p->problem_mark.column + 1,
			 p->problem ? p->problem : "parse error", p->context ? " " : "",
			 p->context ? p->context : "");
	return CONFIG_ESYNTAX;
}

/* Reads the next event; CONFIG_ESYNTAX with the message on a YAML error. */
static int next_event(struct ctx *c, yaml_parser_t *p, yaml_event_t *ev)
{
	if (!yaml_parser_parse(p, ev))
		return yaml_fail(c, p);
	return 0;
}

static int refuse_anchor(struct ctx *c, const yaml_event_t *ev, const yaml_char_t *anchor)
{
	struct node at = { .line = (int)ev->start_mark.line + 1,
			   .col = (int)ev->start_mark.column + 1 };
	char b[64];

	return fail(c, &at, "YAML anchors (&%s) are not supported: write the value out in full",
		    clip((const char *)anchor, b, sizeof b));
}

/* Builds the node that starts with event *ev (which this takes over and
 * deletes), reading the events of its children. */
static int build(struct ctx *c, yaml_parser_t *p, yaml_event_t *ev, int depth, struct node **out)
{
	struct node *n = NULL;
	yaml_event_type_t end;
	int rc = 0;
	char b[64];

	*out = NULL;
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		if (ev->data.scalar.anchor) {
			rc = refuse_anchor(c, ev, ev->data.scalar.anchor);
			break;
		}
		n = node_new(NODE_SCALAR, &ev->start_mark);
		n->len = ev->data.scalar.length;
		n->str = rb_strndup((const char *)ev->data.scalar.value, n->len);
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		break;
	case YAML_ALIAS_EVENT: {
		struct node at = { .line = (int)ev->start_mark.line + 1,
				   .col = (int)ev->start_mark.column + 1 };
		rc = fail(c, &at,
			  "YAML aliases (*%s) are not supported: write the value out in full",
			  clip((const char *)ev->data.alias.anchor, b, sizeof b));
		break;
	}
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
		const yaml_char_t *anchor =
			seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;

		if (anchor) {
			rc = refuse_anchor(c, ev, anchor);
			break;
		}
		if (depth >= MAX_DEPTH) {
			struct node at = { .line = (int)ev->start_mark.line + 1,
					   .col = (int)ev->start_mark.column + 1 };
			rc = fail(c, &at, "nested too deeply (more than %d levels)", MAX_DEPTH);
			break;
		}
		n = node_new(seq ? NODE_SEQ : NODE_MAP, &ev->start_mark);
		end = seq ? YAML_SEQUENCE_END_EVENT : YAML_MAPPING_END_EVENT;
		for (;;) {
			yaml_event_t kid_ev;
			struct node *kid;

			rc = next_event(c, p, &kid_ev);
			if (rc < 0)
				break;
			if (kid_ev.type == end) {
				yaml_event_delete(&kid_ev);
				break;
			}
			rc = build(c, p, &kid_ev, depth + 1, &kid);
			if (rc < 0)
				break;
			node_add(n, kid);
		}
		break;
	}
	default:
		/* The parser only hands out node events here; anything else is a
		 * libyaml contract break. */
		RB_ASSERT(!"unexpected YAML event");
	}
	yaml_event_delete(ev);
	if (rc < 0) {
		node_free(n);
		return rc;
	}
	*out = n;
	return 0;
}

/* Parses the whole stream into one document's root node (NULL for an
 * empty file). */
static int load_tree(struct ctx *c, const char *yaml, size_t len, struct node **root)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int rc;

	*root = NULL;
	if (!yaml_parser_initialize(&p)) {
		snprintf(c->err, c->errlen, "%s: cannot start the YAML parser", c->name);
		return CONFIG_ESYNTAX;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)yaml, len);

	rc = next_event(c, &p, &ev); /* STREAM-START */
	if (rc == 0) {
		yaml_event_delete(&ev);
		rc = next_event(c, &p, &ev);
	}
	if (rc == 0 && ev.type == YAML_DOCUMENT_START_EVENT) {
		yaml_event_delete(&ev);
		rc = next_event(c, &p, &ev);
		if (rc == 0)
			rc = build(c, &p, &ev, 0, root);
		if (rc == 0)
			rc = next_event(c, &p, &ev); /* DOCUMENT-END */
		if (rc == 0) {
			yaml_event_delete(&ev);
			rc = next_event(c, &p, &ev);
		}
		if (rc == 0 && ev.type == YAML_DOCUMENT_START_EVENT) {
			struct node at = { .line = (int)ev.start_mark.line + 1,
					   .col = (int)ev.start_mark.column + 1 };
			yaml_event_delete(&ev);
			rc = fail(c, &at, "a second YAML document: rollbot.yaml holds exactly one");
		}
	}
	if (rc == 0)
		yaml_event_delete(&ev);
	yaml_parser_delete(&p);
	if (rc < 0) {
		node_free(*root);
		*root = NULL;
	}
	return rc;
}

/* ---- values --------------------------------------------------------- */

static const char *kind_name(const struct node *n)
{
	return n->kind == NODE_SEQ ? "a list" : n->kind == NODE_MAP ? "a mapping" : "a value";
}

static bool is_null(const struct node *n)
{
	return n->kind == NODE_SCALAR && n->plain &&
	       (n->len == 0 || !strcmp(n->str, "~") || !strcmp(n->str, "null") ||
		!strcmp(n->str, "Null") || !strcmp(n->str, "NULL"));
}

/* The text of a scalar that must have a value: no null, no empty string,
 * no NUL byte, no control characters unless `multiline` (then newlines and
 * tabs pass). The pointer is borrowed from the tree. */
static int scalar(struct ctx *c, const struct node *n, const char *key, bool multiline,
		  const char **out)
{
	if (n->kind != NODE_SCALAR)
		return fail(c, n, "`%s` must be a single value, not %s", key, kind_name(n));
	if (is_null(n) || n->len == 0)
		return fail(c, n, "`%s` has no value", key);
	if (strlen(n->str) != n->len)
		return fail(c, n, "`%s` contains a NUL character", key);
	for (size_t i = 0; i < n->len; i++) {
		unsigned char ch = (unsigned char)n->str[i];
		if ((ch < 0x20 || ch == 0x7F) && !(multiline && (ch == '\n' || ch == '\t')))
			return fail(c, n, "`%s` contains a control character (0x%02X)", key, ch);
	}
	*out = n->str;
	return 0;
}

static int string_dup(struct ctx *c, const struct node *n, const char *key, size_t max, char **out)
{
	const char *s;
	int rc = scalar(c, n, key, false, &s);

	if (rc < 0)
		return rc;
	if (max && rb_utf8_chars(s) > max)
		return fail(c, n, "`%s` is longer than %zu characters", key, max);
	free(*out);
	*out = rb_strdup(s);
	return 0;
}

/* An IANA zone name of the system's tz database: "Europe/Berlin", "UTC".
 * Checked here, at load, so that a typo stops the start with its line and
 * column instead of silently showing UTC (glibc falls back to UTC for a
 * zone it cannot read). The name is a relative path of plain characters,
 * and the file must be a TZif file. */
static int timezone_name(struct ctx *c, const struct node *n, char **out)
{
	char path[256], magic[4];
	const char *s;
	FILE *f;
	size_t got = 0;
	int rc = scalar(c, n, "display_timezone", false, &s);

	if (rc < 0)
		return rc;
	if (!*s || strlen(s) > 64 || s[0] == '/' || strstr(s, "..") ||
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+-/") !=
		    strlen(s))
		return fail(c, n, "`display_timezone` `%s` is not a time zone name such as "
				  "Europe/Berlin or America/New_York", s);
	snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", s);
	f = fopen(path, "rb");
	if (f) {
		got = fread(magic, 1, sizeof magic, f);
		fclose(f);
	}
	if (got != sizeof magic || memcmp(magic, "TZif", 4))
		return fail(c, n, "`display_timezone` `%s` is not in the tz database "
				  "(/usr/share/zoneinfo): use a name such as Europe/Berlin or "
				  "America/New_York", s);
	free(*out);
	*out = rb_strdup(s);
	return 0;
}

/* A duration of at most 7 days; more than 0 unless `zero_ok`. */
static int duration_in(struct ctx *c, const struct node *n, const char *key, bool zero_ok,
		       int64_t *out)
{
	const char *s;
	char b[64];
	int64_t ms;
	int rc = scalar(c, n, key, false, &s);

	if (rc < 0)
		return rc;
	if (config_duration_ms(s, &ms) != 0)
		return fail(c, n, "`%s` must be a duration such as 90s, 10m or 1h, not `%s`", key,
			    clip(s, b, sizeof b));
	if (zero_ok && ms > MAX_DURATION_MS)
		return fail(c, n, "`%s` must be at most 7 days", key);
	if (!zero_ok && (ms <= 0 || ms > MAX_DURATION_MS))
		return fail(c, n, "`%s` must be more than 0 and at most 7 days", key);
	*out = ms;
	return 0;
}

static int duration(struct ctx *c, const struct node *n, const char *key, int64_t *out)
{
	return duration_in(c, n, key, false, out);
}

static int boolean(struct ctx *c, const struct node *n, const char *key, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", NULL };
	static const char *const no[] = { "false", "no", "off", NULL };
	const char *s;
	char b[64];
	int rc = scalar(c, n, key, false, &s);

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
	return fail(c, n, "`%s` must be true or false, not `%s`", key, clip(s, b, sizeof b));
}

static int severity(struct ctx *c, const struct node *n, const char *key, enum cmd_severity *out)
{
	const char *s;
	char b[64];
	int rc = scalar(c, n, key, false, &s);

	if (rc < 0)
		return rc;
	if (cmd_severity_from_name(s, out) != 0)
		return fail(c, n, "`%s` must be P0, P1, P2 or P3, not `%s`", key,
			    clip(s, b, sizeof b));
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

enum id_kind {
	ID_CHANNEL,
	ID_USER,
	ID_GROUP
};

static int slack_id_check(struct ctx *c, const struct node *n, const char *s, enum id_kind k)
{
	char b[64];

	switch (k) {
	case ID_CHANNEL:
		if (slack_id(s, "CG"))
			return 0;
		return fail(c, n,
			    "`%s` is not a Slack channel ID (C… or G…, upper-case letters and "
			    "digits, e.g. C05K8Q2V7XM): use the channel's ID, not its name",
			    clip(s, b, sizeof b));
	case ID_USER:
		if (slack_id(s, "UW"))
			return 0;
		return fail(c, n,
			    "`%s` is not a Slack user ID (U… or W…, upper-case letters and "
			    "digits, e.g. U03ASM1TH7Q)",
			    clip(s, b, sizeof b));
	case ID_GROUP:
		if (slack_id(s, "S"))
			return 0;
		return fail(c, n,
			    "`%s` is not a Slack user group ID (S…, upper-case letters and "
			    "digits, e.g. S05RLMGRS1)",
			    clip(s, b, sizeof b));
	}
	return CONFIG_EINVALID;
}

/* A list of Slack IDs; a single value counts as a list of one. Replaces
 * *list. Empty lists are allowed here; callers decide if that is fine. */
static int id_list(struct ctx *c, const struct node *n, const char *key, enum id_kind k,
		   char ***list, size_t *count)
{
	const struct node *const *items = (const struct node *const *)&n;
	size_t n_items = 1;
	char **out;
	int rc;

	if (n->kind == NODE_MAP)
		return fail(c, n, "`%s` must be a list of IDs, not a mapping", key);
	if (n->kind == NODE_SEQ) {
		items = (const struct node *const *)n->kids;
		n_items = n->n_kids;
	}
	out = rb_calloc(n_items, sizeof *out);
	for (size_t i = 0; i < n_items; i++) {
		const char *s;

		rc = scalar(c, items[i], key, false, &s);
		if (rc == 0)
			rc = slack_id_check(c, items[i], s, k);
		for (size_t j = 0; rc == 0 && j < i; j++)
			if (!strcmp(out[j], s))
				rc = fail(c, items[i], "`%s` lists %s twice", key, s);
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

/* ---- mappings ------------------------------------------------------- */

/* Checks a mapping's keys: scalars, no duplicates, and (when `known` is
 * given) only known ones. `where` finishes "unknown key `x` …" and
 * "duplicate key `x` …": "in approval", "at the top level". */
static int check_keys(struct ctx *c, const struct node *map, const char *const *known,
		      const char *where)
{
	char b[64], list[512];

	for (size_t i = 0; i < map->n_kids; i += 2) {
		const struct node *k = map->kids[i];

		if (k->kind != NODE_SCALAR || is_null(k) || strlen(k->str) != k->len)
			return fail(c, k, "keys must be plain names, not %s",
				    k->kind == NODE_SCALAR ? "empty" : kind_name(k));
		for (size_t j = 0; j < i; j += 2) {
			if (!strcmp(map->kids[j]->str, k->str))
				return fail(c, k, "duplicate key `%s` %s (first at line %d)",
					    clip(k->str, b, sizeof b), where, map->kids[j]->line);
		}
		if (known && !rb_str_in_list(known, k->str))
			return fail(c, k, "unknown key `%s` %s (known: %s)",
				    clip(k->str, b, sizeof b), where,
				    join(known, list, sizeof list));
	}
	return 0;
}

/* The value under `key` in a mapping whose keys have been checked, or NULL. */
static const struct node *lookup(const struct node *map, const char *key)
{
	for (size_t i = 0; i < map->n_kids; i += 2)
		if (!strcmp(map->kids[i]->str, key))
			return map->kids[i + 1];
	return NULL;
}

static int need_map(struct ctx *c, const struct node *n, const char *what)
{
	if (n->kind != NODE_MAP)
		return fail(c, n, "`%s` must be a mapping of settings, not %s", what,
			    is_null(n) ? "empty" : kind_name(n));
	return 0;
}

/* ---- approval ------------------------------------------------------- */

static void approval_clear(struct config_approval *a)
{
	for (size_t i = 0; i < a->n_approvers; i++)
		free(a->approvers[i]);
	free(a->approvers);
	free(a->approver_group);
	memset(a, 0, sizeof *a);
}

static void approval_copy(struct config_approval *dst, const struct config_approval *src)
{
	*dst = *src;
	dst->approvers = rb_calloc(src->n_approvers, sizeof *dst->approvers);
	for (size_t i = 0; i < src->n_approvers; i++)
		dst->approvers[i] = rb_strdup(src->approvers[i]);
	dst->approver_group = src->approver_group ? rb_strdup(src->approver_group) : NULL;
}

/* Reads an approval block over *a, which holds the defaults (the built-in
 * ones, or the global policy for a service's override): keys given here
 * replace those values, the rest stay. Then checks the result. `label`
 * names the block in messages: "approval", "approval of service x". */
static int parse_approval(struct ctx *c, const struct node *n, const char *label,
			  struct config_approval *a)
{
	const struct node *v, *req_node = n;
	const char *s;
	char b[64], where[160];
	int rc;

	snprintf(where, sizeof where, "in %s", label);
	rc = need_map(c, n, "approval");
	if (rc == 0)
		rc = check_keys(c, n, approval_keys, where);
	if (rc < 0)
		return rc;

	v = lookup(n, "approvers");
	if (v) {
		rc = id_list(c, v, "approvers", ID_USER, &a->approvers, &a->n_approvers);
		if (rc < 0)
			return rc;
	}
	v = lookup(n, "approver_group");
	if (v) {
		rc = scalar(c, v, "approver_group", false, &s);
		if (rc == 0)
			rc = slack_id_check(c, v, s, ID_GROUP);
		if (rc < 0)
			return rc;
		free(a->approver_group);
		a->approver_group = rb_strdup(s);
	}
	v = lookup(n, "required");
	if (v) {
		char *end;
		long r;

		rc = scalar(c, v, "required", false, &s);
		if (rc < 0)
			return rc;
		errno = 0;
		r = strtol(s, &end, 10);
		if (*end || s[0] < '0' || s[0] > '9' || errno || r < 1 || r > MAX_REQUIRED)
			return fail(c, v,
				    "`required` must be a whole number from 1 to %d, not `%s`",
				    MAX_REQUIRED, clip(s, b, sizeof b));
		a->required = (int)r;
		req_node = v;
	}
	v = lookup(n, "allow_self_approval");
	if (v) {
		rc = boolean(c, v, "allow_self_approval", &a->allow_self_approval);
		if (rc < 0)
			return rc;
	}
	v = lookup(n, "timeout");
	if (v) {
		rc = duration(c, v, "timeout", &a->timeout_ms);
		if (rc < 0)
			return rc;
	}
	v = lookup(n, "skip_for");
	if (v) {
		const struct node *const *items = (const struct node *const *)&v;
		size_t n_items = 1;

		if (v->kind == NODE_MAP)
			return fail(c, v, "`skip_for` must be a list of severities, e.g. [P0]");
		if (v->kind == NODE_SEQ) {
			items = (const struct node *const *)v->kids;
			n_items = v->n_kids;
		}
		memset(a->skip, 0, sizeof a->skip);
		for (size_t i = 0; i < n_items; i++) {
			enum cmd_severity sev;

			rc = severity(c, items[i], "skip_for", &sev);
			if (rc < 0)
				return rc;
			a->skip[sev] = true;
		}
	}

	if (a->n_approvers == 0 && !a->approver_group)
		return fail(c, n,
			    "%s lists neither `approvers` nor `approver_group`: nobody could "
			    "approve a rollback",
			    label);
	if (!a->approver_group && (size_t)a->required > a->n_approvers)
		return fail(c, req_node,
			    "%s: `required` is %d but only %zu approver%s listed (and no "
			    "approver_group)",
			    label, a->required, a->n_approvers,
			    a->n_approvers == 1 ? " is" : "s are");
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
static int check_url(struct ctx *c, const struct node *n, const char *key, const char *s)
{
	char b[64];

	if (has_userinfo(s))
		return fail(c, n,
			    "`%s` must not carry credentials (user:password@): rollbot writes "
			    "URLs to Slack and the audit log",
			    key);
	if (!url_ok(s))
		return fail(c, n, "`%s` must be an http:// or https:// URL, not `%s`", key,
			    clip(s, b, sizeof b));
	return 0;
}

/* ---- verification --------------------------------------------------- */

static void verify_clear(struct config_verify *v)
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

static void verify_copy(struct config_verify *dst, const struct config_verify *src)
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
static int error_rate_max(struct ctx *c, const struct node *n, double *out)
{
	const char *s;
	char b[64], hint[96] = "";
	double r = 0;
	bool percent = false;
	int rc = scalar(c, n, "error_rate_max", false, &s);

	if (rc < 0)
		return rc;
	rc = ratio(s, &r, &percent);
	if (rc == 0 && r > 0 && r <= 1) {
		*out = r;
		return 0;
	}
	if (rc == 0 && !percent && r > 1 && r <= 100)
		snprintf(hint, sizeof hint, " (for %s percent write %s%%)", s, s);
	return fail(c, n,
		    "`error_rate_max` must be a percentage like 1%% or a ratio like 0.01 between "
		    "0 and 1, not `%s`%s",
		    clip(s, b, sizeof b), hint);
}

/* prometheus_url: a base URL, the prober appends /api/v1/query?query=…,
 * so a query or fragment of its own would break the request. */
static int prometheus_url(struct ctx *c, const struct node *n, char **out)
{
	const char *s;
	int rc = scalar(c, n, "prometheus_url", false, &s);

	if (rc == 0)
		rc = check_url(c, n, "prometheus_url", s);
	if (rc < 0)
		return rc;
	if (strpbrk(s, "?#"))
		return fail(c, n,
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
	int rc = scalar(c, n, key, true, &s);

	if (rc < 0)
		return rc;
	if (n->len > MAX_QUERY_LEN)
		return fail(c, n, "`%s` is longer than %d bytes", key, MAX_QUERY_LEN);
	for (size_t i = 0; i < n->len; i++) {
		unsigned char ch = (unsigned char)s[i], next = (unsigned char)s[i + 1];

		if (ch == '\t')
			return fail(c, n, "`%s` contains a control character (0x09)", key);
		if (ch == 0xC2 && next >= 0x80 && next <= 0x9F)
			return fail(c, n, "`%s` contains a control character (U+%04X)", key, next);
	}
	free(*out);
	*out = rb_strdup(s);
	return 0;
}

/* One key of a verify block whose keys have been checked. */
static int verify_key(struct ctx *c, const char *k, const struct node *v, struct config_verify *out)
{
	if (!strcmp(k, "window"))
		return duration_in(c, v, k, true, &out->window_ms);
	if (!strcmp(k, "interval"))
		return duration(c, v, k, &out->interval_ms);
	if (!strcmp(k, "prometheus_url"))
		return prometheus_url(c, v, &out->prometheus_url);
	if (!strcmp(k, "error_rate_max"))
		return error_rate_max(c, v, &out->error_rate_max);
	if (!strcmp(k, "latency_max"))
		return duration(c, v, k, &out->latency_max_ms);
	if (!strcmp(k, "error_rate_query"))
		return query(c, v, k, &out->error_rate_query);
	if (!strcmp(k, "latency_query"))
		return query(c, v, k, &out->latency_query);
	return boolean(c, v, k, &out->status);
}

/* The global block's keys: duplicates first, then a service-only key gets
 * its own message, anything else check_keys' "unknown key". */
static int check_global_verify_keys(struct ctx *c, const struct node *n)
{
	int rc = check_keys(c, n, NULL, "in verify");

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n->n_kids; i += 2) {
		const char *k = n->kids[i]->str;

		if (rb_str_in_list(verify_service_keys, k) &&
		    !rb_str_in_list(verify_global_keys, k))
			return fail(c, n->kids[i],
				    "`%s` can only be set in a service's verify block: each "
				    "service has its own metrics and method",
				    k);
	}
	return check_keys(c, n, verify_global_keys, "in verify");
}

/* Reads a verify block over *out, which holds the defaults (the built-in
 * ones, or the global block for a service's): keys given here replace
 * those values, the rest stay. `svc` is NULL for the global block. Then
 * checks that a service's query has a Prometheus to ask, its own or the
 * global one. */
static int parse_verify(struct ctx *c, const struct node *n, const struct config_service *svc,
			struct config_verify *out)
{
	char where[128];
	int rc;

	if (svc)
		snprintf(where, sizeof where, "in verify of service %s", svc->name);
	else
		snprintf(where, sizeof where, "in verify");
	rc = need_map(c, n, "verify");
	if (rc == 0)
		rc = svc ? check_keys(c, n, verify_service_keys, where) :
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
			return fail(c, n->kids[i],
				    "`%s` in service %s needs a `prometheus_url` to ask (in the "
				    "service's verify block or the global one)",
				    k, svc->name);
	}
	return 0;
}

/* ---- services ------------------------------------------------------- */

/* Reads `db_rollback`, the down migration --with-db runs (runbook 000
 * §3.2, 003 "Database Rollback"), into svc. It is an argv, run with execve
 * and never through a shell, so it is written as a YAML list, one element
 * per word: a single string would have to be split, and no split rule
 * would be the one the operator had in mind. argv[0] is an absolute path,
 * so what runs does not depend on PATH. Elements are free text otherwise
 * (a migration tool's options start with '-'), but bounded and without
 * control characters, which no command line needs and a log line must not
 * carry. Elements are added to svc as they are read, so config_free frees
 * a half-read list. */
static int parse_db_rollback(struct ctx *c, const struct node *n, struct config_service *svc)
{
	char label[48], b[64];

	if (n->kind != NODE_SEQ)
		return fail(c, n,
			    "`db_rollback` must be a list, one element per word of the command, "
			    "e.g. [\"/opt/app/bin/migrate\", \"down\"], not %s: rollbot runs it "
			    "without a shell",
			    is_null(n) ? "empty" : kind_name(n));
	if (n->n_kids == 0)
		return fail(c, n,
			    "`db_rollback` is empty: give the down-migration command, starting "
			    "with its absolute path");
	if (n->n_kids > MAX_DB_ARGS)
		return fail(c, n->kids[MAX_DB_ARGS], "`db_rollback` has more than %d elements",
			    MAX_DB_ARGS);
	svc->db_rollback = rb_calloc(n->n_kids + 1, sizeof *svc->db_rollback);
	for (size_t i = 0; i < n->n_kids; i++) {
		const struct node *v = n->kids[i];
		const char *s;
		int rc;

		snprintf(label, sizeof label, "db_rollback[%zu]", i);
		rc = scalar(c, v, label, false, &s);
		if (rc < 0)
			return rc;
		if (v->len > MAX_DB_ARG_LEN)
			return fail(c, v, "`%s` is longer than %d bytes", label, MAX_DB_ARG_LEN);
		if (i == 0 && s[0] != '/')
			return fail(
				c, v,
				"`db_rollback[0]` must be the command's absolute path (starting "
				"with /), not `%s`: rollbot does not search PATH",
				clip(s, b, sizeof b));
		svc->db_rollback[svc->n_db_rollback++] = rb_strdup(s);
	}
	return 0;
}

/* Builds the plan of the service just read, as a rollback would, and
 * throws it away: plan_build (commands/plan.c) is the one rule for what a
 * method parameter may hold, and this makes check-config refuse what a
 * rollback would refuse at 3 a.m. The target is a representative one of
 * the method's kind ("1" for a revision, "v1" for a version, none for the
 * rest), except for a docker service without `image`, which can only use
 * Swarm's --rollback and so is built without one; the incident fields are
 * plain placeholders. The resolution step (a rollback without --to) is
 * built too when the method has one. On refusal the message is
 * "service NAME: " and plan_build's, at the service's name: plan_build
 * names the key (`url`, `image`, …) but never quotes the value. */
static int check_plan(struct ctx *c, const struct node *key, const struct config_service *svc)
{
	const struct plan_method_info *mi = plan_method_info(svc->method);
	struct plan_param *params = rb_calloc(svc->n_params, sizeof *params);
	struct plan_input in = {
		.service = svc->name,
		.method = svc->method,
		.params = params,
		.n_params = svc->n_params,
		.target = "",
		.timeout_ms = svc->timeout_ms,
		.incident_id = "INC-0000-0000",
		.severity = "P1",
		.reason = "check",
		.requested_by = "U000",
	};
	struct plan *p = NULL;
	struct plan_step *step = NULL;
	char perr[RB_ERR_LEN];
	int rc;

	for (size_t i = 0; i < svc->n_params; i++) {
		params[i].key = svc->params[i].key;
		params[i].value = svc->params[i].value;
	}
	if (mi->target == PLAN_TARGET_REVISION)
		in.target = "1";
	else if (mi->target == PLAN_TARGET_VERSION &&
		 !(svc->method == PLAN_DOCKER && !config_param(svc, "image")))
		in.target = "v1";

	perr[0] = '\0';
	rc = plan_build(&in, &p, perr, sizeof perr);
	plan_free(p);
	if (rc == 0) {
		rc = plan_resolve_step(&in, &step, perr, sizeof perr);
		plan_step_free(step);
	}
	free(params);
	if (rc < 0)
		return fail(c, key, "service %s: %s", svc->name,
			    perr[0] ? perr : plan_strerror(rc));
	return 0;
}

static bool service_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 63 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      strchr("._-", s[i])))
			return false;
	return true;
}

static void param_add(struct config_service *svc, const char *key, const char *value)
{
	struct config_param *p = &svc->params[svc->n_params++];

	p->key = rb_strdup(key);
	p->value = rb_strdup(value);
}

/* The method's keys and the common ones, for "valid: …" messages. */
static const char *valid_keys(const struct plan_method_info *mi, char *buf, size_t size)
{
	size_t o = 0;
	const char *const *lists[] = { mi->required, mi->optional, service_keys };

	buf[0] = '\0';
	for (size_t l = 0; l < RB_ARRAY_LEN(lists); l++) {
		for (size_t i = 0; lists[l][i]; i++) {
			int n = snprintf(buf + o, size - o, "%s%s", o ? ", " : "", lists[l][i]);
			if (n < 0 || (size_t)n >= size - o)
				return buf;
			o += (size_t)n;
		}
	}
	return buf;
}

/* Reads one service block into svc (zeroed, owned by the config), then
 * builds its plan (check_plan): a missing or malformed method parameter is
 * plan_build's to report. `cfg` holds the global approval and verify
 * blocks, already read. */
static int parse_service(struct ctx *c, const struct node *key, const struct node *n,
			 const struct config *cfg, struct config_service *svc)
{
	const struct plan_method_info *mi;
	const struct node *v, *db_timeout = NULL;
	char b[64], list[512], where[128];
	const char *s;
	int rc;

	svc->timeout_ms = DEFAULT_SVC_TIMEOUT_MS;
	svc->db_rollback_timeout_ms = DEFAULT_DB_TIMEOUT_MS;
	svc->line = key->line;
	verify_copy(&svc->verify, &cfg->verify);
	if (n->kind != NODE_MAP)
		return fail(c, n,
			    "service %s must be a mapping of settings (method, namespace, …), "
			    "not %s",
			    svc->name, is_null(n) ? "empty" : kind_name(n));
	snprintf(where, sizeof where, "in service %s", svc->name);
	rc = check_keys(c, n, NULL, where);
	if (rc < 0)
		return rc;

	v = lookup(n, "method");
	if (!v) {
		const char *names[PLAN_METHOD_COUNT + 1];
		for (size_t i = 0; i < PLAN_METHOD_COUNT; i++)
			names[i] = plan_method_info((enum plan_method)i)->name;
		names[PLAN_METHOD_COUNT] = NULL;
		return fail(c, key, "service %s has no `method` (one of: %s)", svc->name,
			    join(names, list, sizeof list));
	}
	rc = scalar(c, v, "method", false, &s);
	if (rc < 0)
		return rc;
	if (plan_method_from_name(s, &svc->method) != 0) {
		const char *names[PLAN_METHOD_COUNT + 1];
		for (size_t i = 0; i < PLAN_METHOD_COUNT; i++)
			names[i] = plan_method_info((enum plan_method)i)->name;
		names[PLAN_METHOD_COUNT] = NULL;
		return fail(c, v, "unknown method `%s` in service %s (methods: %s)",
			    clip(s, b, sizeof b), svc->name, join(names, list, sizeof list));
	}
	mi = plan_method_info(svc->method);
	/* Room for every pair, plus bluegreen's two defaults. */
	svc->params = rb_calloc(n->n_kids / 2 + 2, sizeof *svc->params);

	for (size_t i = 0; i < n->n_kids; i += 2) {
		const char *k = n->kids[i]->str;
		v = n->kids[i + 1];

		if (!strcmp(k, "method")) {
			continue;
		} else if (!strcmp(k, "timeout")) {
			rc = duration(c, v, k, &svc->timeout_ms);
		} else if (!strcmp(k, "affected")) {
			rc = string_dup(c, v, k, MAX_AFFECTED_LEN, &svc->affected);
		} else if (!strcmp(k, "display_name")) {
			rc = string_dup(c, v, k, MAX_FACT_LEN, &svc->display_name);
		} else if (!strcmp(k, "environment")) {
			rc = string_dup(c, v, k, MAX_FACT_LEN, &svc->environment);
		} else if (!strcmp(k, "owner")) {
			rc = string_dup(c, v, k, MAX_FACT_LEN, &svc->owner);
		} else if (!strcmp(k, "eta")) {
			rc = string_dup(c, v, k, MAX_ETA_LEN, &svc->eta);
		} else if (!strcmp(k, "health_url") || !strcmp(k, "version_url")) {
			char **dst = k[0] == 'h' ? &svc->health_url : &svc->version_url;
			rc = scalar(c, v, k, false, &s);
			if (rc == 0)
				rc = check_url(c, v, k, s);
			if (rc == 0)
				rc = string_dup(c, v, k, 0, dst);
		} else if (!strcmp(k, "approval")) {
			char awhere[160];
			snprintf(awhere, sizeof awhere, "approval of service %s", svc->name);
			approval_copy(&svc->approval, &cfg->approval);
			svc->has_approval = true;
			rc = parse_approval(c, v, awhere, &svc->approval);
		} else if (!strcmp(k, "db_rollback")) {
			rc = parse_db_rollback(c, v, svc);
		} else if (!strcmp(k, "db_rollback_timeout")) {
			rc = duration(c, v, k, &svc->db_rollback_timeout_ms);
			db_timeout = n->kids[i];
		} else if (!strcmp(k, "verify")) {
			rc = parse_verify(c, v, svc, &svc->verify);
		} else if (rb_str_in_list(mi->required, k) || rb_str_in_list(mi->optional, k)) {
			/* Only the YAML shape here; the value is check_plan's. A
			 * JSON patch may span lines. */
			rc = scalar(c, v, k, !strcmp(k, "patch"), &s);
			if (rc == 0)
				param_add(svc, k, s);
		} else {
			return fail(c, n->kids[i],
				    "key `%s` is not valid for method %s in service %s (valid: %s)",
				    clip(k, b, sizeof b), mi->name, svc->name,
				    valid_keys(mi, list, sizeof list));
		}
		if (rc < 0)
			return rc;
	}
	if (db_timeout && !svc->db_rollback)
		return fail(c, db_timeout,
			    "`db_rollback_timeout` is set but service %s has no `db_rollback`",
			    svc->name);
	if (svc->method == PLAN_BLUEGREEN) {
		if (!config_param(svc, "selector_key"))
			param_add(svc, "selector_key", "version");
		if (!config_param(svc, "colour"))
			param_add(svc, "colour", "blue");
	}
	return check_plan(c, key, svc);
}

/* `/rollback status` is the subcommand, never the service: a service named
 * after a subcommand could not be rolled back. cmd_is_reserved_word is the
 * parser's own list, so the two cannot drift apart. Any case: the parser
 * matches subcommands in any case. */
static int check_reserved(struct ctx *c, const struct node *k)
{
	char word[16];
	size_t i;

	if (!cmd_is_reserved_word(k->str))
		return 0;
	for (i = 0; k->str[i] && i + 1 < sizeof word; i++)
		word[i] = (char)tolower((unsigned char)k->str[i]);
	word[i] = '\0';
	return fail(c, k,
		    "`%s` cannot be a service name: it is a /rollback subcommand (`/rollback %s`). "
		    "Rename the service.",
		    word, word);
}

static int parse_services(struct ctx *c, const struct node *n, struct config *cfg)
{
	char b[64];
	int rc;

	if (n->kind != NODE_MAP || n->n_kids == 0)
		return fail(c, n, "`services` must map each service name to its settings; %s",
			    EXAMPLE_HINT);
	for (size_t i = 0; i < n->n_kids; i += 2) {
		const struct node *k = n->kids[i];

		if (k->kind != NODE_SCALAR || is_null(k))
			return fail(c, k, "service names must be plain names, not %s",
				    k->kind == NODE_SCALAR ? "empty" : kind_name(k));
		rc = check_reserved(c, k);
		if (rc < 0)
			return rc;
		if (!service_name_ok(k->str) || strlen(k->str) != k->len)
			return fail(
				c, k,
				"service name `%s` must be lower-case letters, digits, '.', '_' "
				"or '-', starting with a letter or digit, at most 63 characters",
				clip(k->str, b, sizeof b));
		for (size_t j = 0; j < i; j += 2)
			if (!strcmp(n->kids[j]->str, k->str))
				return fail(c, k, "duplicate service `%s` (first at line %d)",
					    k->str, n->kids[j]->line);
	}
	cfg->services = rb_calloc(n->n_kids / 2, sizeof *cfg->services);
	for (size_t i = 0; i < n->n_kids; i += 2) {
		struct config_service *svc = &cfg->services[cfg->n_services++];

		svc->name = rb_strdup(n->kids[i]->str);
		rc = parse_service(c, n->kids[i], n->kids[i + 1], cfg, svc);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- the top level -------------------------------------------------- */

/* Characters of http_listen's host part (besides IPv6 brackets): names and
 * addresses, and nothing a resolver or a log line would read specially. */
static bool safe_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch != '\0' && strchr("._-/:@+,", ch) != NULL);
}

static bool listen_ok(const char *s)
{
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	if (!colon || colon[1] < '0' || colon[1] > '9')
		return false;
	for (const char *p = s; p < colon; p++)
		if (!safe_char(*p) && *p != '[' && *p != ']')
			return false;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	return !*end && !errno && port >= 1 && port <= 65535;
}

static int parse_top(struct ctx *c, const struct node *root, struct config *cfg)
{
	const struct node *v;
	const char *s;
	char b[64];
	int rc;

	if (root->kind != NODE_MAP)
		return fail(c, root, "the top level must be a mapping of settings; %s",
			    EXAMPLE_HINT);
	rc = check_keys(c, root, top_keys, "at the top level");
	if (rc < 0)
		return rc;

	v = lookup(root, "incidents_channels");
	if (!v)
		return fail(c, root,
			    "missing `incidents_channels`: the channel IDs where /rollback "
			    "may be used");
	rc = id_list(c, v, "incidents_channels", ID_CHANNEL, &cfg->channels, &cfg->n_channels);
	if (rc < 0)
		return rc;
	if (cfg->n_channels == 0)
		return fail(c, v, "`incidents_channels` is empty: list at least one channel ID");

	v = lookup(root, "default_severity");
	if (v) {
		enum cmd_severity sev;
		rc = severity(c, v, "default_severity", &sev);
		if (rc < 0)
			return rc;
		cfg->default_severity = sev;
	}
	v = lookup(root, "update_interval");
	if (v) {
		rc = duration(c, v, "update_interval", &cfg->update_interval_ms);
		if (rc < 0)
			return rc;
	}
	v = lookup(root, "display_timezone");
	if (v) {
		rc = timezone_name(c, v, &cfg->display_timezone);
		if (rc < 0)
			return rc;
	}
	v = lookup(root, "templates_dir");
	if (v) {
		rc = string_dup(c, v, "templates_dir", 0, &cfg->templates_dir);
		if (rc < 0)
			return rc;
	}
	v = lookup(root, "http_listen");
	if (v) {
		rc = scalar(c, v, "http_listen", false, &s);
		if (rc < 0)
			return rc;
		if (!listen_ok(s))
			return fail(c, v,
				    "`http_listen` must be HOST:PORT, e.g. 127.0.0.1:8080, not "
				    "`%s`",
				    clip(s, b, sizeof b));
		cfg->http_listen = rb_strdup(s);
	}
	v = lookup(root, "approval");
	if (!v)
		return fail(c, root,
			    "missing `approval`: say who may approve a rollback "
			    "(approvers or approver_group)");
	rc = parse_approval(c, v, "approval", &cfg->approval);
	if (rc < 0)
		return rc;
	/* Before the services, whose verify blocks start from this one. */
	v = lookup(root, "verify");
	if (v) {
		rc = parse_verify(c, v, NULL, &cfg->verify);
		if (rc < 0)
			return rc;
	}

	v = lookup(root, "services");
	if (!v)
		return fail(c, root,
			    "missing `services`: name at least one service rollbot may roll "
			    "back");
	return parse_services(c, v, cfg);
}

/* Parses and checks a configuration held in memory; see config.h. `name`
 * is copied into cfg->path and used in messages. On error *out is NULL and
 * nothing is left allocated. */
int config_parse(const char *yaml, size_t len, const char *name, struct config **out, char *err,
		 size_t errlen)
{
	struct ctx c = { name ? name : "rollbot.yaml", err, errlen };
	struct node *root = NULL;
	struct config *cfg;
	int rc;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (len > CONFIG_FILE_MAX) {
		if (err && errlen)
			snprintf(err, errlen, "%s: larger than 1 MiB; is this the right file?",
				 c.name);
		return CONFIG_EINVALID;
	}
	rc = load_tree(&c, yaml, len, &root);
	if (rc < 0)
		return rc;
	if (!root || is_null(root)) {
		node_free(root);
		return fail(&c, NULL, "the file is empty; %s for a complete configuration",
			    EXAMPLE_HINT);
	}

	cfg = rb_calloc(1, sizeof *cfg);
	cfg->path = rb_strdup(c.name);
	cfg->default_severity = CMD_SEV_P1;
	cfg->update_interval_ms = 10 * 60 * 1000;
	cfg->approval.required = 1;
	cfg->approval.timeout_ms = 15 * 60 * 1000;
	cfg->verify.window_ms = DEFAULT_VERIFY_WINDOW_MS;
	cfg->verify.interval_ms = DEFAULT_VERIFY_INTERVAL_MS;
	cfg->verify.error_rate_max = DEFAULT_ERROR_RATE_MAX;
	cfg->verify.latency_max_ms = DEFAULT_LATENCY_MAX_MS;
	cfg->verify.status = true;
	rc = parse_top(&c, root, cfg);
	node_free(root);
	if (rc < 0) {
		config_free(cfg);
		return rc;
	}
	*out = cfg;
	return 0;
}

/* Reads the file at `path` (at most 1 MiB) and parses it with
 * config_parse. Returns CONFIG_EIO with "PATH: cannot read: reason" when
 * the file cannot be read. */
int config_load(const char *path, struct config **out, char *err, size_t errlen)
{
	FILE *f;
	char *buf;
	size_t len;
	int rc, saved;

	*out = NULL;
	f = fopen(path, "rb");
	if (!f) {
		if (err && errlen)
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		return CONFIG_EIO;
	}
	buf = rb_malloc(CONFIG_FILE_MAX + 1);
	len = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
	saved = ferror(f) ? errno : 0;
	fclose(f);
	if (saved) {
		free(buf);
		if (err && errlen)
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(saved));
		return CONFIG_EIO;
	}
	rc = config_parse(buf, len, path, out, err, errlen);
	free(buf);
	return rc;
}

/* Frees a configuration and everything it holds; NULL is fine. */
void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_services; i++) {
		struct config_service *svc = &cfg->services[i];
		for (size_t j = 0; j < svc->n_params; j++) {
			free(svc->params[j].key);
			free(svc->params[j].value);
		}
		free(svc->params);
		free(svc->name);
		free(svc->affected);
		free(svc->display_name);
		free(svc->environment);
		free(svc->owner);
		free(svc->eta);
		free(svc->health_url);
		free(svc->version_url);
		for (size_t j = 0; j < svc->n_db_rollback; j++)
			free(svc->db_rollback[j]);
		free(svc->db_rollback);
		approval_clear(&svc->approval);
		verify_clear(&svc->verify);
	}
	free(cfg->services);
	for (size_t i = 0; i < cfg->n_channels; i++)
		free(cfg->channels[i]);
	free(cfg->channels);
	free(cfg->templates_dir);
	free(cfg->display_timezone);
	free(cfg->http_listen);
	approval_clear(&cfg->approval);
	verify_clear(&cfg->verify);
	free(cfg->path);
	free(cfg);
}

/* Borrowed pointer to the service called `name` (exact match), or NULL. */
const struct config_service *config_service(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_services; i++)
		if (!strcmp(cfg->services[i].name, name))
			return &cfg->services[i];
	return NULL;
}

/* Borrowed value of method parameter `key`, or NULL. bluegreen's
 * selector_key and colour always have a value (their defaults). */
const char *config_param(const struct config_service *svc, const char *key)
{
	for (size_t i = 0; i < svc->n_params; i++)
		if (!strcmp(svc->params[i].key, key))
			return svc->params[i].value;
	return NULL;
}

/* The service's own approval policy when it has one, else the global one.
 * A service's block starts from the global policy, so it is complete. */
const struct config_approval *config_approval_for(const struct config *cfg,
						  const struct config_service *svc)
{
	return svc && svc->has_approval ? &svc->approval : &cfg->approval;
}

bool config_is_incident_channel(const struct config *cfg, const char *channel)
{
	if (!channel)
		return false;
	for (size_t i = 0; i < cfg->n_channels; i++)
		if (!strcmp(cfg->channels[i], channel))
			return true;
	return false;
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
