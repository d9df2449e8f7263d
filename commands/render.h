/* rollbot — Mustache templates (MIT licence, see LICENSE).
 *
 * A complete Mustache renderer (variables, sections, inverted sections,
 * comments, set delimiters, partials, dotted names, implicit iterator,
 * standalone-line rules) over jansson values. It passes the official spec
 * in ../shared/mustache-spec/ with HTML escaping; rollbot's Slack messages
 * use Slack escaping, which touches only & < > (slack-protocol.md §7).
 * Pure: no I/O; partials come from a caller's lookup function.
 */
#ifndef RENDER_H
#define RENDER_H

#include <jansson.h>
#include <stddef.h>

#include "rb.h"

enum tpl_escape {
	TPL_ESC_HTML,  /* & < > " ' as in the spec (&quot; and &#39;) */
	TPL_ESC_SLACK, /* & < > only: &amp; &lt; &gt; */
	TPL_ESC_NONE,  /* nothing escaped (plain-text and Markdown output) */
};

enum {
	TPL_EPARSE = -20, /* unclosed tag, unbalanced section, bad delimiter */
	TPL_EDEPTH = -21, /* partials or sections nested too deep (recursion guard) */
	TPL_ETOOBIG = -22, /* output past the buffer's ceiling */
};

/* Returns the text of partial `name`, or NULL when there is none (which
 * renders as empty, as the spec says). The string is borrowed: it must stay
 * valid until tpl_render returns. */
typedef const char *(*tpl_partial_fn)(void *arg, const char *name);

/* Renders `tpl` with `data` (borrowed) as the context, appending to `out`.
 * Returns 0, or a negative TPL_E* / RB_E* code with a message naming the line
 * and column in err (RB_ERR_LEN bytes). On error `out` holds a partial result
 * that must not be used. */
int tpl_render(const char *tpl, json_t *data, enum tpl_escape esc,
	       tpl_partial_fn partials, void *partials_arg, struct rb_buf *out,
	       char *err, size_t errlen) RB_MUSTCHECK;

/* Checks that `tpl` parses (tags closed, sections balanced), for start-up
 * validation of operators' templates. Returns 0 or TPL_EPARSE with err set. */
int tpl_check(const char *tpl, char *err, size_t errlen) RB_MUSTCHECK;

/* Appends `s` to `out` with the given escaping. */
int tpl_escape(struct rb_buf *out, const char *s, enum tpl_escape esc) RB_MUSTCHECK;

#endif
