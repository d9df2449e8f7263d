/* rollbot — posts in the incidents channel about no incident, recorded
 * first and said once (MIT licence, see LICENSE).
 *
 * The watcher's proposals and its notices (figures lost, figures back), and
 * the assessments of `/rollback assess --post`, are recorded with their
 * chat.postMessage arguments before they are posted (sql/016, sql/017,
 * sql/018). The arguments carry a key in the post's metadata.
 * This file posts them and records Slack's answer, and, once a second
 * or so, claims the rows a dead replica (or this one before a restart) left
 * open: a key found in the channel's history is a post that went out (its
 * ts is recorded); one not found is posted then.
 */
#ifndef CHANPOST_H
#define CHANPOST_H

#include <stdbool.h>
#include <stdint.h>

#include "api.h"
#include "db_proposal.h"
#include "shell.h"

/* The lease a replica holds on a post it recorded (the column default of
 * sql/017) or claimed. */
#define CHANPOST_LEASE_S 30

/* chat.postMessage's arguments for `text` in `channel`, with the marker
 * that names it: `message` ("proposal", "watch_blind", "watch_sighted",
 * "assess") and a key of its own. A new reference. */
json_t *chanpost_args(struct app *app, const char *channel, const char *text,
		      const char *message, const char *service);

/* Posts `args` (borrowed) for the row (kind, id), or with found_ts takes
 * that as the post made before a restart; records the ts (or why it could
 * not be posted: a post given up at shutdown, or past its lease, stays open
 * for whoever claims it), then calls cb (may be NULL) with Slack's answer. */
void chanpost_send(struct app *app, enum db_chanpost_kind kind, int64_t id, const json_t *args,
		   const char *found_ts, api_cb cb, void *arg);

/* True for an answer chanpost_send left open for whoever claims the post
 * next (given up at shutdown, or past its lease): not a failure. */
bool chanpost_left_open(const struct api_result *res);

/* The sweep: claims open posts and carries them on. */
void chanpost_start(struct app *app);
void chanpost_stop(struct app *app);
void chanpost_free(struct app *app);

#endif
