/* rollbot — reading rollbot.yaml into a tree, and saying where it is wrong
 * (MIT licence, see LICENSE).
 *
 * libyaml's event parser builds a small tree of our own (struct node)
 * with the position of every value; the tree is then walked by hand, one
 * function per block (config.c, config_policy.c, config_service.c).
 * Building our own tree, rather than using libyaml's document loader, lets
 * us refuse anchors and aliases where they appear (the loader resolves them
 * silently, so one edited anchor could change several services' settings at
 * once) and bound the nesting depth. Keys are checked before values:
 * duplicates and unknown keys first, with the list of known keys, so a typo
 * is reported as a typo (config_check_keys).
 *
 * Every message reads "FILE:LINE:COL: …" (config_fail). Split out of
 * config.c (config_int.h).
 */
#include "config_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH  16 /* deeper nesting than this is never a rollbot.yaml */
#define CLIP_CHARS 40 /* how much of a bad value a message repeats */

/* ---- messages ------------------------------------------------------- */

/* Copies at most CLIP_CHARS characters of s into buf for a message, with
 * control characters shown as '?' and "…" when cut. Returns buf. */
const char *config_clip(const char *s, char *buf, size_t size)
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
 * CONFIG_EINVALID, so callers can `return config_fail(…)`. */
int config_fail(struct ctx *c, const struct node *n, const char *fmt, ...)
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
const char *config_join(const char *const *list, char *buf, size_t size)
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

void config_node_free(struct node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n_kids; i++)
		config_node_free(n->kids[i]);
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

	return config_fail(c, &at,
			   "YAML anchors (&%s) are not supported: write the value out in full",
			   config_clip((const char *)anchor, b, sizeof b));
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
		rc = config_fail(
			c, &at, "YAML aliases (*%s) are not supported: write the value out in full",
			config_clip((const char *)ev->data.alias.anchor, b, sizeof b));
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
			rc = config_fail(c, &at, "nested too deeply (more than %d levels)",
					 MAX_DEPTH);
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
		config_node_free(n);
		return rc;
	}
	*out = n;
	return 0;
}

/* Parses the whole stream into one document's root node (NULL for an
 * empty file). */
int config_load_tree(struct ctx *c, const char *yaml, size_t len, struct node **root)
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
			rc = config_fail(c, &at,
					 "a second YAML document: rollbot.yaml holds exactly one");
		}
	}
	if (rc == 0)
		yaml_event_delete(&ev);
	yaml_parser_delete(&p);
	if (rc < 0) {
		config_node_free(*root);
		*root = NULL;
	}
	return rc;
}

/* ---- scalars -------------------------------------------------------- */

const char *config_kind_name(const struct node *n)
{
	return n->kind == NODE_SEQ ? "a list" : n->kind == NODE_MAP ? "a mapping" : "a value";
}

bool config_is_null(const struct node *n)
{
	return n->kind == NODE_SCALAR && n->plain &&
	       (n->len == 0 || !strcmp(n->str, "~") || !strcmp(n->str, "null") ||
		!strcmp(n->str, "Null") || !strcmp(n->str, "NULL"));
}

/* The text of a scalar that must have a value: no null, no empty string,
 * no NUL byte, no control characters unless `multiline` (then newlines and
 * tabs pass). The pointer is borrowed from the tree. */
int config_scalar(struct ctx *c, const struct node *n, const char *key, bool multiline,
		  const char **out)
{
	if (n->kind != NODE_SCALAR)
		return config_fail(c, n, "`%s` must be a single value, not %s", key,
				   config_kind_name(n));
	if (config_is_null(n) || n->len == 0)
		return config_fail(c, n, "`%s` has no value", key);
	if (strlen(n->str) != n->len)
		return config_fail(c, n, "`%s` contains a NUL character", key);
	for (size_t i = 0; i < n->len; i++) {
		unsigned char ch = (unsigned char)n->str[i];
		if ((ch < 0x20 || ch == 0x7F) && !(multiline && (ch == '\n' || ch == '\t')))
			return config_fail(c, n, "`%s` contains a control character (0x%02X)", key,
					   ch);
	}
	*out = n->str;
	return 0;
}

int config_string_dup(struct ctx *c, const struct node *n, const char *key, size_t max, char **out)
{
	const char *s;
	int rc = config_scalar(c, n, key, false, &s);

	if (rc < 0)
		return rc;
	if (max && rb_utf8_chars(s) > max)
		return config_fail(c, n, "`%s` is longer than %zu characters", key, max);
	free(*out);
	*out = rb_strdup(s);
	return 0;
}

/* ---- mappings ------------------------------------------------------- */

/* Checks a mapping's keys: scalars, no duplicates, and (when `known` is
 * given) only known ones. `where` finishes "unknown key `x` …" and
 * "duplicate key `x` …": "in approval", "at the top level". */
int config_check_keys(struct ctx *c, const struct node *map, const char *const *known,
		      const char *where)
{
	char b[64], list[512];

	for (size_t i = 0; i < map->n_kids; i += 2) {
		const struct node *k = map->kids[i];

		if (k->kind != NODE_SCALAR || config_is_null(k) || strlen(k->str) != k->len)
			return config_fail(c, k, "keys must be plain names, not %s",
					   k->kind == NODE_SCALAR ? "empty" : config_kind_name(k));
		for (size_t j = 0; j < i; j += 2) {
			if (!strcmp(map->kids[j]->str, k->str))
				return config_fail(c, k, "duplicate key `%s` %s (first at line %d)",
						   config_clip(k->str, b, sizeof b), where,
						   map->kids[j]->line);
		}
		if (known && !rb_str_in_list(known, k->str))
			return config_fail(c, k, "unknown key `%s` %s (known: %s)",
					   config_clip(k->str, b, sizeof b), where,
					   config_join(known, list, sizeof list));
	}
	return 0;
}

/* The value under `key` in a mapping whose keys have been checked, or NULL. */
const struct node *config_lookup(const struct node *map, const char *key)
{
	for (size_t i = 0; i < map->n_kids; i += 2)
		if (!strcmp(map->kids[i]->str, key))
			return map->kids[i + 1];
	return NULL;
}

int config_need_map(struct ctx *c, const struct node *n, const char *what)
{
	if (n->kind != NODE_MAP)
		return config_fail(c, n, "`%s` must be a mapping of settings, not %s", what,
				   config_is_null(n) ? "empty" : config_kind_name(n));
	return 0;
}
