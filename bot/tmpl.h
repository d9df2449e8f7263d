/* rollbot — the message templates in use (MIT licence, see LICENSE).
 *
 * Loads the built-in templates (templates/NAME.mustache, compiled into the
 * binary) and lets an operator's folder override any of them by file name.
 * Everything is read and checked once at start-up; rendering later never
 * touches the disk (c-models.md §3.7).
 */
#ifndef TMPL_H
#define TMPL_H

#include <jansson.h>

#include "../commands/render.h"

struct tmpl_set; /* opaque */

/* Loads the built-ins, then `dir`'s NAME.mustache files (dir may be NULL).
 * Every template is parsed; an override with no built-in of that name is
 * refused (a typo would otherwise be silently ignored). Returns 0 and a new
 * set in *out (free with tmpl_free), or RB_EINVAL with "FILE: message" in
 * err. */
int tmpl_load(const char *dir, struct tmpl_set **out, char *err, size_t errlen) RB_MUSTCHECK;
void tmpl_free(struct tmpl_set *ts);

/* Renders template `name` (without .mustache) with `data` (borrowed) into a
 * new string (free with free()); Slack escaping unless the name ends in
 * ".md" or ".txt". Returns NULL and logs if the template is missing or the
 * output too large (a bug, not a user error: templates were checked at
 * start). Other templates of the set are its partials. */
char *tmpl_render(const struct tmpl_set *ts, const char *name, json_t *data);

#endif
