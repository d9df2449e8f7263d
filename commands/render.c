/* rollbot — Mustache templates (MIT licence, see LICENSE).
 *
 * This file owns the Mustache renderer declared in render.h. A template is
 * first parsed into a flat array of nodes (text, variable, section, inverted
 * section, partial); a section records the index one past its last body
 * node, so the body is a range of the same array and nothing is a tree that
 * would need recursive freeing. Parsing is iterative, and all the
 * standalone-line rules are settled there: a section, inverted section,
 * closing, comment, partial or set-delimiter tag alone on its line (but for
 * spaces and tabs) takes the whole line with it, and a standalone partial
 * remembers the indentation it removed.
 *
 * Rendering walks node ranges with a stack of contexts that lives on the C
 * stack. Partials are looked up, indented and parsed when they are reached,
 * because the spec wants each one to start with the default delimiters and
 * its own indentation. Recursion is bounded twice: a template may open at
 * most TPL_MAX_NEST sections inside each other (a parse error past that),
 * and partials may nest at most TPL_MAX_DEPTH deep (TPL_EDEPTH), which also
 * stops a partial that includes itself forever.
 *
 * Pure: no I/O, no clock, no state outside the caller's arguments.
 */
#include "render.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sections open inside each other within one template or partial. */
#define TPL_MAX_NEST 64
/* Partials open inside each other while rendering. */
#define TPL_MAX_DEPTH 64

enum node_kind {
	NODE_TEXT,     /* literal bytes */
	NODE_VAR,      /* {{name}}: escaped with the caller's mode */
	NODE_RAW,      /* {{{name}}} and {{&name}}: never escaped */
	NODE_SECTION,  /* {{#name}} ... {{/name}} */
	NODE_INVERTED, /* {{^name}} ... {{/name}} */
	NODE_PARTIAL,  /* {{>name}} */
};

struct node {
	enum node_kind kind;
	const char *s; /* text bytes, or the trimmed name; points into the source */
	size_t len;
	const char *indent; /* standalone partial: the whitespace it replaced */
	size_t indent_len;
	size_t end; /* sections: index one past the last body node */
	size_t pos; /* offset of the tag (or text) in the source, for messages */
};

struct tree {
	struct node *v;
	size_t n;
	size_t cap;
};

/* Where a template comes from, so messages can name it: the main template
 * has no name; a partial was indented by `shift` bytes on every line before
 * parsing, which columns take back out. */
struct src {
	const char *text;
	const char *partial;
	size_t shift;
};

/* One level of the context stack: names are looked up from the innermost
 * level outwards. The values are borrowed from the caller's data. */
struct ctx {
	json_t *v;
	const struct ctx *up;
};

struct render {
	enum tpl_escape esc;
	tpl_partial_fn partials;
	void *partials_arg;
	struct rb_buf *out;
	char *err;
	size_t errlen;
	unsigned depth; /* partials currently open */
};

/* Finds the 1-based line and column (in bytes) of `pos` in the source. A
 * partial was indented by `shift` bytes on every line before parsing, so
 * its columns give that back. */
static void where(const struct src *src, size_t pos, unsigned long *line, size_t *col)
{
	size_t line_start = 0, i;

	*line = 1;
	for (i = 0; i < pos && src->text[i]; i++) {
		if (src->text[i] == '\n') {
			(*line)++;
			line_start = i + 1;
		}
	}
	*col = pos - line_start + 1;
	if (*col > src->shift)
		*col -= src->shift;
}

/* Writes "[partial 'x': ]line L, column C: message" into err. */
static void set_err(char *err, size_t errlen, const struct src *src, size_t pos, const char *fmt,
		    ...) RB_PRINTF(5, 6);

static void set_err(char *err, size_t errlen, const struct src *src, size_t pos, const char *fmt,
		    ...)
{
	unsigned long line;
	size_t col;
	int n;
	va_list ap;

	if (!err || !errlen)
		return;
	where(src, pos, &line, &col);
	if (src->partial)
		n = snprintf(err, errlen, "partial '%s': line %lu, column %zu: ", src->partial,
			     line, col);
	else
		n = snprintf(err, errlen, "line %lu, column %zu: ", line, col);
	if (n < 0 || (size_t)n >= errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Finds `pre` (when not NUL) immediately followed by the tag_len bytes of
 * `tag`, searching s from its start. Lengths matter because delimiters set
 * by {{=open close=}} point into the template and are not terminated.
 * Returns a pointer to the match, or NULL. */
static const char *find_delim(const char *s, char pre, const char *tag, size_t tag_len)
{
	for (; *s; s++) {
		const char *t = s;

		if (pre) {
			if (*t != pre)
				continue;
			t++;
		}
		if (strncmp(t, tag, tag_len) == 0)
			return s;
	}
	return NULL;
}

static void push_node(struct tree *t, const struct node *nd)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->v = rb_realloc(t->v, t->cap * sizeof *t->v);
	}
	t->v[t->n++] = *nd;
}

static void push_text(struct tree *t, const char *text, size_t from, size_t to)
{
	struct node nd = { .kind = NODE_TEXT };

	if (to <= from)
		return;
	nd.s = text + from;
	nd.len = to - from;
	nd.pos = from;
	push_node(t, &nd);
}

/* Reads "{{=open close=}}" content (already trimmed): two words without
 * spaces or '='. Returns 0, or -1 when the tag is malformed. */
static int parse_delims(const char *s, size_t len, const char **otag, size_t *olen,
			const char **ctag, size_t *clen)
{
	size_t i = 0, a_end, b_start;

	while (i < len && !is_space(s[i]))
		i++;
	a_end = i;
	while (i < len && is_space(s[i]))
		i++;
	b_start = i;
	while (i < len && !is_space(s[i]))
		i++;
	if (a_end == 0 || b_start == len || i != len)
		return -1;
	if (memchr(s, '=', a_end) || memchr(s + b_start, '=', len - b_start))
		return -1;
	*otag = s;
	*olen = a_end;
	*ctag = s + b_start;
	*clen = len - b_start;
	return 0;
}

/* Parses src->text into t (which starts empty). Returns 0, or TPL_EPARSE
 * with err set; on error t is freed. The nodes point into src->text, which
 * must outlive t. */
static int parse(const struct src *src, struct tree *t, char *err, size_t errlen)
{
	const char *text = src->text;
	const char *otag = "{{", *ctag = "}}";
	size_t olen = 2, clen = 2;
	size_t open[TPL_MAX_NEST]; /* indices of the sections not yet closed */
	size_t nopen = 0, pos = 0, text_start = 0;
	int rc = 0;

	t->v = NULL;
	t->n = t->cap = 0;
	for (;;) {
		const char *hit = find_delim(text + pos, 0, otag, olen);
		const char *close, *name;
		size_t tag_start, p, tag_end, name_len, ls, e;
		char type, pre;
		struct node nd = { .kind = NODE_VAR };

		if (!hit) {
			push_text(t, text, text_start, strlen(text));
			break;
		}
		tag_start = (size_t)(hit - text);
		p = tag_start + olen;
		type = text[p];
		if (type && strchr("#^/>&!={", type))
			p++;
		else
			type = 0;
		pre = type == '{' ? '}' : type == '=' ? '=' : 0;
		close = find_delim(text + p, pre, ctag, clen);
		if (!close) {
			/* Name the delimiters in full: "}}}" after "{{{". */
			char pre_s[2] = { pre, '\0' };
			char type_s[2] = { pre ? type : '\0', '\0' };

			set_err(err, errlen, src, tag_start,
				"unclosed tag: no '%s%.*s' after '%.*s%s'", pre_s, (int)clen, ctag,
				(int)olen, otag, type_s);
			rc = TPL_EPARSE;
			goto out;
		}
		tag_end = (size_t)(close - text) + (pre ? 1 : 0) + clen;

		name = text + p;
		name_len = (size_t)(close - name);
		while (name_len && is_space(*name)) {
			name++;
			name_len--;
		}
		while (name_len && is_space(name[name_len - 1]))
			name_len--;

		/* Section, closing, comment, partial and delimiter tags alone
		 * on their line are removed with the line. Scanning back over
		 * blanks can stop neither inside an earlier tag (its closing
		 * delimiter is not blank) nor before text_start, so a tag that
		 * shares its line with another one is never standalone. */
		ls = tag_start;
		while (ls > text_start && is_blank(text[ls - 1]))
			ls--;
		e = tag_end;
		while (is_blank(text[e]))
			e++;
		if (type && strchr("#^/>!=", type) && (ls == 0 || text[ls - 1] == '\n') &&
		    (text[e] == '\0' || text[e] == '\n' ||
		     (text[e] == '\r' && text[e + 1] == '\n'))) {
			push_text(t, text, text_start, ls);
			nd.indent = text + ls;
			nd.indent_len = tag_start - ls;
			if (text[e] == '\r')
				e += 2;
			else if (text[e] == '\n')
				e++;
			text_start = e;
		} else {
			push_text(t, text, text_start, tag_start);
			text_start = tag_end;
		}
		pos = text_start > tag_end ? text_start : tag_end;

		nd.s = name;
		nd.len = name_len;
		nd.pos = tag_start;
		if (type == '!')
			continue;
		if (type == '=') {
			if (parse_delims(name, name_len, &otag, &olen, &ctag, &clen) < 0) {
				set_err(err, errlen, src, tag_start,
					"bad delimiter tag: expected '%.*s=open close=%.*s' with two delimiters without spaces or '='",
					(int)olen, otag, (int)clen, ctag);
				rc = TPL_EPARSE;
				goto out;
			}
			continue;
		}
		if (name_len == 0) {
			set_err(err, errlen, src, tag_start, "empty tag name");
			rc = TPL_EPARSE;
			goto out;
		}
		switch (type) {
		case '#':
		case '^':
			if (nopen == TPL_MAX_NEST) {
				set_err(err, errlen, src, tag_start,
					"sections nested deeper than %d", TPL_MAX_NEST);
				rc = TPL_EPARSE;
				goto out;
			}
			nd.kind = type == '#' ? NODE_SECTION : NODE_INVERTED;
			open[nopen++] = t->n;
			push_node(t, &nd);
			break;
		case '/': {
			const struct node *top;

			if (!nopen) {
				set_err(err, errlen, src, tag_start,
					"closing tag '/%.*s' without an open section",
					(int)name_len, name);
				rc = TPL_EPARSE;
				goto out;
			}
			top = &t->v[open[nopen - 1]];
			if (top->len != name_len || memcmp(top->s, name, name_len) != 0) {
				unsigned long oline;
				size_t ocol;

				where(src, top->pos, &oline, &ocol);
				set_err(err, errlen, src, tag_start,
					"mismatched closing tag '/%.*s': section '%.*s' opened at line %lu, column %zu is still open",
					(int)name_len, name, (int)top->len, top->s, oline, ocol);
				rc = TPL_EPARSE;
				goto out;
			}
			t->v[open[--nopen]].end = t->n;
			break;
		}
		case '>':
			nd.kind = NODE_PARTIAL;
			push_node(t, &nd);
			break;
		default:
			nd.kind = type ? NODE_RAW : NODE_VAR;
			nd.indent = NULL;
			nd.indent_len = 0;
			push_node(t, &nd);
			break;
		}
	}
	if (nopen) {
		const struct node *top = &t->v[open[nopen - 1]];

		set_err(err, errlen, src, top->pos, "unclosed section '%.*s'", (int)top->len,
			top->s);
		rc = TPL_EPARSE;
	}
out:
	if (rc < 0) {
		free(t->v);
		t->v = NULL;
		t->n = t->cap = 0;
	}
	return rc;
}

/* Resolves `name` in the context stack: "." is the innermost value; for a
 * dotted name the first part is searched from the innermost level outwards
 * and the rest only inside what it found (the spec's "no masking" rule).
 * Returns a borrowed value, or NULL when the name is missing. */
static json_t *lookup(const struct ctx *ctx, const char *name, size_t len)
{
	const char *dot;
	size_t seg;
	json_t *v = NULL;

	if (len == 1 && name[0] == '.')
		return ctx->v;
	dot = memchr(name, '.', len);
	seg = dot ? (size_t)(dot - name) : len;
	for (; ctx; ctx = ctx->up) {
		if (json_is_object(ctx->v)) {
			v = json_object_getn(ctx->v, name, seg);
			if (v)
				break;
		}
	}
	while (v && dot) {
		name = dot + 1;
		len -= seg + 1;
		dot = memchr(name, '.', len);
		seg = dot ? (size_t)(dot - name) : len;
		v = json_is_object(v) ? json_object_getn(v, name, seg) : NULL;
	}
	return v;
}

static int is_falsey(const json_t *v)
{
	return !v || json_is_false(v) || json_is_null(v) ||
	       (json_is_array(v) && json_array_size(v) == 0);
}

/* Appends n bytes of s with the given escaping. Returns 0 or TPL_ETOOBIG. */
static int escape_n(struct rb_buf *out, const char *s, size_t n, enum tpl_escape esc)
{
	size_t i, from = 0;

	for (i = 0; i < n && esc != TPL_ESC_NONE; i++) {
		const char *rep;

		switch (s[i]) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = esc == TPL_ESC_HTML ? "&quot;" : NULL;
			break;
		case '\'':
			rep = esc == TPL_ESC_HTML ? "&#39;" : NULL;
			break;
		default:
			rep = NULL;
			break;
		}
		if (!rep)
			continue;
		if (rb_buf_append(out, s + from, i - from) < 0 || rb_buf_puts(out, rep) < 0)
			return TPL_ETOOBIG;
		from = i + 1;
	}
	if (rb_buf_append(out, s + from, n - from) < 0)
		return TPL_ETOOBIG;
	return 0;
}

/* Appends `s` to `out`, escaped for HTML (& < > " '), Slack (& < > only) or
 * not at all. Returns 0, or TPL_ETOOBIG when `out` reaches its ceiling (the
 * buffer is then freed, as rb_buf_append does). */
int tpl_escape(struct rb_buf *out, const char *s, enum tpl_escape esc)
{
	return escape_n(out, s, strlen(s), esc);
}

/* Appends the text form of a value: strings as they are, integers without
 * decimals, reals in the shortest form that reads back to the same double
 * (1.21 stays "1.21"), booleans as true/false, null as nothing, and arrays
 * and objects as compact JSON so a template mistake shows instead of
 * vanishing. Reals assume the C numeric locale, as jansson itself does. */
static int interpolate(struct rb_buf *out, json_t *v, enum tpl_escape esc)
{
	char num[64];
	int prec;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return escape_n(out, json_string_value(v), json_string_length(v), esc);
	case JSON_INTEGER:
		snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return escape_n(out, num, strlen(num), esc);
	case JSON_REAL:
		for (prec = 1; prec <= 17; prec++) {
			snprintf(num, sizeof num, "%.*g", prec, json_real_value(v));
			if (strtod(num, NULL) == json_real_value(v))
				break;
		}
		return escape_n(out, num, strlen(num), esc);
	case JSON_TRUE:
		return escape_n(out, "true", 4, esc);
	case JSON_FALSE:
		return escape_n(out, "false", 5, esc);
	case JSON_NULL:
		return 0;
	case JSON_OBJECT:
	case JSON_ARRAY: {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		int rc;

		if (!s)
			return 0;
		rc = escape_n(out, s, strlen(s), esc);
		free(s);
		return rc;
	}
	}
	return 0;
}

/* Copies a partial's text with `ind` put in front of every line (not after
 * a final newline), which is how the spec indents a standalone partial.
 * Returns a new string the caller frees with free(), or NULL when the copy
 * would pass max bytes. */
static char *indent_copy(const char *text, const char *ind, size_t ind_len, size_t max)
{
	struct rb_buf b;
	const char *p = text;

	rb_buf_init(&b, max);
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);

		if (rb_buf_append(&b, ind, ind_len) < 0 || rb_buf_append(&b, p, n) < 0)
			return NULL;
		p += n;
	}
	return rb_buf_steal(&b);
}

static int render_nodes(struct render *r, const struct src *src, const struct tree *t, size_t from,
			size_t to, const struct ctx *ctx);

static int too_big(struct render *r, const struct src *src, const struct node *nd)
{
	set_err(r->err, r->errlen, src, nd->pos, "output past the buffer's ceiling of %zu bytes",
		r->out->max);
	return TPL_ETOOBIG;
}

/* Looks up, indents, parses and renders one partial with the current
 * context. A missing partial renders as nothing. */
static int render_partial(struct render *r, const struct src *src, const struct node *nd,
			  const struct ctx *ctx)
{
	struct src psrc;
	struct tree pt;
	const char *text;
	char *name, *indented = NULL;
	int rc;

	if (!r->partials)
		return 0;
	name = rb_strndup(nd->s, nd->len);
	text = r->partials(r->partials_arg, name);
	if (!text) {
		free(name);
		return 0;
	}
	if (r->depth >= TPL_MAX_DEPTH) {
		set_err(r->err, r->errlen, src, nd->pos,
			"partial '%s' nested deeper than %d (does it include itself?)", name,
			TPL_MAX_DEPTH);
		free(name);
		return TPL_EDEPTH;
	}
	if (nd->indent_len) {
		/* The indented copy is bounded by the output's ceiling, the
		 * only size the caller gave us; a partial that big is a
		 * mistake even if most of it renders to nothing. */
		indented = indent_copy(text, nd->indent, nd->indent_len, r->out->max);
		if (!indented) {
			free(name);
			return too_big(r, src, nd);
		}
		text = indented;
	}
	psrc.text = text;
	psrc.partial = name;
	psrc.shift = nd->indent_len;
	rc = parse(&psrc, &pt, r->err, r->errlen);
	if (rc == 0) {
		r->depth++;
		rc = render_nodes(r, &psrc, &pt, 0, pt.n, ctx);
		r->depth--;
		free(pt.v);
	}
	free(indented);
	free(name);
	return rc;
}

/* Renders nodes [from, to) of t. Returns 0 or a negative TPL_E* code with
 * err set where the failure happened. */
static int render_nodes(struct render *r, const struct src *src, const struct tree *t, size_t from,
			size_t to, const struct ctx *ctx)
{
	size_t i = from;
	int rc = 0;

	while (i < to && rc == 0) {
		const struct node *nd = &t->v[i];
		json_t *v;

		switch (nd->kind) {
		case NODE_TEXT:
			if (rb_buf_append(r->out, nd->s, nd->len) < 0)
				rc = too_big(r, src, nd);
			i++;
			break;
		case NODE_VAR:
		case NODE_RAW:
			v = lookup(ctx, nd->s, nd->len);
			if (v && interpolate(r->out, v,
					     nd->kind == NODE_VAR ? r->esc : TPL_ESC_NONE) < 0)
				rc = too_big(r, src, nd);
			i++;
			break;
		case NODE_SECTION:
			v = lookup(ctx, nd->s, nd->len);
			if (json_is_array(v)) {
				size_t k;

				for (k = 0; k < json_array_size(v) && rc == 0; k++) {
					struct ctx inner = { json_array_get(v, k), ctx };

					rc = render_nodes(r, src, t, i + 1, nd->end, &inner);
				}
			} else if (!is_falsey(v)) {
				struct ctx inner = { v, ctx };

				rc = render_nodes(r, src, t, i + 1, nd->end, &inner);
			}
			i = nd->end;
			break;
		case NODE_INVERTED:
			v = lookup(ctx, nd->s, nd->len);
			if (is_falsey(v))
				rc = render_nodes(r, src, t, i + 1, nd->end, ctx);
			i = nd->end;
			break;
		case NODE_PARTIAL:
			rc = render_partial(r, src, nd, ctx);
			i++;
			break;
		}
	}
	return rc;
}

/* Renders tpl with data as the root context, appending to out; partials
 * come from the caller's lookup (NULL: every partial is empty). Returns 0,
 * TPL_EPARSE (in the template or a partial, which err names), TPL_EDEPTH
 * (partials nested past TPL_MAX_DEPTH) or TPL_ETOOBIG (out reached its
 * ceiling and was freed); err then says where. data, tpl and the partials'
 * texts are borrowed for the call only. */
int tpl_render(const char *tpl, json_t *data, enum tpl_escape esc, tpl_partial_fn partials,
	       void *partials_arg, struct rb_buf *out, char *err, size_t errlen)
{
	struct src src = { tpl, NULL, 0 };
	struct ctx root = { data, NULL };
	struct render r;
	struct tree t;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	rc = parse(&src, &t, err, errlen);
	if (rc < 0)
		return rc;
	r.esc = esc;
	r.partials = partials;
	r.partials_arg = partials_arg;
	r.out = out;
	r.err = err;
	r.errlen = errlen;
	r.depth = 0;
	rc = render_nodes(&r, &src, &t, 0, t.n, &root);
	free(t.v);
	return rc;
}

/* Parses tpl without rendering it, so operators' templates fail at start-up
 * rather than on the first incident. Partials are not followed (they are
 * only known when rendering). Returns 0 or TPL_EPARSE with err set. */
int tpl_check(const char *tpl, char *err, size_t errlen)
{
	struct src src = { tpl, NULL, 0 };
	struct tree t;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	rc = parse(&src, &t, err, errlen);
	free(t.v);
	return rc;
}
