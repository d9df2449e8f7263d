/* rollbot — people's names for the report (MIT licence, see LICENSE).
 *
 * The record keeps Slack user IDs; the uploaded report is plain text, where
 * Slack renders no <@U…>, so it shows names. names.c reads them with
 * users.info (Tier 4, paced by api.c), keeps them in memory for a day and
 * in user_names (sql/014) for `rollbot report`, which has no Slack.
 */
#ifndef NAMES_H
#define NAMES_H

#include <jansson.h>

#include "shell.h"

#define NAMES_TTL_MS (24 * 3600 * 1000LL) /* a name is asked again after a day */
#define NAMES_MAX 4096			   /* people kept in memory; then it starts over */

typedef void (*names_cb)(void *arg);

/* Asks users.info for each ID of `ids` (an array of strings, borrowed)
 * that is not known or is older than NAMES_TTL_MS, keeps the answers, and
 * calls cb(arg) once all have answered: later, always, never from inside
 * this call. Never fails: a name not learnt (user_not_found, Slack down)
 * leaves the ID shown. */
void names_resolve(struct app *app, const json_t *ids, names_cb cb, void *arg);

/* Sets in `names` (an object) "ID": "name" for each ID of `ids` known in
 * memory, over what it held (the store's, older). */
void names_put(struct app *app, const json_t *ids, json_t *names);

/* The name shown for a users.info answer's user object: the full name
 * (profile.real_name, then real_name), else the display name, else the
 * handle; NULL when it has none. Borrowed from `user`. */
const char *names_pick(const json_t *user);

/* Frees what names.c keeps (at the end of app_run). */
void names_free(struct app *app);

#endif
